"""npe2 reader: calcium-imaging movies open lazily.

``get_reader`` is cheap and never raises: it returns ``None`` for anything it is
not sure to read (napari then offers another reader). Movies (multi-page TIFF,
BigTIFF, OME/ImageJ hyperstacks, folders of single-frame TIFFs, ``.npy``) become
lazy dask Image layers with contrast limits from sampled frames; a 2-D labels TIFF
written by napari-amnesia's writer comes back as a Labels layer.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

__all__ = ["get_reader", "read"]

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


def get_reader(path):
    """Return :func:`read` when ``path`` looks like something we open, else None."""
    try:
        return read if _looks_readable(path) else None
    except Exception:  # noqa: BLE001 - a reader probe must never raise
        return None


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
