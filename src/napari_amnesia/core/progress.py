"""The progress protocol shared by every long computation.

Every long computation in :mod:`napari_amnesia.core` is written as a generator that
yields :class:`Progress` objects and finally *returns* its result (the value of
``StopIteration``). The plain function of each stage drives that generator with
:func:`drive`; the napari adapter runs the same generator in a thread worker (a
``yield`` is where a cancel takes effect); the command line shows a text progress
bar through :func:`tqdm_callback`.

Examples
--------
>>> def iter_count(n):
...     total = 0
...     for i in range(n):
...         total += i
...         yield Progress(i + 1, n, "counting")
...     return total
>>> drive(iter_count(4))
6
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Progress", "Cancelled", "drive", "tqdm_callback", "ProgressGenerator"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One step of a long computation.

    Parameters
    ----------
    done : int
        Units of work finished so far (frames, chunks, patches...).
    total : int
        Units of work in all; 0 when unknown.
    message : str
        What is being done, in plain words ("summary images").

    Examples
    --------
    >>> step = Progress(3, 4, "frames")
    >>> step.fraction
    0.75
    >>> Progress(3, 0).fraction  # total unknown
    0.0
    """

    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        """Fraction of the work done, in [0, 1] (0 when the total is unknown)."""
        return min(1.0, self.done / self.total) if self.total else 0.0


ProgressGenerator = Generator[Progress, None, T]


class Cancelled(RuntimeError):
    """Raised by :func:`drive` when its ``cancel`` callable returns True."""


def drive(
    generator: Generator[Progress, Any, T],
    callback: Callable[[Progress], Any] | None = None,
    *,
    cancel: Callable[[], bool] | None = None,
) -> T:
    """Run a progress generator to the end and return its result.

    Parameters
    ----------
    generator : generator
        A generator that yields :class:`Progress` and returns a result.
    callback : callable, optional
        Called with every :class:`Progress` the generator yields.
    cancel : callable, optional
        Polled after every step; when it returns True the generator is closed (its
        ``finally`` blocks run, temporary files are removed) and :class:`Cancelled`
        is raised.

    Returns
    -------
    result
        What the generator returned.

    Examples
    --------
    >>> def iter_squares(n):
    ...     squares = []
    ...     for i in range(n):
    ...         squares.append(i * i)
    ...         yield Progress(i + 1, n, "squares")
    ...     return squares
    >>> seen = []
    >>> drive(iter_squares(3), seen.append)
    [0, 1, 4]
    >>> [step.done for step in seen]
    [1, 2, 3]
    >>> drive(iter_squares(3), cancel=lambda: True)
    Traceback (most recent call last):
    ...
    napari_amnesia.core.progress.Cancelled: cancelled by the user
    """
    try:
        while True:
            step = next(generator)
            if callback is not None and isinstance(step, Progress):
                callback(step)
            if cancel is not None and cancel():
                raise Cancelled("cancelled by the user")
    except StopIteration as stop:
        return stop.value
    finally:
        # on a cancel, an error or Ctrl-C in the callback, the generator's own
        # clean-up (temporary files, open files) runs now, not at garbage collection
        generator.close()


def tqdm_callback(*, disable: bool | None = None, leave: bool = False, **kwargs: Any):
    """Return a progress callback that draws a ``tqdm`` bar (for the command line).

    The bar follows the ``total`` and ``message`` of the :class:`Progress` objects
    it receives and switches to a new bar when the message changes. Call the
    returned object's ``close()`` when done (it is also a context manager).
    """
    from tqdm.auto import tqdm

    class _Bar:
        def __init__(self) -> None:
            self._bar = None
            self._message: str | None = None

        def __call__(self, step: Progress) -> None:
            if self._bar is None or step.message != self._message:
                self.close()
                self._message = step.message
                self._bar = tqdm(
                    total=step.total or None,
                    desc=step.message,
                    disable=disable,
                    leave=leave,
                    **kwargs,
                )
            if step.total and self._bar.total != step.total:
                self._bar.total = step.total
            self._bar.n = step.done
            self._bar.refresh()

        def close(self) -> None:
            if self._bar is not None:
                self._bar.close()
                self._bar = None

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.close()

    return _Bar()
