"""The array-like behind a lazy movie: file parts concatenated in time.

:class:`_MovieArray` is what :func:`dask.array.from_array` slices: each
``__getitem__`` finds the parts (memory-mapped, zarr or single-frame files) that
hold the frames asked for and reads only those.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .layout import _FileInfo, _Part
from .memmap import _MemmapPart
from .sequence import _FramesPart
from .tiff import _ZarrPart


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
