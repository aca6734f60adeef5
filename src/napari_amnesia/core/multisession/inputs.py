"""The sessions a registration reads: footprints, templates, names — checked and put in order.

Inputs are S footprint matrices ``(pixels, n_s)`` (scipy.sparse or dense, pixels in C
order) with S templates (mean images), or the package's own CNMF results
(:class:`~napari_amnesia.core.cnmf.SourceResult` objects or results folders, such as
``amnesia cnmf`` writes and the suite2p/CaImAn importers produce).

Order-free by construction
--------------------------
Every session and every footprint gets a *content key* (a SHA-1 of its values: the
template and the footprints for a session, the pixels and values for a footprint). The
registration runs on the sessions and footprints sorted by those keys, so permuting the
inputs permutes the output and changes nothing else, bit for bit; the algorithms are
global besides (groupwise alignment, all sessions matched at once), so the sorted order
is no privileged "reference session" either.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

__all__ = ["Session", "load_session", "prepare_sessions", "save_session"]

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Session:
    """One session as the registration sees it.

    Attributes
    ----------
    name : str
        How messages and tables name it (the results folder's name, or ``session <i>``).
    footprints : scipy.sparse.csc_matrix, shape (Y * X, n)
        The footprints registered (C-order pixels), columns in content order.
    template : ndarray, shape (Y, X), float32
        The mean image (or, without one, the sum of the footprints scaled to their peaks).
    indices : ndarray of int, shape (n,)
        Each registered footprint's index in the input (its component index).
    shape : tuple of int
        ``(Y, X)``.
    key : str
        The content key (see the module documentation).
    source : object
        What it came from (a path, a SourceResult or None).
    footprint_keys : list of str
        The content key of each registered footprint.
    n_input : int
        The number of footprints (columns) the session was given.
    """

    name: str
    footprints: sparse.csc_matrix
    template: np.ndarray
    indices: np.ndarray
    shape: tuple[int, int]
    key: str = ""
    source: Any = None
    footprint_keys: list[str] = field(default_factory=list)
    n_input: int = 0


def _footprint_key(column: sparse.csc_matrix) -> str:
    h = hashlib.sha1()
    h.update(np.asarray(column.indices, np.int64).tobytes())
    h.update(np.asarray(column.data, np.float32).tobytes())
    return h.hexdigest()


def _canonical_columns(a: sparse.csc_matrix) -> sparse.csc_matrix:
    a = sparse.csc_matrix(a, dtype=np.float32, copy=True)
    a.eliminate_zeros()
    a.sort_indices()
    return a


def _as_footprints(value: Any, name: str, n_pixels: int | None) -> sparse.csc_matrix:
    """Footprints as a canonical CSC float32 matrix (pixels, n), checked."""
    try:
        if sparse.issparse(value):
            a = sparse.csc_matrix(value)
        else:
            arr = np.asarray(value)
            if arr.ndim == 3:  # (n, Y, X) images: accepted as a courtesy
                arr = arr.reshape(arr.shape[0], -1).T
            if arr.ndim != 2:
                raise ValueError
            a = sparse.csc_matrix(arr.astype(np.float32))
    except (TypeError, ValueError):
        raise ValueError(f"{name}: footprints should be a (pixels, n) array or sparse "
                         f"matrix, got {type(value).__name__} "
                         f"{getattr(value, 'shape', '')}.") from None
    if not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{name}: footprints should be numbers, got {a.dtype}.")
    if n_pixels is not None and a.shape[0] != n_pixels:
        raise ValueError(f"{name}: the footprints have {a.shape[0]} pixels (rows) but the "
                         f"template has {n_pixels}; footprints are (pixels, n) with the "
                         "template's pixels in C order.")
    a = _canonical_columns(a)
    if a.nnz and not np.all(np.isfinite(a.data)):
        raise ValueError(f"{name}: the footprints hold NaN or infinite values.")
    return a


def save_session(folder: Any, footprints: Any, template: Any, traces: Any = None, *,
                 movie: Any = None, frame_rate: float = 10.0) -> Path:
    """Write footprints found elsewhere as a session's results folder.

    The folder is laid out as ``amnesia cnmf`` writes one (``cnmf/result/``, and the
    movie as ``motion/corrected.tif`` when given), so that ``amnesia register``, the
    Sessions dock and :func:`load_session` open it: for footprints from another tool
    or a simulation (``core.simulate.sessions``), without a CNMF fit.

    Parameters
    ----------
    folder : str or path
        The results folder to create (it must not exist).
    footprints : array_like or sparse matrix, shape (Y * X, K)
        C-order pixels.
    template : array_like, shape (Y, X)
        The session's mean image.
    traces : array_like, shape (K, T), optional
        Default: 50 frames of zeros.
    movie : array_like, shape (T, Y, X), optional
        The session's recording (for re-extracting silent cells).
    frame_rate : float
        Hz, recorded in the result's parameters.

    Returns
    -------
    Path
        ``folder``.
    """
    import tifffile

    from ..cnmf.params import CNMFParams
    from ..cnmf.result import SourceResult

    folder = Path(os.path.expanduser(os.fspath(folder)))
    template = np.asarray(template, np.float32)
    A = sparse.csc_matrix(footprints)
    K = A.shape[1]
    traces = np.zeros((K, 50)) if traces is None else np.asarray(traces, np.float64)
    T = traces.shape[1]
    result = SourceResult(
        footprints=A, traces=traces, spikes=np.maximum(np.diff(traces, prepend=0), 0),
        residual_traces=np.zeros((K, T)), background_footprints=np.ones((template.size, 1)),
        background_traces=np.ones((1, T)), baseline=np.zeros(K), g=np.full((K, 1), 0.9),
        lam=np.zeros(K), sn=np.ones(template.shape), shape=template.shape,
        params=CNMFParams(fr=float(frame_rate), p=1), mean_image=template)
    (folder / "cnmf").mkdir(parents=True)
    result.save(folder / "cnmf" / "result")
    if movie is not None:
        (folder / "motion").mkdir()
        tifffile.imwrite(folder / "motion" / "corrected.tif", np.asarray(movie),
                         photometric="minisblack")
    return folder


def load_session(source: Any, *, accepted_only: bool = True) -> tuple[Any, np.ndarray, str]:
    """Read a CNMF result for registration: ``(footprints, template, name)``.

    Parameters
    ----------
    source : SourceResult, str or path
        A result, or a folder holding one: a results folder (with ``cnmf/result/``), its
        ``cnmf/`` sub-folder or the ``result/`` folder itself.
    accepted_only : bool
        Keep only the accepted components (their indices stay the result's).

    Returns
    -------
    footprints : scipy.sparse.csc_matrix
        Every component's footprint; the rejected ones are emptied (zero columns are
        not registered) when ``accepted_only``.
    template : ndarray
        The result's mean image, else the folder's ``summary/mean.tif``, else the sum of
        the footprints (each scaled to its peak: the cells stand for the image).
    name : str
        The results folder's name.
    """
    from ..cnmf.result import SourceResult

    template = None
    if isinstance(source, SourceResult):
        result, name, folder = source, "result", None
    else:
        path = Path(os.path.expanduser(os.fspath(source)))
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such results folder.")
        candidates = [path / "cnmf" / "result", path / "result", path]
        folder = next((c for c in candidates if (c / "arrays.npz").is_file()
                       and (c / "result.json").is_file()), None)
        if folder is None:
            raise ValueError(f"{path} holds no CNMF result (looked for cnmf/result/, "
                             "result/ and arrays.npz); run `amnesia cnmf` on the session, "
                             "or import its suite2p/CaImAn results, first.")
        result = SourceResult.load(folder)
        name = path.name if path.name not in ("result", "cnmf") else path.parent.name
        for up in (folder.parent.parent, folder.parent, folder):
            mean = up / "summary" / "mean.tif"
            if mean.is_file():
                import tifffile

                template = np.asarray(tifffile.imread(mean), np.float32)
                break
    if result.mean_image is not None:
        template = np.asarray(result.mean_image, np.float32).reshape(result.shape)
    footprints = sparse.csc_matrix(result.footprints, dtype=np.float32)
    if accepted_only and result.accepted is not None and not np.all(result.accepted):
        keep = sparse.diags(np.asarray(result.accepted, np.float32))
        footprints = sparse.csc_matrix(footprints @ keep)
    if template is not None and template.shape != tuple(result.shape):
        template = None
    if template is None:  # imported results may lack a mean image: align on the cells
        logger.warning("%s: no mean image; aligned on its footprints", name)
        template = _footprint_image(sparse.csc_matrix(result.footprints, dtype=np.float32),
                                    tuple(result.shape))
    return footprints, template, name


def _footprint_image(a: sparse.csc_matrix, shape: tuple[int, int]) -> np.ndarray:
    peaks = a.max(axis=0).toarray().ravel() if a.shape[1] else np.zeros(0)
    scale = sparse.diags(1.0 / np.where(peaks > 0, peaks, 1.0))
    return np.asarray((a @ scale).sum(axis=1), np.float32).reshape(shape)


def prepare_sessions(footprints: Any, templates: Any = None, *, names: Any = None,
                     accepted_only: bool = True) -> tuple[list[Session], list[str]]:
    """Check and load the sessions; return them (input order) and notes for the user.

    Footprints are sorted by content key within each session; each session gets its key.
    Raises ValueError naming the session for input that cannot be registered.
    """
    if isinstance(footprints, (str, os.PathLike)) or sparse.issparse(footprints) or (
            isinstance(footprints, np.ndarray) and footprints.ndim == 2):
        raise ValueError("footprints should be a list with one entry per session (a "
                         "(pixels, n) array, a CNMF result or a results folder).")
    footprints = list(footprints)
    S = len(footprints)
    if S == 0:
        raise ValueError("there is no session to register.")
    if templates is None:
        templates = [None] * S
    templates = list(templates)
    if len(templates) != S:
        raise ValueError(f"there are {S} sessions of footprints but {len(templates)} "
                         "templates; give one template (mean image) per session.")
    if names is None:
        names = [None] * S
    names = [None if n is None else str(n) for n in names]
    if len(names) != S:
        raise ValueError(f"there are {S} sessions but {len(names)} names.")
    sessions: list[Session] = []
    notes: list[str] = []
    for i, (value, template, name) in enumerate(zip(footprints, templates, names,
                                                    strict=True)):
        source = None
        if _is_result(value):
            source = value
            value, own, found = load_session(value, accepted_only=accepted_only)
            template = own if template is None else template
            name = name or found
        name = name or f"session {i}"
        if template is not None:
            template = np.asarray(template, np.float32)
            if template.ndim != 2 or min(template.shape) < 8:
                raise ValueError(f"{name}: the template should be a 2-D image, got shape "
                                 f"{template.shape}.")
            if not np.all(np.isfinite(template)):
                raise ValueError(f"{name}: the template holds NaN or infinite values.")
        n_pixels = None if template is None else template.size
        a = _as_footprints(value, name, n_pixels)
        if template is None:
            raise ValueError(f"{name}: no template (mean image) given, and footprints "
                             "alone do not say the image's shape; pass templates=[...] "
                             "(the sessions' mean images).")
        shape = template.shape
        n_input = int(a.shape[1])
        keep = np.flatnonzero(np.diff(a.indptr) > 0)
        if keep.size < a.shape[1]:
            notes.append(f"{name}: {a.shape[1] - keep.size} empty (or rejected) "
                         "footprint(s) left out")
        a = a[:, keep]
        keys = [_footprint_key(a[:, k]) for k in range(a.shape[1])]
        order = sorted(range(len(keys)), key=lambda k: keys[k])
        a = sparse.csc_matrix(a[:, order]) if len(order) else a
        keys = [keys[k] for k in order]
        indices = keep[order].astype(np.int64)
        if a.shape[1] == 0:
            notes.append(f"{name} has no footprints: every track is missing there (its "
                         "template is still aligned)")
        h = hashlib.sha1()
        h.update(np.asarray(shape, np.int64).tobytes())
        h.update(np.ascontiguousarray(template).tobytes())
        for k in keys:
            h.update(k.encode())
        sessions.append(Session(name=name, footprints=a, template=template,
                                indices=indices, shape=tuple(shape), key=h.hexdigest(),
                                source=source, footprint_keys=keys,
                                n_input=n_input))
    taken: dict[str, int] = {}
    for s in sessions:  # names are how tables and messages tell sessions apart
        if s.name in taken:
            taken[s.name] += 1
            s.name = f"{s.name} ({taken[s.name]})"
        else:
            taken[s.name] = 1
    shapes = {s.shape for s in sessions}
    if len(shapes) > 1:
        common = (max(s.shape[0] for s in sessions), max(s.shape[1] for s in sessions))
        odd = [f"{s.name} {s.shape[0]}x{s.shape[1]}" for s in sessions
               if s.shape != common]
        notes.append(f"the sessions differ in size ({', '.join(odd)}); they are registered "
                     f"in a {common[0]}x{common[1]} common space")
    return sessions, notes


def _is_result(value: Any) -> bool:
    if isinstance(value, (str, os.PathLike)):
        return True
    return type(value).__name__ == "SourceResult"
