"""A dock for any registered stage, generated from the registry.

A stage without a dock of its own (see :mod:`napari_amnesia.core.stages`) still runs
from napari: :class:`GenericStageWidget` shows a movie choice, one control per field
of the stage's parameter dataclass (essential ones first, the others under
"Advanced settings"), Run and Cancel; the result is kept in the viewer's session
under ``(movie, stage)`` and its layers (``result.to_layers(movie)``) are shown.

napari's manifest names the dock of stage ``NAME`` as
``napari_amnesia.napari.widgets.generic:dock_NAME`` (a module attribute made on
demand), so a new stage needs one manifest entry and no widget code.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import create_widget

from ...core.stages import Context, get
from ..layers import show
from ..session import session_for
from ._controls import controls_for, values_of
from ._stage import StageWidget

__all__ = ["GenericStageWidget", "dock_for"]


class GenericStageWidget(StageWidget):
    """The dock of a registered stage: movie, the stage's parameters, Run.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    stage : str
        The registered stage's name.
    """

    def __init__(self, viewer, stage: str) -> None:
        self.stage = stage
        self.title = get(stage).title
        super().__init__(viewer)
        self.movie = create_widget(annotation="napari.layers.Image", label="movie")
        self.movie.tooltip = f"The (T, Y, X) movie to run {self.title} on."
        self.parameters = self.with_nan_policy(controls_for(get(stage).params_class))
        self.extend([self.movie, *self.parameters, self.run_button, self.cancel_button,
                     self.status])

    def params(self) -> Any:
        """Return the stage's parameters the controls hold (ValueError if invalid)."""
        cls = get(self.stage).params_class
        return cls(**values_of(self.parameters, cls))

    def run(self):
        """Run the stage on the chosen movie in a worker; return the worker."""
        layer = self.chosen_movie()
        if layer is None:
            return None
        try:
            params = self.params()
        except (TypeError, ValueError) as exc:
            self.status.value = f"Invalid parameters: {exc}"
            return None
        stage, source = get(self.stage), layer.name
        earlier = {name: result for (src, name), result
                   in session_for(self._viewer).results.items() if src == source}

        def make(movie):
            return stage.iter_run(movie, params, Context(results=dict(earlier), movie=movie))

        return self.launch(self.movie_generator(layer, make), source=source,
                           message=f"{stage.title.capitalize()} of {source!r}…",
                           on_result=lambda result: show(self._viewer,
                                                         result.to_layers(source)))


def dock_for(stage: str):
    """Return a napari widget factory ``viewer -> dock`` for the registered ``stage``."""

    def make(viewer) -> GenericStageWidget:
        return GenericStageWidget(viewer, stage)

    make.__name__ = f"dock_{stage}"
    make.__doc__ = f"The dock of the {stage!r} stage."
    return make


def __getattr__(name: str):
    """Make ``dock_NAME`` on demand (napari's manifest names docks this way)."""
    from ...core.stages import STAGES

    if name.startswith("dock_") and name[len("dock_"):] in STAGES:
        return dock_for(name[len("dock_"):])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
