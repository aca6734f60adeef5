"""What the exchange formats share: finding a CNMF result, and the bookkeeping of imports.

:func:`load_result` accepts whatever a user calls "my results": a
:class:`~napari_amnesia.core.cnmf.SourceResult`, its saved folder, the results folder
of ``amnesia cnmf`` / ``amnesia run`` (``cnmf/result/``) or a curation folder of the
Curate ROIs dock (``result/`` with the curated decisions). :func:`summary_images`
finds the summary images beside it. The importers build their result with
:func:`unit_footprints` (the CNMF convention: each footprint of unit L2 norm, traces
scaled so that footprint × trace is unchanged), :func:`import_provenance` and
:func:`check_movie`.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

__all__ = ["load_result", "results_folder", "summary_images", "unit_footprints",
           "import_provenance", "check_movie", "file_identity"]


def _path(value: Any) -> Path:
    return Path(os.path.expanduser(os.fspath(value)))


def results_folder(path: str | os.PathLike) -> tuple[Path, str]:
    """Return the saved CNMF result folder inside ``path`` and what ``path`` is.

    Parameters
    ----------
    path : path
        A CNMF result folder (``result.json`` + ``arrays.npz``), a results folder of
        ``amnesia cnmf`` / ``amnesia run`` (holding ``cnmf/result/``), a curation
        folder (``curation.json`` + ``result/``) or the ``cnmf/`` folder itself.

    Returns
    -------
    folder : Path
        The folder :meth:`SourceResult.load` reads.
    kind : {"result", "curation", "pipeline"}

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist or holds no CNMF result (the message says what
        was looked for).
    """
    path = _path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is a file, not a results folder (a folder with "
                                "result.json, cnmf/result/ or a curation).")
    if (path / "result.json").is_file():
        return path, "result"
    if (path / "curation.json").is_file():
        if not (path / "result" / "result.json").is_file():
            raise FileNotFoundError(f"{path} is a curation without extracted traces (no "
                                    "result/): re-extract the ROIs and save it again.")
        return path / "result", "curation"
    for sub in ("cnmf/result", "result"):
        if (path / sub / "result.json").is_file():
            return path / sub, "pipeline"
    raise FileNotFoundError(f"{path} holds no CNMF result (looked for result.json, "
                            "cnmf/result/ and a curation's result/).")


def load_result(results: Any) -> Any:
    """Return the :class:`~napari_amnesia.core.cnmf.SourceResult` that ``results`` names.

    Parameters
    ----------
    results : SourceResult or path
        A result object (returned as it is) or a folder :func:`results_folder`
        accepts. A curation folder gives its curated ROIs with their decisions
        (:func:`~napari_amnesia.core.curation.curated_result`).

    Raises
    ------
    FileNotFoundError
        When the folder holds no result.
    ValueError
        When a curation was edited since its extraction (re-extract first).
    """
    from ..cnmf.result import SourceResult

    if isinstance(results, SourceResult):
        return results
    if not isinstance(results, (str, os.PathLike)):
        raise TypeError(f"results should be a SourceResult or a results folder, got "
                        f"{type(results).__name__}.")
    folder, kind = results_folder(results)
    if kind != "curation":
        return SourceResult.load(folder)
    from ..curation import curated_result, read_curation

    state = read_curation(folder.parent)
    return curated_result(state["result"], state["table"], labels=state["labels"])


def summary_images(results: Any) -> dict[str, np.ndarray]:
    """Return the summary images saved beside ``results`` (``{"mean", "max", "corr"...}``).

    Looks for ``summary/<name>.tif`` in the results folder (and, for a bare result
    folder, two levels up: ``<out>/cnmf/result``). Empty when there are none or
    ``results`` is an object.
    """
    import tifffile

    from ..summary.result import FILE_NAMES

    if not isinstance(results, (str, os.PathLike)):
        return {}
    try:
        folder, _ = results_folder(results)
    except FileNotFoundError:
        return {}
    for root in (_path(results), folder.parent, folder.parent.parent):
        if (root / "summary").is_dir():
            out = {}
            for attr, stem in FILE_NAMES.items():
                path = root / "summary" / f"{stem}.tif"
                if path.is_file():
                    out[attr] = np.asarray(tifffile.imread(path), np.float32)
            return out
    return {}


def unit_footprints(footprints: Any) -> tuple[sparse.csc_matrix, np.ndarray]:
    """Scale each footprint to unit L2 norm; return them and each one's former norm.

    A trace ``c`` of a footprint ``a`` becomes ``norm * c`` for ``a / norm``: the
    product (the movie it explains) is unchanged. Empty footprints keep norm 1.

    Examples
    --------
    >>> A, norms = unit_footprints(sparse.csc_matrix(np.array([[3.0], [4.0]])))
    >>> A.toarray().ravel().astype(float).round(3).tolist(), norms.tolist()
    ([0.6, 0.8], [5.0])
    """
    A = sparse.csc_matrix(footprints, dtype=np.float64)
    A.sum_duplicates()
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=0)).ravel())
    norms[~(norms > 0)] = 1.0
    A = A @ sparse.diags(1.0 / norms)
    return sparse.csc_matrix(A, dtype=np.float32), norms


def file_identity(path: Path) -> dict[str, Any]:
    """Return ``{"size", "modified"}`` of a file (what says which version was read)."""
    st = path.stat()
    modified = _dt.datetime.fromtimestamp(st.st_mtime, _dt.timezone.utc)
    return {"size": int(st.st_size), "modified": modified.isoformat(timespec="seconds")}


def import_provenance(fmt: str, source: Path, shape: tuple[int, int], n_frames: int,
                      files: list[Path], **details: Any) -> dict[str, Any]:
    """Return the provenance of an imported result: where it came from, and when.

    The keys of a fitted result's provenance (``version``, ``created``,
    ``input_shape``) plus ``imported_from``: the format, the absolute path, each file
    read with its size and modification time, and ``details`` (the tool's version
    and settings when the files say).
    """
    from ... import __version__

    return {
        "version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": 0.0,
        "input_shape": [int(n_frames), int(shape[0]), int(shape[1])],
        "imported_from": {"format": fmt, "path": str(source.resolve()),
                          "files": {p.name: file_identity(p) for p in files},
                          **details},
    }


def check_movie(result: Any, movie: Any, what: str) -> dict[str, Any]:
    """Check that ``movie`` is the recording of ``result``; return its identity.

    Parameters
    ----------
    result : SourceResult
    movie : path or array_like, shape (T, Y, X)
        The recording the imported ROIs were found on (opened lazily when a path).
    what : str
        Names the imported results in the message (``"the suite2p plane at ..."``).

    Raises
    ------
    ValueError
        When the frame size or the number of frames differ.
    """
    identity: dict[str, Any] = {}
    if isinstance(movie, (str, os.PathLike)):
        from ..io import open_movie

        identity["path"] = str(_path(movie).resolve())
        movie = open_movie(movie)
    shape = tuple(int(v) for v in getattr(movie, "shape", ()))
    if len(shape) != 3:
        raise ValueError(f"the movie should be (T, Y, X), got shape {shape}.")
    T, Y, X = shape
    if (Y, X) != tuple(result.shape) or T != result.n_frames:
        raise ValueError(
            f"{what} has {result.n_frames} frames of {result.shape[0]}x{result.shape[1]} "
            f"pixels, the movie {T} frames of {Y}x{X}: they are not of the same recording.")
    identity["shape"] = [T, Y, X]
    return identity
