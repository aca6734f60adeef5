"""npe2 writers: a Labels layer as a TIFF or an ImageJ ROI set, layers as a results folder.

Both write under a temporary name and rename when complete. A results folder is
never merged into nor replaced. A labels TIFF replaces an existing file (napari's
save dialog has asked) only if napari-amnesia wrote that file: the folder's
``.napari-amnesia.json`` lists it (see :mod:`napari_amnesia.core.files`); a file
of the user's is refused with a message naming it.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import atomic_file, atomic_folder, jsonable

__all__ = ["write_labels", "write_imagej", "write_bundle"]

logger = logging.getLogger(__name__)


def _labels_tiff(path: Path, data, name: str, overwrite: bool) -> None:
    import tifffile

    data = np.asarray(data)
    if data.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers, got dtype {data.dtype} for {name!r}.")
    dtype = np.uint16 if data.max(initial=0) < 2**16 and data.min(initial=0) >= 0 else np.int32
    meta = {"napari_amnesia": {"layer_type": "labels", "name": name}}
    with atomic_file(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, data.astype(dtype, copy=False), metadata=meta, compression="zlib")


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """Write one Labels layer to a (compressed) TIFF that reopens as Labels.

    napari's save dialog has already asked before replacing an existing file; it
    is replaced only if napari-amnesia wrote it.
    """
    path = Path(path)
    if path.suffix.lower() not in {".tif", ".tiff"}:
        path = path.with_suffix(".tif")
    _labels_tiff(path, data, meta.get("name") or path.stem, overwrite=True)
    return [str(path)]


def write_imagej(path: str, data: Any, meta: dict) -> list[str]:
    """Write one Labels layer as an ImageJ/Fiji ROI set (``.zip``): one polygon per label.

    Each label's outline is the longest contour of its pixels, named ``roi_<label>``
    (:func:`napari_amnesia.core.cnmf.export.write_imagej_rois`, which puts the
    polygons on the same pixels in Fiji). Replaces an existing file only if
    napari-amnesia wrote it.
    """
    from skimage import measure

    from ..core.cnmf.export import write_imagej_rois

    path = Path(path)
    if path.suffix.lower() != ".zip":
        path = path.with_suffix(".zip")
    labels = np.asarray(data)
    if labels.ndim != 2 or labels.dtype.kind not in "iu":
        raise ValueError(f"an ImageJ ROI set is written from a 2-D integer Labels layer, got "
                         f"shape {labels.shape} and dtype {labels.dtype}.")
    values = [int(v) for v in np.unique(labels) if v > 0]
    outlines = []
    for value in values:
        contours = measure.find_contours(np.pad(labels == value, 1).astype(np.float32), 0.5)
        outlines.append(max(contours, key=len) - 1 if contours else np.zeros((0, 2)))
    write_imagej_rois(path, outlines, [f"roi_{v}" for v in values], overwrite=True)
    return [str(path)]


def _safe(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", name).strip("_") or "layer"


def _write_table(path: Path, table: dict) -> None:
    columns = list(table)
    rows = zip(*(np.asarray(table[c]).tolist() for c in columns), strict=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(rows)


def write_bundle(path: str, layer_data: list[tuple]) -> list[str]:
    """Write several layers to a new results folder.

    Images become TIFFs (movies written chunk by chunk), Labels TIFFs plus their
    ``features`` as CSV, Shapes and Points CSV tables of vertices; ``layers.json``
    lists every file with the layer's name, type and napari-amnesia metadata.
    """
    import tifffile

    from ..core.io import save_movie

    path = Path(path)
    written = []
    index = []
    with atomic_folder(path) as tmp:
        for number, (data, meta, layer_type) in enumerate(layer_data):
            name = meta.get("name") or f"layer {number}"
            stem = f"{number:02d}_{_safe(name)}"
            entry = {"name": name, "type": layer_type, "files": []}
            if layer_type == "image":
                if getattr(data, "ndim", 0) == 3 and data.shape[0] > 1:
                    save_movie(data, tmp / f"{stem}.tif")
                else:
                    tifffile.imwrite(tmp / f"{stem}.tif", np.asarray(data))
                entry["files"].append(f"{stem}.tif")
            elif layer_type == "labels":
                _labels_tiff(tmp / f"{stem}.tif", data, name, overwrite=False)
                entry["files"].append(f"{stem}.tif")
                features = meta.get("features")
                if features is not None and len(features):
                    table = {c: np.asarray(features[c]) for c in features}
                    _write_table(tmp / f"{stem}_features.csv", table)
                    entry["files"].append(f"{stem}_features.csv")
            elif layer_type in {"shapes", "points"}:
                items = data if layer_type == "shapes" else [data]
                table: dict[str, list] = {"item": [], "vertex": []}
                for item_index, item in enumerate(items):
                    item = np.asarray(item)
                    for vertex, coords in enumerate(item):
                        key = item_index if layer_type == "shapes" else vertex
                        table["item"].append(key)
                        table["vertex"].append(vertex if layer_type == "shapes" else 0)
                        for axis, value in enumerate(coords):
                            table.setdefault(f"axis_{axis}", []).append(float(value))
                _write_table(tmp / f"{stem}.csv", table)
                entry["files"].append(f"{stem}.csv")
            else:
                logger.warning("results folder: layer %r of type %s skipped", name, layer_type)
                continue
            entry["metadata"] = jsonable(meta.get("metadata", {}))
            index.append(entry)
        (tmp / "layers.json").write_text(json.dumps({"layers": index}, indent=2))
    for entry in index:
        written.extend(str(path / f) for f in entry["files"])
    written.append(str(path / "layers.json"))
    return written
