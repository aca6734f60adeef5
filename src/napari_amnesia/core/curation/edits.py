"""Edits of a label image: delete, merge, split (by a line, by activity), add, append.

A ROI *is* its label value: every function returns a new image (never edits in
place), keeps the values of the ROIs it does not touch and gives new ROIs fresh
values (:func:`next_label`), so a deleted ROI's value is never recycled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "next_label",
    "changed_labels",
    "delete_labels",
    "merge_labels",
    "split_label_by_line",
    "split_label_kmeans",
    "add_mask",
    "append_labels",
]


# --------------------------------------------------------------------------- helpers
def _check_labels(labels: Any, name: str = "labels") -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ValueError(f"{name} should be a (Y, X) label image, got shape {arr.shape}.")
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} should hold integer labels, got dtype {arr.dtype}.")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} should hold labels >= 0, got {int(arr.min())}.")
    return arr


def _values(labels: np.ndarray) -> np.ndarray:
    return np.unique(labels[labels > 0]).astype(np.int64)


def _require(labels: np.ndarray, values: Iterable[int]) -> list[int]:
    present = set(_values(labels).tolist())
    values = [int(v) for v in values]
    missing = [v for v in values if v not in present]
    if missing:
        raise ValueError(f"label(s) {missing} are not in the label image.")
    return values


def _copy(labels: np.ndarray) -> np.ndarray:
    """Return a copy able to hold fresh values (int32 at least)."""
    dtype = np.result_type(labels.dtype, np.int32)
    return np.array(labels, dtype=dtype, copy=True)


def next_label(labels: Any, *, used: Iterable[int] = ()) -> int:
    """Return a fresh label value: one more than any in ``labels`` or in ``used``.

    Examples
    --------
    >>> next_label(np.array([[0, 3], [7, 0]]), used=[9])
    10
    """
    labels = _check_labels(labels)
    top = int(labels.max()) if labels.size else 0
    used = [int(v) for v in used]
    return max([top, *used]) + 1


def changed_labels(labels: Any, reference: Any) -> np.ndarray:
    """Label values whose pixels differ between ``labels`` and ``reference``.

    A label present in only one of them counts as changed.
    """
    a = _check_labels(labels)
    b = _check_labels(reference, "reference")
    if a.shape != b.shape:
        raise ValueError(f"labels {a.shape} and reference {b.shape} differ in shape.")
    diff = a != b
    out = np.union1d(a[diff], b[diff])
    return out[out > 0].astype(np.int64)


# --------------------------------------------------------------------------- edits
def delete_labels(labels: Any, values: Iterable[int]) -> np.ndarray:
    """Return a copy of ``labels`` without the ROIs ``values`` (their pixels become 0)."""
    labels = _check_labels(labels)
    values = _require(labels, values)
    out = _copy(labels)
    out[np.isin(out, values)] = 0
    return out


def merge_labels(labels: Any, values: Sequence[int], *, into: int | None = None
                 ) -> np.ndarray:
    """Return a copy of ``labels`` where the ROIs ``values`` become one ROI.

    Parameters
    ----------
    labels : array_like of int, shape (Y, X)
    values : sequence of int
        At least two label values present in ``labels``.
    into : int, optional
        The value the merged ROI keeps (default: the first of ``values``); it
        should be one of ``values``, so the merged ROI keeps an existing identity.

    Examples
    --------
    >>> merge_labels(np.array([[1, 2], [3, 0]]), [2, 1]).tolist()
    [[2, 2], [3, 0]]
    """
    labels = _check_labels(labels)
    values = list(dict.fromkeys(_require(labels, values)))
    if len(values) < 2:
        raise ValueError(f"merging needs at least two different labels, got {values}.")
    into = values[0] if into is None else int(into)
    if into not in values:
        raise ValueError(f"into={into} should be one of the merged labels {values}.")
    out = _copy(labels)
    out[np.isin(out, values)] = into
    return out


def split_label_by_line(labels: Any, value: int, line: Any, *, new_value: int | None = None,
                        used: Iterable[int] = ()) -> tuple[np.ndarray, int]:
    """Cut ROI ``value`` in two along a line (a segment or a polyline).

    Each pixel of the ROI goes to the side of the line it lies on, judged on the
    segment of the polyline nearest to it (segments are extended beyond their ends,
    so a line that stops short of the ROI's border still cuts it). The larger part
    keeps ``value``; the other gets ``new_value``.

    Parameters
    ----------
    labels : array_like of int, shape (Y, X)
    value : int
        The ROI to cut.
    line : array_like, shape (n, 2)
        Points (row, column) of the line, ``n >= 2``.
    new_value : int, optional
        Label of the second part (default: :func:`next_label` with ``used``).
    used : iterable of int
        Values not to reuse (e.g. labels deleted earlier).

    Returns
    -------
    labels : ndarray, shape (Y, X)
        A new label image.
    new_value : int

    Raises
    ------
    ValueError
        If ``value`` is absent or the line leaves the whole ROI on one side.
    """
    labels = _check_labels(labels)
    [value] = _require(labels, [value])
    pts = np.asarray(line, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2:
        raise ValueError(f"line should be (n >= 2, 2) points (row, column), got shape "
                         f"{pts.shape}.")
    seg_a, seg_d = pts[:-1], np.diff(pts, axis=0)
    keep = np.hypot(seg_d[:, 0], seg_d[:, 1]) > 0
    if not keep.any():
        raise ValueError("line has no length (all its points are equal).")
    seg_a, seg_d = seg_a[keep], seg_d[keep]
    rr, cc = np.nonzero(labels == value)
    p = np.stack([rr, cc], axis=1).astype(np.float64)
    rel = p[:, None, :] - seg_a[None, :, :]                         # (n, s, 2)
    length2 = (seg_d ** 2).sum(axis=1)                              # (s,)
    t = np.clip((rel * seg_d[None]).sum(axis=2) / length2, 0.0, 1.0)
    nearest = rel - t[..., None] * seg_d[None]
    dist = np.hypot(nearest[..., 0], nearest[..., 1])
    cross = seg_d[None, :, 0] * rel[..., 1] - seg_d[None, :, 1] * rel[..., 0]   # (n, s)
    s = np.argmin(dist, axis=1)
    rows = np.arange(len(p))
    side = cross[rows, s] >= 0
    if len(seg_d) > 1:
        # a pixel equally near two segments lies by their shared vertex: when the two
        # disagree, it is on the outer side of the turn there
        tied = dist <= dist[rows, s][:, None] + 1e-9
        pos = ((cross >= 0) & tied).any(axis=1)
        neg = ((cross < 0) & tied).any(axis=1)
        both = np.flatnonzero(pos & neg)
        if both.size:
            first = np.argmax(tied[both], axis=1)
            second = np.minimum(first + 1, len(seg_d) - 1)
            turn = (seg_d[first, 0] * seg_d[second, 1] - seg_d[first, 1] * seg_d[second, 0])
            side[both] = turn < 0
    if side.all() or not side.any():
        raise ValueError(f"the line does not cut label {value} in two (all its pixels lie "
                         "on one side).")
    small = side if side.sum() < (~side).sum() else ~side
    new_value = next_label(labels, used=used) if new_value is None else int(new_value)
    if new_value in _values(labels).tolist() or new_value <= 0:
        raise ValueError(f"new_value={new_value} is already a label (or not positive).")
    out = _copy(labels)
    out[rr[small], cc[small]] = new_value
    return out, new_value


def _pixel_traces(movie: Any, rr: np.ndarray, cc: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Traces ``(n, T)`` float32 of pixels (rr, cc), reading the bounding box in time chunks."""
    r0, r1, c0, c1 = rr.min(), rr.max() + 1, cc.min(), cc.max() + 1
    T = int(movie.shape[0])
    out = np.empty((len(rr), T), np.float32)
    for t0 in range(0, T, chunk):
        block = movie[t0:t0 + chunk, r0:r1, c0:c1]
        if hasattr(block, "compute"):
            block = block.compute()
        block = np.asarray(block, np.float32)
        out[:, t0:t0 + len(block)] = block[:, rr - r0, cc - c0].T
    return out


def split_label_kmeans(labels: Any, value: int, movie: Any, *, k: int = 2,
                       rng: np.random.Generator | int | None = 0,
                       new_values: Sequence[int] | None = None, used: Iterable[int] = ()
                       ) -> tuple[np.ndarray, list[int]]:
    """Split ROI ``value`` into ``k`` groups of pixels with similar activity.

    The traces of the ROI's pixels (read from the movie's bounding box only, in time
    chunks) are standardized (zero mean, unit variance) and clustered by k-means;
    the largest cluster keeps ``value``, the others get fresh values. Use it on a
    ROI that covers two cells firing independently.

    Parameters
    ----------
    labels : array_like of int, shape (Y, X)
    value : int
    movie : array_like, shape (T, Y, X)
        numpy or dask array.
    k : int
        Number of parts, >= 2.
    rng : {numpy.random.Generator, int}, optional
        Seed of the k-means initialisation (reproducible by default).
    new_values : sequence of int, optional
        Labels of the ``k - 1`` new parts (default: fresh values).
    used : iterable of int
        Values not to reuse.

    Returns
    -------
    labels : ndarray, shape (Y, X)
    new_values : list of int
        Labels of the new parts, largest first.
    """
    from sklearn.cluster import KMeans

    labels = _check_labels(labels)
    [value] = _require(labels, [value])
    if getattr(movie, "ndim", None) != 3 or tuple(movie.shape[1:]) != labels.shape:
        raise ValueError(f"movie should be (T, {labels.shape[0]}, {labels.shape[1]}), got "
                         f"shape {getattr(movie, 'shape', None)}.")
    k = int(k)
    if k < 2:
        raise ValueError(f"k should be at least 2, got {k}.")
    rr, cc = np.nonzero(labels == value)
    if len(rr) < k:
        raise ValueError(f"label {value} has {len(rr)} pixel(s), fewer than k={k}.")
    X = _pixel_traces(movie, rr, cc)
    X -= X.mean(axis=1, keepdims=True)
    sd = X.std(axis=1, keepdims=True)
    X /= np.where(sd > 0, sd, 1.0)
    if isinstance(rng, np.random.Generator):
        rng = int(rng.integers(2**31 - 1))
    groups = KMeans(n_clusters=k, n_init=10, random_state=rng).fit_predict(X)
    order = np.argsort(-np.bincount(groups, minlength=k), kind="stable")
    if new_values is None:
        start = next_label(labels, used=used)
        new_values = list(range(start, start + k - 1))
    new_values = [int(v) for v in new_values]
    if len(new_values) != k - 1:
        raise ValueError(f"new_values should hold k - 1 = {k - 1} labels, got {new_values}.")
    taken = set(_values(labels).tolist())
    if any(v in taken or v <= 0 for v in new_values):
        raise ValueError(f"new_values {new_values} should be fresh positive labels.")
    out = _copy(labels)
    for g, v in zip(order[1:], new_values, strict=True):
        sel = groups == g
        out[rr[sel], cc[sel]] = v
    return out, new_values


def add_mask(labels: Any, mask: Any, *, value: int | None = None, overwrite: bool = False,
             used: Iterable[int] = ()) -> tuple[np.ndarray, int]:
    """Add a ROI drawn as a boolean mask; return the new image and its label.

    Parameters
    ----------
    labels : array_like of int, shape (Y, X)
    mask : array_like of bool, shape (Y, X)
    value : int, optional
        Its label (default: a fresh value, see :func:`next_label`).
    overwrite : bool
        Take pixels from the ROIs it overlaps (default: only empty pixels are
        painted, the existing ROIs are left whole).
    used : iterable of int
        Values not to reuse.
    """
    labels = _check_labels(labels)
    mask = np.asarray(mask, bool)
    if mask.shape != labels.shape:
        raise ValueError(f"mask has shape {mask.shape}, the labels {labels.shape}.")
    paint = mask if overwrite else mask & (labels == 0)
    if not paint.any():
        raise ValueError("the mask covers no free pixel (it is empty or lies on other "
                         "ROIs; pass overwrite=True to take their pixels).")
    value = next_label(labels, used=used) if value is None else int(value)
    if value <= 0:
        raise ValueError(f"value should be a positive label, got {value}.")
    out = _copy(labels)
    out[paint] = value
    return out, value


def append_labels(labels: Any, other: Any, *, used: Iterable[int] = (),
                  overwrite: bool = False) -> tuple[np.ndarray, dict[int, int]]:
    """Add every ROI of label image ``other`` under fresh values.

    Returns the new image and ``{value in other: new value}`` (ROIs left without a
    free pixel are skipped). Existing ROIs keep their pixels unless ``overwrite``.
    """
    labels = _check_labels(labels)
    other = _check_labels(other, "other")
    if other.shape != labels.shape:
        raise ValueError(f"the imported labels have shape {other.shape}, the ROIs "
                         f"{labels.shape}.")
    out = _copy(labels)
    mapping: dict[int, int] = {}
    fresh = next_label(labels, used=used)
    for v in _values(other):
        paint = other == v
        if not overwrite:
            paint &= out == 0
        if not paint.any():
            continue
        out[paint] = fresh
        mapping[int(v)] = fresh
        fresh += 1
    return out, mapping
