"""Time chunks of a movie, and the few evenly spaced frames sampled from it."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np

#: Default size of a time chunk, in bytes.
DEFAULT_CHUNK_BYTES = 32 * 2**20


#: How many frames are sampled for the NaN check and for contrast limits.
_N_SAMPLE_FRAMES = 16


def _default_chunk_frames(frame_shape: tuple[int, int], dtype: np.dtype) -> int:
    frame_bytes = max(1, frame_shape[0] * frame_shape[1] * np.dtype(dtype).itemsize)
    return max(1, DEFAULT_CHUNK_BYTES // frame_bytes)


def _sample_frames(movie: Any, idx: np.ndarray) -> list[np.ndarray]:
    """Frames ``idx`` of a movie, each read on its own where the graph allows it.

    dask fuses ``movie[k]`` into the reader's getter only when the chunk's task has a
    single dependent, so frames of a movie straight from :func:`open_movie` are
    computed in rounds holding at most one frame per chunk: each read is then one
    frame. A movie with computations upstream is computed in one go instead, so that
    no chunk of the pipeline is computed twice.
    """
    if not isinstance(movie, da.Array):
        return [np.asarray(movie[int(i)]) for i in idx]
    if len(movie.dask.layers) > 2:
        return list(dask.compute(*[movie[int(i)] for i in idx]))
    starts = np.cumsum((0, *movie.chunks[0]))
    owner = np.searchsorted(starts, idx, side="right") - 1
    rank = np.array([np.count_nonzero(owner[:j] == owner[j]) for j in range(idx.size)])
    frames: dict[int, np.ndarray] = {}
    for r in range(int(rank.max(initial=-1)) + 1):
        members = [int(i) for i in idx[rank == r]]
        for i, frame in zip(members, dask.compute(*[movie[i] for i in members]), strict=True):
            frames[i] = frame
    return [frames[int(i)] for i in idx]


def _sample_indices(n: int, count: int) -> np.ndarray:
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(np.int64))
