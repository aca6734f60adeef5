"""Source extraction: CNMF with patches, component evaluation, OASIS deconvolution, ΔF/F.

A re-implementation of the constrained non-negative matrix factorization of
Pnevmatikakis et al. (2016) and CaImAn (Giovannucci et al. 2019), built from the
published method (no CaImAn code)::

    from napari_amnesia.core import cnmf
    result = cnmf.fit(movie, rf=15, stride=10, K=6, gSig=4, p=1, gnb=2)
    result.footprints            # scipy.sparse (Y*X, K), unit L2 norm
    result.traces, result.spikes, result.dff, result.accepted
    result.labels()              # (Y, X) label image of the accepted components
    result = cnmf.evaluate(result, movie, min_SNR=3)   # re-filter, no recomputation
    again = cnmf.refit(result, movie)                  # footprints as seeds
    edited = cnmf.fit(movie, seeds=label_image)        # user ROIs (label k -> component)
    result.save("run1/cnmf"); cnmf.SourceResult.load("run1/cnmf")

How :func:`fit` proceeds
------------------------
1. **Patches** (``rf`` set): the frame is cut into overlapping patches
   (:func:`~.patches.patch_grid`), each initialised in memory (greedy or sparse
   NMF, then HALS, at the rate of ``tsub``; with ``only_init=False`` the full CNMF
   too: :func:`~.patches.fit_patch`). A movie whose float32 copy is smaller than
   ``max_in_memory_mb`` is read once into memory (an 8- or 16-bit integer movie in its
   own type, cast to float32 a patch or a few frames at a time; a numpy array that
   already is the matrix, without a copy) and each patch is one dask task slicing
   its region; a larger (lazy) movie is never read whole: each band of
   patch rows is one dask task that reads only those rows
   (:func:`~.patches.band_task`). With ``rf=None`` the whole frame is one patch,
   on which the full CNMF runs, and the fit ends there.
2. **Stitching**: components go to full-frame coordinates; copies of a cell found by
   two patches are removed (:func:`~.patches.stitch`).
3. **Whole-field refinement**: a temporal update, then twice (spatial update,
   temporal update, merge) on the whole field (once after patches that ran the full
   CNMF), so footprints cut by patch borders are completed and duplicates missed
   by the stitching are merged. The products with the movie are computed in one
   pass each (:class:`~.updates.Frames`): from the in-memory copy when there is
   one, else streamed in time chunks of ``chunk_frames``.
4. **Evaluation** (``evaluate=True``): event SNR, spatial correlation and the
   accepted mask (:func:`evaluate`), then **ΔF/F** (``compute_dff=True``).

With ``seeds`` (a label image or a mask stack), steps 1-2 are replaced by the seeds:
footprints start as the masks and stay inside them, traces start as projections,
no component is merged or dropped, and label ``label_values[k]`` is component ``k``.

Bad input: a movie that is not ``(T, Y, X)`` raises a ValueError naming the shape;
NaN or infinite pixels are replaced by the pixel's mean over its finite frames (a
``RuntimeWarning`` says how many pixels); constant pixels and constant patches give
no components; a movie shorter than ``frames_window`` gets ΔF/F with a window of the
whole movie.

References
----------
.. [1] Pnevmatikakis, E. A. et al. (2016). Simultaneous denoising, deconvolution, and
   demixing of calcium imaging data. Neuron 89, 285-299.
.. [2] Giovannucci, A. et al. (2019). CaImAn, an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173.
.. [3] Friedrich, J., Zhou, P. & Paninski, L. (2017). Fast online deconvolution of
   calcium imaging data. PLoS Comput. Biol. 13, e1005423.
.. [4] Cichocki, A. & Phan, A.-H. (2009). Fast local algorithms for large scale
   nonnegative matrix and tensor factorizations. IEICE Trans. E92-A, 708-721.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import sparse

from ..progress import Progress, ProgressGenerator, drive
from .initialization import (
    all_finite,
    fill_nonfinite,
    greedy_roi,
    seed_masks,
    seeded,
    sparse_nmf,
)
from .params import CNMFParams
from .patches import (
    MatrixMovie,
    Opaque,
    band_task,
    fit_patch,
    global_background_traces,
    iter_fit_components,
    patch_bands,
    patch_grid,
    patch_task,
    pixel_statistics,
    stitch,
    strip_grid,
    strip_task,
)
from .result import SourceResult
from .sizing import GROW_ROUNDS, describe_sizes
from .updates import Frames, merge_components, update_spatial, update_temporal

__all__ = [
    "CNMFParams",
    "SourceResult",
    "fit",
    "iter_fit",
    "refit",
    "iter_refit",
    "evaluate",
    "compute_dff",
    "greedy_roi",
    "sparse_nmf",
    "seeded",
    "update_spatial",
    "update_temporal",
    "merge_components",
    "patch_grid",
    "capped_message",
]

logger = logging.getLogger(__name__)

#: Fewest frames a movie may have (noise and AR estimation need a spectrum).
MIN_FRAMES = 16
#: Spatial + temporal rounds on the whole field after patches that only initialise.
_GLOBAL_ROUNDS = 2
#: Share of the patches with components that must have found ``K`` of them for the
#: fit to say that ``K`` capped the count.
CAPPED_SHARE = 0.5


# --------------------------------------------------------------------------- helpers
def _check_movie(movie: Any) -> tuple[Any, tuple[int, int, int]]:
    if not hasattr(movie, "shape") or not hasattr(movie, "dtype"):
        movie = np.asarray(movie)
    shape = tuple(int(n) for n in movie.shape)
    if len(shape) != 3:
        raise ValueError(f"movie should be a (T, Y, X) array, got shape {shape}.")
    if np.dtype(movie.dtype).kind not in "biuf":
        raise ValueError(f"movie should hold real numbers, got dtype {movie.dtype}.")
    T, h, w = shape
    if T < MIN_FRAMES:
        raise ValueError(f"movie has {T} frames; CNMF needs at least {MIN_FRAMES} (noise "
                         "and calcium dynamics are estimated from each pixel's spectrum).")
    if h < 3 or w < 3:
        raise ValueError(f"movie frames of {h}x{w} pixels are too small for CNMF.")
    return movie, shape


def _compute_batches(tasks: list[Any], message: str, workers: int, *,
                     batch: int | None = None, local: bool = True
                     ) -> ProgressGenerator[list[Any]]:
    """Compute dask delayed tasks a few at a time (BLAS single-threaded), yielding progress.

    ``batch`` tasks per ``dask.compute`` call (default ``4 * workers``): memory holds
    that many tasks' inputs at most, and a cancel waits for one batch. ``local``
    tasks (they share an in-memory movie) run on the local threads; the others on
    dask's current scheduler (a ``dask.distributed`` client when one is active).
    """
    import dask

    from ..parallel import blas_single_threaded, release_memory

    out: list[Any] = []
    batch = batch or max(1, 4 * workers)
    options = {"scheduler": "threads", "num_workers": workers} if local else {}
    yield Progress(0, len(tasks), message)
    for b0 in range(0, len(tasks), batch):
        part = tasks[b0:b0 + batch]
        with blas_single_threaded():
            out.extend(dask.compute(*part, **options))
        release_memory()  # the tasks' temporaries, freed in the pool's threads
        yield Progress(len(out), len(tasks), message)
    return out


def _memory_dtype(movie: Any, params: CNMFParams) -> np.dtype | None:
    """Return the type the movie is held in memory in for the fit, or None to stream it.

    A movie whose float32 copy is at most ``max_in_memory_mb`` is read once; an
    integer movie of one or two bytes per pixel (uint8, uint16, int16: what cameras
    write) is held in its own type, half (or a quarter) of a float32 copy, and each
    patch and each time block is cast to float32 when used; any other movie is held
    as float32. The peak memory of a fit is mostly this copy.
    """
    T, h, w = movie.shape
    if 4.0 * T * h * w / 2**20 > params.max_in_memory_mb:
        return None
    dtype = np.dtype(movie.dtype)
    if dtype.kind in "iu" and dtype.itemsize <= 2:
        return dtype
    return np.dtype(np.float32)


def _load_matrix(movie: Any, chunk_frames: int | None, dtype: Any = np.float32
                 ) -> np.ndarray:
    """Read the whole movie as a ``(T, P)`` matrix of ``dtype`` (read in time chunks).

    Non-finite values are left for :func:`~.initialization.fill_nonfinite`.
    """
    from ..parallel import n_workers, thread_map

    T, h, w = movie.shape
    out = np.empty((T, h * w), dtype)
    step = chunk_frames or max(1, (8 * 2**20) // max(1, 4 * h * w))  # 8 MB of float32

    def load(t0: int) -> None:
        t1 = min(T, t0 + step)
        block = movie[t0:t1]
        if hasattr(block, "compute"):
            block = block.compute(scheduler="synchronous")
        out[t0:t1] = np.asarray(block).reshape(t1 - t0, h * w)  # one cast-and-copy

    list(thread_map(load, range(0, T, step), n_workers()))  # copies release the GIL
    return out


def _movie_matrix(movie: Any, chunk_frames: int | None, dtype: np.dtype
                  ) -> tuple[np.ndarray, int]:
    """Return the movie as the fit's ``(T, P)`` matrix, and its non-finite pixels.

    A numpy array that already is one (that type, C order, no NaN or inf) is used as
    it is, through a read-only view (the fit never writes into it: no copy of what
    the caller holds); anything else is read into a new matrix whose NaN and inf are
    replaced by each pixel's mean.
    """
    T, h, w = movie.shape
    if (isinstance(movie, np.ndarray) and movie.dtype == dtype
            and movie.flags.c_contiguous and all_finite(movie)):
        view = movie.reshape(T, h * w).view()
        view.flags.writeable = False
        return view, 0
    Yf = _load_matrix(movie, chunk_frames, dtype)
    return Yf, (fill_nonfinite(Yf) if dtype.kind == "f" else 0)


def _frames_for(movie: Any, params: CNMFParams, fill: np.ndarray | None
                ) -> tuple[Frames, Any]:
    """Frames for the whole-field updates, and the movie to evaluate on."""
    T, h, w = movie.shape
    dtype = _memory_dtype(movie, params)
    if dtype is not None:
        Yf, _ = _movie_matrix(movie, params.chunk_frames, dtype)
        return Frames(Yf, (h, w), chunk_frames=params.chunk_frames), Yf.reshape(T, h, w)
    logger.info("cnmf: streaming the %.0f MB movie in time chunks",
                4.0 * T * h * w / 2**20)
    return Frames(movie, chunk_frames=params.chunk_frames, fill=fill), movie


def _noise_image(Yf: np.ndarray, params: CNMFParams, workers: int) -> np.ndarray:
    """Noise level of every pixel of an in-memory ``(T, P)`` matrix, on threads.

    Pixels go in groups of about 2 MB of float64 (the spectrum's working size is a
    few times that, per thread: small next to the movie, as fast as larger groups).
    """
    from ..parallel import thread_map
    from .initialization import NOISE_FRAMES, pixel_noise

    T, P = Yf.shape
    per = max(1, (2 * 2**20) // (8 * max(min(T, NOISE_FRAMES), 1)))
    edges = np.unique(np.r_[np.arange(0, P, per), P])

    def part(e: tuple[int, int]) -> np.ndarray:
        return pixel_noise(Yf[:, e[0]:e[1]], noise_range=params.noise_range,
                           noise_method=params.noise_method)

    pieces = list(thread_map(part, list(zip(edges[:-1], edges[1:], strict=True)), workers))
    return np.concatenate(pieces).astype(np.float32)


def _warn_nonfinite(n_pixels: int) -> None:
    if n_pixels:
        message = (f"{n_pixels} pixel(s) hold NaN or infinite values; they were replaced "
                   "by each pixel's mean over its finite frames.")
        # one warning, not a log line as well (the CLI and the docks show warnings)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _count_capped(fits: list[Any], params: CNMFParams) -> dict[str, int] | None:
    """``{"K", "patches", "of"}`` when ``K`` limited the greedy search, else None.

    The greedy initialisation stops at the noise level or at ``K`` components; when
    at least :data:`CAPPED_SHARE` of the patches that found any component found
    ``K``, the patches probably hold more cells than ``K``. (Sparse NMF always makes
    ``K`` components: not a sign of anything.)
    """
    if params.method_init != "greedy_roi":
        return None
    found = [(int(pf.info.get("K_init", 0)), int(pf.info.get("K_max", params.K)))
             for pf in fits]
    active = [(k, most) for k, most in found if k > 0]
    full = [most for k, most in active if k >= most]
    if not active or len(full) < max(1.0, CAPPED_SHARE * len(active)):
        return None
    return {"K": int(max(full)), "patches": len(full), "of": len(active)}


def _record_growth(sizes: dict[str, Any], most: list[int]) -> None:
    """Say in ``sizes["K"]`` how many patches searched beyond the automatic ``K``."""
    K = int(sizes["K"]["value"])
    grown = [k for k in most if k > K]
    sizes["K"]["grown_patches"] = len(grown)
    sizes["K"]["largest"] = int(max(most, default=K))
    if grown:
        sizes["K"]["why"] += (f"; {len(grown)} of {len(most)} patch(es) reached it and "
                              f"searched again, up to K={max(grown)}")


def capped_message(capped: Mapping[str, int], *, name: str = "K") -> str:
    """One line telling that ``K`` capped the count, in the words of an interface.

    Parameters
    ----------
    capped : mapping
        ``result.info["k_capped"]``: ``K``, ``patches`` (that found ``K``
        components) and ``of`` (patches that found any).
    name : str
        How the interface calls ``K``: ``"K"`` (Python, the dock), ``"--k"`` (CLI).
        (The command line also translates the Python message: ``K=6`` and
        ``'K'`` become ``--k 6`` and ``--k``.)

    Examples
    --------
    >>> print(capped_message({"K": 6, "patches": 14, "of": 16}))
    ... # doctest: +NORMALIZE_WHITESPACE
    K=6 capped the count: 14 of 16 patches found 6 components, the most allowed;
    cells may be missed: raise 'K'.
    >>> print(capped_message({"K": 6, "patches": 14, "of": 16}, name="--k"))
    ... # doctest: +NORMALIZE_WHITESPACE
    --k 6 capped the count: 14 of 16 patches found 6 components, the most allowed;
    cells may be missed: raise --k.
    """
    K, n, of = int(capped["K"]), int(capped["patches"]), int(capped["of"])
    option = name.startswith("-")
    setting = f"{name} {K}" if option else f"{name}={K}"
    where = "the whole frame found" if of == 1 else f"{n} of {of} patches found"
    return (f"{setting} capped the count: {where} {K} component{'s' * (K != 1)}, the "
            "most allowed; "
            f"cells may be missed: raise {name if option else repr(name)}.")


def _version() -> str:
    from ... import __version__

    return __version__


def _provenance(shape: tuple[int, ...], dtype: Any, **extra: Any) -> dict[str, Any]:
    """Start a result's provenance (``elapsed_s`` is added when it is done)."""
    from datetime import datetime, timezone

    return {"version": _version(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "input_shape": list(shape), "input_dtype": str(np.dtype(dtype)), **extra}


# --------------------------------------------------------------------------- fit
def iter_fit(
    movie: Any,
    params: CNMFParams | Mapping[str, Any] | None = None,
    *,
    seeds: Any = None,
    **overrides: Any,
) -> ProgressGenerator[SourceResult]:
    """Fit as :func:`fit` does, yielding progress; return the result.

    Closing the generator (a cancel) stops the work at the next batch of patches or
    the next update; nothing is written anywhere.
    """
    t_start = time.perf_counter()
    params = CNMFParams.resolve(params, overrides)
    movie, shape = _check_movie(movie)
    T, h, w = shape
    dims = (h, w)
    auto = params.auto_sized
    params, sizes = params.sized(dims)  # rf, stride, K, gnb left to "auto" are chosen
    params.check_shape(shape)
    if auto and seeds is None:
        logger.info("cnmf: chosen for %dx%d frames and gSig=%s:\n%s", h, w, params.gSig,
                    describe_sizes(sizes))
    from ..parallel import n_workers

    workers = n_workers()
    timings: dict[str, float] = {}
    cpu0 = time.process_time()
    info: dict[str, Any] = {"timings": timings, "sizes": sizes}
    grow = GROW_ROUNDS if sizes["grow_K"] and seeds is None else 0
    prov = _provenance(shape, movie.dtype)
    grid = patch_grid(dims, params.rf, params.stride)
    label_values = mean_image = ring = None
    from .onephoton import is_seed_points, iter_fit_one_photon

    if seeds is not None and is_seed_points(seeds, dims) and not params.one_photon:
        raise ValueError("seed points (n, 2) seed CNMF-E: use mode='one_photon' (or "
                         "method_init='corr_pnr'); otherwise seeds are ROI masks.")
    if params.one_photon and (seeds is None or is_seed_points(seeds, dims)):
        mem = _memory_dtype(movie, params)  # one-photon CNMF-E (core.cnmf.onephoton)
        Yf, n_bad = _movie_matrix(movie, params.chunk_frames, mem) if mem else (None, 0)
        res, sn, mean_image, eval_movie, ring = yield from iter_fit_one_photon(
            movie, params, seeds=seeds, workers=workers, timings=timings, info=info,
            k_auto="K" in auto, matrix=Yf)
        capped, fits_k = None, []
    elif seeds is not None:
        res, sn, mean_image, label_values, n_bad, eval_movie = yield from _iter_seeded(
            movie, seeds, params, workers, timings)
        ring = res.get("ring")
        info["seeded"] = True
        info["n_patches"] = 0
        capped, fits_k = None, []
    elif len(grid) == 1:
        t0 = time.perf_counter()
        yield Progress(0, 1, "fitting the whole frame")
        # a copy (never the caller's array: NaN are filled in it)
        Y = np.array(movie.compute() if hasattr(movie, "compute") else movie,
                     dtype=np.float32, copy=True)
        # one patch is the whole field: the full CNMF runs on it (only_init is moot)
        pf = fit_patch(Y, params.replace(only_init=False), K=params.K, gnb=params.gnb,
                       copy=False, n_threads=workers, grow=grow)
        yield Progress(1, 1, "fitting the whole frame")
        res = {"A": pf.A, "C": pf.C, "S": pf.S, "YrA": pf.YrA, "baseline": pf.baseline,
               "g": pf.g, "lam": pf.lam, "b": pf.b, "f": pf.f}
        sn, mean_image, n_bad = pf.sn, pf.mean, pf.n_nonfinite
        info.update(n_patches=1, **pf.info)
        capped = _count_capped([pf], params)
        fits_k = [int(pf.info.get("K_max", params.K))]
        eval_movie = Y  # its NaN were filled by fit_patch (copy=False)
        timings["fit"] = time.perf_counter() - t0
    else:
        t0 = time.perf_counter()
        import dask

        mem_dtype = _memory_dtype(movie, params)
        in_memory = mem_dtype is not None
        if in_memory:
            # read once; patches slice it, the whole-field updates use it as is
            yield Progress(0, 1, "reading the movie")
            Yf, n_bad = _movie_matrix(movie, params.chunk_frames, mem_dtype)
            sn_image = _noise_image(Yf, params, workers).reshape(dims)
            source: Any = MatrixMovie(Yf, dims)
            yield Progress(1, 1, "reading the movie")
            timings["read"] = time.perf_counter() - t0
        else:
            source, sn_image, n_bad = Opaque(movie), None, 0
        if in_memory:  # one task per patch, slicing the matrix
            task = dask.delayed(patch_task, pure=False)
            tasks = [task(source, bounds, params, sn_image, grow=grow) for bounds in grid]
            fits = yield from _compute_batches(tasks, "fitting patches", workers)
        else:  # one task per band of rows: each read once from the lazy movie
            task = dask.delayed(band_task, pure=False)
            tasks = [task(source, band, patches, params, grow=grow)
                     for band, patches in patch_bands(grid)]
            fits = [pf for band in (yield from _compute_batches(
                tasks, "fitting patches (bands of rows)", workers, batch=workers,
                local=False)) for pf in band]
        st = stitch(fits, dims, T, del_duplicates=params.del_duplicates)
        capped = _count_capped(fits, params)
        fits_k = [int(pf.info.get("K_max", params.K)) for pf in fits]
        del fits
        timings["patches"] = time.perf_counter() - t0 - timings.get("read", 0.0)
        info.update(n_patches=len(grid), n_patch_components=int(st.A.shape[1])
                    + st.n_duplicates, n_duplicates=st.n_duplicates)
        sn, mean_image = st.sn, st.mean
        n_bad = n_bad if in_memory else st.n_nonfinite
        t0 = time.perf_counter()
        if in_memory:
            frames, eval_movie = Frames(Yf, dims, chunk_frames=params.chunk_frames), \
                Yf.reshape(T, h, w)
        else:
            yield Progress(0, 1, "streaming the movie for the whole-field updates")
            frames, eval_movie = _frames_for(movie, params, fill=mean_image)
        f0 = global_background_traces(st.f_patches, params.gnb, T)
        b0 = np.zeros((h * w, params.gnb), np.float32)
        C0 = st.C
        if params.only_init:
            # initialisation traces carry each cell's resting level: the spatial
            # update needs baseline-free traces (else footprints absorb background)
            C0 = np.maximum(C0 - np.percentile(C0, 8, axis=1, keepdims=True), 0) \
                if len(C0) else C0
        res = yield from iter_fit_components(
            frames, st.A, C0, b0, f0, sn, params,
            rounds=_GLOBAL_ROUNDS if params.only_init else 1, first_temporal=False,
            merge=True, n_threads=workers, label="whole field: ")
        timings["refine"] = time.perf_counter() - t0
        info["merged"] = len(res["merged"])
    _warn_nonfinite(n_bad)
    info["nonfinite_pixels"] = int(n_bad)
    if grow:
        _record_growth(sizes, fits_k)
    if capped is not None:
        info["k_capped"] = capped
        # one warning (the command line shows it in its own words: --k)
        warnings.warn(capped_message(capped), UserWarning, stacklevel=2)
    result = SourceResult(
        footprints=res["A"], traces=res["C"], spikes=res["S"], residual_traces=res["YrA"],
        background_footprints=res["b"], background_traces=res["f"],
        baseline=res["baseline"], g=res["g"], lam=res["lam"], sn=np.asarray(sn).reshape(dims),
        shape=dims, params=params, label_values=label_values,
        mean_image=None if mean_image is None else np.asarray(mean_image).reshape(dims),
        info=info, provenance=prov, ring=ring)
    if params.evaluate and result.K:
        t0 = time.perf_counter()
        yield Progress(0, 1, "evaluating components")
        result = evaluate(result, eval_movie)
        yield Progress(1, 1, "evaluating components")
        timings["evaluate"] = time.perf_counter() - t0
    if params.anatomical:
        from .anatomical import add_silent_cells

        t0 = time.perf_counter()
        yield Progress(0, 1, "silent cells of the mean image")
        result = add_silent_cells(eval_movie, result)
        yield Progress(1, 1, "silent cells of the mean image")
        timings["anatomical"] = time.perf_counter() - t0
    if params.compute_dff and result.K:
        t0 = time.perf_counter()
        result.dff = compute_dff(result)
        timings["dff"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    timings["cpu_total"] = time.process_time() - cpu0  # all threads
    prov["elapsed_s"] = round(timings["total"], 4)
    logger.info("cnmf: %d components (%d accepted) in %.1f s", result.K,
                int(result.accepted.sum()), timings["total"])
    return result


def _iter_seeded(movie: Any, seeds: Any, params: CNMFParams, workers: int,
                 timings: dict[str, float], *, init: SourceResult | None = None
                 ) -> ProgressGenerator[tuple]:
    """Fit from seeds (masks, or a previous result's footprints)."""
    import dask

    T, h, w = movie.shape
    dims = (h, w)
    t0 = time.perf_counter()
    if init is None:
        masks, values = seed_masks(seeds, dims)
        A0 = sparse.csc_matrix(masks.reshape(len(masks), -1).T)
        dilation = 0
    else:
        A0 = init.footprints
        values = init.label_values
        dilation = params.support_dilation
    exclude = np.asarray((A0 > 0).sum(axis=1)).reshape(dims) > 0
    gnb = params.gnb
    band_of_row = np.minimum(np.arange(h) * max(gnb, 1) // h, max(gnb - 1, 0))
    task = dask.delayed(strip_task, pure=False)
    tasks = [task(Opaque(movie), bounds, params, exclude, band_of_row, gnb)
             for bounds in strip_grid(movie.shape)]
    stats = yield from _compute_batches(tasks, "noise levels", workers, local=False)
    st = pixel_statistics(stats, dims, T, gnb)
    del stats
    frames, eval_movie = _frames_for(movie, params, fill=st["mean"])
    if params.ring:  # one-photon: the seeds are fitted on Y minus a ring background
        from .onephoton import finish_ring, seeded_ring

        frames = seeded_ring(frames, params, st["mean"])
    K = A0.shape[1]
    if init is not None and init.K == K:
        C0, f0 = init.traces, init.background_traces
        b0 = init.background_footprints
        if f0.shape[0] != gnb:
            f0, b0 = st["f0"], np.zeros((h * w, gnb), np.float32)
    else:
        from .updates import normalize_components, project

        A0n, _ = normalize_components(A0, np.zeros((K, 1)))
        AY, _ = project(frames, A0n)
        C0 = np.maximum(AY - np.percentile(AY, 8, axis=1, keepdims=True), 0) if K else \
            np.zeros((0, T))
        f0, b0 = st["f0"], np.zeros((h * w, gnb), np.float32)
    timings["seeds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = yield from iter_fit_components(
        frames, A0, C0, b0, f0, st["sn"], params, rounds=2, merge=False,
        first_temporal=False, support_dilation=dilation, fallback=sparse.csc_matrix(A0),
        n_threads=workers, label="seeded fit: ")
    if params.ring:
        finish_ring(res, frames.model, st["mean"])
    timings["fit"] = time.perf_counter() - t0
    return res, st["sn"], st["mean"], np.asarray(values), st["n_nonfinite"], eval_movie


def fit(
    movie: Any,
    params: CNMFParams | Mapping[str, Any] | None = None,
    *,
    seeds: Any = None,
    progress: Any = None,
    **overrides: Any,
) -> SourceResult:
    """Extract sources from a movie by CNMF (Pnevmatikakis et al. 2016, CaImAn).

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        numpy or dask array of any real dtype (e.g. from
        :func:`~napari_amnesia.core.io.open_movie`, or a motion-corrected movie).
        Patches read only their region; a large movie is streamed.
    params : CNMFParams or dict, optional
        Parameters (defaults: :class:`CNMFParams`).
    seeds : array_like, optional
        A label image ``(Y, X)`` (component ``k`` = the ``k``-th smallest non-zero
        label, recorded in ``result.label_values``) or a mask stack ``(K, Y, X)``:
        fit these ROIs instead of searching for cells.
    progress : callable, optional
        Called with each :class:`~napari_amnesia.core.progress.Progress`.
    **overrides
        Parameters by name (``rf=15, stride=10, K=6, gSig=4``).

    Returns
    -------
    SourceResult

    Raises
    ------
    ValueError
        For a bad parameter (named with its value), a movie that is not 3-D or
        shorter than 16 frames, seeds of another frame shape.

    Examples
    --------
    >>> from napari_amnesia.core.simulate import simulate
    >>> movie, truth = simulate(n_frames=300, shape=(48, 48), n_cells=4,
    ...                         n_neurite_groups=0, motion=False, rng=1)
    >>> result = fit(movie, K=8, gSig=4, evaluate=False, compute_dff=False)
    >>> result.footprints.shape[0], result.traces.shape[1]
    (2304, 300)
    """
    return drive(iter_fit(movie, params, seeds=seeds, **overrides), progress)


def iter_refit(result: SourceResult, movie: Any, **overrides: Any
               ) -> ProgressGenerator[SourceResult]:
    """Refit as :func:`refit` does, yielding progress; return the result."""
    t_start = time.perf_counter()
    params = result.params.replace(**overrides) if overrides else result.params
    params = params.sized(result.shape)[0]  # "auto" settings (gnb) chosen
    movie, shape = _check_movie(movie)
    if tuple(shape[1:]) != tuple(result.shape):
        raise ValueError(f"the movie's frames are {shape[1:]}, the result's {result.shape}.")
    from ..parallel import n_workers

    timings: dict[str, float] = {}
    res, sn, mean, values, n_bad, eval_movie = yield from _iter_seeded(
        movie, None, params, n_workers(), timings, init=result)
    _warn_nonfinite(n_bad)
    info = {"timings": timings, "nonfinite_pixels": int(n_bad)}
    prov = _provenance(shape, movie.dtype, refit_of=result.provenance.get("version"))
    new = SourceResult(
        footprints=res["A"], traces=res["C"], spikes=res["S"], residual_traces=res["YrA"],
        background_footprints=res["b"], background_traces=res["f"], baseline=res["baseline"],
        g=res["g"], lam=res["lam"], sn=sn.reshape(result.shape), shape=result.shape,
        params=params, label_values=values, mean_image=mean.reshape(result.shape), info=info,
        provenance=prov, ring=res.get("ring"))
    if params.evaluate and new.K:
        yield Progress(0, 1, "evaluating components")
        new = evaluate(new, eval_movie)
    if params.compute_dff and new.K:
        new.dff = compute_dff(new)
    timings["total"] = time.perf_counter() - t_start
    prov["elapsed_s"] = round(timings["total"], 4)
    return new


def refit(result: SourceResult, movie: Any, *, progress: Any = None, **overrides: Any
          ) -> SourceResult:
    """Run CNMF again from a previous result's footprints (and traces) as seeds.

    Components keep their order and labels; none is merged or dropped (an emptied
    footprint returns to its previous one). Use it after editing or filtering a
    result (``refit(result.select(result.accepted), movie)``), or with new
    parameters (``**overrides``).
    """
    return drive(iter_refit(result, movie, **overrides), progress)


# --------------------------------------------------------------------------- quality
_THRESHOLDS = ("min_SNR", "SNR_lowest", "rval_thr", "rval_lowest", "min_size", "max_size",
               "require_both", "joint_SNR", "joint_rval", "max_width_ratio",
               "min_cell_probability")


def evaluate(result: SourceResult, movie: Any = None, *, recompute: bool = False,
             **thresholds: Any) -> SourceResult:
    """Quality metrics and the accepted mask of a result (CaImAn's evaluation).

    The event SNR of each raw trace and the spatial correlation of each footprint
    with the movie during its events are computed once and stored
    (:mod:`.evaluation`); components are accepted by
    :func:`~napari_amnesia.core.cnmf.evaluation.decide` with the thresholds of the
    result's parameters, overridden by ``thresholds``. Calling it again with new
    thresholds only re-filters (no movie needed).

    Parameters
    ----------
    result : SourceResult
    movie : array_like, shape (T, Y, X), optional
        Needed the first time (or with ``recompute``).
    recompute : bool
        Compute the metrics again even if present.
    **thresholds
        ``min_SNR``, ``SNR_lowest``, ``rval_thr``, ``rval_lowest``, ``min_size``,
        ``max_size``, ``require_both`` (True: SNR and r-value must both pass; False,
        the default: either, as CaImAn), ``joint_SNR`` and ``joint_rval`` (a weaker
        pair that accepts when both are reached), ``max_width_ratio`` (reject footprints
        wider than this multiple of the clear cells' median width),
        ``min_cell_probability`` (also require the shipped classifier's probability; its
        features need the movie the first time).

    Returns
    -------
    SourceResult
        A new result (the given one is not modified) with ``snr``, ``r_values``,
        ``accepted`` and the thresholds in ``params``.
    """
    from . import evaluation

    unknown = sorted(set(thresholds) - set(_THRESHOLDS))
    if unknown:
        raise TypeError(f"unknown threshold(s) {', '.join(map(repr, unknown))}; known: "
                        f"{', '.join(_THRESHOLDS)}.")
    params = result.params.replace(**thresholds) if thresholds else result.params
    snr, r_values = result.snr, result.r_values
    if result.K == 0:
        return replace(result, params=params, snr=np.zeros(0), r_values=np.zeros(0),
                       accepted=np.zeros(0, bool))
    if snr is None or r_values is None or recompute:
        if movie is None:
            raise ValueError("evaluate needs the movie to compute the quality metrics "
                             "the first time (evaluate(result, movie)).")
        movie, shape = _check_movie(movie)
        if tuple(shape[1:]) != tuple(result.shape) or shape[0] != result.n_frames:
            raise ValueError(f"the movie has shape {shape}, the result was fitted on "
                             f"{result.n_frames} frames of {result.shape}.")
        snr = _event_snr(result, params)
        b, f = result.background
        if result.ring is not None:  # one-photon: against Y minus the ring background
            from .onephoton import ring_movie

            movie, b = ring_movie(result, movie), b[:, :0]
        r_out = evaluation.spatial_r_values(movie, result.footprints, result.traces,
                                            background=(b, f) if b.shape[1] else None)
        r_values = np.asarray(r_out[0] if isinstance(r_out, tuple) else r_out, np.float64)
    accepted = np.asarray(evaluation.decide(
        snr, r_values, result.sizes(), min_SNR=params.min_SNR, SNR_lowest=params.SNR_lowest,
        rval_thr=params.rval_thr, rval_lowest=params.rval_lowest, min_size=params.min_size,
        max_size=params.max_size, require_both=params.require_both,
        joint_SNR=params.joint_SNR, joint_rval=params.joint_rval,
        widths=evaluation.footprint_widths(result.footprints, result.shape)
        if params.max_width_ratio is not None else None,
        max_width_ratio=params.max_width_ratio), bool)
    if result.anatomical is not None and result.accepted is not None:
        # silent cells of the mean image have no events to judge: they keep the flag
        # they were given (or the user's), whatever the thresholds
        anat = np.asarray(result.anatomical, bool)
        accepted[anat] = np.asarray(result.accepted, bool)[anat]
    info = dict(result.info)
    info["evaluation"] = {k: getattr(params, k) for k in _THRESHOLDS}
    out = replace(result, params=params, snr=np.asarray(snr, np.float64),
                  r_values=r_values, accepted=accepted, info=info)
    # the shipped classifier on top of the rule, when asked (probabilities kept in info)
    return evaluation.apply_cell_probability(
        out, movie, min_cell_probability=params.min_cell_probability, recompute=recompute)


def _event_snr(result: SourceResult, params: CNMFParams) -> np.ndarray:
    from . import evaluation

    out = evaluation.event_snr(result.raw_traces, n_events=params.event_frames)
    if isinstance(out, tuple):
        out = out[0]
    return np.asarray(out, np.float64)


def compute_dff(result: SourceResult, **overrides: Any) -> np.ndarray:
    """ΔF/F of every component (:func:`~napari_amnesia.core.cnmf.dff.detrend_df_f`).

    Uses the result's ``quantile_min``, ``frames_window`` (at most the movie's
    length), ``flag_auto``, ``use_residuals`` and ``detrend_only`` unless given in
    ``overrides``.
    """
    from .dff import detrend_df_f

    p = result.params.replace(**overrides) if overrides else result.params
    b, f = result.background
    return np.asarray(detrend_df_f(
        result.footprints, b, result.traces, f, YrA=result.residual_traces,
        quantile_min=p.quantile_min, frames_window=min(p.frames_window, result.n_frames),
        flag_auto=p.flag_auto, use_residuals=p.use_residuals,
        detrend_only=p.detrend_only), np.float32)
