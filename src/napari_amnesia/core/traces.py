"""Traces of pixels and regions of a movie, and their preprocessing.

These are the building blocks the trace dock, the exports and later stages share:
the fluorescence of one pixel over time, and the mean fluorescence of each label of
a label image over time. Both read the movie one time chunk at a time, restricted to
the rows and columns they need, so memory stays bounded whatever the length.

The preprocessing that the clustering and the factorization share works on ``(N, T)``
traces in memory: normalization (:func:`normalize_traces`), removal of a polynomial
trend (:func:`detrend_traces`), changes over a lag (:func:`difference_traces`), and a
robust signal-to-noise ratio (:func:`trace_snr`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from .parallel import one_thread
from .progress import Progress, drive

__all__ = [
    "pixel_trace",
    "iter_label_traces",
    "label_traces",
    "normalize_traces",
    "detrend_traces",
    "difference_traces",
    "trace_snr",
]


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


# --------------------------------------------------------------------------- preprocessing
def normalize_traces(traces: np.ndarray, method: str = "zscore", *,
                     percentile: float = 10.0) -> np.ndarray:
    """Normalize each row of ``traces`` ``(N, T)``: ``"none"``, ``"zscore"`` or ``"dff"``.

    Constant rows become zeros under z-score; ΔF/F divides by the
    ``percentile``-th value of each row (rows whose baseline is not > 0 raise,
    naming the first such row).
    """
    x = np.asarray(traces, np.float32)
    if method == "none":
        return x.copy()
    if method == "zscore":
        mean = x.mean(axis=1, keepdims=True)
        sd = x.std(axis=1, keepdims=True)
        return np.divide(x - mean, sd, out=np.zeros_like(x), where=sd > 0)
    if method == "dff":
        f0 = np.percentile(x, percentile, axis=1, keepdims=True).astype(np.float32)
        bad = np.flatnonzero(~(f0[:, 0] > 0))
        if bad.size:
            raise ValueError(
                f"normalization='dff' needs a positive baseline, but element {int(bad[0])} "
                f"has F0 = {float(f0[bad[0], 0]):g} ({bad.size} element(s) in all); use "
                "'zscore' or 'none' for traces with offsets removed."
            )
        return (x - f0) / f0
    raise ValueError(f'method should be one of "none", "zscore", "dff", got {method!r}.')


def detrend_traces(traces: np.ndarray, degree: int = 2) -> np.ndarray:
    """Subtract from each row its least-squares polynomial of ``degree`` in time.

    0 returns the traces unchanged. One ``(T, degree + 1)`` basis serves all rows.

    Examples
    --------
    >>> detrend_traces(np.array([[1.0, 2.0, 3.0, 4.0]]), 1).round(6) + 0.0
    array([[0., 0., 0., 0.]], dtype=float32)
    """
    x = np.asarray(traces, np.float32)
    if degree <= 0:
        return x
    t = np.linspace(-1.0, 1.0, x.shape[1])
    basis = np.polynomial.legendre.legvander(t, degree)  # well conditioned
    q, _ = np.linalg.qr(basis)
    q = q.astype(np.float32)
    with one_thread():
        return x - (x @ q) @ q.T


def difference_traces(traces: np.ndarray, lag: int = 0) -> np.ndarray:
    """Return the changes of each row over ``lag`` frames, ``x[:, lag:] - x[:, :-lag]``.

    The correlation of changes is that of the traces with their slow
    autocorrelation removed (a prewhitening): over a few hundred frames, two
    independent calcium traces with slow decays correlate by chance at
    0.3-0.4, their changes at about 0.1.

    Parameters
    ----------
    traces : array_like, shape (N, T)
    lag : int
        Frames between the two values of a change; 0 returns the traces.

    Returns
    -------
    ndarray of float32, shape (N, T - lag)

    Examples
    --------
    >>> difference_traces(np.array([[0.0, 1.0, 3.0, 6.0]]), 2)
    array([[3., 5.]], dtype=float32)
    """
    x = np.asarray(traces, np.float32)
    if lag <= 0:
        return x
    return x[:, lag:] - x[:, :-lag]


def trace_snr(traces: np.ndarray) -> np.ndarray:
    """Signal-to-noise ratio of each row: (max - median) / noise SD.

    The noise SD is estimated robustly from the frame-to-frame differences
    (median absolute deviation of ``diff`` / (0.6745 sqrt 2)), so slow calcium
    transients do not count as noise. Infinite for a noiseless non-constant
    trace, 0 for a constant one.
    """
    x = np.atleast_2d(np.asarray(traces, np.float64))
    if x.shape[1] < 3:
        return np.zeros(len(x))
    d = np.diff(x, axis=1)
    noise = np.median(np.abs(d - np.median(d, axis=1, keepdims=True)), axis=1)
    noise = noise / (0.6745 * np.sqrt(2))
    signal = x.max(axis=1) - np.median(x, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(noise > 0, signal / noise, np.where(signal > 0, np.inf, 0.0))
    return snr
