"""Small results in other tools' formats, written by hand from their documented layouts.

Nothing here uses napari-amnesia's own writers: the suite2p plane follows suite2p's
``docs/outputs.md`` (stat.npy of dictionaries, F/Fneu/spks (ROIs, frames), iscell
(ROIs, 2), ops.npy), the CaImAn file follows ``caiman.utils.utils.save_dict_to_hdf5``
as ``cnm.save`` calls it (``estimates/A`` a CSC matrix of pixels x components with
pixels in Fortran order, ``"NoneType"`` for None, ``params/<group>/<name>``). The
ROIs are planted by ``napari_amnesia.core.simulate``, so imports can be scored
against the truth.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from scipy import sparse

from napari_amnesia.core.cnmf import CNMFParams, SourceResult
from napari_amnesia.core.simulate import simulate

SHAPE = (40, 56)  # not square: a row/column or C/Fortran mix-up shows
N_FRAMES = 120


@functools.lru_cache(maxsize=8)
def planted(seed: int, *, shape=SHAPE, n_frames=N_FRAMES, n_cells=8):
    """Return ``(movie, truth)`` of a small simulated two-photon scene without neurites.

    The footprints are cut at 2% of their peak (CNMF's are sparse too) and scaled
    back to unit norm. Cached: do not modify what it returns.
    """
    movie, truth = simulate(n_frames=n_frames, shape=shape, n_cells=n_cells,
                            n_neurite_groups=0, motion=False, cell_radius=(3.0, 4.0),
                            rng=seed)
    fp = truth.footprints
    fp[fp < 0.02 * fp.max(axis=(1, 2), keepdims=True)] = 0
    fp /= np.sqrt((fp ** 2).sum(axis=(1, 2), keepdims=True))
    return movie, truth


def planted_result(seed: int, **kwargs) -> tuple[SourceResult, object]:
    """A CNMF result holding the planted footprints, traces and spikes, and the truth."""
    _, truth = planted(seed, **kwargs)
    K = len(truth.footprints)
    Y, X = truth.footprints.shape[1:]
    A = sparse.csc_matrix(truth.footprints.reshape(K, -1).T)
    rng = np.random.default_rng(seed)
    T = truth.traces.shape[1]
    residual = rng.normal(0, 0.5, (K, T)).astype(np.float32) + truth.baseline[:, None]
    result = SourceResult(
        A, truth.traces, truth.spikes, residual, np.ones((Y * X, 1)) / np.sqrt(Y * X),
        np.full((1, T), 100.0), truth.baseline, np.tile(truth.g, (K, 1)), np.zeros(K),
        np.ones((Y, X)), (Y, X), CNMFParams(fr=truth.frame_rate),
        accepted=rng.random(K) > 0.3, snr=rng.uniform(1, 10, K),
        r_values=rng.uniform(0, 1, K), label_values=np.arange(1, K + 1) * 3,
        mean_image=truth.footprints.sum(axis=0) + 1)
    return result, truth


def masks(images: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """Binary masks ``(K, Y, X)``: each image at or above ``threshold`` x its maximum."""
    images = np.asarray(images, np.float64)
    peaks = images.reshape(len(images), -1).max(axis=1)
    return images >= threshold * np.maximum(peaks, 1e-30)[:, None, None]


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of paired masks ``(K, Y, X)``."""
    inter = np.logical_and(a, b).reshape(len(a), -1).sum(axis=1)
    union = np.logical_or(a, b).reshape(len(a), -1).sum(axis=1)
    return inter / np.maximum(union, 1)


# --------------------------------------------------------------------------- suite2p
def write_suite2p_plane(folder: Path, seed: int, *, ops_layout: str = "ops",
                        neucoeff: float = 0.7) -> dict:
    """Write a suite2p plane folder of the planted cells, as suite2p lays it out.

    Each ROI is the planted footprint's pixels above 5% of its peak, ``lam`` their
    values; ``F`` is the lam-weighted mean of the noiseless movie (suite2p's
    extraction), ``Fneu`` a made-up neuropil added to F scaled by neucoeff, ``spks``
    the planted spikes. ``ops_layout="split"`` writes suite2p 1.x's settings.npy,
    db.npy and reg_outputs.npy instead of ops.npy. Returns what was written.
    """
    _, truth = planted(seed)
    rng = np.random.default_rng(seed)
    K, Y, X = truth.footprints.shape
    T = truth.traces.shape[1]
    stat, images = [], []
    # noiseless movie of the cells only: footprints x (baseline + calcium)
    calcium = truth.baseline[:, None] + truth.traces
    movie = np.einsum("kyx,kt->tyx", truth.footprints, calcium)
    neuropil = rng.uniform(5, 20, (K, 1)) + rng.normal(0, 1, (K, T))
    F = np.zeros((K, T), np.float32)
    for k in range(K):
        img = truth.footprints[k]
        ypix, xpix = np.nonzero(img > 0.05 * img.max())
        lam = img[ypix, xpix].astype(np.float32)
        stat.append({"ypix": ypix.astype(np.int32), "xpix": xpix.astype(np.int32),
                     "lam": lam, "med": [int(np.median(ypix)), int(np.median(xpix))],
                     "npix": int(ypix.size), "radius": 4.0, "compact": 1.1,
                     "footprint": 1, "overlap": np.zeros(ypix.size, bool)})
        w = lam / lam.sum()
        F[k] = movie[:, ypix, xpix] @ w + neucoeff * neuropil[k]
        image = np.zeros((Y, X), np.float32)
        image[ypix, xpix] = lam
        images.append(image)
    Fneu = neuropil.astype(np.float32)
    spks = truth.spikes.astype(np.float32)
    prob = rng.uniform(0, 1, K)
    iscell = np.stack([(prob > 0.5).astype(np.float64), prob], axis=1)
    mean = movie.mean(axis=0).astype(np.float32)
    ops = {"Ly": Y, "Lx": X, "fs": 15.0, "tau": 1.25, "neucoeff": neucoeff,
           "meanImg": mean, "max_proj": movie.max(axis=0), "Vcorr": mean / mean.max(),
           "nframes": T, "diameter": [10, 10], "suite2p_version": "0.14.4"}
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    np.save(folder / "F.npy", F)
    np.save(folder / "Fneu.npy", Fneu)
    np.save(folder / "spks.npy", spks)
    np.save(folder / "iscell.npy", iscell)
    if ops_layout == "ops":
        np.save(folder / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    else:
        settings = {k: ops[k] for k in ("fs", "tau", "neucoeff", "diameter")}
        np.save(folder / "settings.npy", np.array(settings, dtype=object), allow_pickle=True)
        np.save(folder / "db.npy", np.array({"nplanes": 1}, dtype=object), allow_pickle=True)
        np.save(folder / "reg_outputs.npy", np.array({"meanImg": mean}, dtype=object),
                allow_pickle=True)
    return {"truth": truth, "F": F, "Fneu": Fneu, "spks": spks, "iscell": iscell,
            "images": np.stack(images), "stat": stat, "mean": mean, "movie": movie}


# --------------------------------------------------------------------------- CaImAn
def write_caiman_file(path: Path, seed: int, *, strings_as_attributes: bool = True,
                      none: tuple = ()) -> dict:
    """Write a CaImAn HDF5 results file of the planted cells, as ``cnm.save`` does.

    Footprints are stored with non-unit norms (CaImAn does not normalise after every
    step) and pixels in Fortran order; ``idx_components`` are the cells with an odd
    seeded coin. Names in ``none`` are written as CaImAn writes None.
    """
    import h5py

    _, truth = planted(seed)
    rng = np.random.default_rng(seed + 100)
    K, Y, X = truth.footprints.shape
    T = truth.traces.shape[1]
    norms = rng.uniform(0.5, 3.0, K)
    dense = truth.footprints * norms[:, None, None]
    # CaImAn: A[:, k] = footprint.flatten(order="F") (Yr = movie reshaped in F order)
    A = sparse.csc_matrix(np.stack([d.ravel(order="F") for d in dense], axis=1))
    C = (truth.traces / norms[:, None]).astype(np.float64)
    S = (truth.spikes / norms[:, None]).astype(np.float64)
    YrA = rng.normal(0, 0.1, (K, T))
    b = rng.uniform(1, 2, (Y * X, 1))
    f = rng.uniform(90, 110, (1, T))
    idx = np.flatnonzero(rng.random(K) > 0.4)
    estimates = {"A": A, "C": C, "S": S, "YrA": YrA, "b": b, "f": f,
                 "bl": rng.uniform(0, 1, K), "g": np.tile(truth.g, (K, 1)),
                 "sn": np.full(Y * X, 0.3), "idx_components": idx,
                 "idx_components_bad": np.setdiff1d(np.arange(K), idx),
                 "SNR_comp": rng.uniform(1, 10, K), "r_values": rng.uniform(0, 1, K),
                 "cnn_preds": rng.uniform(0, 1, K), "F_dff": rng.uniform(0, 1, (K, T)),
                 "dims": np.array([Y, X]), "W": None, "b0": None, "R": None,
                 "discarded_components": None}
    for name in none:
        estimates[name] = None
    params = {"data": {"fr": 15.0, "decay_time": 0.6, "dims": np.array([Y, X]),
                       "fnames": "movie.tif"},
              "init": {"gSig": np.array([3, 3]), "gSiz": np.array([7, 7]), "K": 4, "nb": 1,
                       "method_init": "greedy_roi"},
              "preprocess": {"p": 1}, "merging": {"merge_thr": 0.8},
              "quality": {"min_SNR": 2.0, "rval_thr": 0.8},
              "patch": {"rf": "NoneType", "stride": 6}}
    with h5py.File(path, "w") as fh:
        est = fh.create_group("estimates")
        for key, value in estimates.items():
            if value is None:
                est[key] = "NoneType"
            elif sparse.issparse(value):
                csc = value.tocsc()
                for part in ("data", "indptr", "indices"):
                    est[f"{key}/{part}"] = getattr(csc, part)
                est[f"{key}/shape"] = np.array(csc.shape)
            else:
                est[key] = value
        for group, values in params.items():
            g = fh.create_group(f"params/{group}")
            for key, value in values.items():
                if isinstance(value, str) and value != "NoneType":
                    if strings_as_attributes:
                        g.attrs[key] = value
                    else:
                        g[key] = np.bytes_(value)
                else:
                    g[key] = value
        fh["dims"] = np.array([Y, X])
        fh["dview"] = "NoneType"
        fh["remove_very_bad_comps"] = False
    return {"truth": truth, "dense": dense, "norms": norms, "C": C, "S": S, "YrA": YrA,
            "b": b, "f": f, "idx": idx, **{k: estimates[k] for k in
                                            ("SNR_comp", "r_values", "cnn_preds", "F_dff",
                                             "bl")}}
