"""Traces of pixels and regions of a movie, read in time chunks.

These are the building blocks the trace dock, the exports and later stages share:
the fluorescence of one pixel over time, and the mean fluorescence of each label of
a label image over time. Both read the movie one time chunk at a time, restricted to
the rows and columns they need, so memory stays bounded whatever the length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from .progress import Progress, drive

__all__ = ["pixel_trace", "iter_label_traces", "label_traces"]


def _check_movie(movie) -> None:
    if getattr(movie, "ndim", None) != 3:
        raise ValueError(
            f"movie must be a 3-D (T, Y, X) array, got shape {getattr(movie, 'shape', None)}."
        )


def _chunk_length(movie, chunk_frames: int | None) -> int:
    if chunk_frames is not None:
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}.")
        return int(chunk_frames)
    chunks = getattr(movie, "chunks", None)
    if chunks is not None and len(chunks[0]):
        return int(max(chunks[0]))
    return 512


def pixel_trace(movie, row: int, col: int) -> np.ndarray:
    """Return the fluorescence of one pixel over time.

    Parameters
    ----------
    movie : array-like, shape (T, Y, X)
        A numpy or dask movie.
    row, col : int
        Pixel position (row, column).

    Returns
    -------
    trace : ndarray of float32, shape (T,)
    """
    _check_movie(movie)
    n_rows, n_cols = movie.shape[1:]
    if not (0 <= row < n_rows and 0 <= col < n_cols):
        raise ValueError(
            f"pixel ({row}, {col}) is outside the movie frame of {n_rows} x {n_cols} pixels."
        )
    return np.asarray(movie[:, int(row), int(col)], dtype=np.float32)


def iter_label_traces(
    movie,
    labels: np.ndarray,
    *,
    label_ids: Sequence[int] | None = None,
    chunk_frames: int | None = None,
):
    """Mean trace of each label of a label image, as a progress generator.

    Only the bounding box of the requested labels is read from each time chunk.

    Parameters
    ----------
    movie : array-like, shape (T, Y, X)
        A numpy or dask movie.
    labels : ndarray of int, shape (Y, X)
        Label image, 0 = background.
    label_ids : sequence of int, optional
        Labels to measure (default: every non-zero label present).
    chunk_frames : int, optional
        Frames read at a time (default: the dask chunk length, else 512).

    Yields
    ------
    Progress

    Returns
    -------
    label_ids : ndarray of int, shape (K,)
    traces : ndarray of float32, shape (K, T)
        Mean over the label's pixels of each frame (NaN for a label with no pixel).
    """
    _check_movie(movie)
    labels = np.asarray(labels)
    if labels.shape != tuple(movie.shape[1:]):
        raise ValueError(
            f"labels shape {labels.shape} does not match the movie frame {tuple(movie.shape[1:])}."
        )
    if label_ids is None:
        label_ids = np.unique(labels)
        label_ids = label_ids[label_ids != 0]
    label_ids = np.asarray(label_ids, dtype=np.int64).ravel()
    n_frames = int(movie.shape[0])
    traces = np.full((len(label_ids), n_frames), np.nan, dtype=np.float32)
    inside = np.isin(labels, label_ids)
    if not len(label_ids) or not inside.any():
        return label_ids, traces
    rows = np.nonzero(inside.any(axis=1))[0]
    cols = np.nonzero(inside.any(axis=0))[0]
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    box_labels = labels[box].ravel()
    # index of each box pixel in label_ids (or -1): a sparse sum per chunk
    lookup = {int(v): i for i, v in enumerate(label_ids)}
    index = np.array([lookup.get(int(v), -1) for v in box_labels], dtype=np.int64)
    keep = index >= 0
    index = index[keep]
    counts = np.bincount(index, minlength=len(label_ids)).astype(np.float64)
    membership = sparse.csr_matrix(
        (np.ones(len(index), np.float32), (index, np.arange(len(index)))),
        shape=(len(label_ids), len(index)),
    )
    step = _chunk_length(movie, chunk_frames)
    for t0 in range(0, n_frames, step):
        t1 = min(n_frames, t0 + step)
        block = np.asarray(movie[t0:t1, box[0], box[1]], dtype=np.float32)
        block = block.reshape(t1 - t0, -1)[:, keep]
        sums = np.asarray(membership @ block.T, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            traces[:, t0:t1] = sums / counts[:, None]
        yield Progress(t1, n_frames, "label traces")
    return label_ids, traces


def label_traces(movie, labels, *, label_ids=None, chunk_frames=None):
    """Mean trace of each label; see :func:`iter_label_traces`."""
    return drive(iter_label_traces(movie, labels, label_ids=label_ids, chunk_frames=chunk_frames))
