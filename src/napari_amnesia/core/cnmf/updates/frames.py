"""The movie as a matrix ``Y`` ``(T, P)``: its products with the factors in one pass.

:class:`Frames` computes ``Y C^T`` on the supports, ``A^T Y``, ``b^T Y`` and each
pixel's ``|y|^2`` over time chunks: a movie held in memory is read as views, a
lazy (dask) movie is read chunk by chunk as dask tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..initialization import all_finite

__all__ = ["Frames", "as_frames", "float_rows"]

_CHUNK_BYTES = 64 * 2**20


class Frames:
    """A movie seen as float32 ``(T, P)`` matrix blocks of consecutive frames.

    Parameters
    ----------
    movie : array_like
        ``(T, Y, X)`` numpy or dask array, or an in-memory ``(T, P)`` matrix (then
        ``dims`` is required): float32, or an integer type that the passes over the
        movie cast to float32 a few frames at a time (:func:`float_rows`), so that
        a compact movie (uint16) never gets a float32 copy of a whole block.
    dims : tuple of int, optional
        ``(Y, X)`` when ``movie`` is a matrix.
    chunk_frames : int, optional
        Frames per block; default about 64 MB of float32.
    fill : ndarray, shape (P,), optional
        Values replacing NaN/inf (each pixel's mean); without it, non-finite values
        are replaced by 0.

    Notes
    -----
    A numpy movie is read as views (cast to float32 block by block); a dask movie
    block by block inside dask tasks (:meth:`map`), so only a few blocks are in
    memory at once.
    """

    def __init__(self, movie: Any, dims: tuple[int, int] | None = None, *,
                 chunk_frames: int | None = None, fill: np.ndarray | None = None) -> None:
        shape = tuple(int(n) for n in movie.shape)
        if len(shape) == 2:
            if dims is None:
                raise ValueError("dims is required for a (T, P) matrix.")
            self.dims = (int(dims[0]), int(dims[1]))
            if shape[1] != self.dims[0] * self.dims[1]:
                raise ValueError(f"matrix of {shape[1]} pixels does not match dims {dims}.")
        elif len(shape) == 3:
            self.dims = shape[1:]
        else:
            raise ValueError(f"movie should be (T, Y, X), got shape {shape}.")
        self.movie = movie
        self.T = shape[0]
        self.P = self.dims[0] * self.dims[1]
        self.lazy = not isinstance(movie, np.ndarray)
        if chunk_frames is None:
            chunk_frames = max(1, _CHUNK_BYTES // (4 * max(1, self.P)))
        self.chunk_frames = int(min(max(1, chunk_frames), max(1, self.T)))
        self.fill = None if fill is None else np.asarray(fill, np.float32).reshape(self.P)
        #: results that depend on the movie only (e.g. each pixel's energy), reused
        self.cache: dict[str, Any] = {}

    @property
    def in_memory_matrix(self) -> bool:
        """Whether the movie is a float32 or integer ``(T, P)`` matrix in memory (views)."""
        m = self.movie
        return isinstance(m, np.ndarray) and m.ndim == 2 and (
            m.dtype == np.float32 or m.dtype.kind in "iu")

    def bounds(self) -> list[tuple[int, int]]:
        """``(t0, t1)`` of every block."""
        c = self.chunk_frames
        return [(t0, min(self.T, t0 + c)) for t0 in range(0, self.T, c)]

    def block(self, t0: int, t1: int) -> np.ndarray:
        """Frames ``t0:t1`` as a ``(t1 - t0, P)`` matrix, non-finite filled.

        float32, except for an in-memory integer matrix: a view in its own type (use
        :func:`float_rows` to read it as float32 a few frames at a time).
        """
        m = self.movie
        if self.in_memory_matrix:
            return m[t0:t1]  # a view: in-memory matrices are already cleaned
        x = m[t0:t1]
        if self.lazy:
            x = x.compute(scheduler="synchronous") if hasattr(x, "compute") else np.asarray(x)
        x = np.asarray(x).reshape(t1 - t0, self.P)
        out = x.astype(np.float32, copy=True)
        if x.dtype.kind == "f" and not all_finite(out):  # integers are always finite
            bad = ~np.isfinite(out)
            if self.fill is None:
                out[bad] = 0
            else:
                out[bad] = np.broadcast_to(self.fill, out.shape)[bad]
        return out

    def map(self, func: Callable[..., Any], *args: Any, parallel: bool = True) -> list[Any]:
        """``[func(block, t0, t1, *args) for each block]``, blocks as dask tasks."""
        bounds = self.bounds()
        if not parallel or len(bounds) == 1 or self.in_memory_matrix and self.T * self.P < 2**22:
            return [func(self.block(t0, t1), t0, t1, *args) for t0, t1 in bounds]
        import dask

        from ...parallel import blas_single_threaded

        def task(t0: int, t1: int) -> Any:
            return func(self.block(t0, t1), t0, t1, *args)

        tasks = [dask.delayed(task, pure=False)(t0, t1) for t0, t1 in bounds]
        with blas_single_threaded():
            return list(dask.compute(*tasks, scheduler="threads"))


#: Bytes of float32 that :func:`float_rows` casts at once (fits a core's L2 cache).
_CAST_BYTES = 2 * 2**20


def float_rows(block: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(s0, s1, rows)``: a block's rows ``s0:s1`` as float32, a few at a time.

    A float32 block is given whole (no copy); another type is cast a few frames
    at a time (about 2 MB of float32), so that a pass over a compact in-memory movie
    works on float32 rows that stay in cache, and never holds a float32 copy of
    the block.
    """
    if block.dtype == np.float32:
        yield 0, block.shape[0], block
        return
    n = block.shape[0]
    step = max(1, _CAST_BYTES // max(1, 4 * block.shape[1]))
    for s0 in range(0, n, step):
        s1 = min(n, s0 + step)
        yield s0, s1, block[s0:s1].astype(np.float32)


def as_frames(Y: Any, dims: tuple[int, int] | None = None, **kw: Any) -> Frames:
    """``Y`` as :class:`Frames` (returned as is when it already is one)."""
    return Y if isinstance(Y, Frames) else Frames(Y, dims, **kw)
