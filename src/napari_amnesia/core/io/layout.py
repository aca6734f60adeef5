"""How a file's axes map to movie frames, and what a reader knows about a file.

A file holds an N-d array with named axes (``TZCYX``...). :func:`_resolve_layout`
decides which axis is time, which are fixed by a ``channel`` or ``plane``
selection, and refuses, with advice, what cannot be read as a ``(T, Y, X)`` movie.
Every reader describes a file as a :class:`_FileInfo` (headers only, no pixels)
and reads frames through a :class:`_Part`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MovieError

logger = logging.getLogger(__name__)


def _axes_summary(axes: str, shape: Sequence[int]) -> str:
    return f"{axes} ({', '.join(f'{a}={n}' for a, n in zip(axes, shape, strict=True))})"


def _stat_token(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


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


class _Part:
    """A run of movie frames read the same way; ``read`` indexes its (n, Y, X) stack."""

    n_frames: int
    frame_shape: tuple[int, int]
    dtype: np.dtype
    paths: tuple[Path, ...]
    token: tuple

    def read(self, tkey: int | np.ndarray, ykey: Any, xkey: Any) -> np.ndarray:
        raise NotImplementedError
