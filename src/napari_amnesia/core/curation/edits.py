"""Curation of ROIs: edits of a label image, the ROI table, re-extraction, saving.

The napari *Curate ROIs* dock edits a label image (one ROI = one label value); every
operation it performs is a pure function here, so a script does the same work::

    from napari_amnesia.core import curation

    labels = result.labels(0.2, accepted_only=False)       # a CNMF result's ROIs
    table = curation.table_from_result(result, labels)      # one row per label
    labels = curation.merge_labels(labels, [3, 7])          # 7 becomes 3
    labels, new = curation.split_label_by_line(labels, 5, [(10, 0), (10, 40)])
    labels, new = curation.split_label_kmeans(labels, 9, movie, k=2, rng=0)
    labels = curation.delete_labels(labels, [12])
    labels, value = curation.add_mask(labels, mask)         # a drawn ROI, a fresh value
    table = curation.table_from_labels(labels, table)       # decisions kept per label
    table = curation.set_decision(table, [4], accepted=False)
    curated = curation.reextract(movie, labels, result=result)   # traces of the edits
    curation.save_curation("day1/curation", labels, table, result=curated)

Identity
--------
A ROI *is* its label value. Edits never renumber the ROIs they do not touch: a merge
keeps the value of the first ROI named, a split keeps the value on the larger part
and gives the other part(s) fresh values, new ROIs get fresh values (larger than
any value in use or ``used``, so a deleted ROI's value is never recycled).
:func:`reextract` fits component ``k`` to the ``k``-th smallest label and records
the label in ``result.label_values``, so a ROI keeps its value — and the decision
taken on it — across re-extractions.

The ROI table
-------------
:func:`table_from_labels` returns a dict of columns, one row per label present
(napari's ``Labels.features``; ``index`` = label value):

=============  ===========================================================
``index``      the label value
``component``  position of the ROI in the result its metrics come from
               (-1: none yet, a new ROI)
``size``       pixels of the ROI in the label image
``snr``        event SNR (NaN until extracted)
``r_value``    spatial correlation (NaN until extracted)
``accepted``   the decision: the user's when ``decided``, else the
               automatic one of the evaluation (new ROIs: accepted)
``decided``    the user accepted or rejected this ROI explicitly
``edited``     its pixels differ from the original (automatic) ROIs
``stale``      its pixels changed since the last extraction: its traces
               and metrics are out of date until :func:`reextract`
=============  ===========================================================

Rows are rebuilt from the image after every edit (and after an undo), taking the
decisions and metrics of each label value from the previous table, so the table
never disagrees with the image.

Folder written by :func:`save_curation` (atomically, never over an existing
non-empty folder unless ``overwrite``)::

    labels.tif             the curated label image (int32)
    original_labels.tif    the ROIs before curation (if known)
    extracted_labels.tif   the ROIs of the last extraction (if any)
    rois.csv               the ROI table
    curation.json          format, source, decisions, table, edit log, pipeline
                           parameters (movie and stages)
    result/                the SourceResult of the last extraction (if any)
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from .progress import Progress, ProgressGenerator, drive

__all__ = [
    "COLUMNS",
    "Curation",
    "next_label",
    "changed_labels",
    "delete_labels",
    "merge_labels",
    "split_label_by_line",
    "split_label_kmeans",
    "add_mask",
    "append_labels",
    "read_rois",
    "table_from_labels",
    "table_from_result",
    "set_decision",
    "decisions",
    "apply_decisions",
    "curated_result",
    "iter_reextract",
    "reextract",
    "save_curation",
    "load_curation",
]

logger = logging.getLogger(__name__)

_FORMAT = "napari-amnesia/curation/1"
#: Columns of the ROI table, in order.
COLUMNS = ("index", "component", "size", "snr", "r_value", "accepted", "decided", "edited",
           "stale")
_DTYPES = {"index": np.int64, "component": np.int64, "size": np.int64, "snr": np.float64,
           "r_value": np.float64, "accepted": bool, "decided": bool, "edited": bool,
           "stale": bool}


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
    """A copy able to hold fresh values (int32 at least)."""
    dtype = np.result_type(labels.dtype, np.int32)
    return np.array(labels, dtype=dtype, copy=True)


def next_label(labels: Any, *, used: Iterable[int] = ()) -> int:
    """A fresh label value: one more than any value in ``labels`` or in ``used``.

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
    """A copy of ``labels`` without the ROIs ``values`` (their pixels become 0)."""
    labels = _check_labels(labels)
    values = _require(labels, values)
    out = _copy(labels)
    out[np.isin(out, values)] = 0
    return out


def merge_labels(labels: Any, values: Sequence[int], *, into: int | None = None
                 ) -> np.ndarray:
    """A copy of ``labels`` where the ROIs ``values`` become one ROI.

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
    >>> merge_labels(np.array([[1, 2], [3, 0]]), [2, 1])
    array([[2, 2],
           [3, 0]], dtype=int64)
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


def read_rois(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """A label image from an ImageJ ROI file (``.zip``/``.roi``) or a labels TIFF."""
    path = Path(os.path.expanduser(os.fspath(path)))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    if suffix in (".zip", ".roi"):
        from .cnmf.export import read_imagej_rois

        return read_imagej_rois(path, shape)[0]
    if suffix in (".tif", ".tiff"):
        import tifffile

        image = np.squeeze(tifffile.imread(path))
        try:
            image = _check_labels(image, f"{path.name}")
        except ValueError as exc:
            raise ValueError(f"{path}: not a label image ({exc})") from None
        if image.shape != tuple(shape):
            raise ValueError(f"{path}: labels of shape {image.shape}, the ROIs have "
                             f"{tuple(shape)}.")
        return image
    raise ValueError(f"{path}: ROIs are read from an ImageJ .zip/.roi or a labels "
                     f".tif, got {suffix or 'no extension'!r}.")


# --------------------------------------------------------------------------- table
def _as_table(table: Any) -> dict[str, np.ndarray]:
    """Columns of a table (dict of arrays, pandas DataFrame or None) as numpy arrays."""
    if table is None:
        return {c: np.zeros(0, _DTYPES[c]) for c in COLUMNS}
    out = {}
    n = len(np.asarray(table["index"]))
    for c in COLUMNS:
        if c in table:
            out[c] = np.asarray(table[c]).astype(_DTYPES[c])
        else:
            default = {"component": -1, "snr": np.nan, "r_value": np.nan, "accepted": True,
                       "decided": False, "edited": False, "stale": False, "size": 0}[c]
            out[c] = np.full(n, default, _DTYPES[c])
    return out


def table_from_labels(labels: Any, previous: Any = None, *, original: Any = None,
                      extracted: Any = None) -> dict[str, np.ndarray]:
    """The ROI table of a label image (see the module documentation).

    Parameters
    ----------
    labels : array_like of int, shape (Y, X)
    previous : table, optional
        A table (dict of columns or DataFrame, ``index`` = label value), which may
        hold rows of labels no longer present: the metrics, decisions and flags of
        each label still present are taken from it.
    original : array_like, optional
        The label image before curation: ``edited`` = pixels differ from it.
        Without it, ``edited`` is taken from ``previous`` (new labels: True).
    extracted : array_like, optional
        The label image of the last extraction: ``stale`` = pixels differ from it.
        Without it, ``stale`` is taken from ``previous`` (new labels: True).

    Returns
    -------
    dict of ndarray
        The columns of :data:`COLUMNS`, one row per label present, by label value.
    """
    labels = _check_labels(labels)
    values, sizes = np.unique(labels[labels > 0], return_counts=True)
    values = values.astype(np.int64)
    prev = _as_table(previous)
    row = {int(v): i for i, v in enumerate(prev["index"])}
    n = len(values)
    out = {"index": values, "component": np.full(n, -1, np.int64),
           "size": sizes.astype(np.int64), "snr": np.full(n, np.nan),
           "r_value": np.full(n, np.nan), "accepted": np.ones(n, bool),
           "decided": np.zeros(n, bool), "edited": np.ones(n, bool),
           "stale": np.ones(n, bool)}
    for j, v in enumerate(values.tolist()):
        i = row.get(v)
        if i is None:
            continue
        for c in ("component", "snr", "r_value", "accepted", "decided", "edited", "stale"):
            out[c][j] = prev[c][i]
    if original is not None:
        out["edited"] = np.isin(values, changed_labels(labels, original))
    if extracted is not None:
        out["stale"] = np.isin(values, changed_labels(labels, extracted))
    return out


def table_from_result(result: Any, labels: Any, previous: Any = None, *,
                      original: Any = None) -> dict[str, np.ndarray]:
    """The ROI table after extracting ``result`` from the ROIs ``labels``.

    Metrics and components come from the result (matched by label value); a ROI's
    ``accepted`` is the user's decision in ``previous`` when there is one, else the
    result's automatic decision. ROIs in the result are not ``stale``.
    """
    labels = _check_labels(labels)
    table = table_from_labels(labels, previous, original=original)
    comp = {int(v): k for k, v in enumerate(np.asarray(result.label_values))}
    for j, v in enumerate(table["index"].tolist()):
        k = comp.get(v)
        if k is None:
            table["component"][j] = -1
            table["stale"][j] = True
            continue
        table["component"][j] = k
        table["snr"][j] = np.nan if result.snr is None else result.snr[k]
        table["r_value"][j] = np.nan if result.r_values is None else result.r_values[k]
        if not table["decided"][j]:
            table["accepted"][j] = bool(result.accepted[k])
        table["stale"][j] = False
    return table


def set_decision(table: Any, values: Iterable[int], accepted: bool) -> dict[str, np.ndarray]:
    """A copy of ``table`` where the ROIs ``values`` are accepted (or rejected) by the user."""
    out = {c: a.copy() for c, a in _as_table(table).items()}
    values = [int(v) for v in values]
    missing = sorted(set(values) - set(out["index"].tolist()))
    if missing:
        raise ValueError(f"label(s) {missing} are not in the table.")
    sel = np.isin(out["index"], values)
    out["accepted"][sel] = bool(accepted)
    out["decided"][sel] = True
    return out


def decisions(table: Any) -> dict[int, bool]:
    """The user's decisions of a table: ``{label value: accepted}`` (decided rows only)."""
    t = _as_table(table)
    return {int(v): bool(a) for v, a, d in zip(t["index"], t["accepted"], t["decided"],
                                               strict=True) if d}


def apply_decisions(table: Any, chosen: Mapping[Any, bool]) -> dict[str, np.ndarray]:
    """A copy of ``table`` with decisions ``{label value: accepted}`` (others unchanged).

    Values absent from the table are ignored (a ROI deleted since).
    """
    out = {c: a.copy() for c, a in _as_table(table).items()}
    row = {int(v): i for i, v in enumerate(out["index"])}
    for v, accepted in chosen.items():
        i = row.get(int(v))
        if i is not None:
            out["accepted"][i] = bool(accepted)
            out["decided"][i] = True
    return out


def curated_result(result: Any, table: Any, *, labels: Any = None) -> Any:
    """The result's components of the table's ROIs, with the table's decisions.

    Gives what to export (:func:`~.cnmf.export.export`): the components in table
    order, ``accepted`` = the table's. A deleted ROI is left out.

    Raises
    ------
    ValueError
        If a ROI of the table has no component in ``result`` or is ``stale`` (edited
        since the extraction): re-extract first.
    """
    t = _as_table(table)
    if labels is not None:
        t = table_from_labels(labels, t)
    comp = {int(v): k for k, v in enumerate(np.asarray(result.label_values))}
    missing = [int(v) for v, s in zip(t["index"], t["stale"], strict=True)
               if s or int(v) not in comp]
    if missing:
        raise ValueError(f"ROI(s) {missing[:10]}{'...' if len(missing) > 10 else ''} were "
                         "edited or added since the extraction; re-extract first.")
    picked = result.select([comp[int(v)] for v in t["index"]])
    return replace(picked, accepted=t["accepted"].copy())


# --------------------------------------------------------------------------- re-extract
def _seed_stack(labels: np.ndarray, values: np.ndarray, result: Any, reference: Any
                ) -> tuple[np.ndarray, list[int]]:
    """Seeds ``(K, Y, X)``: previous footprints for unchanged ROIs, masks for the others."""
    seeds = np.stack([(labels == v) for v in values]).astype(np.float32)
    reused: list[int] = []
    if result is None:
        return seeds, reused
    if reference is None:
        reference = result.labels(0.2, accepted_only=False)
    changed = set(changed_labels(labels, reference).tolist())
    comp = {int(v): k for k, v in enumerate(np.asarray(result.label_values))}
    for j, v in enumerate(values.tolist()):
        k = comp.get(v)
        if k is None or v in changed:
            continue
        image = result.footprint_images([k])[0]
        top = float(image.max())
        if top > 0:
            seeds[j] = np.maximum(image / top, 0)
            reused.append(v)
    return seeds, reused


def iter_reextract(
    movie: Any,
    labels: Any,
    *,
    result: Any = None,
    reference: Any = None,
    update_footprints: bool = False,
    params: Any = None,
    **overrides: Any,
) -> ProgressGenerator[Any]:
    """Generator twin of :func:`reextract`: yields progress, returns the result."""
    from .cnmf import CNMFParams, compute_dff, evaluate, iter_fit
    from .cnmf.patches import iter_fit_components
    from .cnmf.result import SourceResult
    from .cnmf.updates import Frames, normalize_components

    t_start = time.perf_counter()
    labels = _check_labels(labels)
    if getattr(movie, "ndim", None) != 3 or tuple(movie.shape[1:]) != labels.shape:
        raise ValueError(f"the movie should be (T, {labels.shape[0]}, {labels.shape[1]}) "
                         f"like the ROIs, got shape {getattr(movie, 'shape', None)}.")
    values = _values(labels)
    if values.size == 0:
        raise ValueError("there is no ROI to extract (the label image is empty).")
    base = params if params is not None else (None if result is None else result.params)
    params = CNMFParams.resolve(base, overrides)
    seeds, reused = _seed_stack(labels, values, result, reference)
    seeded = yield from iter_fit(
        movie, params if update_footprints else params.replace(compute_dff=False),
        seeds=seeds)
    info = dict(seeded.info)
    info.update(reextracted=True, update_footprints=bool(update_footprints),
                reused_footprints=reused)
    if update_footprints:
        new = replace(seeded, label_values=values, info=info)
    else:
        # footprints fixed to the seeds; the background of the seeded fit; traces again
        A0 = sparse.csc_matrix(seeds.reshape(len(seeds), -1).T)
        A0, C0 = normalize_components(A0, np.zeros((len(values), seeded.n_frames)))
        mean = None if seeded.mean_image is None else seeded.mean_image.ravel()
        frames = Frames(movie, chunk_frames=params.chunk_frames, fill=mean)
        out = yield from iter_fit_components(
            frames, A0, seeded.traces, seeded.background_footprints,
            seeded.background_traces, seeded.sn.ravel(), params, rounds=0, merge=False,
            first_temporal=True, fallback=A0, label="fixed footprints: ")
        new = SourceResult(
            footprints=out["A"], traces=out["C"], spikes=out["S"],
            residual_traces=out["YrA"], background_footprints=out["b"],
            background_traces=out["f"], baseline=out["baseline"], g=out["g"],
            lam=out["lam"], sn=seeded.sn, shape=seeded.shape, params=params,
            label_values=values, mean_image=seeded.mean_image, info=info)
        if params.evaluate and seeded.evaluated:
            # event SNR of the new traces; the spatial correlation of the footprint
            # refined inside each ROI (that of a flat mask is undefined)
            from .cnmf.evaluation import event_snr

            yield Progress(0, 1, "evaluating components")
            snr = event_snr(new.raw_traces, n_events=params.event_frames)
            snr = np.asarray(snr[0] if isinstance(snr, tuple) else snr, np.float64)
            new = evaluate(replace(new, snr=snr, r_values=seeded.r_values))
            yield Progress(1, 1, "evaluating components")
        if params.compute_dff:
            new.dff = compute_dff(new)
    new.info.setdefault("timings", {})["reextract"] = time.perf_counter() - t_start
    logger.info("re-extracted %d ROIs (%d with their previous footprint) in %.1f s",
                len(values), len(reused), time.perf_counter() - t_start)
    return new


def reextract(
    movie: Any,
    labels: Any,
    *,
    result: Any = None,
    reference: Any = None,
    update_footprints: bool = False,
    params: Any = None,
    progress: Any = None,
    **overrides: Any,
) -> Any:
    """Extract the traces of edited ROIs again: one component per label.

    Component ``k`` of the returned result is the ``k``-th smallest label of
    ``labels`` (``result.label_values`` holds the labels), so every ROI keeps its
    identity. ROIs unchanged since ``result`` (same pixels as in ``reference``) start
    from their previous footprint; edited and new ROIs from their mask.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        The movie the ROIs were drawn on (numpy or dask).
    labels : array_like of int, shape (Y, X)
        The curated ROIs.
    result : SourceResult, optional
        The previous extraction (its parameters are the defaults; its footprints
        seed the unchanged ROIs). It is not modified.
    reference : array_like, optional
        The label image ``result`` was shown as (default: ``result.labels(0.2,
        accepted_only=False)``, as the *Source extraction* dock draws it).
    update_footprints : bool
        False (default): the footprints stay the seeds (masks or previous
        footprints) and only the traces, spikes, background and metrics are fitted
        again. True: a seeded CNMF also refines each footprint inside its seed.
    params : CNMFParams or dict, optional
        Parameters (default: the result's, else the defaults).
    progress : callable, optional
    **overrides
        Parameters by name (``p=2, min_SNR=3``).

    Returns
    -------
    SourceResult
        Evaluated (with the parameters' thresholds) and with ΔF/F when the
        parameters say so. With fixed footprints, ``snr`` is that of the new
        traces and ``r_values`` that of the footprints a seeded fit refines inside
        each ROI (the spatial correlation of a flat mask is undefined).
    """
    return drive(iter_reextract(movie, labels, result=result, reference=reference,
                                update_footprints=update_footprints, params=params,
                                **overrides), progress)


# --------------------------------------------------------------------------- saving
@dataclass
class Curation:
    """A curated set of ROIs: what :func:`save_curation` writes and :func:`load_curation` reads.

    Attributes
    ----------
    labels : ndarray of int32, shape (Y, X)
        The curated ROIs.
    table : dict of ndarray
        The ROI table (see the module documentation).
    result : SourceResult or None
        The last extraction (the original CNMF result or a re-extraction).
    original : ndarray or None
        The ROIs before curation.
    extracted : ndarray or None
        The ROIs ``result`` was extracted from (or drawn as).
    log : list of dict
        The edits, in order: ``{"action", "labels", "time", ...}``.
    source : str or None
        The name of the movie (napari layer) the ROIs belong to.
    pipeline : dict
        ``{"movie": path, "stages": {stage: params}}`` that produced the ROIs.
    """

    labels: np.ndarray
    table: dict[str, np.ndarray]
    result: Any = None
    original: np.ndarray | None = None
    extracted: np.ndarray | None = None
    log: list[dict] = field(default_factory=list)
    source: str | None = None
    pipeline: dict = field(default_factory=dict)

    @property
    def decisions(self) -> dict[int, bool]:
        """The user's decisions ``{label: accepted}``."""
        return decisions(self.table)

    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the folder (see :func:`save_curation`)."""
        return save_curation(folder, self.labels, self.table, result=self.result,
                             original=self.original, extracted=self.extracted, log=self.log,
                             source=self.source, pipeline=self.pipeline, overwrite=overwrite)


def _json_number(x: Any) -> Any:
    x = float(x)
    return None if math.isnan(x) else x


def save_curation(
    folder: str | os.PathLike,
    labels: Any,
    table: Any = None,
    *,
    result: Any = None,
    original: Any = None,
    extracted: Any = None,
    log: Sequence[Mapping] = (),
    source: str | None = None,
    pipeline: Mapping | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a curation folder (see the module documentation); return its path.

    ``table`` is rebuilt from ``labels`` (keeping its decisions and metrics), so the
    folder is consistent even if the table lagged behind the image. An existing
    non-empty ``folder`` is refused unless ``overwrite`` (and then replaced only once
    the new one is complete).
    """
    import tifffile

    from .files import atomic_folder, jsonable

    labels = _check_labels(labels).astype(np.int32)
    t = table_from_labels(labels, table)
    folder = Path(os.path.expanduser(os.fspath(folder)))
    images = {"labels": labels, "original_labels": original, "extracted_labels": extracted}
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        for name, image in images.items():
            if image is None:
                continue
            image = _check_labels(image, name).astype(np.int32)
            if image.shape != labels.shape:
                raise ValueError(f"{name} has shape {image.shape}, the labels {labels.shape}.")
            tifffile.imwrite(tmp / f"{name}.tif", image, compression="zlib")
        with open(tmp / "rois.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            for i in range(len(t["index"])):
                w.writerow([t[c][i] if _DTYPES[c] is not np.float64
                            else ("" if np.isnan(t[c][i]) else f"{t[c][i]:.6g}")
                            for c in COLUMNS])
        record = {
            "format": _FORMAT,
            "version": _version(),
            "saved": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "source": source,
            "shape": list(labels.shape),
            "decisions": {str(v): a for v, a in decisions(t).items()},
            "table": {c: ([_json_number(x) for x in t[c]] if _DTYPES[c] is np.float64
                          else t[c].tolist()) for c in COLUMNS},
            "log": jsonable(list(log)),
            "pipeline": jsonable(dict(pipeline or {})),
            "result": result is not None,
        }
        (tmp / "curation.json").write_text(json.dumps(record, indent=2))
        if result is not None:
            result.save(tmp / "result")
    logger.info("curation saved to %s", folder)
    return folder


def load_curation(folder: str | os.PathLike) -> Curation:
    """Read a folder written by :func:`save_curation`."""
    import tifffile

    from .cnmf.result import SourceResult

    folder = Path(os.path.expanduser(os.fspath(folder)))
    meta_path = folder / "curation.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{folder}: not a curation folder (no curation.json).")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{folder}: unknown curation format {meta.get('format')!r} "
                         f"(expected {_FORMAT!r}).")

    def image(name: str) -> np.ndarray | None:
        path = folder / f"{name}.tif"
        return tifffile.imread(path).astype(np.int32) if path.is_file() else None

    labels = image("labels")
    if labels is None:
        raise FileNotFoundError(f"{folder}: labels.tif is missing.")
    raw = meta.get("table") or {}
    table = {c: np.asarray([np.nan if x is None else x for x in raw.get(c, [])]
                           ).astype(_DTYPES[c]) for c in COLUMNS} if raw else None
    table = table_from_labels(labels, table)
    table = apply_decisions(table, meta.get("decisions", {}))
    result = SourceResult.load(folder / "result") if (folder / "result").is_dir() else None
    return Curation(labels=labels, table=table, result=result,
                    original=image("original_labels"), extracted=image("extracted_labels"),
                    log=list(meta.get("log", [])), source=meta.get("source"),
                    pipeline=dict(meta.get("pipeline") or {}))


def _version() -> str:
    from .. import __version__

    return __version__
