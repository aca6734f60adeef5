"""CaImAn's HDF5 results (``cnm.save("results.hdf5")``) read as a CNMF result.

CaImAn saves its ``CNMF`` object by walking its attributes into HDF5 groups
(``caiman.utils.utils.save_dict_to_hdf5``; read back by
``caiman.source_extraction.cnmf.cnmf.load_CNMF``)::

    /estimates/A/{data,indices,indptr,shape}   footprints: a CSC matrix, pixels x
                                               components, pixels in *Fortran* order
                                               (p = column * rows + row)
    /estimates/C, S, YrA                       (components, frames)
    /estimates/b (pixels, nb), f (nb, frames)  background, pixels in Fortran order
    /estimates/bl, g, lam, neurons_sn          per component
    /estimates/sn                              (pixels,) noise, Fortran order
    /estimates/idx_components                  indices of the accepted components
    /estimates/SNR_comp, r_values, cnn_preds   quality metrics
    /estimates/F_dff                           ΔF/F (or absent)
    /estimates/dims, /dims                     frame shape (rows, columns)
    /params/{data,init,patch,merging,quality,...}/...   the parameters

``None`` is stored as the text ``"NoneType"``; text as attributes (CaImAn ≥ 1.9.9)
or datasets (before). Names map as in :mod:`napari_amnesia.core.cnmf.result`
(``A`` → ``footprints`` in C pixel order, ``C`` → ``traces``, ``S`` → ``spikes``,
``YrA`` → ``residual_traces``, ``bl`` → ``baseline``, ``b``/``f`` → background,
``idx_components`` → ``accepted``, ``SNR_comp`` → ``snr``, ``r_values``, ``F_dff`` →
``dff``, ``cnn_preds`` → ``info["cnn_preds"]``); footprints are scaled to unit L2
norm and their traces by the same factor, so ``A·C`` is unchanged. The parameters
with the same meaning here (``fr``, ``decay_time``, ``gSig``, ``gSiz``, ``K``,
``p``, ``nb`` → ``gnb``, ``merge_thr``, ``min_SNR``, ``rval_thr``...) are carried
over. CNMF-E's ring-model background (``W``, ``b0``) has no counterpart and is left
out (the provenance says so); so are the components CaImAn discarded
(``discarded_components``).

References
----------
Giovannucci A. et al. (2019) CaImAn an open source tool for scalable calcium imaging
data analysis. eLife 8:e38173. Layout read from ``caiman/utils/utils.py`` and
``caiman/source_extraction/cnmf/cnmf.py``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from .results import check_movie, import_provenance, unit_footprints

__all__ = ["is_caiman_file", "read_caiman", "CAIMAN_SUFFIXES", "PARAMETERS"]

logger = logging.getLogger(__name__)

#: Suffixes of CaImAn's HDF5 results (``cnm.save`` insists on ``.hdf5``).
CAIMAN_SUFFIXES = (".hdf5", ".h5")

#: Our parameter ← (CaImAn's group, name).
PARAMETERS = {
    "fr": ("data", "fr"), "decay_time": ("data", "decay_time"),
    "gSig": ("init", "gSig"), "gSiz": ("init", "gSiz"), "K": ("init", "K"),
    "gnb": ("init", "nb"), "ssub": ("init", "ssub"), "tsub": ("init", "tsub"),
    "p": ("preprocess", "p"), "merge_thr": ("merging", "merge_thr"),
    "rf": ("patch", "rf"), "stride": ("patch", "stride"),
    "min_SNR": ("quality", "min_SNR"), "rval_thr": ("quality", "rval_thr"),
    "SNR_lowest": ("quality", "SNR_lowest"), "rval_lowest": ("quality", "rval_lowest"),
}


#: Parameters for which CaImAn's None means what None means here.
_NONE_MEANS = ("rf", "gSiz")


def _is_none(value: Any) -> bool:
    return value is None or (isinstance(value, (bytes, str)) and value in (b"NoneType",
                                                                            "NoneType"))


def _value(group: Any, name: str) -> Any:
    """Return ``group[name]`` as numpy/Python (None for CaImAn's "NoneType" or absent)."""
    if name in group.attrs:
        value = group.attrs[name]
    elif name in group:
        item = group[name]
        if not hasattr(item, "shape"):  # a group
            return item
        value = item[()]
    else:
        return None
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO" and value.size == 1:
        value = value.ravel()[0]
    return None if _is_none(value) else value


def is_caiman_file(path: Any) -> bool:
    """Whether ``path`` is an HDF5 file with CaImAn's ``estimates/A``; never raises."""
    try:
        path = Path(os.fspath(path))
        if path.suffix.lower() not in CAIMAN_SUFFIXES or not path.is_file():
            return False
        import h5py

        with h5py.File(path, "r") as fh:
            return "estimates" in fh and "A" in fh["estimates"] and \
                "indptr" in fh["estimates"]["A"]
    except Exception:  # noqa: BLE001 - a probe
        return False


def _dims(fh: Any, est: Any, path: Path) -> tuple[int, int]:
    for group, name in ((est, "dims"), (fh, "dims")):
        value = _value(group, name)
        if value is not None:
            break
    else:
        data = fh["params"]["data"] if "params" in fh and "data" in fh["params"] else None
        value = None if data is None else _value(data, "dims")
    if value is None:
        raise ValueError(f"{path}: no frame size (estimates/dims) in this CaImAn file.")
    dims = tuple(int(v) for v in np.asarray(value).ravel())
    if len(dims) != 2:
        raise ValueError(f"{path}: frames of {len(dims)} dimensions {dims}; only 2-D "
                         "(planar) CaImAn results are read.")
    return dims


def _fortran_to_c(rows: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixel indices in Fortran order (``x * Y + y``) → C order (``y * X + x``)."""
    Y, X = shape
    x, y = np.divmod(np.asarray(rows, np.int64), Y)
    return y * X + x


def _footprints(est: Any, shape: tuple[int, int], path: Path) -> sparse.csc_matrix:
    group = est["A"]
    try:
        data, indices, indptr = (np.asarray(group[n][()]) for n in ("data", "indices",
                                                                    "indptr"))
        n_pixels, K = (int(v) for v in np.asarray(group["shape"][()]).ravel())
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: estimates/A is not a sparse matrix as CaImAn saves it "
                         f"(data, indices, indptr, shape): {exc}.") from None
    if n_pixels != shape[0] * shape[1]:
        raise ValueError(f"{path}: estimates/A has {n_pixels} pixels, the frames "
                         f"{shape[0]}x{shape[1]} have {shape[0] * shape[1]}.")
    A = sparse.csc_matrix((data, _fortran_to_c(indices, shape), indptr),
                          shape=(n_pixels, K))
    A.sort_indices()
    return A


def _matrix(est: Any, name: str, rows: int, T: int | None, path: Path,
            what: str) -> np.ndarray | None:
    value = _value(est, name)
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.ndim == 1 and rows == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[0] != rows or (T is not None and arr.shape[1] != T):
        want = f"({rows}, {'frames' if T is None else T})"
        raise ValueError(f"{path}: estimates/{name} should be {want} ({what}), got shape "
                         f"{arr.shape}.")
    return arr


def _vector(est: Any, name: str, K: int, path: Path) -> np.ndarray | None:
    value = _value(est, name)
    if value is None:
        return None
    arr = np.asarray(value, np.float64).ravel()
    if arr.size != K:
        raise ValueError(f"{path}: estimates/{name} has {arr.size} values for {K} "
                         "components.")
    return arr


def _params(fh: Any) -> tuple[Any, dict[str, Any]]:
    from ..cnmf.params import CNMFParams

    group = fh["params"] if "params" in fh else None
    values: dict[str, Any] = {}
    if group is not None:
        for ours, (section, theirs) in PARAMETERS.items():
            if section in group:
                stored = theirs in group[section] or theirs in group[section].attrs
                value = _value(group[section], theirs)
                if value is None:
                    if stored and ours in _NONE_MEANS:  # rf None: no patches, as here
                        values[ours] = None
                    continue
                value = np.asarray(value)
                values[ours] = (value.item() if value.size == 1 else
                                tuple(v.item() for v in value.ravel()))
    kept = {}
    for name, value in values.items():
        try:
            CNMFParams(**{name: value})
        except (TypeError, ValueError):
            continue
        kept[name] = value
    return CNMFParams(**kept), kept


def read_caiman(path: str | os.PathLike, *, movie: Any = None) -> Any:
    """Read a CaImAn HDF5 results file as a :class:`~napari_amnesia.core.cnmf.SourceResult`.

    Parameters
    ----------
    path : path
        A file written by CaImAn's ``cnm.save("....hdf5")`` (CNMF, CNMF-E or OnACID).
    movie : path or array_like, optional
        The recording: its frame size and length must agree; recorded in the
        provenance.

    Returns
    -------
    SourceResult
        One component per column of ``estimates/A``, in the same order (the mapping is
        in the module documentation); ``provenance["imported_from"]`` names the file.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When it is not HDF5, not a CaImAn result, or its arrays disagree (or disagree
        with the movie).

    Examples
    --------
    >>> result = read_caiman("analysis_results.hdf5")  # doctest: +SKIP
    """
    import h5py

    from ..cnmf.result import SourceResult

    path = Path(os.path.expanduser(os.fspath(path)))
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist." if not path.exists() else
                                f"{path} is a folder, not a CaImAn HDF5 file.")
    try:
        fh = h5py.File(path, "r")
    except OSError:
        raise ValueError(f"{path} is not an HDF5 file (CaImAn saves its results with "
                         "cnm.save('results.hdf5')).") from None
    with fh:
        est = fh.get("estimates")
        if est is None or not hasattr(est, "keys") or "A" not in est or \
                not hasattr(est["A"], "keys"):
            raise ValueError(f"{path} is not a CaImAn result (no estimates/A; CaImAn's "
                             "cnm.save('results.hdf5') writes one).")
        shape = _dims(fh, est, path)
        A = _footprints(est, shape, path)
        K = A.shape[1]
        C = _matrix(est, "C", K, None, path, "one trace per component")
        if C is None:
            raise ValueError(f"{path}: estimates/C (the traces) is missing.")
        T = C.shape[1]
        S = _matrix(est, "S", K, T, path, "spikes")
        YrA = _matrix(est, "YrA", K, T, path, "residual traces")
        dff = _matrix(est, "F_dff", K, T, path, "ΔF/F")
        bl = _vector(est, "bl", K, path)
        lam = _vector(est, "lam", K, path)
        snr = _vector(est, "SNR_comp", K, path)
        r_values = _vector(est, "r_values", K, path)
        cnn = _vector(est, "cnn_preds", K, path)
        g = _value(est, "g")
        b = _value(est, "b")
        f = _value(est, "f")
        sn = _value(est, "sn")
        idx = _value(est, "idx_components")
        ring = any(_value(est, n) is not None for n in ("W", "b0"))
        discarded = _value(est, "discarded_components")
        n_discarded = 0
        if discarded is not None and hasattr(discarded, "keys") and "A" in discarded:
            shape_ds = discarded["A"].get("shape")
            n_discarded = int(np.asarray(shape_ds[()]).ravel()[1]) if shape_ds is not None \
                else 0
        params, kept = _params(fh)
    Y, X = shape
    A, norms = unit_footprints(A)
    n32 = norms.astype(np.float32)[:, None]
    traces = np.asarray(C, np.float32) * n32
    spikes = (np.zeros_like(traces) if S is None else np.asarray(S, np.float32) * n32)
    residual = (np.zeros_like(traces) if YrA is None else np.asarray(YrA, np.float32) * n32)
    baseline = np.zeros(K) if bl is None else bl * norms
    accepted = np.ones(K, bool)
    if idx is not None:
        idx = np.asarray(idx, np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= K):
            raise ValueError(f"{path}: estimates/idx_components names components outside "
                             f"0-{K - 1}.")
        accepted = np.zeros(K, bool)
        accepted[idx] = True
    if b is not None and np.size(b) and f is not None and np.size(f):
        b = np.asarray(b, np.float32).reshape(Y * X, -1)
        order = _fortran_to_c(np.arange(Y * X), shape)
        background = np.empty_like(b)
        background[order] = b
        f = np.asarray(f, np.float32).reshape(background.shape[1], -1)
        if f.shape[1] != T:
            raise ValueError(f"{path}: estimates/f has {f.shape[1]} frames, estimates/C "
                             f"{T}.")
    else:
        background, f = np.zeros((Y * X, 0), np.float32), np.zeros((0, T), np.float32)
    if sn is not None and np.size(sn) == Y * X:
        sn = np.asarray(sn, np.float32).reshape(shape, order="F")
    else:
        sn = np.zeros(shape, np.float32)
    g = np.asarray(g, np.float64) if g is not None else np.zeros((K, params.p))
    g = g.reshape(K, -1) if g.size and g.size % max(K, 1) == 0 else np.zeros((K, params.p))
    info: dict[str, Any] = {"imported": {"from": "caiman"}}
    if cnn is not None:
        info["cnn_preds"] = [float(v) for v in cnn]
    details = {"parameters": kept, "ring_background_left_out": bool(ring),
               "discarded_components_left_out": n_discarded,
               "footprints_rescaled_to_unit_norm": bool(np.any(np.abs(norms - 1) > 1e-6))}
    result = SourceResult(
        footprints=A, traces=traces, spikes=spikes, residual_traces=residual,
        background_footprints=background, background_traces=f, baseline=baseline, g=g,
        lam=np.zeros(K) if lam is None else lam, sn=sn, shape=shape, params=params,
        accepted=accepted, snr=snr, r_values=r_values,
        dff=None if dff is None else np.asarray(dff, np.float32), info=info,
        provenance=import_provenance("caiman", path, shape, T, [path], **details))
    if movie is not None:
        result.provenance["movie"] = check_movie(result, movie, f"the CaImAn result {path}")
    logger.info("read %d components x %d frames from the CaImAn file %s", K, T, path)
    return result
