"""The ROI table: one row per label value, rebuilt from the image after every edit.

:func:`table_from_labels` returns a dict of columns, one row per label present
(napari's ``Labels.features``; ``index`` = label value):

==============  ===========================================================
``index``       the label value
``component``   position of the ROI in the result its metrics come from
                (-1: none yet, a new ROI)
``size``        pixels of the ROI in the label image
``snr``         event SNR (NaN until extracted)
``r_value``     spatial correlation (NaN until extracted)
``accepted``    the decision: the user's when ``decided``, else the
                automatic one of the evaluation (new ROIs: accepted)
``decided``     the user accepted or rejected this ROI explicitly
``edited``      its pixels differ from the original (automatic) ROIs
``stale``       its pixels changed since the last extraction: its traces
                and metrics are out of date until :func:`reextract`
``anatomical``  a silent soma proposed from the mean image (CNMF's
                ``anatomical`` components), not a detection
==============  ===========================================================

Rows are rebuilt from the image after every edit (and after an undo), taking the
decisions and metrics of each label value from the previous table, so the table
never disagrees with the image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .edits import _check_labels, changed_labels

__all__ = [
    "COLUMNS",
    "table_from_labels",
    "table_from_result",
    "set_decision",
    "decisions",
    "apply_decisions",
]

#: Columns of the ROI table, in order.
COLUMNS = ("index", "component", "size", "snr", "r_value", "accepted", "decided", "edited",
           "stale", "anatomical")
_DTYPES = {"index": np.int64, "component": np.int64, "size": np.int64, "snr": np.float64,
           "r_value": np.float64, "accepted": bool, "decided": bool, "edited": bool,
           "stale": bool, "anatomical": bool}

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
                       "decided": False, "edited": False, "stale": False, "size": 0,
                       "anatomical": False}[c]  # (a table saved before the column)
            out[c] = np.full(n, default, _DTYPES[c])
    return out


def table_from_labels(labels: Any, previous: Any = None, *, original: Any = None,
                      extracted: Any = None) -> dict[str, np.ndarray]:
    """Return the ROI table of a label image (see :mod:`~napari_amnesia.core.curation.table`).

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
           "stale": np.ones(n, bool), "anatomical": np.zeros(n, bool)}
    for j, v in enumerate(values.tolist()):
        i = row.get(v)
        if i is None:
            continue
        for c in ("component", "snr", "r_value", "accepted", "decided", "edited", "stale",
                  "anatomical"):
            out[c][j] = prev[c][i]
    if original is not None:
        out["edited"] = np.isin(values, changed_labels(labels, original))
    if extracted is not None:
        out["stale"] = np.isin(values, changed_labels(labels, extracted))
    return out


def table_from_result(result: Any, labels: Any, previous: Any = None, *,
                      original: Any = None) -> dict[str, np.ndarray]:
    """Return the ROI table after extracting ``result`` from the ROIs ``labels``.

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
        anatomical = getattr(result, "anatomical", None)
        table["anatomical"][j] = bool(anatomical is not None and anatomical[k])
    return table


def set_decision(table: Any, values: Iterable[int], accepted: bool) -> dict[str, np.ndarray]:
    """Return a copy of ``table`` where the user accepted (or rejected) the ROIs ``values``."""
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
    """Return the user's decisions of a table: ``{label value: accepted}`` (decided rows)."""
    t = _as_table(table)
    return {int(v): bool(a) for v, a, d in zip(t["index"], t["accepted"], t["decided"],
                                               strict=True) if d}


def apply_decisions(table: Any, chosen: Mapping[Any, bool]) -> dict[str, np.ndarray]:
    """Return a copy of ``table`` with decisions ``{label value: accepted}`` (others kept).

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
