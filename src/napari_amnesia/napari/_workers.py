"""The one place napari-amnesia starts threads.

:func:`start` runs a core progress generator (see
:mod:`napari_amnesia.core.progress`) in a napari generator worker: every
``Progress`` it yields moves a napari progress bar, its return value is handed to
``on_returned`` in the main thread (where layers may be touched), and
``worker.quit()`` cancels at the generator's next ``yield`` (its ``finally`` blocks
run, nothing half-done is added to the viewer).

A failure is reported once: one napari notification (the message, with the
traceback behind its "View traceback" button) and ``on_error(exc)``, where a dock
puts the first line in its status (:func:`first_line`). The exception is caught
inside the worker and handed back as a value, so it is never re-raised in the
main thread from a Qt slot: napari's handler would show a second pop-up with the
raw traceback, and a plain script driving a dock (no napari event loop, no
exception handler) would abort in PyQt6 ("Aborted"). A ``RuntimeError`` — which
superqt takes for a deleted worker and drops without finishing — is reported like
any other error.

Workers still running when the interpreter exits (a script that ends, or is
closed, while a dock computes) are cancelled and waited for at exit: a Python
thread still running during interpreter shutdown crashes the process.

Set the environment variable ``NAPARI_AMNESIA_SYNC=1`` to run the generator
synchronously in the calling thread instead (handy in scripts and some tests).
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable, Generator
from typing import Any

from ..core.progress import Progress

__all__ = ["start", "run_synchronously", "first_line", "report_failure"]

logger = logging.getLogger(__name__)


def run_synchronously() -> bool:
    """Return True when ``NAPARI_AMNESIA_SYNC`` asks for workers to run in the calling thread."""
    return os.environ.get("NAPARI_AMNESIA_SYNC", "").lower() in {"1", "true", "yes"}


#: workers started and not finished yet (cancelled and waited for at exit)
_RUNNING: set = set()
#: longest wait at exit for the cancelled workers to reach their next step, in ms
EXIT_WAIT_MS = 30_000


def _stop_running_workers() -> None:
    """Cancel the running workers and wait for their threads (at interpreter exit)."""
    if not _RUNNING:
        return
    from qtpy.QtCore import QThreadPool

    for worker in list(_RUNNING):
        try:
            worker.quit()
        except RuntimeError:  # its Qt object is already gone: nothing runs
            _RUNNING.discard(worker)
    if not QThreadPool.globalInstance().waitForDone(EXIT_WAIT_MS):  # pragma: no cover
        logger.warning("%d napari-amnesia worker(s) still running at exit", len(_RUNNING))


atexit.register(_stop_running_workers)


class _Failure:
    """What the worker returns instead of raising (see the module documentation)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _relay(generator: Generator) -> Generator:
    # a generator *function* so napari builds a GeneratorWorker (quit at each yield)
    try:
        result = yield from generator
    except Exception as exc:  # noqa: BLE001 - handed to the main thread, reported there
        return _Failure(exc)
    return result


def first_line(exc: BaseException) -> str:
    """Return the first non-empty line of an exception's message (its type name if none)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def report_failure(description: str, exc: BaseException) -> None:
    """Show one napari notification for a failed step: the message and its traceback.

    Parameters
    ----------
    description : str
        What failed, in the words of the dock (``"source extraction"``).
    exc : BaseException
        The error; its traceback is behind the notification's "View traceback".
    """
    from napari.utils.notifications import ErrorNotification, notification_manager

    logger.debug("%s failed", description, exc_info=exc)
    notification = ErrorNotification(exc)
    notification.message = f"{description} failed: {exc}"
    notification_manager.dispatch(notification)


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
        Called in the main thread with the exception, after it was shown to the user
        in one notification (e.g. to put :func:`first_line` in a dock's status).
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

    def _error(exc: BaseException) -> None:
        report_failure(description, exc)
        if on_error is not None:
            on_error(exc)

    def _returned(result) -> None:
        if isinstance(result, _Failure):
            _error(result.exc)
            return
        try:  # a Qt slot: an exception escaping it would abort a plain script
            on_returned(result)
        except Exception as exc:  # noqa: BLE001 - reported to the user
            _error(exc)

    if run_synchronously():
        try:
            while True:
                next(generator)
        except StopIteration as stop:
            _returned(stop.value)
        except Exception as exc:  # noqa: BLE001 - reported to the user
            _error(exc)
        finally:
            if on_finished is not None:
                on_finished()
        return None

    from napari.qt.threading import create_worker

    bar = _ProgressBar(description)
    # errors come back as a _Failure value; nothing is re-raised in the main thread
    worker = create_worker(_relay, generator, _start_thread=False, _ignore_errors=True)
    worker.yielded.connect(bar.update)
    worker.returned.connect(_returned)
    worker.errored.connect(_error)

    def _finished() -> None:
        _RUNNING.discard(worker)
        bar.close()
        if session is not None:
            session.workers.discard(worker)
        if on_finished is not None:
            on_finished()

    worker.finished.connect(_finished)
    _RUNNING.add(worker)
    if session is not None:
        session.workers.add(worker)
    worker.start()
    return worker
