"""TIFF, BigTIFF, ImageJ hyperstacks and OME-TIFF: structure, metadata and pages.

:func:`_describe_tiff` parses a file's first image series (axes, shape, pixel
type, compression, frame rate from ImageJ or OME metadata) without reading
pixels, and checks that its data lie inside the file. Contiguous files are then
memory-mapped (:mod:`.memmap`); compressed or tiled ones are read page by page
through tifffile's zarr store by :class:`_ZarrPart` (see [1]_).

References
----------
.. [1] C. Gohlke, tifffile, https://github.com/cgohlke/tifffile (TIFF structure,
   ImageJ hyperstack and OME-TIFF metadata, zarr store of TIFF pages).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from .errors import MovieError, _check_dtype
from .layout import _FileInfo, _Part, _resolve_layout, _stat_token

logger = logging.getLogger(__name__)


TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf2", ".tf8")


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


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


_ZARR_CACHE: OrderedDict[tuple, Any] = OrderedDict()


_ZARR_CACHE_LOCK = threading.Lock()


_ZARR_CACHE_SIZE = 16


def _zarr_array(info: _FileInfo) -> Any:
    """Return an open zarr array over a TIFF series, cached per file version (thread-safe)."""
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
        if key in _ZARR_CACHE:  # another thread opened the same file meanwhile: use its
            tif.close()
            _ZARR_CACHE.move_to_end(key)
            return _ZARR_CACHE[key][1]
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
