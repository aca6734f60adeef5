"""The "Skeleton" dock widget (pyAMNESIA's morphology module).

One control per :class:`~napari_amnesia.core.skeleton.SkeletonParams` field, named
after it, with the parameter's explanation as tooltip (pyAMNESIA's help icons).
*Skeletonize* runs :func:`~napari_amnesia.core.skeleton.iter_skeletonize` in a
worker (progress bar, *Cancel*), then shows:

- ``<movie> · structure``: the binary structure (active pixels), an Image;
- ``<movie> · skeleton``: one label per branch, the branch table as ``features``
  (select a branch label: the trace dock plots its mean trace);
- ``<movie> · branches``: the branch paths as Shapes;
- ``<movie> · junctions``: Points.

*Preview* adds the chosen intermediate image (summary, equalized, smoothed,
threshold...) to check each step's parameters. The layers come from the result
itself (:meth:`~napari_amnesia.core.skeleton.SkeletonResult.to_layers`,
:meth:`~napari_amnesia.core.skeleton.SkeletonResult.preview_layer`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, PushButton, create_widget

from ...core.skeleton import PREVIEWS, SkeletonParams
from ..layers import show
from ._controls import controls_for, values_of
from ._stage import StageWidget

if TYPE_CHECKING:
    import napari

__all__ = ["SkeletonWidget"]

logger = logging.getLogger(__name__)


class SkeletonWidget(StageWidget):
    """Skeleton, branch table and totals of a movie or a 2-D image layer.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari.
    """

    stage = "skeleton"
    run_text = "Skeletonize"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer, scrollable=True)
        self.movie = create_widget(annotation="napari.layers.Image", label="movie")
        self.movie.tooltip = ("A (T, Y, X) movie (read in chunks) or a 2-D summary image "
                              "to skeletonize.")
        # one control per SkeletonParams field: w.threshold_offset, w.min_branch_length...
        self.parameters = self.with_nan_policy(controls_for(SkeletonParams))
        self.preview = ComboBox(label="preview", choices=list(PREVIEWS), value="equalized")
        self.preview.tooltip = "An intermediate image of the last run, to tune each step."
        self.preview_button = PushButton(text="Show preview", enabled=False)
        self.preview_button.changed.connect(self.show_preview)
        self.extend([self.movie, *self.parameters, self.run_button, self.cancel_button,
                     self.preview, self.preview_button, self.status])

    def params(self) -> SkeletonParams:
        """Return the :class:`SkeletonParams` the controls hold (ValueError if invalid)."""
        return SkeletonParams(**values_of(self.parameters, SkeletonParams))

    def run(self):
        """Skeletonize the chosen layer in a worker; return the worker (None if refused)."""
        from ...core.skeleton import iter_skeletonize

        layer = self.movie.value
        if layer is None or layer.ndim not in (2, 3) or getattr(layer, "rgb", False):
            self.status.value = "Choose a movie or a 2-D image first."
            return None
        try:
            params = self.params()
        except (TypeError, ValueError) as exc:
            self.status.value = f"Invalid parameter: {exc}"
            return None
        source = layer.name

        def on_result(result) -> None:
            show(self._viewer, result.to_layers(source))
            self.preview_button.enabled = True
            t = result.totals
            self.status.value = (f"{t['n_branches']} branches, {t['n_junctions']} junctions, "
                                 f"length {t['total_length']:.0f} px.")

        run = self.movie_generator(layer, lambda movie: iter_skeletonize(movie, params))
        return self.launch(run, source=source,
                           message=f"Skeletonizing {source!r}...", on_result=on_result)

    def show_preview(self):
        """Add the chosen intermediate image of the last run as a layer."""
        if self.result is None:
            self.status.value = "Skeletonize first."
            return None
        source = self.movie.value.name if self.movie.value is not None else "image"
        try:
            data = self.result.preview_layer(source, self.preview.value)
        except KeyError:
            self.status.value = f"No {self.preview.value!r} image in this result."
            return None
        [layer] = show(self._viewer, [data])
        return layer
