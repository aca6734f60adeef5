"""Opening a movie: dispatch to the reader of each file, concatenate, wrap in dask.

:func:`open_movie` expands the input (file, folder, glob, list), describes each
file with the reader its header calls for (TIFF family or ``.npy``), checks they
agree, and builds a lazy dask array whose tasks read only their frames.
:func:`movie_info` gives the same description without building anything.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np

from ..files import protect_inputs
from .array import _make_parts, _MovieArray
from .chunks import _default_chunk_frames
from .errors import MovieError
from .layout import _FileInfo
from .nan_policy import _report_nans, apply_nan_policy
from .npy import _NPY_MAGIC, NPY_SUFFIXES, _describe_npy
from .sequence import PathInput, _expand
from .tiff import _TIFF_MAGIC, TIFF_SUFFIXES, _describe_tiff

__all__ = ["open_movie", "movie_info"]

logger = logging.getLogger(__name__)


def _sniff(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise MovieError(f"{path}: cannot be read ({exc}).") from exc
    if head[:4] in _TIFF_MAGIC:
        return "tiff"
    if head[:6] == _NPY_MAGIC:
        return "npy"
    return None


def _describe(path: Path, *, channel: int | None, plane: int | None) -> _FileInfo:
    name = path.name.lower()
    kind = _sniff(path)
    if kind is None:
        if name.endswith(TIFF_SUFFIXES):
            detail = "not a TIFF file (bad header)" if path.stat().st_size else "empty file"
            raise MovieError(f"{path}: {detail}.")
        if name.endswith(NPY_SUFFIXES):
            raise MovieError(f"{path}: not a .npy file (bad header).")
        raise MovieError(
            f"{path}: unsupported format {path.suffix or '(no suffix)'!r}; "
            "supported: TIFF/BigTIFF/ImageJ/OME-TIFF (.tif, .tiff, .btf) and .npy."
        )
    if kind == "npy":
        return _describe_npy(path, channel=channel, plane=plane)
    return _describe_tiff(path, channel=channel, plane=plane)


def _open_infos(path: PathInput, *, channel: int | None, plane: int | None):
    files, how = _expand(path)
    infos = [_describe(f, channel=channel, plane=plane) for f in files]
    first = infos[0]
    if how == "file" and first.layout.time_axis is None:
        raise MovieError(
            f"{first.path}: is a single 2-D image of shape {first.layout.frame_shape} "
            f"(axes {first.layout.file_axes}), not a movie."
        )
    for info in infos[1:]:
        if info.layout.frame_shape != first.layout.frame_shape:
            raise MovieError(
                f"{info.path}: frames of shape {info.layout.frame_shape} differ from "
                f"{first.layout.frame_shape} in {first.path}; all files must have the same "
                "frame shape."
            )
        if info.dtype != first.dtype:
            raise MovieError(
                f"{info.path}: pixel type {info.dtype} differs from {first.dtype} in "
                f"{first.path}; all files must have the same pixel type."
            )
    return infos, how


def open_movie(
    path: PathInput,
    *,
    channel: int | None = None,
    plane: int | None = None,
    chunk_frames: int | None = None,
    nan_policy: str | None = None,
) -> da.Array:
    """Open a movie lazily as a ``(T, Y, X)`` dask array in its native dtype.

    Nothing but file headers is read at open (plus a few sampled frames of a float
    movie, to report NaNs). Each dask task reads only the frames of its chunk, and
    ``movie[k].compute()`` reads frame ``k`` only, so memory stays bounded by a few
    chunks whatever the file size.

    Parameters
    ----------
    path : str, path-like, or sequence of them
        A TIFF (multi-page, BigTIFF, ImageJ hyperstack, OME-TIFF, compressed or not)
        or ``.npy`` file; a folder of such files; a glob pattern (``"run1/*.tif"``);
        or a list of any of these. Several files are concatenated in time: a folder's
        or a glob's files in natural order (``image2`` before ``image10``), a list's
        in the given order.
    channel : int, optional
        Index along the channel axis (``C``, or the RGB samples ``S``) of
        multi-channel files. Required when such an axis has more than one element;
        ``channel=0`` is accepted for files without one (handy for a batch of files).
    plane : int, optional
        Index along the ``Z`` axis of volumetric files. A file whose only stack axis is
        ``Z`` (a time series saved as slices) is read as time when ``plane`` is None;
        ``plane=0`` is accepted for files without a ``Z`` axis.
    chunk_frames : int, optional
        Frames per dask chunk. By default, about 32 MB per chunk. Chunks never span
        two files.
    nan_policy : {"raise", "fill"}, optional
        What to do with NaN or infinite pixels of a float movie, checked over every
        frame before anything else is done (see :func:`apply_nan_policy`). By
        default (None) only ~16 sampled frames are looked at, and a warning is given
        if some hold NaN.

    Returns
    -------
    dask.array.Array
        Shape ``(T, Y, X)``, dtype of the file(s).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    MovieError
        If the input is not a usable movie: a single 2-D image, an empty folder or a
        pattern matching nothing, frames of different shapes or types, a truncated or
        corrupt file, an unsupported pixel type, unselected extra axes.

    Warns
    -----
    MovieWarning
        If a float movie has NaNs in some of the ~16 sampled frames.

    Examples
    --------
    >>> import numpy as np
    >>> path = getfixture("tmp_path") / "movie.npy"  # any file: TIFF, .npy, a folder...
    >>> np.save(path, np.arange(24, dtype=np.uint16).reshape(6, 2, 2))
    >>> movie = open_movie(path, chunk_frames=4)
    >>> movie.shape, movie.dtype, movie.chunks[0]
    ((6, 2, 2), dtype('uint16'), (4, 2))
    >>> movie[5].compute()  # reads frame 5 only
    array([[20, 21],
           [22, 23]], dtype=uint16)
    """
    if chunk_frames is not None and int(chunk_frames) < 1:
        raise ValueError(f"chunk_frames should be a positive number of frames, got {chunk_frames}.")
    infos, how = _open_infos(path, channel=channel, plane=plane)
    parts = _make_parts(infos)
    array = _MovieArray(parts)
    # while the movie is in use, no writer of the package replaces its files (or
    # writes into the folder of frames it comes from)
    frame_folders = {i.path.parent for i in infos} if how in {"folder", "glob"} else ()
    protect_inputs(array, [i.path for i in infos], folders=frame_folders)
    per_chunk = (
        int(chunk_frames) if chunk_frames else _default_chunk_frames(array.frame_shape, array.dtype)
    )
    tchunks: list[int] = []
    for part in parts:
        full, last = divmod(part.n_frames, per_chunk)
        tchunks.extend([per_chunk] * full + ([last] if last else []))
    chunks = (tuple(tchunks), (array.shape[1],), (array.shape[2],))
    name = "amnesia-movie-" + dask.base.tokenize([p.token for p in parts], chunks)
    movie = da.from_array(
        array,
        chunks=chunks,
        name=name,
        lock=False,
        asarray=True,
        meta=np.empty((0, 0, 0), dtype=array.dtype),
    )
    label = infos[0].path if len(infos) == 1 else f"{infos[0].path} (+{len(infos) - 1} files)"
    logger.info(
        "opened %s: %s %s, %d chunks of %d frames",
        label,
        movie.shape,
        movie.dtype,
        len(tchunks),
        per_chunk,
    )
    if nan_policy is not None:
        return apply_nan_policy(movie, nan_policy, label=label)
    if movie.dtype.kind == "f":
        _report_nans(movie, label)
    return movie


def movie_info(
    path: PathInput,
    *,
    channel: int | None = None,
    plane: int | None = None,
) -> dict[str, Any]:
    """Describe a movie from its headers, without reading pixels.

    Parameters
    ----------
    path : str, path-like, or sequence of them
        As for :func:`open_movie`.
    channel, plane : int, optional
        As for :func:`open_movie`.

    Returns
    -------
    dict
        ``path``; ``format`` (``"tiff"``, ``"bigtiff"``, ``"imagej"``, ``"ome-tiff"``,
        ``"npy"`` for one file; ``"tiff-folder"`` for single-frame TIFF files,
        ``"tiff-files"`` / ``"npy-files"`` for several multi-frame files, ``"mixed"``);
        ``shape`` ``(T, Y, X)``; ``dtype``; ``axes`` and ``file_shape`` of the (first)
        file; ``time_axis`` (the file axis read as time, None for single frames);
        ``channel``; ``plane``; ``compression`` (None when uncompressed);
        ``contiguous`` (True when every file is memory-mapped); ``n_files``;
        ``size_bytes`` (on disk); ``frame_rate`` in Hz from ImageJ ``finterval``, OME
        ``TimeIncrement`` or napari-amnesia's own metadata, else None.

    Examples
    --------
    >>> import numpy as np
    >>> path = getfixture("tmp_path") / "movie.npy"
    >>> np.save(path, np.zeros((6, 2, 3), np.float32))
    >>> info = movie_info(path)
    >>> info["format"], info["shape"], info["dtype"], info["contiguous"]
    ('npy', (6, 2, 3), 'float32', True)
    """
    infos, how = _open_infos(path, channel=channel, plane=plane)
    first = infos[0]
    if len(infos) == 1:
        fmt = first.fmt
    else:
        kinds = {"npy" if i.fmt == "npy" else "tiff" for i in infos}
        if len(kinds) > 1:
            fmt = "mixed"
        elif kinds == {"npy"}:
            fmt = "npy-files"
        elif all(i.layout.time_axis is None for i in infos):
            fmt = "tiff-folder"
        else:
            fmt = "tiff-files"
    n_frames = sum(i.layout.n_frames for i in infos)
    if isinstance(path, list | tuple):
        shown: Any = [os.fspath(p) for p in path]
    else:
        shown = os.fspath(path)
    return {
        "path": shown,
        "format": fmt,
        "shape": (n_frames, *first.layout.frame_shape),
        "dtype": str(first.dtype),
        "axes": first.layout.file_axes,
        "file_shape": first.layout.file_shape,
        "time_axis": first.layout.time_letter,
        "channel": channel,
        "plane": plane,
        "compression": first.compression,
        "contiguous": all(i.contiguous for i in infos),
        "n_files": len(infos),
        "size_bytes": sum(i.size_bytes for i in infos),
        "frame_rate": first.frame_rate,
    }
