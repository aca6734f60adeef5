"""The one place napari-amnesia starts threads.

:func:`start` runs a core progress generator (see
:mod:`napari_amnesia.core._progress`) in a napari generator worker: every
``Progress`` it yields moves a napari progress bar, its return value is handed to
``on_returned`` in the main thread (where layers may be touched), an exception is
shown with ``show_error`` and handed to ``on_error``, and ``worker.quit()`` cancels
at the generator's next ``yield`` (its ``finally`` blocks run, nothing half-done is
added to the viewer).

Set the environment variable ``NAPARI_AMNESIA_SYNC=1`` to run the generator
synchronously in the calling thread instead (handy in scripts and some tests).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator
from typing import Any

from ..core._progress import Progress

__all__ = ["start", "run_synchronously"]

logger = logging.getLogger(__name__)


def run_synchronously() -> bool:
    """True when ``NAPARI_AMNESIA_SYNC`` asks for workers to run in the calling thread."""
    return os.environ.get("NAPARI_AMNESIA_SYNC", "").lower() in {"1", "true", "yes"}


def _relay(generator: Generator) -> Generator:
    # a generator *function* so napari builds a GeneratorWorker (quit at each yield)
    result = yield from generator
    return result


class _ProgressBar:
    """A napari progress bar driven by :class:`Progress` steps (main thread only)."""

    def __init__(self, description: str) -> None:
        from napari.utils import progress

        self._bar = progress(total=0, desc=description)

    def update(self, step: Any) -> None:
        if not isinstance(step, Progress):
            return
        if step.total and self._bar.total != step.total:
            self._bar.total = step.total
        if step.message:
            self._bar.set_description(step.message)
        self._bar.n = step.done
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def start(
    generator: Generator,
    *,
    on_returned: Callable[[Any], Any],
    on_error: Callable[[BaseException], Any] | None = None,
    on_finished: Callable[[], Any] | None = None,
    description: str = "napari-amnesia",
    session=None,
):
    """Run ``generator`` in a worker thread and return the started worker.

    Parameters
    ----------
    generator : generator
        A core progress generator (yields Progress, returns the result).
    on_returned : callable
        Called in the main thread with the generator's result.
    on_error : callable, optional
        Called in the main thread with the exception, after it was shown to the user.
    on_finished : callable, optional
        Called in the main thread at the end, whether it succeeded, failed or was
        cancelled.
    description : str
        Label of the progress bar and of error messages.
    session : Session, optional
        The viewer's session; the worker is registered there while it runs.

    Returns
    -------
    worker : napari.qt.threading.GeneratorWorker or None
        None in synchronous mode (``NAPARI_AMNESIA_SYNC=1``).
    """
    from napari.utils.notifications import show_error

    def _error(exc: BaseException) -> None:
        logger.error("%s failed: %s", description, exc, exc_info=exc)
        show_error(f"{description} failed: {exc}")
        if on_error is not None:
            on_error(exc)

    if run_synchronously():
        try:
            while True:
                next(generator)
        except StopIteration as stop:
            on_returned(stop.value)
        except Exception as exc:  # noqa: BLE001 - reported to the user
            _error(exc)
        finally:
            if on_finished is not None:
                on_finished()
        return None

    from napari.qt.threading import create_worker

    bar = _ProgressBar(description)
    worker = create_worker(_relay, generator, _start_thread=False)
    worker.yielded.connect(bar.update)
    worker.returned.connect(on_returned)
    worker.errored.connect(_error)

    def _finished() -> None:
        bar.close()
        if session is not None:
            session.workers.discard(worker)
        if on_finished is not None:
            on_finished()

    worker.finished.connect(_finished)
    if session is not None:
        session.workers.add(worker)
    worker.start()
    return worker
