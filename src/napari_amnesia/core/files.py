"""Atomic, owned outputs: nothing the user already had is lost or half-written.

Files and folders are written under a temporary name next to their destination
and renamed into place only when complete. A failure or a cancel removes the
temporary, and an existing destination is never replaced unless asked.

Even when asked (``overwrite=True``, ``--overwrite``), only what napari-amnesia
wrote itself is replaced. Every results folder holds a small manifest,
``.napari-amnesia.json``, listing the files the package wrote there (relative
paths, sizes, modification times), the package version and the date. A single
file written outside a results folder (a corrected movie, a labels TIFF, a CSV) is
recorded in the manifest of the folder it lies in. Replacing is refused, with one
message naming the destination and what is in the way, when:

- a folder has no manifest (it is not a results folder of the package);
- a folder holds a file that no manifest lists (a user's ``notes.txt``), or a file
  changed since the package wrote it;
- a single file is not listed in the manifest of its folder (or of a results
  folder above it), or changed since;
- the destination is, or contains, a movie being read (every movie opened by
  :func:`napari_amnesia.core.io.open_movie` and still in use is known here, and
  callers may name more with ``inputs=``), or lies inside a folder whose frames
  are being read.

Temporary files and folders are created with the permissions that ``open`` and
``mkdir`` give (``0666`` and ``0777`` less the user's umask), never the private
``0600``/``0700`` of :mod:`tempfile`, so lab colleagues can read the results.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import glob
import json
import logging
import os
import shutil
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MANIFEST",
    "NotOwnedError",
    "OutputExistsError",
    "atomic_file",
    "atomic_folder",
    "check_destination",
    "jsonable",
    "protect_inputs",
    "read_manifest",
    "record_written",
]

logger = logging.getLogger(__name__)

#: Name of the manifest a results folder holds (the files the package wrote there).
MANIFEST = ".napari-amnesia.json"

#: Folders being filled inside an :func:`atomic_folder` block (their manifest is
#: written when the block ends, so files written there are not recorded one by one).
_BUILDING: set[Path] = set()
#: Movies being read: owner object (weakly held) → (files, folders of frames).
_INPUTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.RLock()


class OutputExistsError(FileExistsError):
    """The destination exists and overwriting was not asked for."""


class NotOwnedError(OutputExistsError):
    """The destination holds something napari-amnesia did not write; it is kept."""


# --------------------------------------------------------------------------- inputs


def protect_inputs(owner: Any, files: Iterable[Any], *, folders: Iterable[Any] = ()) -> None:
    """Mark ``files`` (and the ``folders`` of frames they come from) as being read.

    While ``owner`` (e.g. the array object behind a lazy movie) is alive, no writer
    of the package replaces those files, a folder that contains them, or anything
    inside those folders.
    """
    entry = (tuple(_resolve(f) for f in files), tuple(_resolve(f) for f in folders))
    with _LOCK:
        _INPUTS[owner] = entry


def _resolve(path: Any) -> Path:
    return Path(os.path.expanduser(os.fspath(path))).resolve()


def _named_inputs(inputs: Iterable[Any]) -> tuple[list[Path], list[Path]]:
    """Return the files and frame folders of the movies named by the caller (paths or globs)."""
    files: list[Path] = []
    folders: list[Path] = []
    for item in inputs:
        if item is None:
            continue
        if isinstance(item, (list, tuple)):
            more_files, more_folders = _named_inputs(item)
            files += more_files
            folders += more_folders
            continue
        text = os.path.expanduser(os.fspath(item))
        path = Path(text)
        if path.is_dir():
            folders.append(path.resolve())
        elif path.exists():
            files.append(path.resolve())
        elif any(c in text for c in "*?["):
            matches = [Path(m).resolve() for m in glob.glob(text) if Path(m).is_file()]
            files += matches
            folders += sorted({m.parent for m in matches})
    return files, folders


def _input_conflict(path: Path, *, folder: bool, inputs: Iterable[Any]) -> str | None:
    """Return why writing ``path`` would touch a movie being read, or None."""
    files, folders = _named_inputs(inputs)
    with _LOCK:
        for known_files, known_folders in list(_INPUTS.values()):
            files += known_files
            folders += known_folders
    target = path.resolve()
    for frames in folders:
        if frames == target or (folder and target in frames.parents):
            return (f"{path} is or contains the folder of frames being read ({frames}); "
                    "it will not be replaced: choose a new folder for the results.")
        if frames in target.parents:
            return (f"{path} is inside the folder of frames being read ({frames}); results "
                    "are not written among the input frames: choose a folder outside it.")
    for source in files:
        if source == target:
            return f"{path} is the input movie; it will not be replaced."
        if folder and target in source.parents:
            return (f"{path} contains the input movie {source}; it will not be replaced: "
                    "choose a new folder for the results.")
    return None


# --------------------------------------------------------------------------- manifests


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _stat_entry(path: Path) -> dict[str, int]:
    st = path.lstat()
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def read_manifest(folder: Any) -> dict | None:
    """Return the manifest of ``folder`` (None when it has none or it cannot be read)."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    return data


def _write_manifest_file(folder: Path, data: dict) -> None:
    tmp = _new_file(folder / MANIFEST)
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, folder / MANIFEST)
    finally:
        tmp.unlink(missing_ok=True)


def _walk_files(folder: Path) -> list[str]:
    """Return every file (and link) under ``folder``, relative, manifests left out."""
    found = []
    for root, dirs, names in os.walk(folder):
        base = Path(root)
        for name in names + [d for d in dirs if (base / d).is_symlink()]:
            if name == MANIFEST:
                continue
            found.append((base / name).relative_to(folder).as_posix())
    return sorted(found)


def _walk_folders(folder: Path) -> list[str]:
    """Return every sub-folder under ``folder`` (links excluded), relative."""
    found = []
    for root, dirs, _ in os.walk(folder):
        base = Path(root)
        found += [(base / d).relative_to(folder).as_posix() for d in dirs
                  if not (base / d).is_symlink()]
    return sorted(found)


def _mark_results_folder(folder: Path) -> None:
    """Write the manifest of a complete results folder: every file in it is ours."""
    from .. import __version__

    files = {rel: _stat_entry(folder / rel) for rel in _walk_files(folder)}
    _write_manifest_file(folder, {"written_by": "napari-amnesia", "version": __version__,
                                  "kind": "results folder", "created": _now(),
                                  "files": files, "folders": _walk_folders(folder)})


def record_written(path: Any) -> None:
    """Record one file the package just wrote in the manifest of its folder.

    A file inside a folder still being built by :func:`atomic_folder` is left to
    that folder's manifest. The folder of a single file keeps the kind it had (a
    results folder stays one; any other folder only gets a list of files, which
    does not make it replaceable as a whole).
    """
    from .. import __version__

    path = Path(os.path.expanduser(os.fspath(path)))
    parent = path.parent.resolve()
    with _LOCK:
        if any(p == parent or p in parent.parents for p in _BUILDING):
            return
        data = read_manifest(parent) or {"written_by": "napari-amnesia", "kind": "files",
                                         "created": _now(), "files": {}}
        data["files"][path.name] = _stat_entry(path)
        data["version"] = __version__
        data["updated"] = _now()
        try:
            _write_manifest_file(parent, data)
        except OSError as exc:  # the file itself is written; it just cannot be replaced later
            logger.warning("could not record %s in %s: %s", path, parent / MANIFEST, exc)


def _listed(folder: Path) -> dict[str, dict]:
    """Return the files that the manifests in and under ``folder`` list, relative to ``folder``."""
    listed: dict[str, dict] = {}
    for root, _dirs, names in os.walk(folder):
        if MANIFEST not in names:
            continue
        data = read_manifest(root)
        if data is None:
            continue
        base = Path(root).relative_to(folder)
        for rel, entry in data["files"].items():
            listed[(base / rel).as_posix()] = entry if isinstance(entry, dict) else {}
    return listed


def _changed(path: Path, entry: dict) -> bool:
    try:
        now = _stat_entry(path)
    except OSError:
        return False
    return any(key in entry and entry[key] != now[key] for key in ("size", "mtime_ns"))


def _some(names: list[str], folder: Path) -> str:
    shown = ", ".join(str(folder / n) for n in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _check_owned_folder(path: Path) -> None:
    data = read_manifest(path)
    files = _walk_files(path)
    if data is None or data.get("kind") != "results folder":
        held = f"it holds {_some(files, path)}" if files else "it holds only folders"
        raise NotOwnedError(
            f"{path} was not written by napari-amnesia ({held}, and no {MANIFEST}); "
            "it will not be replaced: choose a new folder for the results.")
    listed = _listed(path)
    unlisted = [f for f in files if f not in listed]
    if unlisted:
        raise NotOwnedError(
            f"{path} holds {_some(unlisted, path)}, which napari-amnesia did not write; "
            "the folder will not be replaced: move that out or choose a new folder.")
    # a folder of the user's, even an empty one, is in the way too: every sub-folder
    # must hold a file we wrote or be one we made
    ours = set(data.get("folders", ()))
    for rel in listed:
        ours.update(parent.as_posix() for parent in Path(rel).parents)
    strange = [d for d in _walk_folders(path) if d not in ours]
    if strange:
        raise NotOwnedError(
            f"{path} holds the folder {_some(strange, path)}, which napari-amnesia did not "
            "make; the folder will not be replaced: move that out or choose a new folder.")
    changed = [f for f in files if _changed(path / f, listed[f])]
    if changed:
        raise NotOwnedError(
            f"{path} holds {_some(changed, path)}, changed since napari-amnesia wrote it; "
            "the folder will not be replaced: move that out or choose a new folder.")


def _check_owned_file(path: Path) -> None:
    for folder in path.parents:
        data = read_manifest(folder)
        if data is None:
            continue
        entry = data["files"].get(path.relative_to(folder).as_posix())
        if entry is None:
            continue
        if _changed(path, entry if isinstance(entry, dict) else {}):
            raise NotOwnedError(f"{path} changed since napari-amnesia wrote it; it will not "
                                "be replaced: move it away or choose another name.")
        return
    raise NotOwnedError(f"{path} was not written by napari-amnesia (no {MANIFEST} beside it "
                        "lists it); it will not be replaced: choose another name.")


def check_destination(path: Any, overwrite: bool = False, *, folder: bool,
                      inputs: Iterable[Any] = ()) -> None:
    """Raise unless ``path`` may be written.

    Parameters
    ----------
    path : path-like
        The file or folder to write.
    overwrite : bool
        Whether an existing destination may be replaced. Even then, only what the
        package wrote is replaced (see the module's description).
    folder : bool
        Whether the destination is a folder (else a file).
    inputs : iterable of path-like, optional
        Movies (files, folders of frames, glob patterns) the caller reads, besides
        those :func:`napari_amnesia.core.io.open_movie` has opened.

    Raises
    ------
    FileNotFoundError
        If the parent folder does not exist.
    OutputExistsError
        If ``path`` exists and not ``overwrite``, or is not of the kind asked.
    NotOwnedError
        If replacing ``path`` would lose something napari-amnesia did not write, or
        touch a movie being read.
    """
    path = Path(os.path.expanduser(os.fspath(path)))
    conflict = _input_conflict(path, folder=folder, inputs=inputs)
    if conflict:
        raise NotOwnedError(conflict)
    if not path.exists() and not path.is_symlink():
        if not path.parent.exists():
            raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist.")
        return
    if folder and path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
        return
    if not overwrite:
        raise OutputExistsError(
            f"{path} already exists; choose another name or pass overwrite=True.")
    if path.is_symlink() or folder != path.is_dir():
        kind = "link" if path.is_symlink() else "folder" if path.is_dir() else "file"
        raise OutputExistsError(f"{path} exists and is a {kind}; it will not be replaced.")
    if folder:
        _check_owned_folder(path)
    else:
        _check_owned_file(path)


# --------------------------------------------------------------------------- atomic writes


def _new_file(path: Path, suffix: str = ".part") -> Path:
    """Create an empty hidden file beside ``path`` with the umask's permissions."""
    while True:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{suffix}")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:  # pragma: no cover - 32 random bits
            continue
        os.close(fd)
        return tmp


def _new_folder(path: Path) -> Path:
    """Create an empty hidden folder beside ``path`` with the umask's permissions."""
    while True:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            os.mkdir(tmp, 0o777)
        except FileExistsError:  # pragma: no cover
            continue
        return tmp


@contextlib.contextmanager
def atomic_file(path, *, overwrite: bool = False, inputs: Iterable[Any] = ()) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` when the block succeeds.

    An existing ``path`` is replaced only with ``overwrite=True`` and only if the
    package wrote it (see :func:`check_destination`); the new file is recorded in
    the manifest of its folder.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "table.csv"
    ...     with atomic_file(path) as part:  # a hidden file beside ``path``
    ...         _ = part.write_text("a,b")
    ...     with atomic_file(path, overwrite=True) as part:  # ours: may be replaced
    ...         _ = part.write_text("a,b,c")
    ...     print(path.read_text(), list(read_manifest(tmp)["files"]))
    a,b,c ['table.csv']
    """
    path = Path(os.path.expanduser(os.fspath(path)))
    check_destination(path, overwrite, folder=False, inputs=inputs)
    tmp = _new_file(path)
    try:
        yield tmp
        if path.exists():
            check_destination(path, overwrite, folder=False, inputs=inputs)
        os.replace(tmp, path)
        record_written(path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(path, *, overwrite: bool = False,
                  inputs: Iterable[Any] = ()) -> Iterator[Path]:
    """Yield a temporary folder to fill; move it to ``path`` when the block succeeds.

    An existing empty folder is replaced silently; a non-empty one only with
    ``overwrite=True``, only if it is a results folder the package wrote with
    nothing else in it (see :func:`check_destination`), and then only after the
    new one is complete. The new folder gets its manifest.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     results = Path(tmp) / "results"
    ...     with atomic_folder(results) as folder:  # a hidden folder beside ``results``
    ...         _ = (folder / "notes.txt").write_text("done")
    ...     print(sorted(p.name for p in results.iterdir()))
    ...     manifest = read_manifest(results)
    ...     print(manifest["kind"], list(manifest["files"]))
    ['.napari-amnesia.json', 'notes.txt']
    results folder ['notes.txt']
    """
    path = Path(os.path.expanduser(os.fspath(path)))
    check_destination(path, overwrite, folder=True, inputs=inputs)
    tmp = _new_folder(path)
    key = tmp.resolve()
    with _LOCK:
        _BUILDING.add(key)
    try:
        yield tmp
        _mark_results_folder(tmp)
        if path.exists():
            # checked again: something may have been put there while we worked
            check_destination(path, overwrite, folder=True, inputs=inputs)
            old = path.with_name(f".{path.name}.old-{os.getpid()}-{uuid.uuid4().hex[:6]}")
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)  # the earlier results stay where they were
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        with _LOCK:
            _BUILDING.discard(key)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_arrays(folder, what: str) -> dict[str, np.ndarray]:
    """Return the arrays of a saved result folder (its ``arrays.npz``, no pickles).

    When the file is missing, one clear error (FileNotFoundError) names ``what`` the
    folder should be.
    """
    path = Path(os.path.expanduser(os.fspath(folder))) / "arrays.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path.parent} is not a saved {what} (no arrays.npz).")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def jsonable(value: Any) -> Any:
    """Return a copy of ``value`` that ``json.dumps`` accepts (arrays → lists, paths → text).

    Examples
    --------
    >>> from pathlib import PurePosixPath
    >>> jsonable({"size": np.int64(3), "shape": (2, 2), "path": PurePosixPath("a/b.tif")})
    {'size': 3, 'shape': [2, 2], 'path': 'a/b.tif'}
    """
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
    if callable(getattr(value, "to_dict", None)):  # a parameter dataclass
        return jsonable(value.to_dict())
    return str(value)
