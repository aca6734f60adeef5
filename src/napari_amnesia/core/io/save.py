"""Saving movies to TIFF or ``.npy``, chunk by chunk, atomically.

The file is written through :func:`napari_amnesia.core.files.atomic_file`: under a
temporary name, renamed at the end and recorded in the manifest of its folder, so
that it may later be replaced (``overwrite=True``) while a file of the user's is
never replaced. Nor is a file the movie being saved reads from: the package's
readers and numpy memory maps tell their files, and a movie computed from them (a
dask graph) is searched for those sources without being computed.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import tifffile

from ..files import atomic_file
from ..progress import Progress, ProgressGenerator, drive
from .array import _MovieArray
from .chunks import _default_chunk_frames
from .errors import MovieError, _check_dtype

__all__ = ["iter_save_movie", "save_movie"]

logger = logging.getLogger(__name__)


#: Classic TIFF is written below this size, BigTIFF above (offsets stay below 2**31).
_BIGTIFF_THRESHOLD = 2**31 - 2**25


def _input_paths(movie: Any) -> set[Path]:
    """Files a movie reads from, where that can be told (our readers, numpy memmaps)."""
    found: set[Path] = set()
    if isinstance(movie, da.Array):
        graph = movie.__dask_graph__()
        layers = getattr(graph, "layers", None)
        if layers is not None:
            # from_array keeps its source in an "original-<name>" layer: look there only,
            # without materializing the pipeline's layers
            values = [
                v
                for name, layer in layers.items()
                if name.startswith("original-")
                for v in dict(layer).values()
            ]
        else:
            values = list(dict(graph).values())
        for value in values:
            obj = getattr(value, "value", value)
            if isinstance(obj, _MovieArray):
                found.update(obj.paths)
            elif isinstance(obj, np.ndarray):
                found.update(_memmap_files(obj))
    elif isinstance(movie, np.ndarray):
        found.update(_memmap_files(movie))
    return found


def _memmap_files(array: np.ndarray) -> set[Path]:
    """Files behind a numpy array (a memmap, or a view of one: dask's are filename-less)."""
    found = set()
    base: Any = array
    while base is not None:
        if isinstance(base, np.memmap) and getattr(base, "filename", None):
            found.add(Path(base.filename))
        base = getattr(base, "base", None)
    return found


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()



def iter_save_movie(
    movie: Any,
    path: str | os.PathLike,
    *,
    chunk_frames: int | None = None,
    bigtiff: bool | None = None,
    overwrite: bool = False,
    compression: str | None = None,
    frame_rate: float | None = None,
) -> ProgressGenerator[Path]:
    """Write a ``(T, Y, X)`` movie to TIFF (or ``.npy``) chunk by chunk, atomically.

    Memory is bounded by one chunk. The data go to a hidden temporary file in the
    destination folder, renamed to ``path`` at the end and recorded in that folder's
    manifest (:func:`napari_amnesia.core.files.atomic_file`); on error or cancel (the
    generator closed) the temporary file is removed and nothing existing is touched.
    Uncompressed output is contiguous, so it re-opens memory-mapped with
    :func:`~napari_amnesia.core.io.open_movie`.

    Parameters
    ----------
    movie : numpy.ndarray or dask.array.Array, shape (T, Y, X)
        The movie; any supported pixel type, written as is.
    path : str or path-like
        Destination; ``.npy`` writes a NumPy file, anything else a TIFF.
    chunk_frames : int, optional
        Frames computed and written at a time (default about 32 MB).
    bigtiff : bool, optional
        Write BigTIFF. By default, only when the data exceed about 2 GB.
    overwrite : bool, optional
        Replace an existing file, if napari-amnesia wrote it (the manifest of its
        folder lists it, unchanged since). A file of the user's, and a file the movie
        itself reads from, are never replaced.
    compression : str, optional
        TIFF compression (``"zlib"``, ``"zstd"``, ``"lzw"``...). Compressed files
        open lazily too, but page by page instead of memory-mapped.
    frame_rate : float, optional
        Frames per second, stored in the metadata (ImageJ ``finterval`` when the file
        is ImageJ-compatible, else napari-amnesia's JSON description) and read back by
        :func:`movie_info`.

    Yields
    ------
    Progress
        After each chunk: frames written, total frames.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    MovieError
        If ``movie`` is not a ``(T, Y, X)`` movie of a supported pixel type, or reads
        from ``path``.
    napari_amnesia.core.files.OutputExistsError
        If ``path`` exists and ``overwrite`` is False, or (``NotOwnedError``) it is a
        file napari-amnesia did not write.
    FileNotFoundError
        If the destination folder does not exist.
    """
    path = Path(os.path.expanduser(os.fspath(path)))
    shape = tuple(int(n) for n in getattr(movie, "shape", ()))
    if len(shape) != 3:
        raise MovieError(f"{path}: can only save a (T, Y, X) movie, got shape {shape}.")
    if shape[0] == 0:
        raise MovieError(f"{path}: the movie to save has no frames (shape {shape}).")
    dtype = _check_dtype(movie.dtype, path)
    if frame_rate is not None and not (math.isfinite(frame_rate) and frame_rate > 0):
        raise ValueError(f"frame_rate should be a positive number of Hz, got {frame_rate}.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: folder does not exist (saving {path.name}).")
    if path.is_dir():
        raise MovieError(f"{path}: is a folder; give a file name to save the movie to.")
    for source in _input_paths(movie):
        if path.exists() and _same_file(source, path) or source.resolve() == path.resolve():
            raise MovieError(
                f"{path}: refusing to overwrite a file that the movie being saved reads from."
            )
    n = shape[0]
    per_chunk = int(chunk_frames) if chunk_frames else _default_chunk_frames(shape[1:], dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    is_npy = path.name.lower().endswith(".npy")
    if bigtiff is None:
        bigtiff = nbytes > _BIGTIFF_THRESHOLD
    message = f"saving {path.name}"
    logger.info("saving %s %s to %s", shape, dtype, path)
    # core.files owns how a file is written: an existing file is replaced only when
    # asked and only if the package wrote it (checked before any work and again before
    # the rename); a temporary name, renamed at the end; the file recorded in the
    # manifest of its folder
    with atomic_file(path, overwrite=overwrite) as tmp:
        yield Progress(0, n, message)
        if is_npy:
            with open(tmp, "wb") as fh:
                header = {
                    "descr": np.lib.format.dtype_to_descr(dtype),
                    "fortran_order": False,
                    "shape": shape,
                }
                np.lib.format.write_array_header_2_0(fh, header)
                for t0 in range(0, n, per_chunk):
                    block = np.ascontiguousarray(np.asarray(movie[t0 : t0 + per_chunk]), dtype)
                    fh.write(memoryview(block).cast("B"))
                    del block
                    yield Progress(min(n, t0 + per_chunk), n, message)
        elif compression is None:
            imagej = not bigtiff and dtype in (
                np.dtype("uint8"),
                np.dtype("uint16"),
                np.dtype("int16"),
                np.dtype("float32"),
            )
            metadata: dict[str, Any] = {"axes": "TYX"}
            if frame_rate:
                metadata["finterval" if imagej else "frame_rate"] = (
                    1.0 / frame_rate if imagej else float(frame_rate)
                )
            # an empty (sparse) file with all headers, then the pixels at their offset
            tifffile.imwrite(
                tmp,
                shape=shape,
                dtype=dtype,
                bigtiff=bigtiff,
                imagej=imagej,
                photometric="minisblack",
                metadata=metadata,
            )
            with tifffile.TiffFile(tmp) as tif:
                series = tif.series[0]
                offset = series.dataoffset
                file_dtype = np.dtype(series.dtype).newbyteorder(tif.byteorder)
            if offset is None:  # pragma: no cover - tifffile always writes these contiguous
                raise MovieError(f"{path}: tifffile did not write contiguous data.")
            with open(tmp, "r+b") as fh:
                fh.seek(offset)
                for t0 in range(0, n, per_chunk):
                    block = np.ascontiguousarray(np.asarray(movie[t0 : t0 + per_chunk]), file_dtype)
                    fh.write(memoryview(block).cast("B"))
                    del block
                    yield Progress(min(n, t0 + per_chunk), n, message)
        else:
            description = {"shape": list(shape), "axes": "TYX"}
            if frame_rate:
                description["frame_rate"] = float(frame_rate)
            with tifffile.TiffWriter(tmp, bigtiff=bigtiff) as tw:
                for t0 in range(0, n, per_chunk):
                    block = np.asarray(np.asarray(movie[t0 : t0 + per_chunk]), dtype)
                    for i, frame in enumerate(block):
                        tw.write(
                            frame,
                            compression=compression,
                            photometric="minisblack",
                            metadata=None,
                            description=json.dumps(description) if t0 + i == 0 else None,
                        )
                    del block
                    yield Progress(min(n, t0 + per_chunk), n, message)
    logger.info("saved %s", path)
    return path


def save_movie(
    movie: Any,
    path: str | os.PathLike,
    *,
    chunk_frames: int | None = None,
    bigtiff: bool | None = None,
    overwrite: bool = False,
    compression: str | None = None,
    frame_rate: float | None = None,
) -> Path:
    """Write a movie to TIFF or ``.npy``; see :func:`iter_save_movie` (same arguments).

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import numpy as np
    >>> folder = getfixture("tmp_path")  # any existing folder
    >>> save_movie(np.zeros((3, 4, 4), np.uint16), folder / "m.tif").name
    'm.tif'
    >>> path = save_movie(np.ones((3, 4, 4), np.uint16), folder / "m.tif", overwrite=True)
    >>> from napari_amnesia.core.files import read_manifest
    >>> sorted(read_manifest(folder)["files"])  # the package's own files, replaceable
    ['m.tif']
    """
    return drive(
        iter_save_movie(
            movie,
            path,
            chunk_frames=chunk_frames,
            bigtiff=bigtiff,
            overwrite=overwrite,
            compression=compression,
            frame_rate=frame_rate,
        )
    )
