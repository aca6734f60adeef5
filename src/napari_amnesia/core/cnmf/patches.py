"""CNMF on patches: the grid, the fit of one patch, stitching the patches together.

The field of view is cut into overlapping square patches of ``2 * rf`` pixels,
neighbours overlapping by ``stride`` pixels (CaImAn's ``rf`` and ``stride``,
Giovannucci et al. 2019 [2]_); the last patch of each row/column is aligned with
the frame's edge. Patches are dask tasks that read only their region of the movie:
:func:`patch_task` slices one patch (``movie[:, y0:y1, x0:x1]`` computed inside the
task; used on a movie held in memory), :func:`band_task` reads one band of patch
rows of a lazy movie once and fits the patches in it (a patch's rows are contiguous
in the file, so this reads each byte once instead of once per patch). Each patch is
fitted in memory (:func:`fit_patch`) and its components returned in patch
coordinates; nothing of its pixels outlives the task. :func:`stitch` maps them to
the full frame and removes the copies of a cell found by two overlapping patches
(supports overlapping by half the smaller one and traces correlating above 0.7: the
copy farther from its patch's inner borders is kept, since the other may be cut).

:func:`fit_patch` with ``only_init`` (the default for patches, as CaImAn's
``only_init``) initialises only: greedy or sparse NMF, then HALS, all on the movie
averaged over ``tsub`` frames; the updates then run on the whole field
(:func:`iter_fit_components`). Without ``only_init``, and for ``rf=None``, it runs
the full CNMF: initialisation, HALS, then a temporal update and twice (spatial
update, temporal update, merging) — the order of Pnevmatikakis et al. 2016 [1]_,
with a first temporal update so the spatial regression sees baseline-free,
deconvolved traces.

References
----------
.. [1] Pnevmatikakis, E. A. et al. (2016). Neuron 89, 285-299.
.. [2] Giovannucci, A. et al. (2019). CaImAn. eLife 8, e38173.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from ..progress import Progress, drive
from .initialization import (
    Initialization,
    background_nmf,
    fill_nonfinite,
    nonfinite_pixels,
    pixel_noise,
    sparse_nmf,
)
from .initialization.greedy import _greedy
from .params import CNMFParams
from .sizing import grow_initialization
from .updates import (
    Deconvolution,
    Frames,
    caiman_noise_scale,
    hals,
    merge_components,
    normalize_components,
    update_spatial,
    update_temporal,
)

#: Merging passes after each round (a merged component may match another one).
_MERGE_PASSES = 3

__all__ = ["patch_grid", "PatchFit", "fit_patch", "read_patch", "stitch", "Stitched",
           "fit_components", "iter_fit_components", "global_background_traces",
           "initialize", "patch_task", "band_task", "patch_bands", "pixel_statistics",
           "MatrixMovie", "Opaque"]

logger = logging.getLogger(__name__)


def _starts(n: int, size: int, step: int) -> list[int]:
    if size >= n:
        return [0]
    starts = list(range(0, n - size + 1, step))
    if starts[-1] != n - size:
        starts.append(n - size)
    return starts


def patch_grid(dims: tuple[int, int], rf: int | None, stride: int) -> list[tuple[int, ...]]:
    """Patches ``(y0, y1, x0, x1)`` covering a ``dims`` frame.

    Patches are ``2 * rf`` wide (clipped to the frame), start every ``2 * rf -
    stride`` pixels, and the last one of each axis ends at the frame's edge.
    ``rf=None`` gives the whole frame.

    Examples
    --------
    >>> patch_grid((64, 40), 10, 4)[:3]
    [(0, 20, 0, 20), (0, 20, 16, 36), (0, 20, 20, 40)]
    """
    h, w = (int(v) for v in dims)
    if rf is None:
        return [(0, h, 0, w)]
    size = 2 * int(rf)
    step = max(1, size - int(stride))
    return [(y0, min(h, y0 + size), x0, min(w, x0 + size))
            for y0 in _starts(h, size, step) for x0 in _starts(w, size, step)]


@dataclass
class PatchFit:
    """Components of one patch, in patch coordinates (pixels in C order)."""

    bounds: tuple[int, int, int, int]
    A: sparse.csc_matrix
    C: np.ndarray
    S: np.ndarray
    YrA: np.ndarray
    baseline: np.ndarray
    g: np.ndarray
    lam: np.ndarray
    b: np.ndarray
    f: np.ndarray
    sn: np.ndarray
    mean: np.ndarray
    nonfinite: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def K(self) -> int:  # noqa: N802
        """Number of components."""
        return int(self.A.shape[1])

    @property
    def n_nonfinite(self) -> int:
        """Pixels of the patch that held NaN or infinite values."""
        return int(self.nonfinite.size)


def read_patch(movie: Any, bounds: tuple[int, int, int, int], frames: slice = slice(None)
               ) -> np.ndarray:
    """Read ``movie[frames, y0:y1, x0:x1]`` as float32 (a dask movie: only that region)."""
    y0, y1, x0, x1 = bounds
    region = movie[frames, y0:y1, x0:x1]
    if hasattr(region, "compute"):
        region = region.compute(scheduler="synchronous")
    return np.asarray(region, dtype=np.float32)


def _downsample(Y: np.ndarray, ssub: int, tsub: int) -> np.ndarray:
    T, h, w = Y.shape
    T2, h2, w2 = T // tsub, h // ssub, w // ssub
    if min(T2, h2, w2) < 1:
        return Y
    Z = Y[:T2 * tsub, :h2 * ssub, :w2 * ssub]
    return Z.reshape(T2, tsub, h2, ssub, w2, ssub).mean(axis=(1, 3, 5))


def _upsample_init(init: Initialization, dims: tuple[int, int], T: int, ssub: int,
                   tsub: int) -> Initialization:
    h, w = dims
    h2, w2 = init.dims

    def up_spatial(M: np.ndarray) -> np.ndarray:
        n = M.shape[1]
        img = M.T.reshape(n, h2, w2)
        img = np.repeat(np.repeat(img, ssub, axis=1), ssub, axis=2)
        out = np.zeros((n, h, w), np.float32)
        out[:, :img.shape[1], :img.shape[2]] = img[:, :h, :w]
        # rows/columns beyond the downsampled grid copy the last ones
        if img.shape[1] < h:
            out[:, img.shape[1]:] = out[:, img.shape[1] - 1:img.shape[1]]
        if img.shape[2] < w:
            out[:, :, img.shape[2]:] = out[:, :, img.shape[2] - 1:img.shape[2]]
        return out.reshape(n, h * w).T

    return Initialization(A=up_spatial(init.A), C=_upsample_time(init.C, tsub, T),
                          b=up_spatial(init.b), f=_upsample_time(init.f, tsub, T), dims=dims,
                          centers=init.centers * ssub)


def initialize(Yf: np.ndarray, dims: tuple[int, int], params: CNMFParams, *, K: int,
               gnb: int, sn: np.ndarray) -> Initialization:
    """Greedy or sparse-NMF initialisation of an in-memory ``(T, P)`` matrix."""
    T = Yf.shape[0]
    ssub, tsub = params.ssub, params.init_tsub(T)
    small = ssub > 1 or tsub > 1
    if small:
        Y3 = _downsample(Yf.reshape(T, *dims), ssub, tsub)
        sdims = Y3.shape[1:]
        Ys = np.ascontiguousarray(Y3.reshape(len(Y3), -1), np.float32)
        # averaging tsub frames divides white noise by sqrt(tsub); spatial binning
        # mixes pixels of different noise: estimated again
        sn_s = sn / np.float32(np.sqrt(tsub)) if ssub == 1 else None
    else:
        sdims, Ys, sn_s = dims, Yf, sn
    if params.method_init == "greedy_roi":
        gsig = tuple(v / ssub for v in params.gSig)
        gsiz = tuple(max(3, int(round(v / ssub)) | 1) for v in params.cell_box)
        init = _greedy(Ys, sdims, K, gsig, gsiz, nIter=params.nIter,
                       rolling_sum=params.rolling_sum,
                       rolling_length=max(1, params.rolling_length // tsub), gnb=gnb,
                       sn=sn_s, noise_range=params.noise_range,
                       noise_method=params.noise_method)
    else:
        init = sparse_nmf(Ys.reshape(len(Ys), *sdims), K, alpha=params.alpha_snmf, gnb=gnb,
                          rng=params.seed)
    if small:
        init = _upsample_init(init, dims, T, ssub, tsub)
    return init


def _upsample_time(M: np.ndarray, tsub: int, T: int) -> np.ndarray:
    out = np.repeat(M, tsub, axis=1)[:, :T]
    if out.shape[1] < T:
        out = np.concatenate([out, np.repeat(out[:, -1:], T - out.shape[1], axis=1)], axis=1)
    return np.ascontiguousarray(out, np.float32)


def iter_fit_components(
    frames: Frames,
    A: Any,
    C: np.ndarray,
    b: np.ndarray,
    f: np.ndarray,
    sn: np.ndarray,
    params: CNMFParams,
    *,
    rounds: int = 2,
    merge: bool = True,
    first_temporal: bool = True,
    support_dilation: int | None = None,
    fallback: sparse.csc_matrix | None = None,
    n_threads: int = 1,
    label: str = "",
) -> Any:
    """Alternate temporal and spatial updates (and merging) from a starting point.

    A generator: yields a :class:`~napari_amnesia.core.progress.Progress` after each
    update (``label`` prefixes their messages) and returns the dict below;
    :func:`fit_components` runs it.

    The sequence is: [temporal], then ``rounds`` times (spatial, temporal), merging
    after each round when ``merge`` (repeated until nothing merges, at most three
    times). Components whose trace becomes empty, or whose footprint shrinks below
    ``params.min_pixels`` (fragments), are dropped, unless ``fallback`` (the seeds)
    is given: then an empty footprint returns to its seed and nothing is dropped.

    Returns
    -------
    dict
        ``A`` (csc, unit-norm columns), ``C``, ``S``, ``YrA``, ``baseline``, ``g``,
        ``lam``, ``b``, ``f``, ``keep`` (indices of the starting components that
        survive, -1 for merged ones), ``merged`` (groups).
    """
    deconv = Deconvolution.from_params(params)
    dil = params.support_dilation if support_dilation is None else support_dilation
    min_pixels = params.min_pixels
    A = sparse.csc_matrix(A, dtype=np.float32)
    K = A.shape[1]
    A, C = normalize_components(A, np.asarray(C, np.float32))
    origin = np.arange(K)
    C = np.asarray(C, np.float32)
    b = np.asarray(b, np.float32)
    f = np.asarray(f, np.float32)
    out: dict[str, Any] = {}
    merged: list = []

    def temporal() -> None:
        nonlocal C, f
        g = out.get("g")
        if g is not None and len(g) != A.shape[1]:
            g = None
        tr = update_temporal(frames, A, b, C, f, deconvolution=deconv, ITER=params.ITER,
                             g=g, n_threads=n_threads)
        C, f = tr.C, tr.f
        out.update(S=tr.S, YrA=tr.YrA, baseline=tr.baseline, g=tr.g, lam=tr.lam)

    steps = int(first_temporal or rounds == 0) + 2 * rounds
    done = 0

    def step(message: str) -> Progress:
        nonlocal done
        done += 1
        return Progress(done, steps, f"{label}{message}")

    if first_temporal or rounds == 0:
        temporal()
        yield step("temporal update")
    for _ in range(rounds):
        A_new, b, _ = update_spatial(frames, C, f, A, sn, b=b, support_dilation=dil,
                                     method_ls=params.method_ls, maxthr=params.maxthr,
                                     nrgthr=params.nrgthr, extract_cc=params.extract_cc,
                                     noise_scale=caiman_noise_scale(params.noise_method),
                                     n_threads=n_threads)
        nnz = np.asarray(A_new.getnnz(axis=0)).ravel()
        # fragments (a few pixels) are not sources: dropped with the empty ones
        empty = nnz < (min_pixels if fallback is None else 1)
        if fallback is not None and empty.any():
            A_new = A_new.tolil()
            for k in np.flatnonzero(empty):
                A_new[:, k] = fallback[:, origin[k]] if origin[k] >= 0 else A[:, k]
            A_new = A_new.tocsc()
            empty[:] = False
        if empty.any():
            keep = ~empty
            A_new = A_new[:, keep]
            C = C[keep]
            origin = origin[keep]
            for key in ("S", "YrA", "baseline", "g", "lam"):
                if key in out:
                    out[key] = out[key][keep]
        A, C = normalize_components(A_new, C)
        yield step("spatial update")
        temporal()
        yield step("temporal update")
        if fallback is None:
            dead = ~np.asarray(C).any(axis=1)
            if dead.any():
                keep = ~dead
                A, C, origin = A[:, keep], C[keep], origin[keep]
                for key in ("S", "YrA", "baseline", "g", "lam"):
                    out[key] = out[key][keep]
        # merge until nothing merges (a merged component may now match another)
        for _ in range(_MERGE_PASSES if merge and params.do_merge else 0):
            if A.shape[1] < 2:
                break
            extra = {k: out[k] for k in ("S", "baseline", "g", "lam")}
            extra["origin"] = origin
            A, C, YrA, extra, groups = merge_components(
                A, C, out["YrA"], merge_thr=params.merge_thr, deconvolution=deconv,
                extra=extra, n_threads=n_threads)
            origin = extra.pop("origin")
            out.update(extra)
            out["YrA"] = YrA
            if not groups:
                break
            origin[len(origin) - len(groups):] = -1
            merged.extend(groups)
    out.update(A=sparse.csc_matrix(A, dtype=np.float32), C=np.asarray(C, np.float32), b=b,
               f=f, keep=origin, merged=merged)
    return out


def fit_components(frames: Frames, A: Any, C: np.ndarray, b: np.ndarray, f: np.ndarray,
                   sn: np.ndarray, params: CNMFParams, **kwargs: Any) -> dict[str, Any]:
    """Run :func:`iter_fit_components` to the end and return its result."""
    return drive(iter_fit_components(frames, A, C, b, f, sn, params, **kwargs))


def fit_patch(
    Y: np.ndarray,
    params: CNMFParams,
    *,
    K: int | None = None,
    gnb: int | None = None,
    bounds: tuple[int, int, int, int] | None = None,
    sn: np.ndarray | None = None,
    copy: bool = True,
    n_threads: int = 1,
    grow: int = 0,
) -> PatchFit:
    """Fit CNMF on one patch (or a whole small movie) held in memory.

    With ``params.only_init`` the patch is only initialised (greedy or sparse NMF,
    then HALS), on the movie averaged over ``tsub`` frames; otherwise the CNMF
    updates follow (:func:`fit_components`).

    Parameters
    ----------
    Y : ndarray, shape (T, Y, X)
        The patch (any real dtype; NaN/inf become the pixel's mean).
    params : CNMFParams
    K, gnb : int, optional
        Components and background rank (default ``params.K`` and ``params.nb_patch``
        for a patch, ``params.gnb`` for a whole frame).
    bounds : tuple, optional
        Where the patch lies in the frame (recorded).
    sn : ndarray, shape (Y * X,), optional
        Noise level of each pixel (estimated when not given).
    copy : bool
        Work on a copy of ``Y`` (False: ``Y`` may be modified, e.g. NaN filled).
    n_threads : int
    grow : int
        Times a greedy search that reaches ``K`` runs again with twice ``K``
        (:func:`~.sizing.grow_initialization`; 0: ``K`` is a hard limit). The
        ``K`` finally allowed is ``info["K_max"]``.

    Returns
    -------
    PatchFit
    """
    Y = np.asarray(Y)
    T, h, w = Y.shape
    dims = (h, w)
    P = h * w
    bounds = bounds or (0, h, 0, w)
    K = params.K if K is None else K
    gnb = params.gnb if gnb is None else gnb
    Yf = np.array(Y.reshape(T, P), dtype=np.float32, copy=copy)
    bad = nonfinite_pixels(Yf)
    fill_nonfinite(Yf, bad)
    mean = Yf.mean(axis=0)
    if sn is None:
        sn = pixel_noise(Yf, noise_range=params.noise_range, noise_method=params.noise_method)
    sn = np.asarray(sn, np.float32).reshape(P)
    empty = PatchFit(bounds=bounds, A=sparse.csc_matrix((P, 0), dtype=np.float32),
                     C=np.zeros((0, T), np.float32), S=np.zeros((0, T), np.float32),
                     YrA=np.zeros((0, T), np.float32), baseline=np.zeros(0),
                     g=np.zeros((0, params.p)), lam=np.zeros(0),
                     b=np.zeros((P, gnb), np.float32), f=np.ones((gnb, T), np.float32),
                     sn=sn, mean=mean, nonfinite=bad)
    if gnb:
        empty.b[:, 0] = mean
    if not np.any(sn > 0):
        # a constant patch has nothing to extract; its background is its mean
        empty.info["constant"] = True
        return empty
    if params.only_init:
        # initialisation only: everything at the rate of the initialisation (tsub),
        # traces brought back to the full rate by repetition (the whole-field
        # temporal update recomputes them from the footprints)
        tsub = params.init_tsub(T)
        Yb = _downsample(Yf.reshape(T, h, w), 1, tsub).reshape(-1, P) if tsub > 1 else Yf
        Yb = np.ascontiguousarray(Yb, np.float32)
        del Y, Yf  # the full-rate patch is not needed any more (freed if not the caller's)
        p1, sn1 = params.replace(tsub=1), sn / np.float32(np.sqrt(tsub))
        init, K = _initialize(lambda k: initialize(Yb, dims, p1, K=k, gnb=gnb, sn=sn1),
                              K, params, grow)
        A, C, b, f = hals(Yb, init.A, init.C, init.b, init.f, dims=dims,
                          n_iter=params.maxIter, support_dilation=params.support_dilation)
        keep = A.any(axis=0) & C.any(axis=1)
        A, C = A[:, keep], C[keep]
        if tsub > 1:
            C, f = _upsample_time(C, tsub, T), _upsample_time(f, tsub, T)
        if A.shape[1] == 0:
            empty.b, empty.f = b, f
            return empty
        A_s, C_s = normalize_components(sparse.csc_matrix(A), C)
        Kk = A_s.shape[1]
        return PatchFit(bounds=bounds, A=A_s, C=C_s, S=np.zeros_like(C_s),
                        YrA=np.zeros_like(C_s), baseline=np.zeros(Kk),
                        g=np.zeros((Kk, params.p)), lam=np.zeros(Kk), b=b, f=f, sn=sn,
                        mean=mean, nonfinite=bad, info={"K_init": init.K, "K_max": K})
    init, K = _initialize(lambda k: initialize(Yf, dims, params, K=k, gnb=gnb, sn=sn),
                          K, params, grow)
    A, C, b, f = hals(Yf, init.A, init.C, init.b, init.f, dims=dims, n_iter=params.maxIter,
                      support_dilation=params.support_dilation)
    keep = A.any(axis=0) & C.any(axis=1)
    A, C = A[:, keep], C[keep]
    if A.shape[1] == 0:
        empty.b, empty.f = b, f
        return empty
    res = fit_components(Frames(Yf, dims), A, C, b, f, sn, params, n_threads=n_threads)
    return PatchFit(bounds=bounds, A=res["A"], C=res["C"], S=res["S"], YrA=res["YrA"],
                    baseline=res["baseline"], g=res["g"], lam=res["lam"], b=res["b"],
                    f=res["f"], sn=sn, mean=mean, nonfinite=bad,
                    info={"K_init": init.K, "K_max": K, "merged": len(res["merged"])})


def _initialize(run: Any, K: int, params: CNMFParams, grow: int) -> tuple[Any, int]:
    """``run(K)``, again with more components while a greedy search reaches ``K``."""
    if not grow or params.method_init != "greedy_roi":
        return run(K), K
    return grow_initialization(run, K, rounds=grow)


class Opaque:
    """Holds a (dask) movie so that dask does not compute it as a task argument.

    ``dask.delayed(f)(array)`` computes a dask ``array`` in full before calling
    ``f``; tasks that must read only a region of it receive it wrapped in this.
    """

    def __init__(self, movie: Any) -> None:
        self.movie = movie


def _unwrap(movie: Any) -> Any:
    return movie.movie if isinstance(movie, Opaque) else movie


def patch_task(movie: Any, bounds: tuple[int, int, int, int], params: CNMFParams,
               sn: np.ndarray | None = None, *, grow: int = 0) -> PatchFit:
    """One dask task: read the patch's region only, and fit it.

    ``sn`` is the noise image ``(Y, X)`` when already known (its region is used);
    ``grow`` as in :func:`fit_patch`.
    """
    y0, y1, x0, x1 = bounds
    sn_patch = None if sn is None else np.ascontiguousarray(sn[y0:y1, x0:x1]).ravel()
    # the patch read is held by fit_patch only, which frees it once averaged over tsub
    return fit_patch(read_patch(_unwrap(movie), bounds), params, K=params.K,
                     gnb=params.nb_patch, bounds=bounds, sn=sn_patch, copy=False,
                     grow=grow)


def band_task(movie: Any, band: tuple[int, int], patches: list[tuple[int, int, int, int]],
              params: CNMFParams, *, grow: int = 0) -> list[PatchFit]:
    """One dask task: read a band of rows once and fit the patches lying in it.

    For a movie read from disk: the rows ``band`` of every frame are read once (the
    union of the patches' regions; reading a 30-pixel-wide patch alone would read
    its rows whole anyway), the noise of every pixel of the band is estimated once,
    and each patch is fitted from the band in memory.
    """
    movie = _unwrap(movie)
    y0, y1 = band
    X = int(movie.shape[2])
    Yb = read_patch(movie, (y0, y1, 0, X))
    T = Yb.shape[0]
    flat = Yb.reshape(T, -1)
    cols = nonfinite_pixels(flat)
    bad = np.zeros(flat.shape[1], bool)
    bad[cols] = True
    bad = bad.reshape(y1 - y0, X)
    fill_nonfinite(flat, cols)
    sn = pixel_noise(flat, noise_range=params.noise_range,
                     noise_method=params.noise_method).reshape(y1 - y0, X)
    fits = []
    for bounds in patches:
        py0, py1, px0, px1 = bounds
        region = (slice(py0 - y0, py1 - y0), slice(px0, px1))
        pf = fit_patch(Yb[:, region[0], region[1]], params, K=params.K, gnb=params.nb_patch,
                       bounds=bounds, sn=np.ascontiguousarray(sn[region]).ravel(),
                       grow=grow)
        pf.nonfinite = np.flatnonzero(bad[region].ravel())
        fits.append(pf)
    return fits


def patch_bands(grid: list[tuple[int, int, int, int]]) -> list[tuple[tuple[int, int], list]]:
    """Patches of :func:`patch_grid` grouped by their rows: ``[((y0, y1), patches)]``."""
    bands: dict[tuple[int, int], list] = {}
    for b in grid:
        bands.setdefault((b[0], b[1]), []).append(b)
    return list(bands.items())


class MatrixMovie:
    """A float32 ``(T, P)`` matrix in memory seen as a ``(T, Y, X)`` movie.

    Indexing with ``[:, y0:y1, x0:x1]`` gathers only that region (a patch), so
    patch tasks slice it as they would slice a lazy movie.
    """

    def __init__(self, matrix: np.ndarray, dims: tuple[int, int]) -> None:
        self.matrix = matrix
        self.dims = (int(dims[0]), int(dims[1]))
        self.shape = (matrix.shape[0], *self.dims)
        self.dtype = matrix.dtype
        self.ndim = 3

    def __getitem__(self, key: Any) -> np.ndarray:
        """Index the matrix as the ``(T, Y, X)`` movie it holds."""
        return self.matrix.reshape(self.shape)[key]


# --------------------------------------------------------------------------- stitching
@dataclass
class Stitched:
    """Components of all patches in full-frame coordinates."""

    A: sparse.csc_matrix
    C: np.ndarray
    S: np.ndarray
    YrA: np.ndarray
    baseline: np.ndarray
    g: np.ndarray
    lam: np.ndarray
    f_patches: np.ndarray
    sn: np.ndarray
    mean: np.ndarray
    n_nonfinite: int
    patch_of: np.ndarray
    n_duplicates: int = 0


def _local_to_global(bounds: tuple[int, ...], dims: tuple[int, int]) -> np.ndarray:
    y0, y1, x0, x1 = bounds
    w = dims[1]
    return (np.arange(y0, y1)[:, None] * w + np.arange(x0, x1)[None, :]).ravel()


def _inner_border_distance(A: sparse.csc_matrix, bounds: tuple[int, ...],
                           dims: tuple[int, int]) -> np.ndarray:
    """Distance from each component's centroid to its patch's borders inside the frame."""
    y0, y1, x0, x1 = bounds
    h, w = dims
    pw = x1 - x0
    out = np.full(A.shape[1], np.inf)
    for k in range(A.shape[1]):
        lo, hi = A.indptr[k], A.indptr[k + 1]
        idx, v = A.indices[lo:hi], A.data[lo:hi].astype(np.float64)
        if v.sum() <= 0:
            out[k] = -np.inf
            continue
        r, c = np.divmod(idx, pw)
        cy, cx = (r * v).sum() / v.sum() + y0, (c * v).sum() / v.sum() + x0
        d = []
        if y0 > 0:
            d.append(cy - y0)
        if y1 < h:
            d.append(y1 - 1 - cy)
        if x0 > 0:
            d.append(cx - x0)
        if x1 < w:
            d.append(x1 - 1 - cx)
        out[k] = min(d) if d else np.inf
    return out


def stitch(fits: list[PatchFit], dims: tuple[int, int], T: int, *, del_duplicates: bool = True,
           overlap_thr: float = 0.5, corr_thr: float = 0.7) -> Stitched:
    """Gather patch components in full-frame coordinates and drop border duplicates.

    Two components of different patches are copies of one cell when their supports
    overlap by at least ``overlap_thr`` of the smaller one and their traces
    correlate above ``corr_thr``; the copy whose centroid is farther from its
    patch's inner borders is kept.
    """
    h, w = dims
    P = h * w
    cols, rows_C, rows_S, rows_R, bl, gs, lams, fs, patch_of, inner = ([] for _ in range(10))
    sn = np.zeros(P, np.float32)
    mean = np.zeros(P, np.float32)
    bad = []
    for i, pf in enumerate(fits):
        gidx = _local_to_global(pf.bounds, dims)
        sn[gidx] = pf.sn
        mean[gidx] = pf.mean
        bad.append(gidx[pf.nonfinite])
        if pf.f.size:
            fs.append(pf.f)
        if pf.K == 0:
            continue
        A = pf.A.tocoo()
        cols.append(sparse.csc_matrix((A.data, (gidx[A.row], A.col)), shape=(P, pf.K)))
        rows_C.append(pf.C)
        rows_S.append(pf.S)
        rows_R.append(pf.YrA)
        bl.append(pf.baseline)
        gs.append(pf.g)
        lams.append(pf.lam)
        patch_of.append(np.full(pf.K, i))
        inner.append(_inner_border_distance(pf.A, pf.bounds, dims))
    n_bad = int(np.unique(np.concatenate(bad)).size) if bad else 0  # overlaps once
    if not cols:
        p = fits[0].g.shape[1] if fits else 1
        z = np.zeros((0, T), np.float32)
        return Stitched(A=sparse.csc_matrix((P, 0), dtype=np.float32), C=z, S=z.copy(),
                        YrA=z.copy(), baseline=np.zeros(0), g=np.zeros((0, p)),
                        lam=np.zeros(0), f_patches=np.concatenate(fs) if fs else
                        np.zeros((0, T), np.float32), sn=sn, mean=mean, n_nonfinite=n_bad,
                        patch_of=np.zeros(0, int))
    A = sparse.hstack(cols, format="csc")
    C, S, YrA = np.concatenate(rows_C), np.concatenate(rows_S), np.concatenate(rows_R)
    baseline, g, lam = np.concatenate(bl), np.concatenate(gs), np.concatenate(lams)
    patch_of, inner = np.concatenate(patch_of), np.concatenate(inner)
    n_dup = 0
    if del_duplicates and A.shape[1] > 1:
        from .updates import overlapping_pairs, pair_correlation

        i, j, _ = overlapping_pairs(A)
        size = np.asarray((A > 0).sum(axis=0)).ravel().astype(np.float64)
        B = (A > 0).astype(np.float32)
        inter = sparse.csr_matrix(B.T @ B)
        shared = np.asarray(inter[i, j]).ravel() if len(i) else np.zeros(0)
        frac = shared / np.maximum(np.minimum(size[i], size[j]), 1)
        other_patch = patch_of[i] != patch_of[j]
        cand = other_patch & (frac >= overlap_thr)
        i, j = i[cand], j[cand]
        dup = pair_correlation(C + YrA, i, j) >= corr_thr
        i, j = i[dup], j[dup]
        drop = np.zeros(A.shape[1], bool)
        # visit the best-placed copies first; each drops its duplicates
        partners: dict[int, list[int]] = {}
        for a, b in zip(i.tolist(), j.tolist(), strict=True):
            partners.setdefault(a, []).append(b)
            partners.setdefault(b, []).append(a)
        for k in np.argsort(-inner, kind="stable"):
            if drop[k]:
                continue
            for other in partners.get(int(k), ()):
                drop[other] = True
        n_dup = int(drop.sum())
        keep = ~drop
        A, C, S, YrA = A[:, keep], C[keep], S[keep], YrA[keep]
        baseline, g, lam, patch_of = baseline[keep], g[keep], lam[keep], patch_of[keep]
    return Stitched(A=A, C=C, S=S, YrA=YrA, baseline=baseline, g=g, lam=lam,
                    f_patches=np.concatenate(fs) if fs else np.zeros((0, T), np.float32),
                    sn=sn, mean=mean, n_nonfinite=n_bad, patch_of=patch_of,
                    n_duplicates=n_dup)


def global_background_traces(f_patches: np.ndarray, gnb: int, T: int) -> np.ndarray:
    """``gnb`` background traces summarising the patches' ones (rank-gnb NMF)."""
    if gnb == 0:
        return np.zeros((0, T), np.float32)
    F = np.asarray(f_patches, np.float32)
    if F.shape[0] == 0:
        return np.ones((gnb, T), np.float32)
    scale = F.mean(axis=1, keepdims=True)
    F = np.divide(F, scale, out=np.ones_like(F), where=scale > 0)
    _, f = background_nmf(F.T, gnb)
    return f


def n_patches(dims: tuple[int, int], rf: int | None, stride: int) -> int:
    """Return the number of patches of :func:`patch_grid`."""
    return len(patch_grid(dims, rf, stride))



# --------------------------------------------------------------------------- statistics
def strip_task(movie: Any, bounds: tuple[int, int, int, int], params: CNMFParams,
               exclude: np.ndarray | None, band_of_row: np.ndarray, gnb: int
               ) -> dict[str, Any]:
    """Noise, mean and band background traces of one horizontal strip (one dask task).

    ``exclude`` ``(Y, X)`` marks pixels left out of the band means (the seeds);
    ``band_of_row`` gives the background band of every row.
    """
    y0, y1, x0, x1 = bounds
    Y = read_patch(_unwrap(movie), bounds)
    T = Y.shape[0]
    Yf = Y.reshape(T, -1)
    n_bad = fill_nonfinite(Yf)
    sums = np.zeros((gnb, T))
    counts = np.zeros(gnb)
    if gnb:
        use = np.ones((y1 - y0, x1 - x0), bool) if exclude is None else ~exclude[y0:y1, x0:x1]
        for j in range(gnb):
            m = (use & (band_of_row[y0:y1, None] == j)).ravel()
            if m.any():
                sums[j] = Yf[:, m].sum(axis=1, dtype=np.float64)
                counts[j] = m.sum()
    return {"bounds": bounds, "mean": Yf.mean(axis=0), "n_nonfinite": n_bad,
            "sn": pixel_noise(Yf, noise_range=params.noise_range,
                              noise_method=params.noise_method),
            "sums": sums, "counts": counts}


def strip_grid(shape: tuple[int, int, int], *, target_bytes: int = 64 * 2**20
               ) -> list[tuple[int, int, int, int]]:
    """Horizontal strips ``(y0, y1, 0, X)`` of about ``target_bytes`` of float32 each."""
    T, h, w = shape
    rows = max(1, int(target_bytes // max(1, 4 * T * w)))
    return [(y0, min(h, y0 + rows), 0, w) for y0 in range(0, h, rows)]


def pixel_statistics(results: list[dict[str, Any]], dims: tuple[int, int], T: int,
                     gnb: int) -> dict[str, Any]:
    """Gather :func:`strip_task` results: ``sn``, ``mean`` ``(P,)``, ``f0`` ``(gnb, T)``."""
    h, w = dims
    sn = np.zeros(h * w, np.float32)
    mean = np.zeros(h * w, np.float32)
    sums = np.zeros((gnb, T))
    counts = np.zeros(gnb)
    n_bad = 0
    for r in results:
        gidx = _local_to_global(r["bounds"], dims)
        sn[gidx] = r["sn"]
        mean[gidx] = r["mean"]
        sums += r["sums"]
        counts += r["counts"]
        n_bad += r["n_nonfinite"]
    f0 = np.ones((gnb, T), np.float32)
    for j in range(gnb):
        if counts[j] > 0:
            tr = sums[j] / counts[j]
            m = tr.mean()
            f0[j] = tr / m if m > 0 else 1.0
    return {"sn": sn, "mean": mean, "f0": f0, "n_nonfinite": n_bad}
