"""The one parallel engine of the core: dask tasks, with BLAS kept to one thread.

Parallel work in napari-amnesia is expressed as dask tasks: chunks of frames of a
lazy movie (dask's own graphs), and, for work that is not a dask array (batches of
motion-estimation frames, rows of traces to deconvolve, pixel blocks of a CNMF
update), :func:`thread_map`, which runs one :func:`dask.delayed` task per item on
dask's threaded scheduler. No other pool is started in the core; the napari side
starts GUI threads only in :mod:`napari_amnesia.napari._workers`.

numpy's BLAS (OpenBLAS in the wheels) starts its own threads for every matrix
product. When our code already splits the work over threads, each of them calling a
multi-threaded BLAS puts ``workers × cores`` busy threads on ``cores`` cores;
OpenBLAS threads then spin and wait for each other, and two worker threads ran no
faster than one (motion estimation at 512²: 64 frames/s with one thread, 68 with two;
118 with two and single-threaded BLAS). :func:`blas_single_threaded` pins BLAS to one
thread for the duration of a parallel section.

Results never depend on the number of workers: every task computes the same items
in the same way, and results come back in the order of the items.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["blas_single_threaded", "one_thread", "n_workers", "numba_threads", "thread_map",
           "split_map", "release_memory"]

T = TypeVar("T")


def n_workers(limit: int | None = None) -> int:
    """Return the threads to use: the CPUs this process may run on, at most ``limit``.

    dask's ``num_workers`` setting, when set, caps it too: a batch sets it to the
    worker's threads inside each recording's task, so a one-thread worker does not
    run motion correction or CNMF on every core of its machine.

    Examples
    --------
    >>> n_workers(1)
    1
    """
    import dask

    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    # inside a batch's task on a dask worker (or wherever the user set dask's
    # num_workers) use that many threads, not every CPU of the machine
    configured = dask.config.get("num_workers", None)
    if configured:
        n = min(n, int(configured))
    return max(1, n if limit is None else min(n, int(limit)))


_TRIM: Any = None


def release_memory() -> None:
    """Give the memory freed so far back to the operating system (glibc's ``malloc_trim``).

    Large temporary arrays freed in worker threads stay in glibc's per-thread
    arenas, counted in the process's resident memory, until the same thread
    allocates again: between the stages of a fit (patches, ring background,
    whole-field updates) they add up to hundreds of MB that the next stage does
    not reuse. Called at those boundaries; does nothing where glibc is absent.
    """
    global _TRIM
    if _TRIM is None:
        try:
            import ctypes

            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
            _TRIM = False
    if _TRIM:
        _TRIM(0)


@contextmanager
def numba_threads(limit: int | None = None) -> Iterator[None]:
    """Run numba's parallel loops on :func:`n_workers` threads inside the block.

    numba starts as many threads as the machine has CPUs, whatever dask's
    ``num_workers`` says, so a one-thread batch worker would run its parallel
    kernels on every core beside the other workers. The setting is numba's, per
    calling thread, and restored after the block. The kernels' results do not
    depend on it.
    """
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n_workers(limit), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


@contextmanager
def blas_single_threaded() -> Iterator[None]:
    """Limit BLAS to one thread inside the ``with`` block (restored after)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def one_thread() -> Any:
    """Run BLAS and OpenMP on one thread inside the ``with`` block (restored after).

    What decides the clusters (the PCA, the correlation distances, the t-SNE
    gradient) is computed inside it: a multi-threaded BLAS or OpenMP reduction
    adds in an order that depends on the number of threads, and the last-bit
    differences grow, through t-SNE and the tree cuts, into different clusters
    (the same movie gave other labels with 1 and 2 BLAS threads). One thread
    makes the result the same on every machine; it costs little here (a
    truncated SVD and products of ``(N, 50)`` matrices).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _compute(function: Callable[..., T], items: list, workers: int) -> list[T]:
    import dask

    tasks = [dask.delayed(function, pure=False)(item) for item in items]
    return list(dask.compute(*tasks, scheduler="threads", num_workers=workers))


def thread_map(function: Callable[..., T], items: Iterable[Any], workers: int) -> Iterator[T]:
    """Run ``map(function, items)`` as dask tasks on ``workers`` threads, BLAS single-threaded.

    With ``workers <= 1`` it is the plain ``map`` (and BLAS keeps its threads).
    Results are yielded in the order of ``items``; items are submitted in windows of
    ``2 × workers`` tasks, so memory stays bounded for long iterables and a caller
    that reports progress sees it after each window.

    Examples
    --------
    >>> list(thread_map(lambda x: x * x, range(5), workers=2))
    [0, 1, 4, 9, 16]
    """
    if workers <= 1:
        yield from map(function, items)
        return
    window: list = []
    with blas_single_threaded():
        for item in items:
            window.append(item)
            if len(window) >= 2 * workers:
                yield from _compute(function, window, workers)
                window = []
        if window:
            yield from _compute(function, window, workers)


def split_map(function: Callable[[int, int], Any], n: int, workers: int) -> None:
    """Call ``function(start, stop)`` over ``workers`` contiguous parts of ``range(n)``.

    For kernels that write into a shared output and release the GIL (compiled
    loops); each part is one dask task.

    Examples
    --------
    >>> seen = []
    >>> split_map(lambda a, b: seen.append((a, b)), 10, workers=2)
    >>> sorted(seen)
    [(0, 5), (5, 10)]
    """
    workers = max(1, min(int(workers), n))
    if n == 0:
        return
    if workers == 1:
        function(0, n)
        return
    step = -(-n // workers)
    bounds = [(a, min(a + step, n)) for a in range(0, n, step)]
    _compute(lambda ab: function(*ab), bounds, workers)
