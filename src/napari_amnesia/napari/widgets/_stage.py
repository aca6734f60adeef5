"""What every stage's dock widget shares: run in a worker, cancel, status, result.

A stage widget subclasses :class:`StageWidget`, builds its own controls, and in its
``run()`` validates them and calls :meth:`StageWidget.launch` with the core
progress generator and a function that turns the result into layers. Progress,
errors, the Cancel button, the session's record of the result and the re-enabling
of the buttons are handled here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from magicgui.widgets import Container, Label, PushButton

from .._session import session_for
from .._workers import start

__all__ = ["StageWidget"]


class StageWidget(Container):
    """Base of the stage dock widgets (see the module documentation).

    Attributes
    ----------
    result : object or None
        The last result (also in the viewer's session under ``(source, stage)``).
    run_button, cancel_button : PushButton
    status : Label
    """

    #: key of the results in the viewer's session, and the progress bar's label
    stage: str = "stage"
    #: text of the run button
    run_text: str = "Run"

    def __init__(self, viewer, *, scrollable: bool = False) -> None:
        super().__init__(labels=True, scrollable=scrollable)
        self._viewer = viewer
        self._worker = None
        self.result: Any = None
        self.run_button = PushButton(text=self.run_text)
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.status = Label(value="")
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        viewer.layers.events.inserted.connect(self.reset_choices)
        viewer.layers.events.removed.connect(self.reset_choices)

    def run(self):  # pragma: no cover - every stage defines it
        raise NotImplementedError

    def chosen_movie(self):
        """The ``(T, Y, X)`` movie layer of the ``movie`` control, or None (status says why)."""
        layer = getattr(self, "movie", None)
        layer = None if layer is None else layer.value
        if layer is None:
            self.status.value = "Choose a (T, Y, X) movie first."
            return None
        if layer.ndim != 3 or getattr(layer, "rgb", False):
            self.status.value = (f"Choose a (T, Y, X) movie first ({layer.name!r} has shape "
                                 f"{tuple(layer.data.shape)}).")
            return None
        return layer

    def launch(self, generator: Generator, *, source: str, message: str,
               on_result: Callable[[Any], Any]):
        """Run ``generator`` in a worker; ``on_result(result)`` adds the layers."""
        session = session_for(self._viewer)
        self.status.value = message
        self.run_button.enabled = False
        self.cancel_button.enabled = True

        def returned(result) -> None:
            self.result = result
            session.results[(source, self.stage)] = result
            on_result(result)

        def failed(exc) -> None:
            self.status.value = f"Failed: {exc}"

        def finished() -> None:
            self.run_button.enabled = True
            self.cancel_button.enabled = False
            self._worker = None

        self._worker = start(generator, on_returned=returned, on_error=failed,
                             on_finished=finished, description=self.stage, session=session)
        return self._worker

    def cancel(self) -> None:
        """Stop the running computation at its next step (nothing is added)."""
        if self._worker is not None:
            self._worker.quit()
            self.status.value = "Cancelled."
