"""Atomic outputs: nothing the user already had is lost or half-written.

Files and folders are written under a temporary name next to their destination
and renamed into place only when complete. A failure or a cancel removes the
temporary, and an existing destination is never replaced unless asked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_file", "atomic_folder", "check_destination", "jsonable", "OutputExistsError"]


class OutputExistsError(FileExistsError):
    """The destination exists and overwriting was not asked for."""


def check_destination(path, overwrite: bool = False, *, folder: bool) -> None:
    """Raise if ``path`` cannot be written (missing parent, or exists and not ``overwrite``)."""
    path = Path(path)
    if not path.exists():
        if not path.parent.exists():
            raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist.")
        return
    if folder and path.is_dir() and not any(path.iterdir()):
        return
    if not overwrite:
        raise OutputExistsError(
            f"{path} already exists; choose another name or pass overwrite=True "
            "(--overwrite on the command line)."
        )
    if folder != path.is_dir():
        kind = "folder" if path.is_dir() else "file"
        raise OutputExistsError(f"{path} exists and is a {kind}; it will not be replaced.")


@contextlib.contextmanager
def atomic_file(path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` when the block succeeds."""
    path = Path(path)
    check_destination(path, overwrite, folder=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder to fill; move it to ``path`` when the block succeeds.

    An existing empty folder is replaced silently; a non-empty one only with
    ``overwrite=True``, and then only after the new one is complete.
    """
    path = Path(path)
    check_destination(path, overwrite, folder=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_arrays(folder, what: str) -> dict[str, np.ndarray]:
    """The arrays of a saved result folder (its ``arrays.npz``, no pickles), with one
    clear error naming ``what`` the folder should be when the file is missing."""
    path = Path(os.path.expanduser(os.fspath(folder))) / "arrays.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path.parent} is not a saved {what} (no arrays.npz).")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def jsonable(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps`` accepts (arrays → lists, paths → text)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
