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
threshold...) to check each step's parameters.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, PushButton, create_widget

from ...core.skeleton import SkeletonParams
from ..layers import layer_name, provenance, show
from ._controls import controls_for, values_of
from ._stage import StageWidget

if TYPE_CHECKING:
    import napari

__all__ = ["SkeletonWidget", "skeleton_layers"]

logger = logging.getLogger(__name__)

_PREVIEWS = ("summary", "normalized", "equalized", "smoothed", "threshold", "binary", "mask",
             "raw_skeleton")


def skeleton_layers(result, source: str) -> list[tuple]:
    """LayerData of a SkeletonResult: structure, skeleton labels, branch paths, junctions."""
    meta = provenance("skeleton", source, result.params.to_dict())
    layers = [
        (np.asarray(result.mask, np.uint8), {"name": layer_name(source, "structure"),
                                             "colormap": "gray", "opacity": 0.5,
                                             "contrast_limits": [0, 1], "visible": False,
                                             "metadata": meta}, "image"),
        (np.asarray(result.branch_labels, np.int32), {"name": layer_name(source, "skeleton"),
                                                      "features": result.features(),
                                                      "metadata": meta}, "labels"),
    ]
    paths = [np.asarray(p, float) for p in result.paths if len(p) >= 2]
    if paths:
        layers.append((paths, {"name": layer_name(source, "branches"), "shape_type": "path",
                               "edge_color": "cyan", "edge_width": 0.5, "visible": False,
                               "metadata": meta}, "shapes"))
    junctions = np.asarray(result.junctions, float).reshape(-1, 2)
    layers.append((junctions, {"name": layer_name(source, "junctions"), "size": 4,
                               "face_color": "red", "metadata": meta}, "points"))
    return layers


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
        self.preview = ComboBox(label="preview", choices=list(_PREVIEWS), value="equalized")
        self.preview.tooltip = "An intermediate image of the last run, to tune each step."
        self.preview_button = PushButton(text="Show preview", enabled=False)
        self.preview_button.changed.connect(self.show_preview)
        self.extend([self.movie, *self.parameters, self.run_button, self.cancel_button,
                     self.preview, self.preview_button, self.status])

    def params(self) -> SkeletonParams:
        """The :class:`SkeletonParams` the controls hold (raises ValueError if invalid)."""
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
            show(self._viewer, skeleton_layers(result, source))
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
        image = (self.result.intermediates or {}).get(self.preview.value)
        if image is None:
            self.status.value = f"No {self.preview.value!r} image in this result."
            return None
        source = self.movie.value.name if self.movie.value is not None else "image"
        data = np.asarray(image, np.float32)
        [layer] = show(self._viewer, [(data, {
            "name": layer_name(source, f"skeleton {self.preview.value}"), "colormap": "gray",
            "metadata": provenance("skeleton", source, self.result.params.to_dict())},
            "image")])
        return layer
