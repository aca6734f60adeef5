"""Lazy movies of a CNMF fit: the reconstruction ``A·C + b·f``, the residual, the footprints.

Each is a dask array computed per chunk (a few frames or components of about 8 MB),
so a viewer or a script reads only what it shows. They back
:meth:`SourceResult.reconstruction <napari_amnesia.core.cnmf.SourceResult.reconstruction>`,
:meth:`SourceResult.residual <napari_amnesia.core.cnmf.SourceResult.residual>` and the
``footprints`` of :mod:`.layers`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["lazy_reconstruction", "lazy_residual", "lazy_footprints"]

_CHUNK_BYTES = 8 * 2**20


def _frames_per_chunk(T: int, shape: tuple[int, int]) -> int:
    return int(max(1, min(T, 64, _CHUNK_BYTES // max(1, 4 * shape[0] * shape[1]))))


def _reconstruct_block(times: np.ndarray, A, C, b, f, shape) -> np.ndarray:
    times = np.asarray(times, np.int64)
    out = np.asarray(A @ C[:, times], np.float32)  # (P, n): sparse x dense
    if b.shape[1]:
        out += b @ f[:, times]
    return np.ascontiguousarray(out.T).reshape(len(times), *shape)


def lazy_reconstruction(result: Any):
    """Return the denoised movie ``A·C + b·f`` as a dask array, computed per time chunk.

    Parameters
    ----------
    result : SourceResult

    Returns
    -------
    dask.array.Array, shape (T, Y, X), float32
    """
    import dask.array as da

    T, shape = result.n_frames, result.shape
    times = da.arange(T, chunks=_frames_per_chunk(T, shape), dtype=np.int64)
    b, f = result.background
    return times.map_blocks(
        _reconstruct_block, result.footprints, result.traces, b, f, shape,
        new_axis=[1, 2], chunks=(times.chunks[0], (shape[0],), (shape[1],)),
        dtype=np.float32, meta=np.empty((0, 0, 0), np.float32))


def lazy_residual(result: Any, movie: Any):
    """Return ``movie - (A·C + b·f)`` as a dask array (the movie read chunk by chunk).

    Parameters
    ----------
    result : SourceResult
    movie : array_like, shape (T, Y, X)
        The movie the result was fitted on (numpy or dask).

    Returns
    -------
    dask.array.Array, shape (T, Y, X), float32

    Raises
    ------
    ValueError
        When the movie's shape is not the fitted one.
    """
    import dask.array as da

    shape = tuple(int(n) for n in movie.shape)
    if shape != (result.n_frames, *result.shape):
        raise ValueError(f"the movie has shape {shape}, the result was fitted on "
                         f"{result.n_frames} frames of {result.shape}.")
    rec = lazy_reconstruction(result)
    if not isinstance(movie, da.Array):
        movie = da.from_array(movie, chunks=(rec.chunks[0][0], *shape[1:]))
    return movie.astype(np.float32) - rec


def _footprint_block(ks: np.ndarray, A, shape) -> np.ndarray:
    sub = A[:, np.asarray(ks, np.int64)]
    return np.ascontiguousarray(sub.toarray().T).reshape(len(ks), *shape).astype(np.float32)


def lazy_footprints(result: Any):
    """Return the footprints as a ``(K, Y, X)`` dask array (a few components per chunk)."""
    import dask.array as da

    K, shape = result.K, result.shape
    ks = da.arange(K, chunks=_frames_per_chunk(K, shape), dtype=np.int64)
    return ks.map_blocks(_footprint_block, result.footprints, shape, new_axis=[1, 2],
                         chunks=(ks.chunks[0], (shape[0],), (shape[1],)), dtype=np.float32,
                         meta=np.empty((0, 0, 0), np.float32))
