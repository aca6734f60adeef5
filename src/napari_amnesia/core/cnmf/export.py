"""Exports of a source-extraction result for other tools, and ImageJ ROI import.

:func:`export` writes what users take to their statistics or to other software:

======================  ===============================================================
file                    content
======================  ===============================================================
``labels.tif``          ``(Y, X)`` int32 label image of the exported components (0 =
                        none; each component drawn with its label value), reopens as a
                        napari Labels layer
``components.csv``      one row per exported component: ``label``, ``index`` (position
                        in the result), ``accepted``, ``snr``, ``r_value``, ``size``,
                        ``center_row``, ``center_col`` (and ``anatomical`` when the
                        result has anatomical ROIs: silent somata of the mean image)
``traces.csv``          denoised calcium ``C``: one row per frame, column ``frame`` then
                        one column ``roi_<label>`` per component
``raw_traces.csv``      ``C + YrA`` (the demixed raw fluorescence of each footprint)
``spikes.csv``          deconvolved activity ``S``
``dff.csv``             ΔF/F (when the result has it)
``rois.zip``            ImageJ/Fiji ROI set: one polygon per component (its outline at
                        ``threshold`` of the footprint's maximum), named ``roi_<label>``
======================  ===============================================================

ImageJ coordinates are ``(x, y)`` with the origin at the top-left *corner* of the
top-left pixel, so the centre of our pixel ``(row, col)`` is ``(col + 0.5, row +
0.5)`` there; :func:`write_imagej_rois` and :func:`read_imagej_rois` convert both
ways, so ROIs drawn in Fiji land on the same pixels here (and the reverse).
"""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_file, atomic_folder

__all__ = ["export", "write_traces_csv", "write_imagej_rois", "read_imagej_rois"]


def write_traces_csv(path: str | os.PathLike, traces: np.ndarray,
                     names: Sequence[str], *, overwrite: bool = False) -> None:
    """Write traces ``(K, T)`` as a CSV with a ``frame`` column and one column per name.

    Written atomically (:func:`~napari_amnesia.core.files.atomic_file`: recorded in
    the folder's manifest; an existing file replaced only with ``overwrite`` and
    only if the package wrote it).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_traces_csv(Path(tmp) / "t.csv", np.ones((2, 3)), ["roi_1", "roi_2"])
    ...     print((Path(tmp) / "t.csv").read_text().splitlines()[:2])
    ['frame,roi_1,roi_2', '0,1,1']
    """
    traces = np.asarray(traces)
    if traces.ndim != 2 or traces.shape[0] != len(names):
        raise ValueError(f"traces should be (K={len(names)}, T), got {traces.shape}.")
    with atomic_file(path, overwrite=overwrite) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", *names])
        for t in range(traces.shape[1]):
            w.writerow([t, *(f"{v:.6g}" for v in traces[:, t])])


def write_imagej_rois(path: str | os.PathLike, outlines: Sequence[np.ndarray],
                      names: Sequence[str], *, overwrite: bool = False) -> Path:
    """Write polygons ``(n, 2)`` in (row, col) pixel coordinates as an ImageJ ROI zip.

    Empty outlines (a component without a contour) are skipped. Written atomically
    (:func:`~napari_amnesia.core.files.atomic_file`: recorded in the folder's
    manifest; an existing file replaced only with ``overwrite`` and only if the
    package wrote it).
    """
    import roifile

    if len(outlines) != len(names):
        raise ValueError(f"{len(outlines)} outlines for {len(names)} names.")
    rois = []
    for outline, name in zip(outlines, names, strict=True):
        outline = np.asarray(outline, np.float64).reshape(-1, 2)
        if len(outline) < 3:
            continue
        xy = np.stack([outline[:, 1] + 0.5, outline[:, 0] + 0.5], axis=1)
        rois.append(roifile.ImagejRoi.frompoints(xy.astype(np.float32), name=str(name)))
    path = Path(path)
    if path.suffix.lower() != ".zip":
        raise ValueError(f"{path}: an ImageJ ROI set is a .zip file.")
    with atomic_file(path, overwrite=overwrite) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        # what roifile.roiwrite does for a list (one "<name>.roi" entry per ROI), to
        # the temporary name of atomic_file; an empty ROI set is an empty zip
        for roi in rois:
            entry = roi.name or roi.autoname
            entry = entry if entry[-4:].lower() == ".roi" else entry + ".roi"
            with zf.open(entry, "w") as fh:
                fh.write(roi.tobytes())
    return path


def read_imagej_rois(path: str | os.PathLike, shape: tuple[int, int]
                     ) -> tuple[np.ndarray, list[str]]:
    """Rasterize an ImageJ ROI file (``.roi`` or ``.zip``) into a label image.

    Polygons, freehand outlines, rectangles and ovals are filled (a pixel belongs to
    a ROI when its centre is inside); later ROIs overwrite earlier ones where they
    overlap. Line and point ROIs enclose no area and are refused by name.

    Parameters
    ----------
    path : path
        A ``.roi`` file or a ``.zip`` ROI set (ImageJ/Fiji's ROI Manager).
    shape : (int, int)
        The frame shape ``(Y, X)``.

    Returns
    -------
    labels : ndarray of int32, shape (Y, X)
        ROI ``i`` (in file order) is label ``i + 1``.
    names : list of str
        The ROI names, in label order.
    """
    import roifile
    from skimage.draw import polygon

    path = Path(os.path.expanduser(os.fspath(path)))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ImageJ ROI file.")
    try:
        rois = roifile.roiread(path)
    except Exception as exc:  # noqa: BLE001 - roifile raises several types
        raise ValueError(f"{path}: not a readable ImageJ ROI file ({exc}).") from exc
    if not isinstance(rois, list):
        rois = [rois]
    Y, X = (int(v) for v in shape)
    labels = np.zeros((Y, X), np.int32)
    names = []
    area_types = {roifile.ROI_TYPE.POLYGON, roifile.ROI_TYPE.FREEHAND,
                  roifile.ROI_TYPE.TRACED, roifile.ROI_TYPE.RECT, roifile.ROI_TYPE.OVAL}
    for i, roi in enumerate(rois):
        name = roi.name or f"roi_{i + 1}"
        if roi.roitype not in area_types and not roi.composite:
            raise ValueError(f"{path}: ROI {name!r} is a {roi.roitype.name.lower()}, "
                             f"which encloses no area.")
        xy = np.asarray(roi.coordinates(), np.float64).reshape(-1, 2)
        rr, cc = polygon(xy[:, 1] - 0.5, xy[:, 0] - 0.5, shape=(Y, X))
        labels[rr, cc] = i + 1
        names.append(name)
    return labels, names


def export(result: Any, folder: str | os.PathLike, *, accepted_only: bool = True,
           threshold: float = 0.2, overwrite: bool = False) -> Path:
    """Write the exports of a :class:`~.result.SourceResult` (see the module doc).

    Parameters
    ----------
    result : SourceResult
    folder : path
        Created (atomically); an existing non-empty folder is refused unless
        ``overwrite``.
    accepted_only : bool
        Export only the accepted components (all of them before evaluation).
    threshold : float
        Fraction of each footprint's maximum that outlines it (labels, ROIs, size).

    Returns
    -------
    Path of the folder.
    """
    import tifffile

    chosen = np.flatnonzero(result.accepted) if accepted_only else np.arange(result.K)
    labels = result.label_values[chosen]
    names = [f"roi_{int(v)}" for v in labels]
    sizes = result.sizes(threshold)[chosen]
    centres = result.centers()[chosen] if result.K else np.zeros((0, 2))
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp / "labels.tif",
                         result.labels(threshold, accepted_only=accepted_only),
                         compression="zlib")
        # anatomical ROIs (silent somata proposed from the mean image) say so in a column
        anatomical = np.asarray(result.anatomical, bool)
        marked = bool(anatomical.any())
        with open(tmp / "components.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["label", "index", "accepted", "snr", "r_value", "size",
                        "center_row", "center_col"] + (["anatomical"] if marked else []))
            for j, k in enumerate(chosen):
                w.writerow([int(labels[j]), int(k), bool(result.accepted[k]),
                            "" if result.snr is None else f"{result.snr[k]:.6g}",
                            "" if result.r_values is None else f"{result.r_values[k]:.6g}",
                            int(sizes[j]), f"{centres[j, 0]:.2f}", f"{centres[j, 1]:.2f}"]
                           + ([bool(anatomical[k])] if marked else []))
        write_traces_csv(tmp / "traces.csv", result.traces[chosen], names)
        write_traces_csv(tmp / "raw_traces.csv", result.raw_traces[chosen], names)
        write_traces_csv(tmp / "spikes.csv", result.spikes[chosen], names)
        if result.dff is not None:
            write_traces_csv(tmp / "dff.csv", np.asarray(result.dff)[chosen], names)
        outlines = result.contours(threshold, accepted_only=accepted_only)
        write_imagej_rois(tmp / "rois.zip", outlines, names)
    return Path(folder)
