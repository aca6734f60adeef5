"""Opening sessions for editing: results folders → registration → :class:`~.editing.TrackEditor`.

What the napari *Sessions* dock runs in its worker, usable from a script too:
:func:`iter_open_sessions` reads the CNMF results folders of the sessions, registers
them (:func:`~.registration.iter_register`), re-extracts the silent cells where it finds
each session's movie (:func:`find_movie`; :func:`~.traces.iter_reextract_silent`) and
returns a :class:`~.editing.TrackEditor` holding the registration, the footprints, the
sessions' results (their traces) and the re-extraction. :func:`open_registration`
reads a saved registration back for editing.

Examples
--------
>>> from napari_amnesia.core.multisession.opening import open_sessions
>>> editor = open_sessions(["day1/", "day2/", "day3/"])  # doctest: +SKIP
>>> editor.merge(4, 17); editor.to_result().save("tracked/")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

from ..progress import Progress, drive
from .editing import TrackEditor
from .inputs import load_session
from .params import RegistrationParams
from .registration import iter_register
from .result import RegistrationResult

__all__ = ["find_movie", "find_result", "iter_open_sessions", "open_sessions",
           "open_registration"]

logger = logging.getLogger(__name__)


def find_result(folder: str | os.PathLike) -> Path | None:
    """Return the CNMF result folder inside a results folder (None: there is none).

    Looks where :func:`~.inputs.load_session` does: ``cnmf/result/``, ``result/`` and
    the folder itself.
    """
    folder = Path(os.path.expanduser(os.fspath(folder)))
    for candidate in (folder / "cnmf" / "result", folder / "result", folder):
        if (candidate / "arrays.npz").is_file() and (candidate / "result.json").is_file():
            return candidate
    return None


def find_movie(folder: str | os.PathLike) -> Path | None:
    """Return the movie a results folder's footprints were found in (None: not found).

    The motion-corrected movie (``motion/corrected.tif``) first, else the input named
    in ``summary.json``, else the movie an imported result names (``amnesia import
    SRC --movie M`` records it in the result's provenance), if it still exists.
    """
    folder = Path(os.path.expanduser(os.fspath(folder)))
    corrected = folder / "motion" / "corrected.tif"
    if corrected.is_file():
        return corrected
    summary = folder / "summary.json"
    if summary.is_file():
        try:
            path = json.loads(summary.read_text()).get("input", {}).get("path")
        except (OSError, ValueError, AttributeError):
            path = None
        if path and Path(path).exists():
            return Path(path)
    result = find_result(folder)
    if result is not None:
        try:
            meta = json.loads((result / "result.json").read_text())
            path = meta.get("provenance", {}).get("movie", {}).get("path")
        except (OSError, ValueError, AttributeError):
            path = None
        if path and Path(path).exists():
            return Path(path)
    return None


def iter_open_sessions(
    folders: Any,
    params: RegistrationParams | dict | None = None,
    *,
    names: Any = None,
    reextract: bool = True,
    **overrides: Any,
) -> Generator[Progress, None, TrackEditor]:
    """Yield the progress of :func:`open_sessions`; return the track editor."""
    from ..cnmf.result import SourceResult

    params = RegistrationParams.resolve(params, overrides)
    folders = [Path(os.path.expanduser(os.fspath(f))) for f in folders]
    if not folders:
        raise ValueError("add the sessions' results folders first (one per session).")
    if len(set(folders)) < len(folders):
        raise ValueError("a results folder is listed twice; list each session once.")
    yield Progress(0, len(folders), "reading sessions")
    footprints, templates, found, results = [], [], [], []
    for i, folder in enumerate(folders):
        a, template, name = load_session(folder, accepted_only=params.accepted_only)
        footprints.append(a)
        templates.append(template)
        found.append(name)
        results.append(SourceResult.load(find_result(folder)))
        yield Progress(i + 1, len(folders), "reading sessions")
    result = yield from iter_register(footprints, templates, params,
                                      names=found if names is None else names)
    result.provenance["inputs"] = [str(f) for f in folders]
    cross = None
    if reextract and result.n_sessions > 1:
        movies = [find_movie(f) for f in folders]
        if any(m is not None for m in movies):
            from ..io import open_movie
            from .traces import iter_reextract_silent

            opened = [None if m is None else open_movie(m) for m in movies]
            cross = yield from iter_reextract_silent(result, opened, footprints=results)
            for note in cross.notes:
                logger.warning("%s", note)
        else:
            logger.warning("no movie found for any session: the silent cells were not "
                           "re-extracted")
    return TrackEditor(result, footprints, results=results, cross=cross)


def open_sessions(
    folders: Any,
    params: RegistrationParams | dict | None = None,
    *,
    names: Any = None,
    reextract: bool = True,
    progress: Any = None,
    **overrides: Any,
) -> TrackEditor:
    """Register the sessions of results folders and return a :class:`TrackEditor`.

    Parameters
    ----------
    folders : list of path
        One CNMF results folder per session (``amnesia cnmf``'s output, or imported
        suite2p/CaImAn results), in the order of the days.
    params : RegistrationParams or dict, optional
        Registration parameters.
    names : list of str, optional
        The sessions' names (default: the folders' names).
    reextract : bool
        Re-extract the silent cells of every session whose movie is found
        (:func:`find_movie`).
    progress : callable, optional
        Called with each :class:`~napari_amnesia.core.progress.Progress`.
    **overrides
        Parameters by name.

    Returns
    -------
    TrackEditor
    """
    return drive(iter_open_sessions(folders, params, names=names, reextract=reextract,
                                    **overrides), progress)


def open_registration(folder: str | os.PathLike) -> TrackEditor:
    """Read a saved registration (``RegistrationResult.save``) back for editing.

    The sessions' results folders it registered (its provenance) must still exist: the
    footprints are read from them, and their traces.
    """
    from ..cnmf.result import SourceResult

    result = RegistrationResult.load(folder)
    inputs = list(result.provenance.get("inputs") or [])
    if len(inputs) != result.n_sessions or any(p is None for p in inputs):
        raise ValueError(f"{folder}: the registration does not name the results folders "
                         "it read; it cannot be edited without the sessions' footprints.")
    results = []
    for name, path in zip(result.session_names, inputs, strict=True):
        where = find_result(path)
        if where is None:
            raise ValueError(f"{name}: its results folder {path} is missing or holds no "
                             "CNMF result; the registration cannot be edited without it.")
        results.append(SourceResult.load(where))
    return TrackEditor(result, results, results=results)
