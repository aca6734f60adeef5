"""Measure whether a reading thread or a thread pool beside dask is worth keeping.

Run by hand.

Two measurements, each the median of ``--repeats`` runs made in the same process,
alternating the two variants so that a change of load on the machine hits both:

1. ``summary_images`` on a ``T x 256 x 256`` uint16 multi-page TIFF on disk
   (written once with :func:`napari_amnesia.core.simulate.write_simulated_movie`,
   opened lazily with :func:`napari_amnesia.core.io.open_movie`), reading the chunks
   one after the other (the core's way) against reading the next chunk in a
   background thread while the current one is processed (the read-ahead the core
   had until this measurement, kept here and patched in).
2. Rigid motion correction (:func:`napari_amnesia.core.motion.correct`, metrics
   included, then the lazy corrected movie computed) of a ``1000 x 256 x 256``
   simulated movie in memory, with the core's :func:`~napari_amnesia.core.parallel.thread_map`
   and ``split_map`` (dask tasks on the threaded scheduler) against the
   ``concurrent.futures.ThreadPoolExecutor`` versions they replaced (git 6d7ecc5,
   ``core/_threads.py``), patched in where the motion modules import them.

Usage::

    python benchmarks/bench_readahead.py                  # 2000 frames, 3 repeats
    python benchmarks/bench_readahead.py --frames 500 --repeats 1   # a quick look

It prints a markdown table (frames/s, median of the repeats) and the load average
before the measurements: measure on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def readahead_chunks(movie: Any, chunk: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(t0, t1, frames)``, reading the next chunk in a thread meanwhile.

    The read-ahead of ``core/summary.py`` before it was removed: the chunks are read
    into two buffers used in turn (a dask chunk is stored straight into its buffer).
    """
    import sys

    from napari_amnesia.core.summary.reading import _as_kernel_array

    n = movie.shape[0]
    starts = list(range(0, n, chunk))
    if len(starts) == 1:
        yield 0, n, _as_kernel_array(np.asarray(movie[0:n]))
        return
    dask_array = sys.modules.get("dask.array")
    is_dask = dask_array is not None and isinstance(movie, dask_array.Array)
    shape = (min(chunk, n),) + tuple(int(s) for s in movie.shape[1:])
    dtype = _as_kernel_array(np.zeros(1, movie.dtype)).dtype
    buffers = [np.empty(shape, dtype) for _ in range(2)]

    def read_into(i: int) -> np.ndarray:
        t0 = starts[i]
        t1 = min(n, t0 + chunk)
        out = buffers[i % 2][: t1 - t0]
        if is_dask:
            dask_array.store(movie[t0:t1], out, lock=False)
        else:  # a memmap is read (from the disk) here, in the reading thread
            out[...] = movie[t0:t1]
        return out

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="amnesia-read") as pool:
        future = pool.submit(read_into, 0)
        for i, t0 in enumerate(starts):
            frames = future.result()
            if i + 1 < len(starts):
                future = pool.submit(read_into, i + 1)
            yield t0, min(n, t0 + chunk), frames


@contextmanager
def read_ahead() -> Iterator[None]:
    """Patch the summary pass's chunk reader with the read-ahead one."""
    from napari_amnesia.core.summary import stream

    saved = stream._read_chunks
    stream._read_chunks = readahead_chunks
    try:
        yield
    finally:
        stream._read_chunks = saved


def pool_thread_map(function: Callable, items: Iterable[Any], workers: int) -> Iterator[Any]:
    """Run ``map(function, items)`` on a ThreadPoolExecutor (git 6d7ecc5, core/_threads.py)."""
    from napari_amnesia.core.parallel import blas_single_threaded

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


def pool_split_map(function: Callable[[int, int], Any], n: int, workers: int) -> None:
    """Call ``function(a, b)`` over contiguous parts on a ThreadPoolExecutor (old _warp)."""
    workers = max(1, min(int(workers), n))
    if n == 0:
        return
    if workers == 1:
        function(0, n)
        return
    edges = np.linspace(0, n, workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(function, edges[:-1], edges[1:]))


@contextmanager
def thread_pools() -> Iterator[None]:
    """Patch the motion modules' thread_map/split_map with the ThreadPoolExecutor ones."""
    from napari_amnesia.core.motion import _warp, template

    saved = template.thread_map, _warp.split_map
    template.thread_map, _warp.split_map = pool_thread_map, pool_split_map
    try:
        yield
    finally:
        template.thread_map, _warp.split_map = saved


def time_summary(path: Path, prefetch: bool) -> float:
    """Frames/s of one ``summary_images`` pass over the TIFF at ``path``.

    ``prefetch``: with the read-ahead thread patched in.
    """
    from napari_amnesia.core.summary import summary_images

    t0 = time.perf_counter()
    try:
        from napari_amnesia.core.io import open_movie
    except ImportError:  # io being reorganised: the memory map open_movie would use
        import tifffile

        movie = tifffile.memmap(path, mode="r")
    else:
        movie = open_movie(path)
    with read_ahead() if prefetch else contextmanager(lambda: iter([None]))():
        summary_images(movie)
    return movie.shape[0] / (time.perf_counter() - t0)


def time_motion(movie: np.ndarray, pools: bool) -> float:
    """Frames/s of rigid correction (metrics and the corrected movie computed)."""
    from napari_amnesia.core import motion

    context = thread_pools() if pools else contextmanager(lambda: iter([None]))()
    with context:
        t0 = time.perf_counter()
        result = motion.correct(movie)
        result.corrected.compute()
        return len(movie) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    """Run both measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="frames of the TIFF")
    parser.add_argument("--motion-frames", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", choices=("summary", "motion"), default=None)
    args = parser.parse_args(argv)

    from napari_amnesia.core.simulate import simulate, write_simulated_movie

    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.skip != "summary":
            path = Path(tmp) / "movie.tif"
            write_simulated_movie(path, n_frames=args.frames, shape=(256, 256), rng=0)
            time_summary(path, True)  # numba compilation, file in the page cache
            runs: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.repeats):
                for prefetch in (True, False):
                    runs[prefetch].append(time_summary(path, prefetch))
            for prefetch in (True, False):
                rows.append((f"summary_images, {args.frames}x256x256 uint16 TIFF",
                             "read-ahead thread" if prefetch else "synchronous reads",
                             statistics.median(runs[prefetch]), runs[prefetch]))
        if args.skip != "motion":
            movie, _ = simulate(n_frames=args.motion_frames, shape=(256, 256), rng=0,
                                nonrigid=False)
            time_motion(movie[:200], False)  # compilation
            runs = {True: [], False: []}
            for _ in range(args.repeats):
                for pools in (False, True):
                    runs[pools].append(time_motion(movie, pools))
            for pools in (False, True):
                rows.append((f"motion.correct (rigid), {args.motion_frames}x256x256",
                             "ThreadPoolExecutor" if pools else "dask tasks (core.parallel)",
                             statistics.median(runs[pools]), runs[pools]))
    print()
    print("| measurement | variant | frames/s (median) | runs |")
    print("|---|---|---:|---|")
    for what, variant, median, values in rows:
        print(f"| {what} | {variant} | {median:.0f} | "
              f"{', '.join(f'{v:.0f}' for v in values)} |")


if __name__ == "__main__":
    main()
