"""npe2 reader: calcium-imaging movies open lazily; suite2p and CaImAn results as ROIs.

``get_reader`` is cheap and never raises: it returns ``None`` for anything it is
not sure to read (napari then offers another reader). Movies (multi-page TIFF,
BigTIFF, OME/ImageJ hyperstacks, folders of single-frame TIFFs, ``.npy``) become
lazy dask Image layers with contrast limits from sampled frames; a 2-D labels TIFF
written by napari-amnesia's writer comes back as a Labels layer.

Other tools' results open as the layers of a CNMF result
(:meth:`~napari_amnesia.core.cnmf.SourceResult.to_layers`: ``<name> · ROIs`` with
its features table, ``<name> · footprints``, ``<name> · reconstruction``), read by
:func:`napari_amnesia.core.formats.read_results`: a suite2p plane folder (or its
``stat.npy``, or a ``suite2p`` folder holding one plane) and a CaImAn HDF5 results
file (``.hdf5``/``.h5`` with ``estimates/A``). ``<name>`` is the recording's folder
and plane (``rec1 plane0``) or the file's stem. Each layer's metadata names where the
ROIs came from (``napari_amnesia["imported"]``), so the Curate ROIs dock curates,
re-extracts and exports them like the package's own.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

__all__ = ["get_reader", "read", "read_results", "results_name"]

logger = logging.getLogger(__name__)

_SUFFIXES = {".tif", ".tiff", ".btf", ".tf8", ".npy"}


def _labels_tiff(path: Path):
    """Return the labels image and name if ``path`` is a labels TIFF from our writer, else None."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        meta = tif.shaped_metadata or ()
        for entry in meta:
            info = entry.get("napari_amnesia") if isinstance(entry, dict) else None
            if isinstance(info, dict) and info.get("layer_type") == "labels":
                return tif.asarray(), info
    return None


def _looks_readable(path) -> bool:
    if isinstance(path, (list, tuple)):
        return bool(path) and all(_looks_readable(p) for p in path)
    path = os.fspath(path)
    if any(ch in path for ch in "*?["):
        return True
    p = Path(path)
    if p.is_dir():
        try:
            return any(child.suffix.lower() in {".tif", ".tiff"} for child in p.iterdir())
        except OSError:
            return False
    return p.suffix.lower() in _SUFFIXES and p.is_file()


def _other_tool(path) -> str | None:
    """``"suite2p"`` or ``"caiman"`` when ``path`` holds that tool's results, else None.

    A folder counts only if it is a plane folder (``stat.npy`` in it) or a folder
    named ``suite2p`` holding one plane: a recording's folder that also holds a
    ``suite2p/`` still opens as its movie.
    """
    from ..core.formats.caiman import CAIMAN_SUFFIXES, is_caiman_file
    from ..core.formats.suite2p import is_suite2p_plane

    if isinstance(path, (list, tuple)) or any(ch in os.fspath(path) for ch in "*?["):
        return None
    p = Path(os.fspath(path))
    if p.is_dir():
        plane = (p / "stat.npy").is_file() or p.name == "suite2p"
        return "suite2p" if plane and is_suite2p_plane(p) else None
    if p.name == "stat.npy":
        return "suite2p" if is_suite2p_plane(p) else None
    if p.suffix.lower() in CAIMAN_SUFFIXES:
        return "caiman" if is_caiman_file(p) else None
    return None


def get_reader(path):
    """Return :func:`read` when ``path`` looks like something we open, else None."""
    try:
        if _other_tool(path) is not None:
            return read_results
        return read if _looks_readable(path) else None
    except Exception:  # noqa: BLE001 - a reader probe must never raise
        return None


def results_name(path) -> str:
    """Name of the layers of another tool's results: ``rec1 plane0``, or the file's stem."""
    from ..core.formats.suite2p import find_plane

    p = Path(os.fspath(path))
    if p.is_dir() or p.name == "stat.npy":
        plane = find_plane(p)
        above = plane.parent.parent if plane.parent.name == "suite2p" else plane.parent
        return f"{above.name} {plane.name}" if above.name else plane.name
    return p.stem


def read_results(path) -> list[tuple]:
    """Open a suite2p plane or a CaImAn HDF5 file as the layers of a CNMF result."""
    from ..core.formats import detect
    from ..core.formats import read_results as read_other

    result = read_other(path)
    source = results_name(path)
    origin = {"format": detect(path), "path": str(Path(os.fspath(path)).resolve())}
    layers = result.to_layers(source)
    for _, kwargs, _ in layers:
        meta = dict(kwargs.get("metadata") or {})
        entry = dict(meta.get("napari_amnesia") or {})
        entry["imported"] = origin
        meta["napari_amnesia"] = entry
        kwargs["metadata"] = meta
    return layers


#: Size of the time chunks of a movie layer. napari turns dask's task fusion off (so
#: it can cache chunks), and then showing one frame reads its whole chunk: with the
#: library's default 32 MB chunks a jump across a 10 GB movie read 64 frames. Small
#: chunks keep a jump to one read of a few frames, and napari's cache still holds
#: the neighbours for stepping. Computations on the layer rechunk as they need.
DISPLAY_CHUNK_BYTES = 4 * 2**20


def display_chunk_frames(path) -> int:
    """Return the frames per chunk for a movie layer (about :data:`DISPLAY_CHUNK_BYTES`)."""
    from ..core.io import movie_info

    try:
        info = movie_info(list(path) if isinstance(path, (list, tuple)) else path)
        _, ny, nx = info["shape"]
        frame_bytes = ny * nx * np.dtype(info["dtype"]).itemsize
    except Exception:  # noqa: BLE001 - open_movie reports the real problem next
        return 8
    return int(max(1, DISPLAY_CHUNK_BYTES // frame_bytes))


def read(path) -> list[tuple]:
    """Open ``path`` (file, folder, glob or list of files) as napari layers."""
    from ..core.io import open_movie
    from .layers import movie_layer, provenance

    single = Path(os.fspath(path)) if not isinstance(path, (list, tuple)) else None
    if single is not None and single.is_file() and single.suffix.lower() in {".tif", ".tiff"}:
        labels = _labels_tiff(single)
        if labels is not None:
            data, info = labels
            name = info.get("name") or single.stem
            meta = provenance("labels", name, {})
            return [(data, {"name": name, "metadata": meta}, "labels")]
    movie = open_movie(list(path) if isinstance(path, (list, tuple)) else path,
                       chunk_frames=display_chunk_frames(path))
    if isinstance(path, (list, tuple)):
        name = Path(os.fspath(path[0])).stem
    else:
        name = Path(os.fspath(path)).stem or Path(os.fspath(path)).name
    data, kwargs, layer_type = movie_layer(movie, name)
    kwargs["metadata"]["napari_amnesia"]["path"] = (
        [os.fspath(p) for p in path] if isinstance(path, (list, tuple)) else os.fspath(path)
    )
    return [(data, kwargs, layer_type)]
