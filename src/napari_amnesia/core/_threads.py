"""Running numpy work on several threads without oversubscribing the cores.

numpy's BLAS (OpenBLAS in the wheels) starts its own threads for every matrix
product. When our code already splits the work over threads (dask chunks, batches of
frames), each of those threads calling a multi-threaded BLAS puts ``workers ×
cores`` busy threads on ``cores`` cores; OpenBLAS threads then spin and wait for each
other, and two worker threads ran no faster than one (motion estimation at 512²:
64 frames/s with one thread, 68 with two; 118 with two and single-threaded BLAS).
:func:`blas_single_threaded` pins BLAS to one thread for the duration of a parallel
section, and :func:`thread_map` is the one place that runs a function over items on
a pool of threads that way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["blas_single_threaded", "n_workers", "thread_map"]

T = TypeVar("T")


def n_workers(limit: int | None = None) -> int:
    """Threads to use: the CPUs this process may run on, at most ``limit``."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, n if limit is None else min(n, int(limit)))


@contextmanager
def blas_single_threaded() -> Iterator[None]:
    """Limit BLAS to one thread inside the ``with`` block (restored after)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def thread_map(function: Callable[..., T], items: Iterable[Any], workers: int) -> Iterator[T]:
    """``map(function, items)`` on ``workers`` threads, BLAS single-threaded, in order.

    With ``workers <= 1`` it is the plain ``map`` (and BLAS keeps its threads).
    Results are yielded in the order of ``items`` as they complete; the pool keeps
    at most ``2 × workers`` items in flight, so memory stays bounded for long
    iterables.
    """
    if workers <= 1:
        yield from map(function, items)
        return
    with blas_single_threaded(), ThreadPoolExecutor(workers) as pool:
        pending = []
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
