"""The "Motion correction" dock widget.

Every parameter of :class:`~napari_amnesia.core.motion.MotionParams` is a control
named after it, with the parameter's documentation as tooltip (the console can do
``w.max_shifts.value = (10, 10); w.pw_rigid.value = True; w.run()``). *Correct*
runs :func:`~napari_amnesia.core.motion.iter_correct` in a worker with a progress
bar (*Cancel* stops it and adds nothing), then shows:

- ``<movie> · corrected``: the corrected movie, lazy (computed frame by frame as
  it is viewed);
- ``<movie> · template``;
- ``<movie> · correlation before`` / ``· correlation after`` and the mean images
  before/after (what users compare);
- the rigid shifts in the trace dock.

*Apply to* applies the shifts found on this movie to another layer of the same
size (a functional channel corrected with the shifts of a structural one).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import PushButton, create_widget

from ...core.motion import MotionParams
from ..layers import layer_name, movie_layer, provenance, show
from ..session import session_for
from ._controls import controls_for, values_of
from ._stage import StageWidget

if TYPE_CHECKING:
    import napari

__all__ = ["MotionWidget", "motion_layers", "motion_summary"]

logger = logging.getLogger(__name__)


def motion_layers(result, source: str) -> list[tuple]:
    """Return the LayerData of a MotionResult (:meth:`MotionResult.to_layers`).

    Kept for scripts written against this dock; the layers are the result's own.
    """
    return result.to_layers(source)


def motion_summary(result) -> str:
    """Return the dock's status line after a correction.

    The largest shift, the rejected shifts, and what the correction changed on its
    own (an adapted patch grid, rigid fallback).
    """
    largest = np.abs(result.shifts).max(axis=0)
    n = len(result.rejected_frames)
    text = (f"Done: largest shift {largest[0]:.1f}, {largest[1]:.1f} px; {n} shift(s) "
            f"rejected as not supported by the data"
            + (f" (frames {', '.join(str(int(t)) for t in result.rejected_frames[:10])}"
               f"{', ...' if n > 10 else ''}: interpolated from their neighbours)" if n else "")
            + ".")
    notes = [m for m in result.messages if "support" not in m]
    return text + "".join(f"\nNote: {m}" for m in notes)


class MotionWidget(StageWidget):
    """Rigid or piecewise-rigid motion correction of a movie layer.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari.
    """

    stage = "motion"
    title = "motion correction"
    run_text = "Correct"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer, scrollable=True)
        self.movie = create_widget(annotation="napari.layers.Image", label="movie")
        self.movie.tooltip = "The (T, Y, X) movie to correct (a lazy layer is read in chunks)."
        self.template = create_widget(annotation="napari.layers.Image | None", label="template",
                                      options={"nullable": True, "value": None})
        self.template.tooltip = (
            "Optional: a 2-D image to register to (a template from another session or a "
            "structural channel). Empty: a template is made from the movie's best frames."
        )
        # one control per MotionParams field, reachable by name: w.max_shifts, w.pw_rigid...
        self.parameters = self.with_nan_policy(controls_for(MotionParams))
        self.apply_target = create_widget(annotation="napari.layers.Image", label="apply to")
        self.apply_target.tooltip = (
            "Another movie of the same size (e.g. the functional channel) to correct with "
            "the shifts found on this one."
        )
        self.apply_button = PushButton(text="Apply shifts", enabled=False)
        self.apply_button.changed.connect(self.apply)
        self.extend([self.movie, self.template, *self.parameters, self.run_button,
                     self.cancel_button, self.apply_target, self.apply_button, self.status])

    def params(self) -> MotionParams:
        """Return the :class:`MotionParams` the controls hold (ValueError if invalid)."""
        return MotionParams(**values_of(self.parameters, MotionParams))

    def run(self):
        """Correct the chosen movie in a worker; return the worker (None if refused)."""
        from ...core.motion import iter_correct

        layer = self.chosen_movie()
        if layer is None:
            return None
        try:
            params = self.params()
            params.check_shape(tuple(layer.data.shape[1:]))
        except ValueError as exc:
            self.status.value = f"Invalid parameter: {exc}"
            return None
        template = None
        if self.template.value is not None:
            template = np.asarray(self.template.value.data)
            if template.ndim != 2:
                self.status.value = f"The template must be a 2-D image, got {template.shape}."
                return None
        source = layer.name

        def on_result(result) -> None:
            show(self._viewer, result.to_layers(source))
            self._plot_shifts(result, source)
            self.apply_button.enabled = True
            self.status.value = motion_summary(result)

        run = self.movie_generator(
            layer, lambda movie: iter_correct(movie, params, template=template))
        return self.launch(run, source=source,
                           message=f"Correcting {source!r}...", on_result=on_result)

    def _plot_shifts(self, result, source: str) -> None:
        from .traces import TraceWidget

        dock = session_for(self._viewer).trace_dock
        if isinstance(dock, TraceWidget):
            shifts = np.asarray(result.shifts)
            dock.show_series(f"{source}: rigid shifts (px)",
                             {"dy": shifts[:, 0], "dx": shifts[:, 1]})

    def apply(self):
        """Apply the shifts found to the layer chosen in *apply to* (lazy)."""
        target = self.apply_target.value
        if self.result is None or target is None:
            self.status.value = "Correct a movie first, then choose the movie to apply to."
            return None
        try:
            corrected = self.result.apply(target.data)
        except ValueError as exc:
            self.status.value = f"Cannot apply: {exc}"
            return None
        meta = provenance("motion", target.name, {"shifts_of": self.movie.value.name
                                                  if self.movie.value else None})
        [layer] = show(self._viewer, [movie_layer(corrected, layer_name(target.name, "corrected"),
                                                  metadata=meta)])
        self.status.value = f"Shifts applied to {target.name!r}."
        return layer
