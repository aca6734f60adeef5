"""Reading and writing calcium-imaging movies, lazily and with bounded memory.

A movie is a :class:`dask.array.Array` of shape ``(T, Y, X)`` in the file's own
dtype. :func:`open_movie` builds it without reading pixels: every dask task reads only
the frames of its chunk, so a 10 GB file opens in about a second, ``movie[k]`` reads
frame ``k`` and nothing else (what napari does while scrolling), and reductions over
time stream chunk by chunk.

How each format is read
-----------------------
* Uncompressed TIFF, BigTIFF, ImageJ and OME-TIFF whose image data are contiguous in
  the file, and ``.npy`` files, are memory-mapped *per call*: each task maps only
  the frames it needs (a few MB at a time), copies them out and unmaps them. Mapping
  the whole file once and handing the map to :func:`dask.array.from_array` looks
  equivalent but reads the whole file into memory: ``from_array`` calls the array's
  ``copy()`` (measured in ``benchmarks/bench_io.py``).
* Compressed or tiled TIFF are read through tifffile's zarr store
  (:meth:`tifffile.TiffFile.aszarr`), whose chunks are single pages, so a frame
  costs one page decode. Open stores are kept in a small per-process cache.
* A folder, a glob or a list of files is concatenated in time, files in natural
  order (``image2`` before ``image10``); single-frame files are grouped so that one
  task reads the files of its chunk only.

Errors name the file and the bad value: :class:`MovieError` for input that is not a
usable movie, :class:`FileNotFoundError` for missing paths.

References
----------
.. [1] C. Gohlke, tifffile, https://github.com/cgohlke/tifffile (TIFF structure,
   ImageJ hyperstack and OME-TIFF metadata, zarr store of TIFF pages).
.. [2] NumPy ``.npy`` format, :mod:`numpy.lib.format`.
.. [3] M. Pool, "Sorting for Humans: Natural Sort Order" (2007), the natural sort key.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import re
import threading
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import tifffile

from .files import check_destination, protect_inputs, record_written
from .progress import Progress, ProgressGenerator, drive

__all__ = [
    "MovieError",
    "MovieWarning",
    "NAN_POLICIES",
    "SUPPORTED_DTYPES",
    "apply_nan_policy",
    "find_nan_frames",
    "iter_apply_nan_policy",
    "iter_find_nan_frames",
    "open_movie",
    "movie_info",
    "contrast_limits",
    "iter_save_movie",
    "save_movie",
    "natural_sort_key",
]

logger = logging.getLogger(__name__)

PathInput = str | os.PathLike | Sequence[str | os.PathLike]

#: Pixel types a movie may have (others are refused with a :class:`MovieError`).
SUPPORTED_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(name)
    for name in ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64")
)

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf2", ".tf8")
NPY_SUFFIXES = (".npy",)
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_NPY_MAGIC = b"\x93NUMPY"

#: Default size of a time chunk, in bytes.
DEFAULT_CHUNK_BYTES = 32 * 2**20
#: A memory-mapped read maps at most this many bytes at a time.
_MAP_BLOCK_BYTES = 8 * 2**20
#: Classic TIFF is written below this size, BigTIFF above (offsets stay below 2**31).
_BIGTIFF_THRESHOLD = 2**31 - 2**25
#: How many frames are sampled for the NaN check and for contrast limits.
_N_SAMPLE_FRAMES = 16


class MovieError(ValueError):
    """A file, folder or array is not a usable movie; the message says which and why."""


class MovieWarning(UserWarning):
    """A movie opened but something in it needs the user's attention (NaN frames...)."""


# --------------------------------------------------------------------------- helpers


def natural_sort_key(s: str | os.PathLike) -> tuple:
    """Return a key that sorts strings in natural, case-insensitive order.

    Runs of digits compare as numbers, so ``"image2"`` sorts before ``"image10"``, the
    way microscope software numbers its exports (see [3]_ in the module references).

    Parameters
    ----------
    s : str or path-like
        The string (or path) to sort.

    Returns
    -------
    tuple
        Alternating text (case-folded) and integer parts.

    Examples
    --------
    >>> sorted(["img10.tif", "IMG2.tif", "img1.tif"], key=natural_sort_key)
    ['img1.tif', 'IMG2.tif', 'img10.tif']
    """
    parts = re.split(r"(\d+)", os.fspath(s).casefold())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def _check_dtype(dtype: np.dtype, path: Path | str) -> np.dtype:
    """Return the native-byte-order dtype, or raise if it is not a movie pixel type."""
    dtype = np.dtype(dtype)
    native = dtype.newbyteorder("=")
    if native not in SUPPORTED_DTYPES:
        names = ", ".join(d.name for d in SUPPORTED_DTYPES)
        raise MovieError(
            f"{path}: pixel type {dtype} is not supported for a movie; supported: {names}. "
            "Convert it first (e.g. array.astype('float32'))."
        )
    return native


def _axes_summary(axes: str, shape: Sequence[int]) -> str:
    return f"{axes} ({', '.join(f'{a}={n}' for a, n in zip(axes, shape, strict=True))})"


def _stat_token(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


# --------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class _Layout:
    """How a file's N-d array maps to movie frames.

    ``index`` has one entry per file axis: an int for an axis fixed by a selection
    (channel, plane), ``None`` for a free axis (time, Y, X). ``time_axis`` is the
    position of the time axis, or None for a single-frame file.
    """

    file_axes: str
    file_shape: tuple[int, ...]
    index: tuple[int | None, ...]
    time_axis: int | None

    @property
    def n_frames(self) -> int:
        return 1 if self.time_axis is None else self.file_shape[self.time_axis]

    @property
    def frame_shape(self) -> tuple[int, int]:
        free = [
            n
            for i, n in enumerate(self.file_shape)
            if self.index[i] is None and i != self.time_axis
        ]
        return (free[0], free[1])

    @property
    def time_letter(self) -> str | None:
        return None if self.time_axis is None else self.file_axes[self.time_axis]

    def full_key(self, tkey: Any, ykey: Any, xkey: Any) -> tuple:
        """File-array key for time key ``tkey`` (ignored if single frame) and y, x keys."""
        key: list[Any] = []
        spatial = [ykey, xkey]
        for i, fixed in enumerate(self.index):
            if fixed is not None:
                key.append(fixed)
            elif i == self.time_axis:
                key.append(tkey)
            else:
                key.append(spatial.pop(0))
        return tuple(key)


def _resolve_layout(
    path: Path | str,
    axes: str,
    shape: Sequence[int],
    *,
    channel: int | None,
    plane: int | None,
) -> _Layout:
    """Decide which file axes are time, Y and X, and which are fixed by a selection."""
    axes = axes.upper()
    shape = tuple(int(n) for n in shape)
    where = _axes_summary(axes, shape)
    if "Y" not in axes or "X" not in axes:
        raise MovieError(f"{path}: has axes {where}, without both Y and X; not an image stack.")
    index: list[int | None] = [None] * len(axes)
    notes: list[str] = []  # why the file cannot be read as it is
    passes: list[str] = []  # selections that would fix it

    # channels: 'C' if present, else RGB samples 'S'
    if "C" in axes and "S" in axes:
        s = axes.index("S")
        notes.append(
            f"it is RGB (samples S={shape[s]}) with channels; convert it to one grayscale "
            "channel per file first"
        )
    channel_axis = "C" if "C" in axes else ("S" if "S" in axes else None)
    if channel_axis is None:
        if channel not in (None, 0):
            raise MovieError(f"{path}: has no channel axis (axes {where}); got channel={channel}.")
    else:
        c = axes.index(channel_axis)
        if channel is None:
            if channel_axis == "S":
                notes.append(
                    f"it is an RGB image (samples S={shape[c]}); convert it to grayscale, "
                    "or take one color"
                )
            passes.append(f"channel=0..{shape[c] - 1}")
        else:
            if not 0 <= int(channel) < shape[c]:
                raise MovieError(
                    f"{path}: channel={channel} is out of range for axes {where}; "
                    f"pass channel=0..{shape[c] - 1}."
                )
            index[c] = int(channel)

    if "Z" in axes and plane is not None:
        z = axes.index("Z")
        if not 0 <= int(plane) < shape[z]:
            raise MovieError(
                f"{path}: plane={plane} is out of range for axes {where}; "
                f"pass plane=0..{shape[z] - 1}."
            )
        index[z] = int(plane)
    elif plane not in (None, 0):
        raise MovieError(f"{path}: has no Z (plane) axis (axes {where}); got plane={plane}.")

    remaining = [
        i for i, a in enumerate(axes) if index[i] is None and a not in "YX" and a != channel_axis
    ]
    time_axis = None
    if len(remaining) == 1:
        time_axis = remaining[0]
        letter = axes[time_axis]
        if letter != "T" and letter not in "ZIQ":
            notes.append(
                f"its only stack axis is {letter!r}, which is neither time (T) nor a plain "
                "image sequence (Z, I, Q)"
            )
    elif len(remaining) > 1:
        for i in remaining:
            if axes[i] == "Z":
                passes.append(f"plane=0..{shape[i] - 1}")
            elif axes[i] != "T":
                notes.append(f"axis {axes[i]!r} ({shape[i]}) cannot be selected")
        if "T" not in [axes[i] for i in remaining]:
            notes.append("only one stack axis may remain, as time")
    if notes or passes:
        advice = notes + (["pass " + " and ".join(passes)] if passes else [])
        raise MovieError(f"{path}: has axes {where}; " + "; ".join(advice) + ".")
    if time_axis is not None and axes[time_axis] != "T":
        logger.info(
            "%s: axes %s have no time axis; taking the %d-long %r axis as time",
            path,
            axes,
            shape[time_axis],
            axes[time_axis],
        )
    return _Layout(axes, shape, tuple(index), time_axis)


# --------------------------------------------------------------------------- file readers


@dataclass
class _FileInfo:
    """What a file is and how to read it (filled at open, no pixel reads)."""

    path: Path
    kind: str  # "memmap", "zarr", "frame" (single frame, read whole)
    fmt: str
    layout: _Layout
    dtype: np.dtype  # native
    file_dtype: np.dtype  # as stored (byte order)
    compression: str | None
    contiguous: bool
    size_bytes: int
    token: tuple
    offset: int | None = None
    order: str = "C"
    series: int = 0
    frame_rate: float | None = None
    extra: dict = field(default_factory=dict)


class _TiffErrors:
    """Collect what tifffile logs while a file is parsed, instead of printing it.

    tifffile logs its own ERROR and WARNING lines (``invalid offset to first
    page``...) before the package has a chance to say what is wrong; while a file
    is probed in this thread, those records go here (ERROR ones into ``messages``,
    judged below; the others into ``notes``, logged at debug level) and nowhere
    else.
    """

    _local = threading.local()
    _installed = False
    _install_lock = threading.Lock()

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.notes: list[str] = []

    @classmethod
    def filter(cls, record: logging.LogRecord) -> bool:
        """Logger filter: keep the record for the collector of this thread, if any."""
        collector = getattr(cls._local, "collector", None)
        if collector is None:
            return True
        text = record.getMessage()
        (collector.messages if record.levelno >= logging.ERROR else collector.notes).append(text)
        return False

    def __enter__(self) -> _TiffErrors:
        with self._install_lock:
            if not _TiffErrors._installed:
                logging.getLogger("tifffile").addFilter(_TiffErrors)
                _TiffErrors._installed = True
        self._previous = getattr(self._local, "collector", None)
        self._local.collector = self
        return self

    def __exit__(self, *exc: object) -> None:
        self._local.collector = self._previous


def _frame_rate_from_tiff(tif: tifffile.TiffFile) -> float | None:
    try:
        ij = tif.imagej_metadata
        if ij:
            if ij.get("finterval"):
                return 1.0 / float(ij["finterval"])
            if ij.get("fps"):
                return float(ij["fps"])
        if tif.is_ome and tif.ome_metadata:
            m = re.search(r"<Pixels\b[^>]*>", tif.ome_metadata)
            if m:
                inc = re.search(r'TimeIncrement="([^"]+)"', m.group(0))
                unit = re.search(r'TimeIncrementUnit="([^"]+)"', m.group(0))
                if inc and float(inc.group(1)) > 0:
                    scale = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "min": 60.0, "h": 3600.0}
                    dt = float(inc.group(1)) * scale.get(unit.group(1) if unit else "s", 1.0)
                    return 1.0 / dt
        if tif.is_shaped and tif.shaped_metadata:
            rate = tif.shaped_metadata[0].get("frame_rate")
            if rate:
                return float(rate)
    except Exception as exc:  # metadata is a bonus: never fail an open for it
        logger.debug("%s: could not read the frame rate: %s", tif.filename, exc)
    return None


def _tiff_format(tif: tifffile.TiffFile) -> str:
    if tif.is_ome:
        return "ome-tiff"
    if tif.is_imagej:
        return "imagej"
    if tif.is_bigtiff:
        return "bigtiff"
    return "tiff"


def _describe_tiff(path: Path, *, channel: int | None, plane: int | None) -> _FileInfo:
    """Parse a TIFF's structure (no pixel reads) and check it is whole."""
    size = path.stat().st_size
    try:
        with _TiffErrors() as handler, tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise MovieError(f"{path}: TIFF file has no image series.")
            series = tif.series[0]
            if len(tif.series) > 1:
                logger.info(
                    "%s: has %d image series; reading the first (%s %s)",
                    path,
                    len(tif.series),
                    series.axes,
                    series.shape,
                )
            axes, shape = series.axes, tuple(series.shape)
            file_dtype = np.dtype(series.dtype).newbyteorder(tif.byteorder)
            page = series.keyframe
            compression = page.compression.name.lower() if page.compression != 1 else None
            dataoffset = series.dataoffset
            fmt = _tiff_format(tif)
            frame_rate = _frame_rate_from_tiff(tif)
            # integrity: the series' data must lie inside the file
            if dataoffset is not None:
                end = dataoffset + series.nbytes
            else:
                last = series.pages[len(series.pages) - 1] if len(series.pages) else page
                last = last if last is not None else page
                offsets, counts = last.dataoffsets, last.databytecounts
                end = max((o + c for o, c in zip(offsets, counts, strict=False)), default=0)
            n_pages = len(series.pages)
    except MovieError:
        raise
    except Exception as exc:
        raise MovieError(f"{path}: not a readable TIFF file ({exc}).") from exc
    for note in handler.notes:
        logger.debug("%s: tifffile noted: %s", path, note)
    corrupt = [m for m in handler.messages if "offset" in m or "corrupt" in m or "fail" in m]
    if end > size or corrupt:
        detail = f"its image data end at byte {end} but the file has {size} bytes"
        if corrupt:
            detail = "; ".join(corrupt) if end <= size else detail + "; " + "; ".join(corrupt)
        raise MovieError(f"{path}: truncated or corrupt TIFF ({detail}).")
    if handler.messages:
        logger.warning("%s: tifffile reported: %s", path, "; ".join(handler.messages))
    if not shape or not axes:
        raise MovieError(f"{path}: TIFF file has no image data.")
    dtype = _check_dtype(file_dtype, path)
    layout = _resolve_layout(path, axes, shape, channel=channel, plane=plane)
    contiguous = dataoffset is not None
    if contiguous:
        kind = "memmap"
    elif layout.time_axis is None:
        kind = "frame"
    else:
        kind = "zarr"
    logger.debug("%s: %s series %s %s, %d pages, %s", path, fmt, axes, shape, n_pages, kind)
    return _FileInfo(
        path=path,
        kind=kind,
        fmt=fmt,
        layout=layout,
        dtype=dtype,
        file_dtype=file_dtype,
        compression=compression,
        contiguous=contiguous,
        size_bytes=size,
        token=_stat_token(path),
        offset=dataoffset,
        frame_rate=frame_rate,
    )


def _describe_npy(path: Path, *, channel: int | None, plane: int | None) -> _FileInfo:
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            offset = fh.tell()
    except Exception as exc:
        raise MovieError(f"{path}: not a readable .npy file ({exc}).") from exc
    if dtype.hasobject or dtype.fields is not None:
        raise MovieError(f"{path}: pixel type {dtype} is not supported for a movie.")
    native = _check_dtype(dtype, path)
    end = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if end > size:
        raise MovieError(
            f"{path}: truncated .npy file (data end at byte {end}, the file has {size} bytes)."
        )
    if len(shape) != 3:
        what = "a single 2-D image" if len(shape) == 2 else f"a {len(shape)}-D array"
        raise MovieError(
            f"{path}: is {what} of shape {tuple(shape)}, not a movie; expected (T, Y, X)."
        )
    layout = _resolve_layout(path, "TYX", shape, channel=channel, plane=plane)
    return _FileInfo(
        path=path,
        kind="memmap",
        fmt="npy",
        layout=layout,
        dtype=native,
        file_dtype=np.dtype(dtype),
        compression=None,
        contiguous=True,
        size_bytes=size,
        token=_stat_token(path),
        offset=offset,
        order="F" if fortran else "C",
    )


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


# --------------------------------------------------------------------------- parts


class _Part:
    """A run of movie frames read the same way; ``read`` indexes its (n, Y, X) stack."""

    n_frames: int
    frame_shape: tuple[int, int]
    dtype: np.dtype
    paths: tuple[Path, ...]
    token: tuple

    def read(self, tkey: int | np.ndarray, ykey: Any, xkey: Any) -> np.ndarray:
        raise NotImplementedError


def _runs(idx: np.ndarray) -> list[tuple[int, int]]:
    """Split an index array into (position, length) runs of consecutive ascending values."""
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [idx.size]])
    return [(int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


class _MemmapPart(_Part):
    """Frames of one contiguous file, memory-mapped a few frames at a time per call."""

    def __init__(self, info: _FileInfo) -> None:
        self.info = info
        self.paths = (info.path,)
        self.layout = info.layout
        self.n_frames = info.layout.n_frames
        self.frame_shape = info.layout.frame_shape
        self.dtype = info.dtype
        self.token = ("memmap", info.token, info.layout)

    def _map(self, shape: tuple[int, ...], offset: int) -> np.memmap:
        return np.memmap(
            self.info.path,
            dtype=self.info.file_dtype,
            mode="r",
            offset=offset,
            shape=shape,
            order=self.info.order,
        )

    def read(self, tkey: int | np.ndarray, ykey: Any, xkey: Any) -> np.ndarray:
        layout, info = self.layout, self.info
        shape = layout.file_shape
        if layout.time_axis != 0 or info.order != "C":
            # rare layouts (time not first, Fortran order): map the file (virtual
            # memory only) and copy the selection
            mm = self._map(shape, info.offset)
            try:
                return np.array(mm[layout.full_key(tkey, ykey, xkey)], dtype=self.dtype)
            finally:
                del mm
        rest = layout.full_key(0, ykey, xkey)[1:]
        frame_bytes = int(np.prod(shape[1:], dtype=np.int64)) * info.file_dtype.itemsize
        if np.ndim(tkey) == 0:
            mm = self._map(shape[1:], info.offset + int(tkey) * frame_bytes)
            try:
                return np.array(mm[rest], dtype=self.dtype)
            finally:
                del mm
        idx = np.asarray(tkey, dtype=np.int64)
        probe = np.empty((0, *shape[1:]), info.file_dtype)[(slice(None), *rest)]
        out = np.empty((idx.size, *probe.shape[1:]), dtype=self.dtype)
        per_block = max(1, _MAP_BLOCK_BYTES // max(frame_bytes, 1))
        for pos, length in _runs(idx):
            for k in range(0, length, per_block):
                n = min(per_block, length - k)
                first = int(idx[pos + k])
                mm = self._map((n, *shape[1:]), info.offset + first * frame_bytes)
                try:
                    out[pos + k : pos + k + n] = mm[(slice(None), *rest)]
                finally:
                    del mm
        return out


_ZARR_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_ZARR_CACHE_LOCK = threading.Lock()
_ZARR_CACHE_SIZE = 16


def _zarr_array(info: _FileInfo) -> Any:
    """An open zarr array over a TIFF series, cached per file version (thread-safe reads)."""
    import zarr

    key = (info.token, info.series)
    with _ZARR_CACHE_LOCK:
        if key in _ZARR_CACHE:
            _ZARR_CACHE.move_to_end(key)
            return _ZARR_CACHE[key][1]
    tif = tifffile.TiffFile(info.path)
    try:
        store = tif.series[info.series].aszarr()
        array = zarr.open(store, mode="r")
    except Exception:
        tif.close()
        raise
    if tuple(array.shape) != info.layout.file_shape:
        tif.close()
        raise MovieError(
            f"{info.path}: changed since it was opened (shape {tuple(array.shape)}, "
            f"expected {info.layout.file_shape})."
        )
    with _ZARR_CACHE_LOCK:
        _ZARR_CACHE[key] = (tif, array)
        while len(_ZARR_CACHE) > _ZARR_CACHE_SIZE:
            # dropped, not closed: a reader in another thread may still use it; the
            # file closes when the last reference goes
            _ZARR_CACHE.popitem(last=False)
    return array


class _ZarrPart(_Part):
    """Frames of one compressed or tiled TIFF, read page by page through zarr."""

    def __init__(self, info: _FileInfo) -> None:
        self.info = info
        self.paths = (info.path,)
        self.layout = info.layout
        self.n_frames = info.layout.n_frames
        self.frame_shape = info.layout.frame_shape
        self.dtype = info.dtype
        self.token = ("zarr", info.token, info.layout)

    def read(self, tkey: int | np.ndarray, ykey: Any, xkey: Any) -> np.ndarray:
        if np.ndim(tkey) == 1:
            idx = np.asarray(tkey)
            if idx.size and np.all(np.diff(idx) == 1):
                tkey = slice(int(idx[0]), int(idx[-1]) + 1)
        key = self.layout.full_key(tkey, ykey, xkey)
        try:
            array = _zarr_array(self.info)
            if any(isinstance(k, np.ndarray | list) for k in key):
                data = array.oindex[key]
            else:
                data = array[key]
        except MovieError:
            raise
        except Exception as exc:
            raise MovieError(
                f"{self.info.path}: cannot read frames {tkey!r} ({type(exc).__name__}: {exc})."
            ) from exc
        return np.asarray(data, dtype=self.dtype)


class _FramesPart(_Part):
    """A run of single-frame files, one frame each; a call reads only its files."""

    def __init__(self, infos: list[_FileInfo]) -> None:
        self.infos = infos
        self.paths = tuple(i.path for i in infos)
        self.n_frames = len(infos)
        self.frame_shape = infos[0].layout.frame_shape
        self.dtype = infos[0].dtype
        self.token = ("frames", tuple((i.token, i.layout) for i in infos))

    def _read_one(self, t: int, ykey: Any, xkey: Any) -> np.ndarray:
        info = self.infos[t]
        try:
            if info.kind == "memmap":
                return self._memmap_frame(info, ykey, xkey)
            data = tifffile.imread(info.path, series=info.series)
        except MovieError:
            raise
        except Exception as exc:
            raise MovieError(
                f"{info.path}: cannot read the frame ({type(exc).__name__}: {exc})."
            ) from exc
        return np.asarray(data[info.layout.full_key(None, ykey, xkey)], dtype=self.dtype)

    @staticmethod
    def _memmap_frame(info: _FileInfo, ykey: Any, xkey: Any) -> np.ndarray:
        mm = np.memmap(
            info.path,
            dtype=info.file_dtype,
            mode="r",
            offset=info.offset,
            shape=info.layout.file_shape,
        )
        try:
            return np.array(mm[info.layout.full_key(None, ykey, xkey)], dtype=info.dtype)
        finally:
            del mm

    def read(self, tkey: int | np.ndarray, ykey: Any, xkey: Any) -> np.ndarray:
        if np.ndim(tkey) == 0:
            return self._read_one(int(tkey), ykey, xkey)
        frames = [self._read_one(int(t), ykey, xkey) for t in np.asarray(tkey)]
        if not frames:
            probe = np.empty(self.frame_shape, self.dtype)[ykey, xkey]
            return np.empty((0, *probe.shape), self.dtype)
        return np.stack(frames)


def _make_parts(infos: list[_FileInfo]) -> list[_Part]:
    parts: list[_Part] = []
    run: list[_FileInfo] = []
    for info in infos:
        if info.layout.time_axis is None:
            run.append(info)
            continue
        if run:
            parts.append(_FramesPart(run))
            run = []
        parts.append(_MemmapPart(info) if info.kind == "memmap" else _ZarrPart(info))
    if run:
        parts.append(_FramesPart(run))
    return parts


class _MovieArray:
    """An array-like ``(T, Y, X)`` over parts; each ``__getitem__`` reads only its frames.

    :func:`dask.array.from_array` slices it once per task, and dask fuses a later
    ``movie[k]`` into the getter's key, so one frame is one small read.

    It deliberately has no ``copy`` method: ``from_array`` calls ``x.copy()`` on any
    array-like that has one, which for an ``np.memmap`` reads the whole file into
    memory when the graph is built (the cause of the naive approach's peak).
    """

    def __init__(self, parts: list[_Part]) -> None:
        self.parts = parts
        self.starts = np.cumsum([0] + [p.n_frames for p in parts])
        self.frame_shape = parts[0].frame_shape
        self.shape = (int(self.starts[-1]), *self.frame_shape)
        self.dtype = parts[0].dtype
        self.ndim = 3

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(p for part in self.parts for p in part.paths)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * (4 - len(key)) + key[i + 1 :]
        key = key + (slice(None),) * (3 - len(key))
        if len(key) != 3:
            raise IndexError(f"too many indices for a (T, Y, X) movie: {key!r}")
        tkey, ykey, xkey = key
        n = self.shape[0]
        if isinstance(tkey, int | np.integer):
            t = int(tkey)
            if not -n <= t < n:
                raise IndexError(f"frame {t} is out of range for a movie of {n} frames")
            t %= n
            p = int(np.searchsorted(self.starts, t, side="right")) - 1
            return self.parts[p].read(t - int(self.starts[p]), ykey, xkey)
        if isinstance(tkey, slice):
            idx = np.asarray(range(n)[tkey], dtype=np.int64)
        else:
            idx = np.asarray(tkey)
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
            idx = np.where(idx < 0, idx + n, idx).astype(np.int64)
        owner = np.searchsorted(self.starts, idx, side="right") - 1
        pieces = []
        i = 0
        while i < idx.size:
            p = int(owner[i])
            j = i
            while j < idx.size and owner[j] == p:
                j += 1
            local = idx[i:j] - int(self.starts[p])
            pieces.append(self.parts[p].read(local, ykey, xkey))
            i = j
        if not pieces:
            probe = np.empty(self.frame_shape, self.dtype)[ykey, xkey]
            return np.empty((0, *probe.shape), self.dtype)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


# --------------------------------------------------------------------------- inputs


def _has_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def _is_movie_file(p: Path) -> bool:
    return (
        p.is_file()
        and not p.name.startswith(".")
        and p.name.lower().endswith(TIFF_SUFFIXES + NPY_SUFFIXES)
    )


def _expand(path: PathInput) -> tuple[list[Path], str]:
    """Files to read, in order, and how they were given ("file", "folder", "glob", "list")."""
    if isinstance(path, list | tuple):
        if not path:
            raise MovieError("an empty list of paths was given; expected at least one movie file.")
        files: list[Path] = []
        for item in path:
            files.extend(_expand(item)[0])
        return files, "list"
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path should be a str, a path or a list of them, got {type(path)!r}.")
    text = os.path.expanduser(os.fspath(path))
    p = Path(text)
    if p.is_dir():
        found = sorted((c for c in p.iterdir() if _is_movie_file(c)), key=natural_sort_key)
        if not found:
            raise MovieError(f"{p}: folder contains no TIFF (.tif, .tiff, .btf) or .npy files.")
        return found, "folder"
    if p.exists():
        return [p], "file"
    if _has_glob(text):
        matches = [Path(m) for m in glob.glob(text) if Path(m).is_file()]
        if not matches:
            raise MovieError(f"{text}: the pattern matches no files.")
        return sorted(matches, key=natural_sort_key), "glob"
    raise FileNotFoundError(f"{p}: no such file or folder.")


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


def _default_chunk_frames(frame_shape: tuple[int, int], dtype: np.dtype) -> int:
    frame_bytes = max(1, frame_shape[0] * frame_shape[1] * np.dtype(dtype).itemsize)
    return max(1, DEFAULT_CHUNK_BYTES // frame_bytes)


def _sample_frames(movie: Any, idx: np.ndarray) -> list[np.ndarray]:
    """Frames ``idx`` of a movie, each read on its own where the graph allows it.

    dask fuses ``movie[k]`` into the reader's getter only when the chunk's task has a
    single dependent, so frames of a movie straight from :func:`open_movie` are
    computed in rounds holding at most one frame per chunk: each read is then one
    frame. A movie with computations upstream is computed in one go instead, so that
    no chunk of the pipeline is computed twice.
    """
    if not isinstance(movie, da.Array):
        return [np.asarray(movie[int(i)]) for i in idx]
    if len(movie.dask.layers) > 2:
        return list(dask.compute(*[movie[int(i)] for i in idx]))
    starts = np.cumsum((0, *movie.chunks[0]))
    owner = np.searchsorted(starts, idx, side="right") - 1
    rank = np.array([np.count_nonzero(owner[:j] == owner[j]) for j in range(idx.size)])
    frames: dict[int, np.ndarray] = {}
    for r in range(int(rank.max(initial=-1)) + 1):
        members = [int(i) for i in idx[rank == r]]
        for i, frame in zip(members, dask.compute(*[movie[i] for i in members]), strict=True):
            frames[i] = frame
    return [frames[int(i)] for i in idx]


def _sample_indices(n: int, count: int) -> np.ndarray:
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(np.int64))


# --------------------------------------------------------------------------- public API


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
    >>> movie = open_movie("recording.tif")  # doctest: +SKIP
    >>> movie[100].compute()                 # reads one frame  # doctest: +SKIP
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


def _report_nans(movie: da.Array, label: object) -> None:
    idx = _sample_indices(movie.shape[0], _N_SAMPLE_FRAMES)
    frames = _sample_frames(movie, idx)
    bad = [int(i) for i, f in zip(idx, frames, strict=True) if np.isnan(f).any()]
    if bad:
        message = (
            f"{label}: {len(bad)} of {len(idx)} sampled frames contain NaN values "
            f"(frames {bad[:8]}{'...' if len(bad) > 8 else ''}); NaNs propagate through "
            "most computations: open the movie with nan_policy='fill' to replace them, "
            "or nan_policy='raise' to check every frame."
        )
        # one warning (napari shows it as a notification, the command line as one line)
        warnings.warn(message, MovieWarning, stacklevel=3)


#: What :func:`apply_nan_policy` can do with NaN or infinite pixels.
NAN_POLICIES = ("raise", "fill")




def iter_find_nan_frames(movie: Any, *, chunk_frames: int | None = None
                         ) -> ProgressGenerator[dict[str, Any]]:
    """Find the frames of ``movie`` that hold NaN or infinite pixels, chunk by chunk.

    Integer movies cannot hold NaN and are not read.

    Yields
    ------
    Progress
        After each chunk.

    Returns
    -------
    dict
        ``frames``: indices of the frames with NaN or infinite pixels (int64 array);
        ``pixels``: how many such values in all; ``fill``: ``(Y, X)`` image, each
        pixel's mean over its finite frames (the mean of the whole movie for a pixel
        without any), or None when nothing is missing.
    """
    n = int(movie.shape[0])
    if np.dtype(movie.dtype).kind != "f":
        yield Progress(n, n, "checking for NaN")
        return {"frames": np.empty(0, np.int64), "pixels": 0, "fill": None}
    per_chunk = int(chunk_frames) if chunk_frames else _default_chunk_frames(
        tuple(movie.shape[1:]), np.dtype(movie.dtype))
    bad_per_frame = np.zeros(n, np.int64)
    total = np.zeros(movie.shape[1:], np.float64)
    count = np.zeros(movie.shape[1:], np.int64)
    for t0 in range(0, n, per_chunk):
        block = movie[t0:t0 + per_chunk]
        block = np.asarray(block.compute() if hasattr(block, "compute") else block)
        finite = np.isfinite(block)
        bad_per_frame[t0:t0 + len(block)] = (~finite).reshape(len(block), -1).sum(axis=1)
        total += np.where(finite, block, 0).sum(axis=0, dtype=np.float64)
        count += finite.sum(axis=0)
        del block, finite
        yield Progress(min(n, t0 + per_chunk), n, "checking for NaN")
    bad = np.flatnonzero(bad_per_frame).astype(np.int64)
    fill = None
    if len(bad):
        overall = total.sum() / count.sum() if count.sum() else 0.0
        fill = np.where(count > 0, total / np.maximum(count, 1), overall)
    return {"frames": bad, "pixels": int(bad_per_frame.sum()), "fill": fill}


def find_nan_frames(movie: Any, *, chunk_frames: int | None = None) -> np.ndarray:
    """Indices of the frames holding NaN or infinite pixels (every frame is read)."""
    return drive(iter_find_nan_frames(movie, chunk_frames=chunk_frames))["frames"]


def _listed_frames(frames: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(t)) for t in frames[:limit])
    return shown + (", ..." if len(frames) > limit else "")


def _fill_block(block: np.ndarray, image: np.ndarray) -> np.ndarray:
    finite = np.isfinite(block)
    if finite.all():
        return block
    return np.where(finite, block, image.astype(block.dtype))


def iter_apply_nan_policy(movie: Any, nan_policy: str = "raise", *, label: object = "the movie",
                          chunk_frames: int | None = None) -> ProgressGenerator[Any]:
    """Check every frame of a float movie for NaN or infinite pixels, then act.

    Parameters
    ----------
    movie : array-like, shape (T, Y, X)
        numpy or dask array (read chunk by chunk; integer movies are not read).
    nan_policy : {"raise", "fill"}
        ``"raise"``: refuse a movie with any NaN or infinite pixel, naming the frames.
        ``"fill"``: replace them, lazily, by each pixel's mean over its finite
        frames (as CNMF does; the mean of the whole movie for a pixel that is never
        finite), with one warning naming the frames.
    label : object, optional
        How the movie is named in the messages (its path).

    Yields
    ------
    Progress

    Returns
    -------
    array-like
        ``movie`` itself when it has no NaN, else (``"fill"``) a filled dask array.
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy should be one of {', '.join(map(repr, NAN_POLICIES))}, "
                         f"got {nan_policy!r}.")
    found = yield from iter_find_nan_frames(movie, chunk_frames=chunk_frames)
    bad = found["frames"]
    if not len(bad):
        return movie
    what = (f"{label}: {len(bad)} of {len(movie)} frames hold NaN or infinite values "
            f"(frames {_listed_frames(bad)}; {found['pixels']} pixels)")
    if nan_policy == "raise":
        raise MovieError(f"{what}; replace them first, or pass nan_policy='fill' to replace "
                         "them by each pixel's mean over its other frames.")
    warnings.warn(f"{what}; they are replaced by each pixel's mean over its other frames "
                  "(a pixel never finite: the mean of the whole movie, 0 if nothing is) "
                  "(nan_policy='fill').", MovieWarning, stacklevel=2)
    lazy = movie if isinstance(movie, da.Array) else da.from_array(movie, chunks=(
        chunk_frames or _default_chunk_frames(tuple(movie.shape[1:]), np.dtype(movie.dtype)),
        -1, -1))
    image = found["fill"].astype(lazy.dtype)
    return lazy.map_blocks(_fill_block, image=image, dtype=lazy.dtype)


def apply_nan_policy(movie: Any, nan_policy: str = "raise", *, label: object = "the movie",
                     chunk_frames: int | None = None) -> Any:
    """Apply ``nan_policy`` to a movie; see :func:`iter_apply_nan_policy`."""
    return drive(iter_apply_nan_policy(movie, nan_policy, label=label,
                                       chunk_frames=chunk_frames))


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


def contrast_limits(
    movie: Any,
    *,
    n_frames: int = _N_SAMPLE_FRAMES,
    percentiles: tuple[float, float] = (0.5, 99.9),
) -> tuple[float, float]:
    """Display range of a movie from a few evenly spaced frames, ignoring NaNs.

    Parameters
    ----------
    movie : array-like, shape (T, Y, X) or (Y, X)
        numpy or dask array; only the sampled frames are read.
    n_frames : int, optional
        How many frames to sample (evenly spaced, first and last included).
    percentiles : (float, float), optional
        Lower and upper percentiles of the sampled pixel values.

    Returns
    -------
    (float, float)
        ``(low, high)`` with ``low < high`` always (widened when the sample is flat).
    """
    lo_p, hi_p = (float(p) for p in percentiles)
    if not 0 <= lo_p < hi_p <= 100:
        raise ValueError(f"percentiles should satisfy 0 <= low < high <= 100, got {percentiles}.")
    if n_frames < 1:
        raise ValueError(f"n_frames should be at least 1, got {n_frames}.")
    if movie.ndim == 2:
        sample = np.asarray(movie.compute() if hasattr(movie, "compute") else movie)
    elif movie.ndim == 3:
        idx = _sample_indices(movie.shape[0], n_frames)
        if idx.size == 0:
            return (0.0, 1.0)
        sample = np.stack(_sample_frames(movie, idx))
    else:
        raise ValueError(f"movie should be (T, Y, X) or (Y, X), got shape {movie.shape}.")
    sample = sample.astype(np.float64, copy=False)
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(finite, [lo_p, hi_p]))
    if not lo < hi:
        lo, hi = float(finite.min()), float(finite.max())
    if not lo < hi:
        pad = max(abs(lo) * 1e-3, 0.5)
        lo, hi = lo - pad, hi + pad
    return (lo, hi)


# --------------------------------------------------------------------------- saving


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
    destination folder, renamed to ``path`` at the end; on error or cancel (the
    generator closed) the temporary file is removed and nothing existing is touched.
    Uncompressed output is contiguous, so it re-opens memory-mapped with
    :func:`open_movie`.

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
        Replace an existing file. A file the movie itself reads from is never
        replaced.
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
    # an existing file is replaced only when asked, and only if the package wrote it
    check_destination(path, overwrite, folder=False)
    n = shape[0]
    per_chunk = int(chunk_frames) if chunk_frames else _default_chunk_frames(shape[1:], dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    is_npy = path.name.lower().endswith(".npy")
    if bigtiff is None:
        bigtiff = nbytes > _BIGTIFF_THRESHOLD
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.amnesia-tmp")
    message = f"saving {path.name}"
    logger.info("saving %s %s to %s", shape, dtype, path)
    try:
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
        os.replace(tmp, path)
        record_written(path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError as exc:  # pragma: no cover
            logger.warning("could not remove the temporary file %s: %s", tmp, exc)
        raise
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
