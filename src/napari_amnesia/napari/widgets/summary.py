"""The "Summary images" dock widget.

Collects the parameters of :func:`napari_amnesia.core.summary.summary_images`
(same names as :class:`~napari_amnesia.core.summary.SummaryParams`, so
``w.eight_neighbours.value = False; w.run()`` works from the console), runs the
streaming pass in a worker with a progress bar and a Cancel button, and shows the
layers the result gives (:meth:`~napari_amnesia.core.summary.SummaryImages.to_layers`:
one per image, named ``"<movie> · <image>"``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from magicgui.widgets import CheckBox, FloatSpinBox, SpinBox, create_widget

from ...core.summary import SummaryParams
from ..layers import show
from ._controls import controls_for, values_of
from ._stage import StageWidget

if TYPE_CHECKING:
    import napari

__all__ = ["SummaryWidget"]

logger = logging.getLogger(__name__)


class SummaryWidget(StageWidget):
    """Mean, max, std, local-correlation, PNR and max-correlation images of a movie.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari.
    """

    stage = "summary"
    title = "summary images"
    run_text = "Compute"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer)
        self.movie = create_widget(annotation="napari.layers.Image", label="movie")
        self.movie.tooltip = "The (T, Y, X) movie to summarise (a lazy layer is read in chunks)."
        self.eight_neighbours = CheckBox(value=True, text="8 neighbours", name="eight_neighbours")
        self.eight_neighbours.tooltip = (
            "Local correlation over the 8 surrounding pixels (unchecked: the 4 of a cross), "
            "as CaImAn's local_correlations."
        )
        self.gsig = FloatSpinBox(value=0.0, min=0.0, max=50.0, step=0.5, name="gsig",
                                 label="one-photon filter width (px)")
        self.gsig.tooltip = (
            "gsig: one-photon data: Gaussian width (pixels, about a neuron's radius) of the "
            "spatial filter applied before PNR and its correlation image (CaImAn's gSig), which "
            "removes the smooth background. 0 = no filtering (two-photon data; faster)."
        )
        self.bin_size = SpinBox(value=1000, min=2, max=1_000_000, name="bin_size",
                                label="max-correlation bin (frames)")
        self.bin_size.tooltip = "bin_size: frames per time bin of the max-correlation image."
        # every other parameter of SummaryParams, under "Advanced settings"
        self.advanced_parameters = controls_for(
            SummaryParams, skip=("eight_neighbours", "gsig", "bin_size", "nan_policy"))
        self.extend(
            [
                self.movie,
                self.eight_neighbours,
                self.gsig,
                self.bin_size,
                *self.with_nan_policy(self.advanced_parameters),
                self.run_button,
                self.cancel_button,
                self.status,
            ]
        )

    def parameters(self) -> dict:
        """Return the core keyword arguments the widget currently holds."""
        return {
            "eight_neighbours": bool(self.eight_neighbours.value),
            "gsig": float(self.gsig.value) or None,
            "bin_size": int(self.bin_size.value),
            **values_of(self.advanced_parameters, SummaryParams),
        }

    def params(self) -> SummaryParams:
        """Return the :class:`SummaryParams` the controls hold."""
        return SummaryParams(**self.parameters())

    def run(self):
        """Compute the summary images of the chosen movie (in a worker); return the worker."""
        from ...core.summary import iter_summary_images

        layer = self.chosen_movie()
        if layer is None:
            return None
        source = layer.name

        def on_result(result) -> None:
            show(self._viewer, result.to_layers(source))
            self.status.value = f"Done in {result.elapsed:.1f} s."

        params = self.params()
        run = self.movie_generator(layer, lambda movie: iter_summary_images(movie, params))
        return self.launch(run, source=source,
                           message=f"Computing summary images of {source!r}...",
                           on_result=on_result)
