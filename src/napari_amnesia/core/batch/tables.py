"""A batch's tables across recordings: every cell, every branch, and one row of totals each.

Written in the batch folder by :func:`write_tables` once the recordings are done
(from each recording's results folder, so skipped recordings count too):

- ``cells.csv``: every CNMF component of every recording (:data:`CELL_TABLE_COLUMNS`);
- ``recordings.csv``: one row per recording with results, its totals
  (:func:`recording_totals`): components found and accepted, the median and mean
  event rate, amplitude and SNR of its accepted components, and, when the
  skeleton stage ran, the skeleton's totals (``skeleton_n_branches``...);
- ``skeleton_statistics.csv``: when the skeleton stage ran, one row per recording
  in the layout of ``amnesia skeleton``'s table
  (:data:`~napari_amnesia.core.skeleton.STATISTICS_COLUMNS`, then ``recording``);
- ``branches.csv``: when the skeleton stage ran, every branch of every recording
  (``recording``, then the columns of the skeleton's ``branches.csv``).

A table the configuration does not produce is not written (one left by an earlier
batch in the same folder is rewritten empty, so no table describes another run).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..files import atomic_file, check_destination
from .recording import _CELL_COLUMNS, _write_csv

__all__ = ["TABLES", "CELL_TABLE_COLUMNS", "TOTAL_COLUMNS", "recording_totals",
           "read_cells", "write_tables", "check_tables"]

#: The tables a batch writes in its folder (besides batch.csv and batch.json).
TABLES = ("cells.csv", "recordings.csv", "skeleton_statistics.csv", "branches.csv")
#: Columns of ``cells.csv``.
CELL_TABLE_COLUMNS = ("recording", *_CELL_COLUMNS)
#: The first columns of ``recordings.csv`` (then ``skeleton_<total>`` with a skeleton).
TOTAL_COLUMNS = ("recording", "path", "frames", "components", "accepted",
                 "median_event_rate", "mean_event_rate", "median_amplitude",
                 "mean_amplitude", "median_snr", "mean_snr")
_SKELETON = "skeleton"  # the skeleton stage's sub-folder of a results folder


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _cell(row: Mapping[str, Any]) -> dict[str, Any]:
    """Type the values of a row of a recording's ``cells.csv``."""
    return {"component": int(_float(row.get("component"))),
            "accepted": str(row.get("accepted")).strip().lower() in ("true", "1"),
            **{k: _float(row.get(k)) for k in ("snr", "event_rate", "amplitude")}}


def read_cells(path: Any) -> list[dict[str, Any]]:
    """Read a recording's ``cells.csv`` (``[]`` when it has none).

    Returns
    -------
    list of dict
        ``component`` (int), ``accepted`` (bool), ``snr``, ``event_rate``,
        ``amplitude`` (float; NaN when blank).
    """
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [_cell(row) for row in csv.DictReader(fh)]


def _median_mean(values: list[float]) -> tuple[float | None, float | None]:
    finite = sorted(v for v in values if math.isfinite(v))
    if not finite:
        return None, None
    n = len(finite)
    median = finite[n // 2] if n % 2 else (finite[n // 2 - 1] + finite[n // 2]) / 2
    return round(median, 4), round(sum(finite) / n, 4)


def recording_totals(cells: Iterable[Mapping[str, Any]], *,
                     skeleton: Mapping[str, Any] | None = None,
                     cnmf: bool = True) -> dict[str, Any]:
    """Return one recording's totals: cells found and accepted, their medians and means.

    Parameters
    ----------
    cells : iterable of dict
        The recording's components (as :func:`read_cells` gives them; strings as
        read from a CSV are accepted too).
    skeleton : dict, optional
        The skeleton's totals (its ``totals.json``): each becomes a
        ``skeleton_<name>`` column (``skeleton_pixels`` keeps its name).
    cnmf : bool
        Whether CNMF ran; if not, the cell columns are left blank (None).

    Returns
    -------
    dict
        ``components``, ``accepted``, ``median_event_rate``, ``mean_event_rate``,
        ``median_amplitude``, ``mean_amplitude``, ``median_snr``, ``mean_snr``
        (over the accepted components, ignoring NaN; None when none is accepted),
        then the skeleton's totals.

    Examples
    --------
    >>> cells = [{"component": 1, "accepted": True, "snr": 4.0, "event_rate": 0.5,
    ...           "amplitude": 2.0},
    ...          {"component": 2, "accepted": True, "snr": 6.0, "event_rate": 1.5,
    ...           "amplitude": 1.0},
    ...          {"component": 3, "accepted": False, "snr": 1.0, "event_rate": 9.0,
    ...           "amplitude": 9.0}]
    >>> totals = recording_totals(cells, skeleton={"n_branches": 12})
    >>> totals["components"], totals["accepted"], totals["median_snr"], totals["mean_event_rate"]
    (3, 2, 5.0, 1.0)
    >>> totals["skeleton_n_branches"]
    12
    """
    out: dict[str, Any] = {}
    if cnmf:
        cells = [_cell(c) for c in cells]
        accepted = [c for c in cells if c["accepted"]]
        out["components"], out["accepted"] = len(cells), len(accepted)
        for key in ("event_rate", "amplitude", "snr"):
            out[f"median_{key}"], out[f"mean_{key}"] = _median_mean(
                [c[key] for c in accepted])
    for key, value in (skeleton or {}).items():
        out[key if key.startswith("skeleton_") else f"skeleton_{key}"] = value
    return out


def _skeleton_of(folder: Path) -> tuple[dict, dict, list[dict]] | None:
    """Return the skeleton's totals, provenance and branches of a results folder, or None."""
    where = folder / _SKELETON
    try:
        totals = json.loads((where / "totals.json").read_text())
    except (OSError, ValueError):
        return None
    try:
        info = json.loads((where / "info.json").read_text())
    except (OSError, ValueError):
        info = {}
    branches: list[dict] = []
    if (where / "branches.csv").is_file():
        with open(where / "branches.csv", newline="") as fh:
            branches = list(csv.DictReader(fh))
    return totals, info.get("provenance", {}), branches


def _write(out: Path, name: str, rows: list[dict], columns: list[str]) -> None:
    """Write ``out/name`` if it has rows or an earlier batch left one."""
    if rows or (out / name).exists():
        with atomic_file(out / name, overwrite=True) as tmp:
            _write_csv(tmp, rows, columns)


def _columns(rows: list[dict], first: Iterable[str]) -> list[str]:
    columns = list(first)
    for row in rows:
        columns += [k for k in row if k not in columns]
    return columns


def check_tables(out: Path) -> None:
    """Refuse a batch folder whose tables the package did not write (before any work)."""
    for name in TABLES:
        check_destination(out / name, True, folder=False)


def write_tables(out: Any, rows: Iterable[Mapping[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Write the batch folder's tables from its recordings' results folders.

    Parameters
    ----------
    out : path
        The batch folder.
    rows : iterable of dict
        The batch's rows (``name``, ``path``, ``status``, ``frames``); those
        ``done`` or ``skipped`` are summed up, from ``out/<name>``.

    Returns
    -------
    cells : list of dict
        Every component (``recording`` first; values typed as by :func:`read_cells`).
    totals : list of dict
        One row per recording with results (:data:`TOTAL_COLUMNS`, then
        ``skeleton_<total>``).
    """
    from ..skeleton import STATISTICS_COLUMNS

    out = Path(os.path.expanduser(os.fspath(out)))
    cells: list[dict] = []
    totals: list[dict] = []
    skeletons: list[dict] = []
    branches: list[dict] = []
    for row in rows:
        if row.get("status") not in ("done", "skipped"):
            continue
        name = str(row["name"])
        folder = out / name
        mine = read_cells(folder / "cells.csv")
        cells += [{"recording": name, **c} for c in mine]
        skeleton = _skeleton_of(folder)
        ran_cnmf = (folder / "cells.csv").is_file()
        totals.append({"recording": name, "path": row.get("path"), "frames": row.get("frames"),
                       **recording_totals(mine, skeleton=skeleton and skeleton[0],
                                          cnmf=ran_cnmf)})
        if skeleton is not None:
            sums, provenance, its_branches = skeleton
            shape = list(provenance.get("input_shape") or [None, None])
            skeletons.append({"path": row.get("path"),
                              "n_frames": provenance.get("n_frames", row.get("frames")),
                              "height": shape[-2], "width": shape[-1], **sums, "error": "",
                              "folder": f"{name}/{_SKELETON}", "recording": name})
            branches += [{"recording": name, **b} for b in its_branches]
    _write(out, "cells.csv", cells, list(CELL_TABLE_COLUMNS))
    _write(out, "recordings.csv", totals, _columns(totals, TOTAL_COLUMNS))
    _write(out, "skeleton_statistics.csv", skeletons,
           list(STATISTICS_COLUMNS) + [c for c in _columns(skeletons, ())
                                              if c not in STATISTICS_COLUMNS])
    _write(out, "branches.csv", branches, _columns(branches, ("recording",)))
    return cells, totals
