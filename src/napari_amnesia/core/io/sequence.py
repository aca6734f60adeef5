"""Movies made of several files: folders, quoted globs and lists of files.

The files of a folder or a glob are concatenated in time in natural order
(``image2`` before ``image10``, see [1]_); a list's in the given order. Runs of
single-frame files become one :class:`_FramesPart`, whose reads open only the
files of the frames asked for.

References
----------
.. [1] M. Pool, "Sorting for Humans: Natural Sort Order" (2007), the natural sort key.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from .errors import MovieError
from .layout import _FileInfo, _Part
from .npy import NPY_SUFFIXES
from .tiff import TIFF_SUFFIXES

PathInput = str | os.PathLike | Sequence[str | os.PathLike]


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
