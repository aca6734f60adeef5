"""Reading and writing ROIs: the curation folder, ImageJ ROI files, labels TIFFs.

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .edits import _check_labels
from .table import _DTYPES, COLUMNS, apply_decisions, decisions, table_from_labels

__all__ = ["save_curation", "read_curation", "read_rois"]

logger = logging.getLogger(__name__)

_FORMAT = "napari-amnesia/curation/1"


def read_rois(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """Read a label image from an ImageJ ROI file (``.zip``/``.roi``) or a labels TIFF."""
    path = Path(os.path.expanduser(os.fspath(path)))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    if suffix in (".zip", ".roi"):
        from ..cnmf.export import read_imagej_rois

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
    """Write a curation folder (see :mod:`~napari_amnesia.core.curation.saving`); return its path.

    ``table`` is rebuilt from ``labels`` (keeping its decisions and metrics), so the
    folder is consistent even if the table lagged behind the image. An existing
    non-empty ``folder`` is refused unless ``overwrite`` (and then replaced only once
    the new one is complete).
    """
    import tifffile

    from ..files import atomic_folder, jsonable

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


def read_curation(folder: str | os.PathLike) -> dict[str, Any]:
    """Read a folder written by :func:`save_curation`.

    Returns
    -------
    dict
        The fields of a :class:`~napari_amnesia.core.curation.Curation`: ``labels``,
        ``table``, ``result``, ``original``, ``extracted``, ``log``, ``source``,
        ``pipeline`` (:func:`~napari_amnesia.core.curation.load_curation` makes one).
    """
    import tifffile

    from ..cnmf.result import SourceResult

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
    return {"labels": labels, "table": table, "result": result,
            "original": image("original_labels"), "extracted": image("extracted_labels"),
            "log": list(meta.get("log", [])), "source": meta.get("source"),
            "pipeline": dict(meta.get("pipeline") or {})}


def _version() -> str:
    from ... import __version__

    return __version__
