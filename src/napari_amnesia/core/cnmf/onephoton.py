"""CNMF-E: the one-photon mode of :func:`~napari_amnesia.core.cnmf.fit` (``corr_pnr``).

The same stage and the same :class:`~.result.SourceResult` as two-photon CNMF; what
changes is the initialisation and the background (Zhou et al. 2018 [1]_, as CaImAn
implements it [2]_):

1. **Seeds.** The correlation and PNR images of the spatially filtered movie
   (:func:`~.initialization.corr_pnr.correlation_pnr`, one streaming pass) give the
   seeds (:func:`~.initialization.seeds.find_seeds`: local maxima of their product
   where correlation >= ``min_corr`` and PNR >= ``min_pnr``), or the user's seed
   points (``fit(movie, seeds=points)``, an ``(n, 2)`` array of (row, column), the
   napari seed picker's Points) replace them. No seed: a ValueError giving the
   largest correlation and PNR found.
2. **Greedy initialisation per patch** (``rf``/``stride``; one patch when
   ``rf=None``): every seed belongs to exactly one patch (the one whose centre is
   nearest), so patches never seed a cell twice and the patches find the same
   cells as the whole field; each patch, averaged over ``tsub`` frames, runs
   :func:`~.initialization.corr_pnr.greedy_corr_pnr` (seeds' footprints and traces
   estimated and removed one after the other, then the background, then a second
   pass on the residual) as a dask task reading only its region. Components are
   gathered in full-frame coordinates (copies found by two patches' second passes
   are removed as in two-photon CNMF).
3. **Whole-field updates with the ring background** (``gnb=0``): twice, the ring
   model ``B = b0 + W (Y - A C - b0)`` is fitted to the movie minus the components
   (:func:`~.ring.fit_ring`, normal equations accumulated over time chunks), then
   the CNMF updates (temporal, spatial, temporal, merging; the first time with a
   temporal update first) run on ``Y - B``. The first ring is fitted to the movie
   alone (``A C = 0``): initial traces carry crosstalk between neighbours, and a
   ring fitted to ``Y - A C`` with them learns to predict cells' activity computed chunk by chunk
   (:class:`~.ring.RingFrames`). With ``gnb > 0`` the low-rank background of
   two-photon CNMF is used instead (CaImAn's ``gnb > 0`` with ``corr_pnr``).
4. **Evaluation** on ``Y - B``: the event SNR of the raw traces and the spatial
   correlation of each footprint with the background-subtracted movie, so a
   component that is mostly background neither correlates nor stands out.

The result's background is the constant baseline ``b0`` (``background_footprints``
``(P, 1)``, ``background_traces`` ones; what ΔF/F divides by) and the fitted ring
model (``result.ring``); :func:`ring_background` gives the fluctuating background
``B(t)`` of a movie lazily.

References
----------
.. [1] Zhou, P. et al. (2018). Efficient and accurate extraction of in vivo calcium
   signals from microendoscopic video data. eLife 7, e28728.
.. [2] Giovannucci, A. et al. (2019). CaImAn, an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173 (``init_neurons_corr_pnr``,
   ``greedy_pnr_corr``, ``compute_W``).
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import numpy as np
from scipy import sparse

from ..parallel import release_memory
from ..progress import Progress, ProgressGenerator
from .initialization import fill_nonfinite
from .initialization.corr_pnr import correlation_pnr, greedy_corr_pnr
from .initialization.seeds import find_seeds
from .params import CNMFParams
from .patches import (
    MatrixMovie,
    Opaque,
    PatchFit,
    iter_fit_components,
    patch_grid,
    pixel_statistics,
    read_patch,
    stitch,
    strip_grid,
    strip_task,
)
from .ring import RingFrames, RingModel, RingMovie, fit_ring
from .updates.frames import Frames

__all__ = ["iter_fit_one_photon", "is_seed_points", "ring_background", "ring_movie",
           "seed_owner", "seeded_ring", "finish_ring", "BACKGROUND_SHARE"]

logger = logging.getLogger(__name__)

#: A movie whose ring background explains less than this share of the fluctuation
#: of its pixels (outside the cells) is probably not one-photon: a warning says so.
BACKGROUND_SHARE = 0.6
#: Whole-field rounds: (ring fit, updates) pairs.
_RING_ROUNDS = 2


def is_seed_points(seeds: Any, dims: tuple[int, int]) -> bool:
    """Whether ``seeds`` are seed points ``(n, 2)`` rather than a label image or masks.

    A label image has the frame's shape (at least 3 pixels wide), so an ``(n, 2)``
    array is always points.
    """
    s = np.asarray(seeds)
    return s.ndim == 2 and s.shape[1] == 2 and tuple(s.shape) != tuple(dims)


def _check_points(seeds: Any, dims: tuple[int, int]) -> np.ndarray:
    s = np.asarray(seeds, float)
    if not np.all(np.isfinite(s)):
        raise ValueError("seed points should be finite (row, column) pairs.")
    pts = np.round(s).astype(np.int64)
    h, w = dims
    out = (pts[:, 0] < 0) | (pts[:, 0] >= h) | (pts[:, 1] < 0) | (pts[:, 1] >= w)
    if out.any():
        r, c = pts[np.flatnonzero(out)[0]]
        raise ValueError(f"seed point ({r}, {c}) lies outside the {h}x{w} frame "
                         f"({int(out.sum())} of {len(pts)} points do).")
    # one seed per pixel, in the given order
    _, first = np.unique(pts[:, 0] * w + pts[:, 1], return_index=True)
    return pts[np.sort(first)]


def seed_owner(seeds: np.ndarray, grid: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Index of the patch each seed belongs to: the patch whose centre is nearest.

    Ties go to the first patch of the grid; every seed belongs to one patch only.
    """
    if len(seeds) == 0:
        return np.zeros(0, np.int64)
    centres = np.array([((y0 + y1 - 1) / 2, (x0 + x1 - 1) / 2) for y0, y1, x0, x1 in grid])
    d = np.abs(seeds[:, None, :] - centres[None]).max(axis=2)
    return np.argmin(d, axis=1).astype(np.int64)


def _no_seed_message(corr: np.ndarray, pnr: np.ndarray, params: CNMFParams) -> str:
    c = float(np.nanmax(corr)) if corr.size else float("nan")
    p = float(np.nanmax(pnr)) if pnr.size else float("nan")
    both = (corr >= params.min_corr) & (pnr >= params.min_pnr)
    return (f"no seed pixel reaches min_corr={params.min_corr:g} and "
            f"min_pnr={params.min_pnr:g}: the largest correlation is {c:.2f} and the "
            f"largest PNR {p:.1f} ({int(both.sum())} pixels pass both); lower "
            "'min_corr' or 'min_pnr' (the summary images corr_pnr and pnr, filtered with "
            "the same gSig, show them), or check 'gSig'.")


def _init_patch(movie: Any, bounds: tuple[int, int, int, int], seeds: np.ndarray,
                owned: np.ndarray, params: CNMFParams, T: int, automatic: bool,
                max_number: int | None) -> PatchFit:
    """One dask task: read a patch, average it over ``tsub`` frames, seed it greedily."""
    from .patches import _upsample_time

    y0, y1, x0, x1 = bounds
    h, w = y1 - y0, x1 - x0
    tsub = params.init_tsub(T)
    Yb = _read_averaged(movie.movie if isinstance(movie, Opaque) else movie, bounds, T, tsub)
    init = greedy_corr_pnr(
        Yb, gSig=params.gSig, gSiz=params.cell_box, min_corr=params.min_corr,
        min_pnr=params.min_pnr, seeds=seeds - np.array([y0, x0]),
        center_psf=params.center_psf,
        ring_radius=params.ring_radius if params.gnb == 0 else None, ssub_B=params.ssub_B,
        gnb=params.gnb, max_number=max_number, automatic=automatic,
        owned=owned[y0:y1, x0:x1], overwrite=True)  # the patch read is this task's own
    P = h * w
    K = init.K
    C = _upsample_time(init.C, tsub, T) if tsub > 1 else init.C
    z = np.zeros((K, T), np.float32)
    return PatchFit(bounds=bounds, A=sparse.csc_matrix(init.A), C=C, S=z, YrA=z.copy(),
                    baseline=np.zeros(K), g=np.zeros((K, params.p)), lam=np.zeros(K),
                    b=np.zeros((P, 0), np.float32), f=np.zeros((0, T), np.float32),
                    sn=np.zeros(P, np.float32), mean=np.zeros(P, np.float32),
                    info={"K_init": K, "first_pass": int(getattr(init, "n_first", K))})


#: Bytes of float32 frames of a patch read at a time before averaging over ``tsub``.
_PATCH_BLOCK_BYTES = 16 * 2**20


def _read_averaged(movie: Any, bounds: tuple[int, int, int, int], T: int, tsub: int
                   ) -> np.ndarray:
    """Read a patch averaged over ``tsub`` frames, a block of frames at a time.

    Memory is the averaged patch, not the whole patch: independent of the movie's
    length. Non-finite values are replaced by each pixel's mean over the whole
    movie (:func:`~.initialization.fill_nonfinite`), so a block holding any is
    read again with the whole patch.
    """
    from .patches import _downsample

    y0, y1, x0, x1 = bounds
    P = (y1 - y0) * (x1 - x0)
    n = (T // tsub) * tsub if tsub > 1 else T
    step = max(1, _PATCH_BLOCK_BYTES // (4 * P) // tsub) * tsub
    parts = []
    for t0 in range(0, n, step):
        block = read_patch(movie, bounds, slice(t0, min(n, t0 + step)))
        if not np.all(np.isfinite(block)):  # rare: the whole movie's means are needed
            Y = read_patch(movie, bounds)
            fill_nonfinite(Y.reshape(T, -1))
            return _downsample(Y, 1, tsub) if tsub > 1 else Y
        parts.append(_downsample(block, 1, tsub) if tsub > 1 else block)
    return np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]


def _owner_image(dims: tuple[int, int], grid: list[tuple[int, int, int, int]]
                 ) -> np.ndarray:
    """Patch index owning each pixel ``(h, w)`` (nearest patch centre)."""
    h, w = dims
    rr, cc = np.mgrid[0:h, 0:w]
    pix = np.stack([rr.ravel(), cc.ravel()], axis=1)
    return seed_owner(pix, grid).reshape(h, w)


def _compute(tasks: list[Any], message: str, workers: int) -> ProgressGenerator[list[Any]]:
    import dask

    from ..parallel import blas_single_threaded

    out: list[Any] = []
    yield Progress(0, len(tasks), message)
    for b0 in range(0, len(tasks), max(1, workers)):
        with blas_single_threaded():
            out.extend(dask.compute(*tasks[b0:b0 + max(1, workers)], scheduler="threads",
                                    num_workers=workers))
        release_memory()  # the tasks' temporaries, freed in the pool's threads
        yield Progress(len(out), len(tasks), message)
    return out


def _statistics(movie: Any, params: CNMFParams, workers: int, dims: tuple[int, int], T: int,
                in_memory: np.ndarray | None) -> ProgressGenerator[dict[str, Any]]:
    """Noise, mean and band background traces of every pixel (strips as dask tasks)."""
    import dask

    source = MatrixMovie(in_memory, dims) if in_memory is not None else Opaque(movie)
    gnb = params.gnb
    band_of_row = np.minimum(np.arange(dims[0]) * max(gnb, 1) // dims[0], max(gnb - 1, 0))
    task = dask.delayed(strip_task, pure=False)
    tasks = [task(source, b, params, None, band_of_row, gnb)
             for b in strip_grid((T, *dims))]
    stats = yield from _compute(tasks, "noise levels", workers)
    return pixel_statistics(stats, dims, T, gnb)


def iter_fit_one_photon(
    movie: Any,
    params: CNMFParams,
    *,
    seeds: Any = None,
    workers: int = 1,
    timings: dict[str, float],
    info: dict[str, Any],
    k_auto: bool = True,
    matrix: np.ndarray | None = None,
) -> ProgressGenerator[tuple]:
    """Run CNMF-E (module doc); return ``(res, sn, mean, movie, ring)``.

    ``res`` is the dict of :func:`~.patches.iter_fit_components` (``b``, ``f`` set
    to the baseline ``b0`` and ones with the ring model); ``movie`` the movie to
    evaluate on (the in-memory copy when there is one); ``ring`` the
    :class:`~.ring.RingModel`
    (None with ``gnb > 0``). ``matrix`` is the movie as an in-memory ``(T, P)``
    matrix when the caller read it.
    """
    import dask

    T, h, w = movie.shape
    dims = (h, w)
    P = h * w
    t0 = time.perf_counter()
    frames = Frames(matrix, dims, chunk_frames=params.chunk_frames) if matrix is not None \
        else Frames(movie, chunk_frames=params.chunk_frames)
    st = yield from _statistics(movie, params, workers, dims, T, matrix)
    sn, mean = st["sn"], st["mean"]
    timings["statistics"] = time.perf_counter() - t0
    # 1. seeds
    t0 = time.perf_counter()
    user = seeds is not None
    yield Progress(0, 1, "correlation and PNR images")
    source_movie = matrix.reshape(T, h, w) if matrix is not None else movie
    corr, pnr = correlation_pnr(source_movie, gSig=params.gSig, center_psf=params.center_psf)
    release_memory()
    yield Progress(1, 1, "correlation and PNR images")
    if user:
        points = _check_points(seeds, dims)
    else:
        points = find_seeds(corr, pnr, min_corr=params.min_corr, min_pnr=params.min_pnr,
                            gSig=params.gSig)
        if len(points) == 0:
            raise ValueError(_no_seed_message(corr, pnr, params))
    info.update(seeds=points.tolist(), n_seeds=int(len(points)),
                max_corr=float(np.nanmax(corr)),
                max_pnr=float(np.nanmax(pnr)), user_seeds=bool(user))
    timings["seeds"] = time.perf_counter() - t0
    # 2. greedy initialisation per patch
    t0 = time.perf_counter()
    grid = patch_grid(dims, params.rf, params.stride)
    owner = seed_owner(points, grid)
    owned_image = _owner_image(dims, grid)
    source = MatrixMovie(matrix, dims) if matrix is not None else Opaque(movie)
    task = dask.delayed(_init_patch, pure=False)
    max_number = None if k_auto else int(params.K)
    tasks = [task(source, bounds, points[owner == i], owned_image == i, params, T,
                  not user, max_number) for i, bounds in enumerate(grid)]
    fits = yield from _compute(tasks, "seeding patches (corr/PNR)", workers)
    st_fit = stitch(fits, dims, T, del_duplicates=params.del_duplicates)
    info.update(n_patches=len(grid), n_patch_components=int(st_fit.A.shape[1])
                + st_fit.n_duplicates, n_duplicates=st_fit.n_duplicates,
                first_pass=int(sum(f.info.get("first_pass", 0) for f in fits)))
    A, C = st_fit.A, st_fit.C
    del fits
    timings["patches"] = time.perf_counter() - t0
    # 3. whole field
    t0 = time.perf_counter()
    fit_params = params.replace(gnb=0) if params.ring else params
    ring = None
    res: dict[str, Any] = {}
    if A.shape[1] == 0:
        res = _empty(P, T, params)
    elif params.ring:
        tsub = params.init_tsub(T)
        for rnd in range(_RING_ROUNDS):
            yield Progress(rnd, _RING_ROUNDS, "ring background")
            # the first ring is fitted to the movie alone: the initial traces carry
            # crosstalk between neighbours, and a ring fitted to Y - A C with them
            # learns to predict (and so removes) cells' activity
            first = rnd == 0
            ring = fit_ring(frames, None if first else A, None if first else C,
                            radius=params.ring_radius, ssub_B=params.ssub_B, tsub=tsub,
                            mean=mean)
            release_memory()
            if rnd == 0:
                _warn_two_photon(ring)
            res = yield from iter_fit_components(
                RingFrames(frames, ring, None if first else A, None if first else C), A, C,
                np.zeros((P, 0), np.float32),
                np.zeros((0, T), np.float32), sn, fit_params, rounds=1,
                first_temporal=rnd == 0, merge=True, n_threads=workers,
                label=f"whole field (ring {rnd + 1}/{_RING_ROUNDS}): ")
            A, C = res["A"], res["C"]
            release_memory()
            if A.shape[1] == 0:
                break
    else:
        b0 = np.zeros((P, params.gnb), np.float32)
        res = yield from iter_fit_components(
            frames, A, C, b0, st["f0"], sn, params, rounds=_RING_ROUNDS,
            first_temporal=True, merge=True, n_threads=workers, label="whole field: ")
    info["merged"] = len(res.get("merged", []))
    timings["refine"] = time.perf_counter() - t0
    if ring is not None:
        ring = finish_ring(res, ring, mean)
        info["ring"] = {"radius": float(ring.radius), "ssub_B": int(ring.ssub_B),
                        "nnz": int(ring.W.nnz), "background_share": ring_share(ring)}
    # the evaluation subtracts the ring background itself (evaluate: result.ring)
    return res, sn, mean, source_movie, ring


def finish_ring(res: dict[str, Any], ring: RingModel, mean: np.ndarray) -> RingModel:
    """Give ``res`` the ring's baseline ``b0`` of the final components as its background.

    ``res["b"]`` becomes ``b0`` ``(P, 1)`` (what ΔF/F divides by), ``res["f"]`` ones,
    ``res["ring"]`` the ring model with that ``b0``, which is returned.
    """
    T = res["C"].shape[1]
    ring = RingModel(dims=ring.dims, ssub_B=ring.ssub_B, radius=ring.radius, W=ring.W,
                     b0=_baseline(mean, res["A"], res["C"]), share=ring.share)
    res.update(b=ring.b0.reshape(-1, 1), f=np.ones((1, T), np.float32), ring=ring)
    return ring


def seeded_ring(frames: Frames, params: CNMFParams, mean: np.ndarray) -> RingFrames:
    """Return the movie minus a ring background fitted to it alone (a fit from seeds).

    User ROIs (a label image, masks) and :func:`~napari_amnesia.core.cnmf.refit` of a
    one-photon result are fitted on ``Y - B`` like the automatic CNMF-E fit; the
    ring is fitted to the movie alone (no components: see the module doc) and warns
    as :func:`iter_fit_one_photon` does on a movie it explains little of.
    """
    ring = fit_ring(frames, None, None, radius=params.ring_radius, ssub_B=params.ssub_B,
                    tsub=params.init_tsub(frames.T), mean=mean)
    _warn_two_photon(ring)
    return RingFrames(frames, ring)


def _baseline(mean: np.ndarray, A: Any, C: np.ndarray) -> np.ndarray:
    b0 = np.asarray(mean, np.float32).reshape(-1).copy()
    if A.shape[1]:
        b0 -= np.asarray(A @ C.mean(axis=1), np.float32).ravel()
    return b0


def _empty(P: int, T: int, params: CNMFParams) -> dict[str, Any]:
    z = np.zeros((0, T), np.float32)
    return {"A": sparse.csc_matrix((P, 0), dtype=np.float32), "C": z, "S": z.copy(),
            "YrA": z.copy(), "baseline": np.zeros(0), "g": np.zeros((0, params.p)),
            "lam": np.zeros(0), "b": np.zeros((P, 0), np.float32),
            "f": np.zeros((0, T), np.float32), "merged": []}


def ring_share(ring: RingModel) -> float:
    """Share of the pixels' fluctuation (variance) that the ring model explains."""
    return float(ring.share)


def _warn_two_photon(ring: RingModel) -> None:
    share = ring_share(ring)
    if np.isfinite(share) and share < BACKGROUND_SHARE:
        warnings.warn(
            f"the ring background explains only {100 * share:.0f} % of the movie's "
            "fluctuations outside the cells: this does not look like a one-photon "
            "movie (a bright, fluctuating background). mode='one_photon' works on it, "
            "but mode='two_photon' is the one meant for such data.", UserWarning,
            stacklevel=4)


def ring_movie(result: Any, movie: Any) -> Any:
    """Return the movie minus a result's ring background, ``Y - B``, computed when read.

    Parameters
    ----------
    result : SourceResult
        A one-photon result (``result.ring`` set).
    movie : array_like, shape (T, Y, X)

    Returns
    -------
    RingMovie
        A ``(T, Y, X)`` array-like: indexing its frames corrects only those.
    """
    if getattr(result, "ring", None) is None:
        raise ValueError("this result has no ring background (it was not fitted with "
                         "method_init='corr_pnr' and gnb=0).")
    return RingMovie(RingFrames(Frames(movie), result.ring, result.footprints,
                                result.traces))


def ring_background(result: Any, movie: Any) -> Any:
    """Return the ring background ``B(t) = b0 + W (Y(t) - A C(t) - b0)`` of a movie, lazy.

    Parameters
    ----------
    result : SourceResult
        A one-photon result (``result.ring`` set).
    movie : array_like, shape (T, Y, X)
        The movie it was fitted on.

    Returns
    -------
    dask.array.Array, shape (T, Y, X), float32
    """
    if getattr(result, "ring", None) is None:
        raise ValueError("this result has no ring background (it was not fitted with "
                         "method_init='corr_pnr' and gnb=0).")
    return RingFrames(Frames(movie), result.ring, result.footprints,
                      result.traces).as_movie(background=True)

