"""Reading a movie chunk by chunk, in the dtypes the kernels are compiled for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

_CHUNK_BYTES = 256 * 2**20  # target size of one float32 chunk
_NOISE_BYTES = 256 * 2**20  # target size of one float32 noise segment


def _as_kernel_array(a: Any) -> np.ndarray:
    """Return ``a`` as a C-contiguous array of a dtype the kernels are compiled for."""
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = a.view(np.uint8)
    elif a.dtype.kind == "f" and a.dtype.itemsize < 4:
        a = a.astype(np.float32)
    elif not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return np.ascontiguousarray(a)


def _read_chunks(movie: Any, chunk: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(t0, t1, frames)`` for consecutive chunks of ``chunk`` frames, read in turn.

    A dask movie's chunk is computed by dask (its own threads read the pieces). The
    chunks are read synchronously: a thread reading the next chunk while the current
    one was processed gained less than 10 % (frames/s of ``summary_images`` on a
    2000 x 256 x 256 uint16 TIFF, 2 shared cores, three sessions of
    ``benchmarks/bench_readahead.py``: 1362 against 1252, 1011 against 946, and
    1317 against 1454 without it), so the core runs no pool of its own beside dask.
    """
    n = movie.shape[0]
    for t0 in range(0, n, chunk):
        t1 = min(n, t0 + chunk)
        yield t0, t1, _as_kernel_array(np.asarray(movie[t0:t1]))


def _check_finite(acc: np.ndarray, frames: np.ndarray, t0: int) -> None:
    if np.isfinite(acc).all():
        return
    bad = ~np.isfinite(frames)
    n_nan = int(np.isnan(frames).sum())
    n_inf = int(bad.sum()) - n_nan
    if n_nan + n_inf == 0:
        raise ValueError(
            f"the movie has values too large for float32 computations in frames "
            f"{t0}-{t0 + len(frames) - 1} (largest magnitude "
            f"{float(np.abs(frames).max()):g}); rescale it"
        )
    first = t0 + int(np.flatnonzero(bad.reshape(len(frames), -1).any(axis=1))[0])
    raise ValueError(
        f"the movie has {n_nan} NaN and {n_inf} infinite values in frames "
        f"{t0}-{t0 + len(frames) - 1}, the first in frame {first}; summary images "
        "need finite values (nan_policy='raise')"
    )


def _auto_lengths(shape: tuple[int, int, int], noise_frames: int | None,
                  chunk_frames: int | None) -> tuple[int, int]:
    n, ny, nx = shape
    frame_bytes = 4 * ny * nx
    if noise_frames is None:
        noise_frames = int(min(256, max(32, _NOISE_BYTES // frame_bytes)))
    if chunk_frames is None:
        per = max(1, _CHUNK_BYTES // (frame_bytes * noise_frames))
        chunk_frames = int(noise_frames * min(per, 16))
    return int(noise_frames), int(min(chunk_frames, n))
