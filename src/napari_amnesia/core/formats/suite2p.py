"""suite2p plane folders: written for suite2p's GUI, and read back as a CNMF result.

A suite2p plane folder (``suite2p/plane0/``, suite2p's ``docs/outputs.md``) holds::

    stat.npy    one dictionary per ROI: ypix, xpix (pixel rows and columns), lam
                (their weights), med (centre pixel), npix, radius, compact,
                aspect_ratio, npix_norm, overlap, skew, std, snr...
    F.npy       (ROIs, frames) fluorescence: the lam-weighted mean of the ROI's pixels
    Fneu.npy    (ROIs, frames) neuropil fluorescence around each ROI
    spks.npy    (ROIs, frames) deconvolved activity (of F - neucoeff * Fneu)
    iscell.npy  (ROIs, 2): is a cell (0/1), and the classifier's probability
    ops.npy     the settings and images: Ly, Lx, fs, tau, neucoeff, meanImg,
                max_proj, Vcorr, yrange, xrange...

(suite2p ≥ 1.0 may split ``ops.npy`` into ``settings.npy``, ``db.npy``,
``reg_outputs.npy`` and ``detect_outputs.npy``; both are read, ``ops.npy`` is
written because every version of suite2p's GUI opens it.)

What maps to what (``a`` a footprint of unit L2 norm, ``s = sum(a)``):

=====================  ==========================================================
:class:`SourceResult`  suite2p
=====================  ==========================================================
``footprints[:, k]``   ``lam`` at ``(ypix, xpix)``, scaled to unit L2 norm
``raw_traces``         ``s * F`` (F is the lam-weighted mean of the movie, so for a
                       movie ``a * c`` the raw trace is ``c``)
``traces``             ``s * (F - neucoeff * Fneu - baseline)``
``residual_traces``    ``s * (neucoeff * Fneu + baseline)``
``baseline``           ``s *`` the 8th percentile of ``F - neucoeff * Fneu``
``spikes``             ``s * spks``
``accepted``           ``iscell[:, 0] > 0.5``
``info["cell_probability"]``  ``iscell[:, 1]``
``mean_image``         ``ops["meanImg"]``
``params.fr``,         ``ops["fs"]``, ``ops["tau"]``
``params.decay_time``
=====================  ==========================================================

Exported back, ``F = raw_traces / s`` and ``spks = spikes / s``; ``Fneu`` is the
imported neuropil when the result came from suite2p, otherwise zeros (CNMF's raw
traces are already demixed from the background). Where the result came from goes
to ``provenance["imported_from"]``.

suite2p saves ``stat.npy`` and ``ops.npy`` as pickled Python objects. They are read
here with an unpickler that builds numpy arrays, numbers, text, lists and
dictionaries only and never calls anything else a file names, so a folder from
elsewhere cannot run code.

References
----------
Pachitariu M. et al. (2017) Suite2p: beyond 10,000 neurons with standard two-photon
microscopy. bioRxiv 061507. Layout read from suite2p's documentation
(``docs/outputs.md``) and its GUI's loader (``suite2p/gui/io.py``).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ..files import atomic_folder, check_destination, jsonable
from .results import check_movie, import_provenance, summary_images, unit_footprints

__all__ = ["PLANE_FILES", "find_plane", "is_suite2p_plane", "read_suite2p", "roi_stats",
           "write_suite2p", "BASELINE_PERCENTILE"]

logger = logging.getLogger(__name__)

#: The files a plane folder must hold (``iscell.npy`` and ``ops.npy`` may be missing).
PLANE_FILES = ("stat.npy", "F.npy", "Fneu.npy", "spks.npy")
#: Percentile of ``F - neucoeff * Fneu`` taken as each ROI's constant baseline.
BASELINE_PERCENTILE = 8.0
_DEFAULT_NEUCOEFF = 0.7  # suite2p's default neuropil coefficient


# --------------------------------------------------------------------------- safe loading
class _Opaque:
    """Stands for any Python object a pickle names besides numpy's arrays."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _numpy_names() -> dict[tuple[str, str], Any]:
    core = importlib.import_module("numpy._core" if hasattr(np, "_core") else "numpy.core")
    multiarray = importlib.import_module(core.__name__ + ".multiarray")
    numeric = importlib.import_module(core.__name__ + ".numeric")
    names: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray,
                                         ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core", "numpy._core"):
        names[(f"{module}.multiarray", "_reconstruct")] = multiarray._reconstruct
        names[(f"{module}.multiarray", "scalar")] = multiarray.scalar
        if hasattr(numeric, "_frombuffer"):
            names[(f"{module}.numeric", "_frombuffer")] = numeric._frombuffer
    return names


class _ArraysOnly(pickle.Unpickler):
    """Unpickler building numpy arrays and plain data; anything else becomes _Opaque."""

    _allowed: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if _ArraysOnly._allowed is None:
            _ArraysOnly._allowed = _numpy_names()
        if (module, name) in _ArraysOnly._allowed:
            return _ArraysOnly._allowed[(module, name)]
        if module == "collections" and name == "OrderedDict":
            return dict
        return _Opaque


def _load_npy(path: Path) -> Any:
    """Read a ``.npy`` file; pickled contents (object arrays) with :class:`_ArraysOnly`."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            _, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            dtype = None
        if dtype is not None and dtype.hasobject:
            return _ArraysOnly(fh).load()
    return np.load(path, allow_pickle=False)


def _read(folder: Path, name: str) -> Any:
    try:
        return _load_npy(folder / name)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise ValueError(f"{folder / name} is not a readable .npy file ({exc}).") from None


# --------------------------------------------------------------------------- finding a plane
def _planes(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir()
                      if p.is_dir() and p.name.startswith("plane") and (p / "stat.npy").is_file())
    except OSError:
        return []


def find_plane(src: str | os.PathLike) -> Path:
    """Return the plane folder ``src`` names.

    Parameters
    ----------
    src : path
        A plane folder (``.../suite2p/plane0``), its ``stat.npy``, or a folder holding
        exactly one plane (``.../suite2p`` or the folder above it).

    Raises
    ------
    FileNotFoundError
        When ``src`` does not exist, is not a plane folder (naming the files that are
        missing), or holds several planes (naming them: choose one).
    """
    src = Path(os.path.expanduser(os.fspath(src)))
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist.")
    if src.is_file():
        if src.name != "stat.npy":
            raise FileNotFoundError(f"{src} is not a suite2p plane folder nor its stat.npy.")
        src = src.parent
    if not (src / "stat.npy").is_file():
        planes = _planes(src) or _planes(src / "suite2p")
        if len(planes) == 1:
            src = planes[0]
        elif len(planes) > 1:
            names = ", ".join(str(p) for p in planes)
            raise FileNotFoundError(f"{src} holds several suite2p planes ({names}); give one "
                                    "plane folder.")
    missing = [name for name in PLANE_FILES if not (src / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{src} is not a suite2p plane folder: "
                                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                                "missing.")
    return src


def is_suite2p_plane(path: Any) -> bool:
    """Whether ``path`` is a suite2p plane folder (or one-plane suite2p folder); never raises."""
    try:
        find_plane(path)
    except Exception:  # noqa: BLE001 - a probe
        return False
    return True


def _settings(folder: Path) -> dict[str, Any]:
    """Return ops.npy (or settings/db/reg_outputs/detect_outputs merged), {} without them."""
    names = (["ops.npy"] if (folder / "ops.npy").is_file() else
             [n for n in ("db.npy", "settings.npy", "reg_outputs.npy", "detect_outputs.npy")
              if (folder / n).is_file()])
    ops: dict[str, Any] = {}
    for name in names:
        value = _read(folder, name)
        value = value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
        if not isinstance(value, dict):
            raise ValueError(f"{folder / name} should hold a dictionary of settings, got "
                             f"{type(value).__name__}.")
        ops.update(value)
    ops["_files"] = names
    return ops


# --------------------------------------------------------------------------- reading
def _frame_shape(ops: dict, folder: Path, movie_shape: Any) -> tuple[int, int]:
    try:
        return int(ops["Ly"]), int(ops["Lx"])
    except (KeyError, TypeError, ValueError):
        pass
    mean = ops.get("meanImg")
    if isinstance(mean, np.ndarray) and mean.ndim == 2:
        return int(mean.shape[0]), int(mean.shape[1])
    if movie_shape is not None:
        return int(movie_shape[-2]), int(movie_shape[-1])
    raise ValueError(f"{folder}: no ops.npy (nor settings.npy/reg_outputs.npy) gives the "
                     "frame size Ly, Lx; give the movie too.")


def _traces(folder: Path, name: str, K: int, T: int | None) -> np.ndarray:
    arr = _read(folder, name)
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[0] != K or (
            T is not None and arr.shape[1] != T):
        want = f"({K}, {'frames' if T is None else T})"
        raise ValueError(f"{folder / name} should be {want} (one row per ROI of stat.npy), "
                         f"got shape {getattr(arr, 'shape', None)}.")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{folder / name} should hold numbers, got dtype {arr.dtype}.")
    return arr


def _footprints(stat: Any, shape: tuple[int, int], folder: Path) -> sparse.csc_matrix:
    Y, X = shape
    rows, cols, vals = [], [], []
    for k, roi in enumerate(stat):
        if not isinstance(roi, dict) or "ypix" not in roi or "xpix" not in roi:
            raise ValueError(f"{folder / 'stat.npy'}: ROI {k} has no ypix/xpix (not a "
                             "suite2p stat.npy).")
        y = np.asarray(roi["ypix"]).ravel().astype(np.int64)
        x = np.asarray(roi["xpix"]).ravel().astype(np.int64)
        lam = np.asarray(roi.get("lam", np.ones(y.size)), np.float64).ravel()
        if not (y.size == x.size == lam.size):
            raise ValueError(f"{folder / 'stat.npy'}: ROI {k} has {y.size} ypix, {x.size} "
                             f"xpix and {lam.size} lam values.")
        if y.size and (y.min() < 0 or x.min() < 0 or y.max() >= Y or x.max() >= X):
            raise ValueError(f"{folder / 'stat.npy'}: ROI {k} has pixels outside the "
                             f"{Y}x{X} frame (rows {y.min()}-{y.max()}, columns "
                             f"{x.min()}-{x.max()}).")
        rows.append(y * X + x)
        cols.append(np.full(y.size, k, np.int64))
        vals.append(np.maximum(lam, 0.0))
    K = len(stat)
    flat = [np.concatenate(p) if p else np.zeros(0, dt)
            for p, dt in ((vals, np.float64), (rows, np.int64), (cols, np.int64))]
    A = sparse.coo_matrix((flat[0], (flat[1], flat[2])), shape=(Y * X, K)).tocsc()
    A.sum_duplicates()
    return A


def _number(value: Any, default: float) -> float:
    try:
        out = float(np.asarray(value).ravel()[0])
    except (TypeError, ValueError, IndexError):
        return default
    return out if np.isfinite(out) else default


def _params(ops: dict) -> tuple[Any, list[str]]:
    from ..cnmf.params import CNMFParams

    values, kept = {}, []
    for ours, theirs in (("fr", "fs"), ("decay_time", "tau")):
        if theirs in ops:
            values[ours] = _number(ops[theirs], float("nan"))
    for name in list(values):
        try:
            CNMFParams(**{name: values[name]})
            kept.append(name)
        except (TypeError, ValueError):
            del values[name]
    return CNMFParams(**values), kept


def read_suite2p(src: str | os.PathLike, *, movie: Any = None) -> Any:
    """Read a suite2p plane folder as a :class:`~napari_amnesia.core.cnmf.SourceResult`.

    Parameters
    ----------
    src : path
        A plane folder, its ``stat.npy`` or a one-plane ``suite2p`` folder
        (:func:`find_plane`).
    movie : path or array_like, optional
        The recording: its frame size and length must agree with the plane's; it is
        recorded in the provenance.

    Returns
    -------
    SourceResult
        One component per ROI of ``stat.npy`` in the same order (mapping in the
        module documentation); ``provenance["imported_from"]`` names the folder and
        the files read.

    Raises
    ------
    FileNotFoundError
        When ``src`` is not a plane folder (which file is missing).
    ValueError
        When the files disagree (ROIs of stat.npy, rows of F/Fneu/spks, frames, pixels
        outside the frame) or with the movie.

    Examples
    --------
    >>> result = read_suite2p("suite2p/plane0")  # doctest: +SKIP
    """
    from ..cnmf.result import SourceResult

    folder = find_plane(src)
    stat = _read(folder, "stat.npy")
    if isinstance(stat, np.ndarray):
        stat = list(stat.ravel())
    if not isinstance(stat, list):
        raise ValueError(f"{folder / 'stat.npy'} should hold one dictionary per ROI, got "
                         f"{type(stat).__name__}.")
    ops = _settings(folder)
    movie_shape = None if movie is None or isinstance(movie, (str, os.PathLike)) else \
        getattr(movie, "shape", None)
    shape = _frame_shape(ops, folder, movie_shape)
    K = len(stat)
    F = _traces(folder, "F.npy", K, None)
    T = F.shape[1]
    Fneu = _traces(folder, "Fneu.npy", K, T)
    spks = _traces(folder, "spks.npy", K, T)
    iscell_path = folder / "iscell.npy"
    probability = None
    if iscell_path.is_file():
        iscell = np.asarray(_read(folder, "iscell.npy"))
        if iscell.ndim == 1:
            iscell = iscell[:, None]
        if iscell.ndim != 2 or iscell.shape[0] != K:
            raise ValueError(f"{iscell_path} should be ({K}, 2) (one row per ROI of "
                             f"stat.npy), got shape {iscell.shape}.")
        accepted = iscell[:, 0].astype(np.float64) > 0.5
        if iscell.shape[1] > 1:
            probability = [float(v) for v in iscell[:, 1]]
    else:
        accepted = np.ones(K, bool)
    A, _ = unit_footprints(_footprints(stat, shape, folder))
    scale = np.asarray(A.sum(axis=0), np.float64).ravel()  # s = sum(a): F = raw / s
    scale[~(scale > 0)] = 1.0
    neucoeff = _number(ops.get("neucoeff", _DEFAULT_NEUCOEFF), _DEFAULT_NEUCOEFF)
    # in place (the arrays were just read): a 1000 x 30000 plane holds 120 MB per array
    r32 = np.float32(neucoeff)
    s32 = scale.astype(np.float32)[:, None]
    traces = np.asarray(F, np.float32)
    residual = np.asarray(Fneu, np.float32)
    spikes = np.asarray(spks, np.float32)
    del F, Fneu, spks
    for k0 in range(0, K, 256):
        traces[k0:k0 + 256] -= r32 * residual[k0:k0 + 256]
    base = (np.percentile(traces, BASELINE_PERCENTILE, axis=1) if T else
            np.zeros(K)).astype(np.float64)
    base32 = base.astype(np.float32)[:, None]
    traces -= base32
    traces *= s32
    residual *= r32
    residual += base32
    residual *= s32
    spikes *= s32
    params, kept = _params(ops)
    labels = [roi.get("napari_amnesia_label") for roi in stat]
    label_values = (np.asarray(labels, np.int64) if all(v is not None for v in labels)
                    and len(set(int(v) for v in labels)) == K else None)
    metrics = {}
    for key, ours in (("napari_amnesia_snr", "snr"), ("napari_amnesia_r_value", "r_values")):
        values = [roi.get(key) for roi in stat]
        if K and all(v is not None for v in values):
            metrics[ours] = np.asarray(values, np.float64)
    mean = ops.get("meanImg")
    mean = (np.asarray(mean, np.float32) if isinstance(mean, np.ndarray)
            and mean.shape == shape else None)
    files = [folder / n for n in (*PLANE_FILES, "iscell.npy", *ops["_files"])
             if (folder / n).is_file()]
    version = ops.get("suite2p_version")
    details = {"neucoeff": neucoeff, "baseline_percentile": BASELINE_PERCENTILE,
               "params_from_ops": kept,
               **({"suite2p_version": str(version)} if isinstance(version, str) else {})}
    info: dict[str, Any] = {"imported": {"from": "suite2p", "neucoeff": neucoeff}}
    if probability is not None:
        info["cell_probability"] = probability
    result = SourceResult(
        footprints=A, traces=traces, spikes=spikes, residual_traces=residual,
        background_footprints=np.zeros((shape[0] * shape[1], 0), np.float32),
        background_traces=np.zeros((0, T), np.float32), baseline=base * scale,
        g=np.zeros((K, params.p)), lam=np.zeros(K), sn=np.zeros(shape, np.float32),
        shape=shape, params=params, accepted=accepted, label_values=label_values,
        mean_image=mean, info=info,
        provenance=import_provenance("suite2p", folder, shape, T, files, **details),
        **metrics)
    if movie is not None:
        result.provenance["movie"] = check_movie(result, movie,
                                                 f"the suite2p plane {folder}")
    logger.info("read %d ROIs x %d frames from the suite2p plane %s", K, T, folder)
    return result


# --------------------------------------------------------------------------- writing
def _disk_mean_distances(n_max: int) -> np.ndarray:
    """Mean distance to the centre of the ``n`` pixels of a disk, for n = 0..n_max."""
    r = int(np.ceil(np.sqrt(max(n_max, 1) / np.pi))) + 2
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    d = np.sort(np.hypot(yy, xx).ravel())[:max(n_max, 1)]
    out = np.zeros(n_max + 1)
    out[1:] = (np.cumsum(d) / np.arange(1, d.size + 1))[:n_max]
    return out


def roi_stats(footprints: Any, shape: tuple[int, int],
              corrected: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Return suite2p's ``stat`` of footprints: one dictionary per column.

    Parameters
    ----------
    footprints : sparse matrix, shape (Y * X, K)
        Pixels in C order; every pixel with a positive weight belongs to the ROI.
    shape : (int, int)
        Frame shape ``(Y, X)``.
    corrected : ndarray, shape (K, T), optional
        Neuropil-corrected fluorescence: adds ``skew``, ``std`` and ``snr``.

    Returns
    -------
    list of dict
        ``ypix``, ``xpix`` (int32), ``lam`` (float32), ``med`` (the ROI's pixel nearest
        its weighted centre), ``npix``, ``npix_soma`` (= npix: no soma crop),
        ``soma_crop``, ``mrs`` and ``mrs0`` (mean distance of the pixels to their
        median centre, and of a disk of as many pixels), ``compact`` (their ratio, at
        least 1), ``radius`` (twice the weighted standard deviation along the major
        axis, in pixels), ``aspect_ratio``, ``footprint`` (0), ``npix_norm`` and
        ``npix_norm_no_crop`` (npix over the median npix of the first 100 ROIs),
        ``overlap`` (pixels shared with another ROI), ``iplane`` (0), and with
        ``corrected``: ``skew``, ``std``, ``snr`` (``1 - var(diff(x)) / (2 var(x))``).
    """
    from scipy.stats import skew

    A = sparse.csc_matrix(footprints)
    A.eliminate_zeros()
    Y, X = (int(v) for v in shape)
    K = A.shape[1]
    counts = np.bincount(A.indices[A.data > 0], minlength=Y * X)
    npix_all = np.diff(A.indptr)
    disk = _disk_mean_distances(int(npix_all.max(initial=1)))
    stats = []
    for k in range(K):
        lo, hi = A.indptr[k], A.indptr[k + 1]
        keep = A.data[lo:hi] > 0
        pix, lam = A.indices[lo:hi][keep], A.data[lo:hi][keep].astype(np.float32)
        y, x = np.divmod(pix, X)
        n = int(pix.size)
        roi: dict[str, Any] = {"ypix": y.astype(np.int32), "xpix": x.astype(np.int32),
                               "lam": lam, "npix": n, "npix_soma": n,
                               "soma_crop": np.ones(n, bool), "footprint": 0, "iplane": 0,
                               "overlap": counts[pix] > 1}
        if n:
            w = lam.astype(np.float64) / max(float(lam.sum()), 1e-30)
            cy, cx = float(w @ y), float(w @ x)
            nearest = int(np.argmin((y - cy) ** 2 + (x - cx) ** 2))
            roi["med"] = [int(y[nearest]), int(x[nearest])]
            my, mx = np.median(y), np.median(x)
            roi["mrs"] = float(np.mean(np.hypot(y - my, x - mx)))
            roi["mrs0"] = float(disk[n])
            roi["compact"] = max(1.0, roi["mrs"] / (roi["mrs0"] + 1e-10))
            dy, dx = y - cy, x - cx
            cov = np.array([[w @ (dy * dy), w @ (dy * dx)], [w @ (dx * dy), w @ (dx * dx)]])
            major, minor = np.sqrt(np.maximum(np.linalg.eigvalsh(cov)[::-1], 0.0))
            roi["radius"] = float(2.0 * major)
            roi["aspect_ratio"] = float(2.0 * major / (0.01 + major + minor))
        else:
            roi.update(med=[0, 0], mrs=0.0, mrs0=0.0, compact=1.0, radius=0.0,
                       aspect_ratio=1.0)
        stats.append(roi)
    norm = float(np.median(npix_all[:100])) if K else 1.0
    for roi in stats:
        roi["npix_norm"] = roi["npix_norm_no_crop"] = float(roi["npix"] / (norm + 1e-10))
    if corrected is not None and K:
        x = np.asarray(corrected, np.float64)
        var = x.var(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            snr = 1.0 - 0.5 * np.diff(x, axis=1).var(axis=1) / var
            sk = skew(x, axis=1) if x.shape[1] > 2 else np.zeros(K)
        for k, roi in enumerate(stats):
            roi.update(skew=float(np.nan_to_num(sk[k])), std=float(np.sqrt(var[k])),
                       snr=float(np.nan_to_num(snr[k])))
    return stats


def _highpass(image: np.ndarray, sigma: float) -> np.ndarray:
    """Return the mean image less its smooth background, scaled to [0, 1] (meanImgE)."""
    from scipy import ndimage

    img = np.asarray(image, np.float64)
    out = img - ndimage.gaussian_filter(img, sigma)
    lo, hi = np.percentile(out, (1, 99)) if out.size else (0.0, 1.0)
    return np.clip((out - lo) / (hi - lo if hi > lo else 1.0), 0, 1).astype(np.float32)


def _images(result: Any, images: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """meanImg, max_proj and Vcorr: the summary images when given, else from the result."""
    from ..cnmf.layers import footprint_map

    images = dict(images or {})
    shape = tuple(result.shape)
    fmap = footprint_map(result) if result.K else np.zeros(shape, np.float32)

    def pick(name: str, fallback: Any) -> np.ndarray:
        value = images.get(name)
        if value is not None and np.shape(value) == shape:
            return np.asarray(value, np.float32)
        return np.asarray(fallback() if callable(fallback) else fallback, np.float32)

    def mean_of_reconstruction() -> np.ndarray:
        A, b, f = result.footprints, result.background_footprints, result.background_traces
        level = np.asarray(result.raw_traces.mean(axis=1) if result.n_frames else
                           np.zeros(result.K))
        img = A @ level + (b @ f.mean(axis=1) if b.shape[1] and f.shape[1] else 0.0)
        return np.asarray(img).reshape(shape)

    mean = pick("mean", result.mean_image if result.mean_image is not None
                else mean_of_reconstruction)
    return {"meanImg": mean, "max_proj": pick("max", fmap), "Vcorr": pick("corr", fmap)}


def write_suite2p(results: Any, folder: str | os.PathLike, *, fs: float | None = None,
                  images: dict[str, np.ndarray] | None = None, overwrite: bool = False,
                  neucoeff: float = _DEFAULT_NEUCOEFF) -> Path:
    """Write a CNMF result as a suite2p folder ``folder/plane0/`` that suite2p's GUI opens.

    Parameters
    ----------
    results : SourceResult or path
        The result, or a results folder (:func:`~.results.load_result`); every
        component is written, ``iscell`` saying which are accepted.
    folder : path
        The suite2p folder to create (``rec1/suite2p`` gives ``rec1/suite2p/plane0/``);
        written atomically, an existing one replaced only with ``overwrite`` and only
        if napari-amnesia wrote it.
    fs : float, optional
        Frame rate in Hz (default: the result's ``params.fr``).
    images : dict, optional
        Summary images ``{"mean", "max", "corr"}`` for meanImg, max_proj and Vcorr
        (default: those saved beside a results folder; else the result's mean image
        and its footprints' map).
    neucoeff : float
        Written as ``ops["neucoeff"]``: with ``Fneu`` zeros (CNMF's demixed traces),
        ``F - neucoeff * Fneu`` is ``F``.

    Returns
    -------
    Path
        The plane folder.
    """
    from .results import load_result

    if images is None:
        images = summary_images(results)
    result = load_result(results)
    folder = Path(os.path.expanduser(os.fspath(folder)))
    check_destination(folder, overwrite, folder=True)
    A = result.footprints
    scale = np.asarray(A.sum(axis=0), np.float64).ravel()
    scale[~(scale > 0)] = 1.0
    inv = (1.0 / scale).astype(np.float32)[:, None]
    F = result.raw_traces * inv
    imported = result.info.get("imported", {}) if isinstance(result.info, dict) else {}
    if imported.get("from") == "suite2p" and float(imported.get("neucoeff", 0)) > 0:
        neucoeff = float(imported["neucoeff"])
        Fneu = ((result.residual_traces - result.baseline.astype(np.float32)[:, None])
                * inv / np.float32(neucoeff))
    else:
        Fneu = np.zeros_like(F)
    spks = result.spikes * inv
    stats = roi_stats(A, result.shape, F - np.float32(neucoeff) * Fneu)
    for k, roi in enumerate(stats):
        roi["napari_amnesia_label"] = int(result.label_values[k])
        if result.snr is not None:
            roi["napari_amnesia_snr"] = float(result.snr[k])
        if result.r_values is not None:
            roi["napari_amnesia_r_value"] = float(result.r_values[k])
    probability = result.info.get("cell_probability")
    if probability is None or len(probability) != result.K:
        probability = result.accepted.astype(np.float64)
    probability = np.asarray(probability, np.float64)  # None (not scored) reads as NaN
    unscored = ~np.isfinite(probability)  # silent cells of the mean image: their flag
    probability[unscored] = result.accepted[unscored]
    iscell = np.stack([result.accepted.astype(np.float64), probability], axis=1)
    Y, X = result.shape
    rate = float(result.params.fr if fs is None else fs)
    pictures = _images(result, images)
    diameter = int(round(2 * max(result.params.gSig)))
    ops = {"Ly": Y, "Lx": X, "nframes": result.n_frames, "fs": rate,
           "tau": float(result.params.decay_time), "neucoeff": float(neucoeff),
           "diameter": [diameter, diameter], "aspect": 1.0, "nplanes": 1, "nchannels": 1,
           "functional_chan": 1, "yrange": [0, Y], "xrange": [0, X],
           "meanImgE": _highpass(pictures["meanImg"], max(diameter, 1)), **pictures,
           "save_path": str(folder / "plane0"), "napari_amnesia_version": _version(),
           "napari_amnesia_provenance": json.dumps(jsonable(result.provenance))}
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        plane = tmp / "plane0"
        plane.mkdir()
        np.save(plane / "stat.npy", np.array(stats + [None], dtype=object)[:-1],
                allow_pickle=True)
        np.save(plane / "F.npy", F.astype(np.float32))
        np.save(plane / "Fneu.npy", Fneu.astype(np.float32))
        np.save(plane / "spks.npy", spks.astype(np.float32))
        np.save(plane / "iscell.npy", iscell)
        np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    logger.info("wrote %d ROIs x %d frames to the suite2p plane %s", result.K,
                result.n_frames, folder / "plane0")
    return folder / "plane0"


def _version() -> str:
    from ... import __version__

    return __version__
