"""Memory-mapped reads of contiguous files (uncompressed TIFF, ``.npy``).

Each call maps only the frames it needs, at most :data:`_MAP_BLOCK_BYTES` at a
time, copies them out and unmaps them, so memory stays bounded whatever the file
size (mapping the whole file once and handing the map to dask reads it all: see
:class:`napari_amnesia.core.io.array._MovieArray`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .layout import _FileInfo, _Part

#: A memory-mapped read maps at most this many bytes at a time.
_MAP_BLOCK_BYTES = 8 * 2**20


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
