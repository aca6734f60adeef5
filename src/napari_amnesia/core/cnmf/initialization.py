"""Initial footprints and traces for CNMF: greedy seeds, sparse NMF, user seeds.

All three return an :class:`Initialization`: dense footprints ``A`` ``(P, K)``
(pixels in C order, ``p = row * X + column``), traces ``C`` ``(K, T)``, and a
background ``b`` ``(P, gnb)``, ``f`` ``(gnb, T)`` with ``Y ≈ A C + b f`` for the
movie ``Y`` seen as a ``(T, P)`` matrix. They work on a movie (or a patch of one)
held in memory; :func:`~napari_amnesia.core.cnmf.fit` calls them per patch.

Greedy initialisation (:func:`greedy_roi`)
------------------------------------------
The method of Pnevmatikakis et al. (2016, Methods, "Initialization") [1]_:

1. Each pixel's median over time is subtracted and the result divided by the
   pixel's noise level ``sn`` (so bright and dim regions compete on SNR), then the
   dominant slow background fluctuation is regressed out (rank 1: the per-frame
   median over pixels, robust to the cells).
2. Every frame is filtered with a Gaussian of width ``gSig`` truncated to the cell
   box ``gSiz`` (a matched filter for a cell); the "energy" of a pixel is the sum
   of squares of its filtered trace over the movie, or its largest sum over
   ``rolling_length`` consecutive frames (``rolling_sum``: finds cells that fire
   rarely). The energy is divided by what white noise alone would give, so the
   score of a pixel is a local signal-to-noise ratio.
3. The best pixel seeds a component: a rank-1 non-negative factorisation of the
   data in the ``gSiz`` box around it (``nIter`` alternating updates) gives its
   footprint and trace, which are subtracted from the data (and, the filter being
   linear, their filtered version from the filtered data), and the scores around it
   are recomputed.
4. A seed is kept only if its rank-1 component explains more than white noise
   would in its box (the largest singular value of an ``n``-pixel, ``T``-frame noise
   matrix, ``(sqrt(T) + sqrt(n))^2``, Marchenko-Pastur). The search stops after
   ``K`` components, when the best score is at the level white noise reaches, or
   after three rejected seeds in a row (so ``K`` larger than the number of cells
   does not invent components).
5. The background is a rank-``gnb`` NMF of the data minus the components.

References
----------
.. [1] Pnevmatikakis, E. A. et al. (2016). Simultaneous denoising, deconvolution, and
   demixing of calcium imaging data. Neuron 89, 285-299.
.. [2] Giovannucci, A. et al. (2019). CaImAn, an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173.
.. [3] Cichocki, A. & Phan, A.-H. (2009). Fast local algorithms for large scale
   nonnegative matrix and tensor factorizations. IEICE Trans. Fundamentals E92-A,
   708-721 (HALS).
.. [4] Hoyer, P. O. (2004). Non-negative matrix factorization with sparseness
   constraints. JMLR 5, 1457-1469 (sparse NMF).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np

__all__ = ["Initialization", "greedy_roi", "sparse_nmf", "seeded", "seed_masks",
           "background_nmf", "fill_nonfinite", "nonfinite_pixels", "pixel_noise",
           "all_finite"]

logger = logging.getLogger(__name__)

_EPS = 1e-12
#: Seeds in a row rejected as noise after which the greedy search stops.
_MAX_FAILURES = 3


@dataclass
class Initialization:
    """Initial factors ``Y ≈ A C + b f`` of a ``(T, Y, X)`` movie (or patch).

    Attributes
    ----------
    A : ndarray, shape (P, K), float32
        Footprints, pixels in C order.
    C : ndarray, shape (K, T), float32
        Traces.
    b : ndarray, shape (P, gnb), float32
        Background footprints.
    f : ndarray, shape (gnb, T), float32
        Background traces.
    dims : tuple of int
        ``(Y, X)``.
    centers : ndarray, shape (K, 2)
        Seed pixel of each component (row, column); NaN when not applicable.
    label_values : ndarray of int, shape (K,) or None
        :func:`seeded`: the seed label of each component.
    """

    A: np.ndarray
    C: np.ndarray
    b: np.ndarray
    f: np.ndarray
    dims: tuple[int, int]
    centers: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    label_values: np.ndarray | None = None

    @property
    def K(self) -> int:  # noqa: N802 - the CNMF symbol
        """Number of components."""
        return int(self.A.shape[1])


# --------------------------------------------------------------------------- helpers
def as_matrix(Y: Any) -> tuple[np.ndarray, tuple[int, int]]:
    """A ``(T, Y, X)`` movie in memory as a float32 ``(T, P)`` matrix and its dims.

    NaN and infinite values are replaced by the pixel's mean over its finite
    frames (0 for a pixel without any).
    """
    Y = np.asarray(Y)
    if Y.ndim != 3:
        raise ValueError(f"Y should be a (T, Y, X) movie, got shape {Y.shape}.")
    T, h, w = Y.shape
    Yf = np.ascontiguousarray(Y.reshape(T, h * w), dtype=np.float32)
    if Yf is Y or np.shares_memory(Yf, Y):
        Yf = Yf.copy()
    fill_nonfinite(Yf)
    return Yf, (h, w)


@nb.njit(cache=True, nogil=True)
def _all_finite(x):  # pragma: no cover - compiled
    flat = x.ravel()
    for i in range(flat.size):
        if not np.isfinite(flat[i]):
            return False
    return True


def all_finite(x: np.ndarray) -> bool:
    """Whether a numeric array holds no NaN or inf (one scan, stops at the first)."""
    if np.dtype(x.dtype).kind != "f":
        return True
    return bool(_all_finite(np.ascontiguousarray(x)))


def nonfinite_pixels(Yf: np.ndarray) -> np.ndarray:
    """Indices of the pixels (columns of a ``(T, P)`` matrix) holding NaN or inf."""
    if all_finite(Yf):
        return np.zeros(0, np.int64)
    return np.flatnonzero(~np.isfinite(Yf).all(axis=0))


def fill_nonfinite(Yf: np.ndarray, cols: np.ndarray | None = None) -> int:
    """Replace NaN/inf of a float ``(T, P)`` matrix in place by each pixel's mean.

    ``cols``: the pixels known to hold them (from :func:`nonfinite_pixels`).
    Returns the number of pixels that held a non-finite value.
    """
    if cols is None:
        cols = nonfinite_pixels(Yf)
    if cols.size == 0:
        return 0
    sub = Yf[:, cols]
    ok = np.isfinite(sub)
    n = ok.sum(axis=0)
    mean = np.where(ok, sub, 0).sum(axis=0) / np.maximum(n, 1)
    Yf[:, cols] = np.where(ok, sub, mean[None, :].astype(Yf.dtype))
    return int(cols.size)


def gaussian_matrix(n: int, sigma: float, radius: int) -> np.ndarray:
    """The ``(n, n)`` matrix of a 1-D Gaussian filter (zero outside the image).

    ``G @ x`` filters a column ``x``; the 2-D separable filter of an image ``I`` is
    ``Gy @ I @ Gx.T``. The kernel is normalised to sum 1 and cut at ``radius``.
    """
    r = np.arange(-radius, radius + 1)
    k = np.exp(-0.5 * (r / max(sigma, 1e-3)) ** 2)
    k /= k.sum()
    G = np.zeros((n, n), np.float32)
    for off, v in zip(r, k, strict=True):
        G += np.eye(n, k=int(off), dtype=np.float32) * np.float32(v)
    return G


def _noise_floor(n: int) -> float:
    """Score that white noise alone rarely exceeds.

    The score of a noise-only pixel is the mean over ``n`` frames of
    ``max(x, 0)^2 / (var / 2)`` (mean 1, sd ``sqrt(5 / n)``), maximised over pixels
    and windows: 1 + 6 sd, and at least 1.25.
    """
    return 1.0 + max(0.25, 6.0 * math.sqrt(5.0 / max(n, 1)))


def _row_normalised(G: np.ndarray) -> np.ndarray:
    return G / G.sum(axis=1, keepdims=True)


def _neighbourhood(r: int, c: int, dims: tuple[int, int], radius: int) -> np.ndarray:
    h, w = dims
    ys = np.arange(max(0, r - radius), min(h, r + radius + 1))
    xs = np.arange(max(0, c - radius), min(w, c + radius + 1))
    return (ys[:, None] * w + xs[None, :]).ravel()


#: Frames whose spectrum gives a pixel's noise level (see :func:`pixel_noise`).
NOISE_FRAMES = 1024


def pixel_noise(Yf: np.ndarray, *, noise_range: Sequence[float] = (0.25, 0.5),
                noise_method: str = "logmexp", max_frames: int = NOISE_FRAMES
                ) -> np.ndarray:
    """Noise standard deviation of every pixel of a ``(T, P)`` matrix (float32 ``(P,)``).

    :func:`~napari_amnesia.core.cnmf.noise.estimate_noise` along time, on at most
    ``max_frames`` consecutive frames from the middle of the movie (the role of
    CaImAn's ``max_num_samples_fft``, 3072 there): 1024 frames put 256 frequency
    bins in the default band, a 4 % standard error on the level, which is plenty
    for what it serves here (normalising the initialisation, the spatial noise
    bound), at a third of the cost on 3000 frames. 0 for a constant pixel.
    """
    from .noise import estimate_noise

    if Yf.shape[0] < 4:
        return np.zeros(Yf.shape[1], np.float32)
    T = Yf.shape[0]
    if max_frames and T > max_frames:
        t0 = (T - max_frames) // 2
        Yf = Yf[t0:t0 + max_frames]
    sn = np.nan_to_num(np.asarray(estimate_noise(Yf.T, noise_range=noise_range,
                                                 noise_method=noise_method), np.float32))
    if noise_method != "mean":
        # "logmexp" gives 0 when one frequency bin has exactly no power (integer
        # data); such a pixel is not constant: use the plain mean of the band
        zero = np.flatnonzero(sn <= 0)
        if zero.size:
            sub = Yf[:, zero]
            moving = np.ptp(sub, axis=0) > 0
            if moving.any():
                sn[zero[moving]] = np.asarray(estimate_noise(
                    sub[:, moving].T, noise_range=noise_range, noise_method="mean"),
                    np.float32)
    return sn


def _remove_slow_background(Zp: np.ndarray) -> None:
    """Regress out, in place, the mean trace of the quietest half of the pixels.

    ``Zp`` is pixel-major ``(P, T)``. The pixels whose variance over time is below
    the median are mostly background (cells are the active pixels), so their mean
    trace is the dominant background fluctuation, which is removed from every pixel
    by least squares.
    """
    P = Zp.shape[0]
    if P < 4:
        return
    var = np.einsum("pt,pt->p", Zp, Zp)
    quiet = (var <= np.median(var)).astype(np.float32)
    m = (quiet @ Zp) / max(float(quiet.sum()), 1.0)
    m -= m.mean()
    nn = float(m @ m)
    if nn <= _EPS:
        return
    beta = (Zp @ m) / nn
    _subtract_outer(Zp, np.arange(P), beta.astype(np.float32), m.astype(np.float32))


def _time_median(Yf: np.ndarray, max_frames: int = 500) -> np.ndarray:
    T = Yf.shape[0]
    step = -(-T // max_frames)
    return np.median(Yf[::step], axis=0).astype(np.float32)


# --------------------------------------------------------------------------- background
def background_nmf(R: np.ndarray, gnb: int, *, n_iter: int = 10) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Rank-``gnb`` non-negative factorisation ``R ≈ b f`` of a ``(T, P)`` matrix.

    Negative values of ``R`` are clipped to 0. Starts from the leading singular
    vectors of the time-binned matrix (NNDSVD, Boutsidis & Gallopoulos 2008), then
    ``n_iter`` HALS iterations. Returns ``b`` ``(P, gnb)`` and ``f`` ``(gnb, T)``;
    ``f`` rows are scaled to mean 1.
    """
    T, P = R.shape
    if gnb == 0:
        return np.zeros((P, 0), np.float32), np.zeros((0, T), np.float32)
    Rp = np.maximum(R, 0, dtype=np.float32)
    if gnb == 1:  # rank 1: the mean frame profile is the leading factor's start
        f = Rp.mean(axis=1)[None, :].astype(np.float32)
        ff = float(f[0] @ f[0])
        b = (np.maximum(Rp.T @ f[0], 0) / max(ff, _EPS))[:, None].astype(np.float32)
        for _ in range(n_iter):
            b = _hals_columns(Rp.T @ f.T, f @ f.T, b)
            f = _hals_columns(Rp @ b, b.T @ b, f.T).T
        return _scaled_background(b, f)
    bins = max(1, T // 100)
    Tb = (T // bins) * bins
    small = Rp[:Tb].reshape(T // bins, bins, P).mean(axis=1) if bins > 1 else Rp
    u, s, vt = _leading_svd(small.astype(np.float64), gnb)
    f = np.zeros((gnb, T), np.float32)
    b = np.zeros((P, gnb), np.float32)
    tb = np.minimum(np.arange(T) // bins, small.shape[0] - 1)
    for j in range(min(gnb, len(s))):
        uj, vj = u[:, j], vt[j]
        up, un = np.maximum(uj, 0), np.maximum(-uj, 0)
        vp, vn = np.maximum(vj, 0), np.maximum(-vj, 0)
        if np.linalg.norm(up) * np.linalg.norm(vp) >= np.linalg.norm(un) * np.linalg.norm(vn):
            uu, vv = up, vp
        else:
            uu, vv = un, vn
        scale = math.sqrt(s[j] * np.linalg.norm(uu) * np.linalg.norm(vv) + _EPS)
        f[j] = (uu / (np.linalg.norm(uu) + _EPS) * scale)[tb]
        b[:, j] = vv / (np.linalg.norm(vv) + _EPS) * scale
    # a component left empty by the SVD signs starts flat
    for j in range(gnb):
        if not f[j].any() or not b[:, j].any():
            f[j] = 1.0
            b[:, j] = Rp.mean(axis=0) / gnb
    for _ in range(n_iter):
        b = _hals_columns(Rp.T @ f.T, f @ f.T, b)
        f = _hals_columns(Rp @ b, b.T @ b, f.T).T
    return _scaled_background(b, f)


def _scaled_background(b: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = f.mean(axis=1)
    ok = scale > _EPS
    f[ok] /= scale[ok, None]
    b[:, ok] *= scale[ok]
    return np.ascontiguousarray(b, np.float32), np.ascontiguousarray(f, np.float32)


def _leading_svd(M: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leading ``r`` singular triplets of a short-and-wide matrix, via the small Gram."""
    if M.shape[0] > M.shape[1]:
        v, s, ut = _leading_svd(M.T, r)
        return ut.T, s, v.T
    evals, evecs = np.linalg.eigh(M @ M.T)
    order = np.argsort(evals)[::-1][:r]
    s = np.sqrt(np.maximum(evals[order], 0))
    u = evecs[:, order]
    vt = (u.T @ M) / np.where(s > 0, s, 1)[:, None]
    return u, s, vt


def _hals_columns(XW: np.ndarray, WW: np.ndarray, H: np.ndarray, *,
                  mask: np.ndarray | None = None, l1: float | np.ndarray = 0.0,
                  n_sweeps: int = 1) -> np.ndarray:
    """HALS sweeps over the columns of ``H`` for ``min ||X - H W^T||`` with ``H >= 0``.

    ``XW = X @ W`` ``(n, r)`` and ``WW = W.T @ W`` ``(r, r)`` are precomputed;
    ``mask`` ``(n, r)`` restricts each column to its support; ``l1`` is an L1 weight
    (scalar or per column). Cichocki & Phan (2009).
    """
    H = np.array(H, np.float32, copy=True)
    r = H.shape[1]
    l1 = np.broadcast_to(np.asarray(l1, np.float32), (r,))
    for _ in range(n_sweeps):
        for k in range(r):
            d = WW[k, k]
            if d <= _EPS:
                H[:, k] = 0
                continue
            col = H[:, k] + (XW[:, k] - H @ WW[:, k] - l1[k]) / d
            np.maximum(col, 0, out=col)
            if mask is not None:
                col *= mask[:, k]
            H[:, k] = col
    return H


# --------------------------------------------------------------------------- greedy
def greedy_roi(
    Y: Any,
    K: int,
    gSig: float | Sequence[float] = 4.0,  # noqa: N803 - CaImAn's name
    gSiz: int | Sequence[int] | None = None,  # noqa: N803
    *,
    nIter: int = 5,  # noqa: N803
    rolling_sum: bool = True,
    rolling_length: int = 100,
    gnb: int = 1,
    sn: np.ndarray | None = None,
    noise_range: Sequence[float] = (0.25, 0.5),
    noise_method: str = "logmexp",
    stop_at_noise: bool = True,
) -> Initialization:
    """Greedy initialisation of up to ``K`` cell-shaped components (see module doc).

    Parameters
    ----------
    Y : array_like, shape (T, Y, X)
        Movie (or patch) in memory; NaN are replaced by the pixel mean.
    K : int
        Largest number of components.
    gSig : float or (float, float)
        Gaussian width of a cell (about its radius), pixels.
    gSiz : int or (int, int), optional
        Box around a cell; default ``2 * ceil(gSig) + 1``.
    nIter : int
        Rank-1 NMF iterations per component.
    rolling_sum : bool
        Score pixels by their largest energy over ``rolling_length`` frames.
    rolling_length : int
    gnb : int
        Rank of the background.
    sn : ndarray, shape (Y * X,), optional
        Noise level of each pixel (estimated when not given).
    noise_range, noise_method
        Settings of :func:`~napari_amnesia.core.cnmf.noise.estimate_noise`.
    stop_at_noise : bool
        Stop when the best remaining score is at the white-noise level.

    Returns
    -------
    Initialization

    Examples
    --------
    >>> from napari_amnesia.core.simulate import simulate
    >>> movie, truth = simulate(n_frames=300, shape=(48, 48), n_cells=3,
    ...                         n_neurite_groups=0, motion=False, rng=2)
    >>> init = greedy_roi(movie, K=10, gSig=4)
    >>> init.A.shape[0], init.K <= 10
    (2304, True)
    """
    Yf, dims = as_matrix(Y)
    return _greedy(Yf, dims, K, gSig, gSiz, nIter=nIter, rolling_sum=rolling_sum,
                   rolling_length=rolling_length, gnb=gnb, sn=sn, noise_range=noise_range,
                   noise_method=noise_method, stop_at_noise=stop_at_noise)


def _as_pair(v: Any) -> tuple[float, float]:
    if np.ndim(v) == 0:
        return float(v), float(v)
    a, b = v
    return float(a), float(b)


@nb.njit(cache=True, nogil=True, fastmath=True)
def _scores(D, rows, length, rolling, out):  # pragma: no cover - compiled
    """out[i] = largest sum of max(D[row], 0)^2 over ``length`` consecutive frames
    (the whole row when not ``rolling``), for each row of ``rows``."""
    T = D.shape[1]
    e = np.empty(T, np.float32)
    for i in range(rows.shape[0]):
        d = D[rows[i]]
        for t in range(T):
            v = max(d[t], np.float32(0.0))
            e[t] = v * v
        if not rolling or length >= T:
            out[i] = e.sum()
            continue
        s = 0.0
        for t in range(length):
            s += e[t]
        best = s
        for t in range(length, T):
            s += e[t] - e[t - length]
            best = max(best, s)
        out[i] = best


@nb.njit(cache=True, nogil=True)
def _subtract_outer(M, rows, u, v):  # pragma: no cover - compiled
    """M[rows[i], :] -= u[i] * v, in place."""
    T = M.shape[1]
    for i in range(rows.shape[0]):
        ui = u[i]
        if ui == 0.0:
            continue
        r = M[rows[i]]
        for t in range(T):
            r[t] -= ui * v[t]


def _dog_pixels(Zp: np.ndarray, dims: tuple[int, int], centre: tuple[np.ndarray, ...],
                surround: tuple[np.ndarray, ...]) -> np.ndarray:
    """``centre`` minus ``surround`` separable filters of every frame of ``Zp`` (P, T).

    One product reads ``Zp`` for both row filters (stacked), then each column
    filter is applied to its half.
    """
    h, w = dims
    T = Zp.shape[1]
    M = (np.concatenate([centre[0], surround[0]]) @ Zp.reshape(h, w * T)).reshape(2, h, w, T)
    out = np.matmul(centre[1], M[0])
    out -= np.matmul(surround[1], M[1])
    return out.reshape(h * w, T)


def _greedy(Yf: np.ndarray, dims: tuple[int, int], K: int, gSig: Any, gSiz: Any, *,
            nIter: int, rolling_sum: bool, rolling_length: int, gnb: int,  # noqa: N803
            sn: np.ndarray | None, noise_range: Sequence[float], noise_method: str,
            stop_at_noise: bool = True) -> Initialization:
    T, P = Yf.shape
    h, w = dims
    sig = _as_pair(gSig)
    if gSiz is None:
        siz = tuple(int(2 * math.ceil(s) + 1) for s in sig)
    else:
        siz = tuple(int(v) for v in _as_pair(gSiz))
    half = (siz[0] // 2, siz[1] // 2)
    # the rank-1 refinement looks at a box twice the cell box: a cell larger than
    # gSiz is then taken whole instead of leaving a residue that seeds a duplicate
    bhalf = (2 * half[0], 2 * half[1])
    if sn is None:
        sn = pixel_noise(Yf, noise_range=noise_range, noise_method=noise_method)
    sn = np.asarray(sn, np.float32).reshape(P)
    scale = np.where(sn > 0, sn, np.inf).astype(np.float32)
    # pixel-major (P, T): a pixel's trace is contiguous
    # Each pixel's mean is subtracted (a median would be more robust, but only
    # positive excursions of the filtered data are scored: a baseline slightly high
    # during a busy cell's quiet periods only lowers scores that are high anyway)
    Zp = np.ascontiguousarray(Yf.T)
    Zp -= Zp.mean(axis=1, keepdims=True)
    Zp /= scale[:, None]  # constant pixels -> 0
    if gnb > 0:
        _remove_slow_background(Zp)
    ry, rx = max(1, half[0]), max(1, half[1])
    Gy = gaussian_matrix(h, sig[0], ry)
    Gx = gaussian_matrix(w, sig[1], rx)
    # surround: a normalised wide Gaussian (local mean over ~3 cell widths) is
    # subtracted, so that smooth background left in Z scores nothing (a
    # centre-surround matched filter; the local mean is renormalised at the borders)
    Hy = _row_normalised(gaussian_matrix(h, 3 * sig[0], 3 * ry))
    Hx = _row_normalised(gaussian_matrix(w, 3 * sig[1], 3 * rx))
    D = _dog_pixels(Zp, dims, (Gy, Gx), (Hy, Hx))
    # variance of filtered unit white noise at each pixel: sum of squared weights of
    # the kernel (Gy x Gx - Hy x Hx), separable term by term
    one = np.ones(h), np.ones(w)
    nvar = (np.outer((Gy ** 2) @ one[0], (Gx ** 2) @ one[1])
            - 2 * np.outer((Gy * Hy) @ one[0], (Gx * Hx) @ one[1])
            + np.outer((Hy ** 2) @ one[0], (Hx ** 2) @ one[1])).reshape(P)
    nvar = np.where(nvar > _EPS, nvar, np.inf)
    n_eff = min(rolling_length, T) if rolling_sum else T

    def score(rows: np.ndarray) -> np.ndarray:
        e = np.empty(rows.size)
        _scores(D, rows, int(rolling_length), bool(rolling_sum), e)
        # white noise gives max(D, 0)^2 = nvar / 2 per frame: its score is about 1
        return e / (0.5 * n_eff * nvar[rows])

    rho = score(np.arange(P))
    floor = _noise_floor(n_eff) if stop_at_noise else -np.inf
    A_list: list[np.ndarray] = []
    C_list: list[np.ndarray] = []
    centers: list[tuple[int, int]] = []
    tries = failures = 0
    while len(A_list) < K and tries < 4 * K:
        tries += 1
        i = int(np.argmax(rho))
        if not rho[i] > floor:
            break
        r, c = divmod(i, w)
        y0, y1 = max(0, r - bhalf[0]), min(h, r + bhalf[0] + 1)
        x0, x1 = max(0, c - bhalf[1]), min(w, c + bhalf[1] + 1)
        box = (np.arange(y0, y1)[:, None] * w + np.arange(x0, x1)[None, :]).ravel()
        Zb = Zp[box]  # (n, T) copy
        ct = np.maximum(D[i], 0).astype(np.float32)
        a = np.zeros(box.size, np.float32)
        for _ in range(max(1, nIter)):
            cc = float(ct @ ct)
            if cc <= _EPS:
                break
            a = np.maximum(Zb @ ct, 0) / cc
            aa = float(a @ a)
            if aa <= _EPS:
                break
            ct = np.maximum(a @ Zb, 0) / aa
        # a rank-1 fit of white noise in an n-pixel box explains about
        # (sqrt(T) + sqrt(n))^2 (largest singular value, Marchenko-Pastur): a seed
        # whose component does not beat that is noise or the residue of a neighbour
        if float(a @ a) * float(ct @ ct) <= (math.sqrt(T) + math.sqrt(box.size)) ** 2:
            # do not pick it (or its immediate surroundings) again; several failures
            # in a row mean only residues are left: stop
            rho[_neighbourhood(r, c, dims, max(1, min(half) // 2))] = -np.inf
            failures += 1
            if failures >= _MAX_FAILURES:
                break
            continue
        failures = 0
        _subtract_outer(Zp, box, a, ct)
        # filtered update: D -= filter(a) (x) c (the filter is linear), over the box
        # grown by the surround's reach
        img = np.zeros((h, w), np.float32)
        img[y0:y1, x0:x1] = a.reshape(y1 - y0, x1 - x0)
        gy0, gy1 = max(0, y0 - 3 * ry), min(h, y1 + 3 * ry)
        gx0, gx1 = max(0, x0 - 3 * rx), min(w, x1 + 3 * rx)
        fa = (Gy[gy0:gy1] @ img @ Gx[gx0:gx1].T) - (Hy[gy0:gy1] @ img @ Hx[gx0:gx1].T)
        region = (np.arange(gy0, gy1)[:, None] * w + np.arange(gx0, gx1)[None, :]).ravel()
        _subtract_outer(D, region, fa.ravel().astype(np.float32), ct)
        rho[region] = score(region)
        # back to data units: the footprint times the pixel noise
        full = np.zeros(P, np.float32)
        full[box] = a * np.where(np.isfinite(scale[box]), scale[box], 0)
        A_list.append(full)
        C_list.append(ct)
        centers.append((r, c))
    if A_list:
        A = np.stack(A_list, axis=1)
        C = np.stack(C_list)
    else:
        A = np.zeros((P, 0), np.float32)
        C = np.zeros((0, T), np.float32)
    b, f = background_nmf(Yf - C.T @ A.T if A.shape[1] else Yf, gnb)
    logger.debug("greedy_roi: %d component(s) from a %dx%d patch", A.shape[1], h, w)
    return Initialization(A=A, C=C, b=b, f=f, dims=dims,
                          centers=np.asarray(centers, float).reshape(-1, 2))


# --------------------------------------------------------------------------- sparse NMF
def sparse_nmf(
    Y: Any,
    K: int,
    *,
    alpha: float = 0.5,
    gnb: int = 1,
    max_iter: int = 50,
    tol: float = 1e-4,
    rng: np.random.Generator | int | None = 0,
) -> Initialization:
    """Initialisation by sparse non-negative matrix factorisation (dendrites, axons).

    The movie minus its per-pixel median and a rank-``gnb`` background (the leading
    temporal components of its quietest pixels) is factorised as ``A C`` with
    ``A, C >= 0`` and an L1 penalty on the footprints, by HALS (Cichocki & Phan 2009; the
    sparse NMF of Hoyer 2004 / CaImAn's ``sparse_nmf`` initialisation). Suited to
    footprints of any shape; components are not restricted to a box.

    Parameters
    ----------
    Y : array_like, shape (T, Y, X)
    K : int
    alpha : float
        Sparsity weight (0 = plain NMF): footprint values below ``alpha`` times
        their least-squares standard error (the median pixel noise divided by the
        trace's norm) are set to zero at each update.
    gnb : int
    max_iter : int
    tol : float
        Relative change of the fit at which iterations stop.
    rng : {numpy.random.Generator, int, None}
        Random start.

    Returns
    -------
    Initialization
    """
    Yf, dims = as_matrix(Y)
    T, P = Yf.shape
    gen = np.random.default_rng(rng)
    sn = pixel_noise(Yf)
    R = _quiet_background_removed(Yf, gnb)  # not clipped: clipping noise at 0
    # leaves a positive floor that a dense component would absorb
    level = float(np.median(sn[sn > 0])) if np.any(sn > 0) else 1.0
    # start: random footprints, traces from a non-negative projection
    A = gen.random((P, K)).astype(np.float32)
    C = np.maximum(A.T @ R.T, 0) / (np.sum(A * A, axis=0)[:, None] + _EPS)
    prev = np.inf
    RT = R.T
    for _ in range(max_iter):
        CC = C @ C.T
        # the least-squares error of a footprint value is level / |c_k|: values
        # below alpha times that are set to zero (soft threshold)
        l1 = (alpha * level * np.sqrt(np.maximum(np.diag(CC), 0))).astype(np.float32)
        A = _hals_columns(RT @ C.T, CC, A, l1=l1)
        norms = np.linalg.norm(A, axis=0)
        ok = norms > _EPS
        A[:, ok] /= norms[ok]
        C = _hals_columns(R @ A, A.T @ A, C.T).T
        # |R - C'A'|^2 = |R|^2 - 2 <R A, C'> + <A'A, C C'> without forming C'A'
        fit = float(-2 * np.sum((R @ A) * C.T) + np.sum((A.T @ A) * (C @ C.T)))
        if abs(prev - fit) <= tol * max(abs(fit), _EPS):
            break
        prev = fit
    keep = (A.any(axis=0)) & (C.any(axis=1))
    A, C = A[:, keep], C[keep]
    centers = np.array([np.unravel_index(int(np.argmax(a)), dims) for a in A.T],
                       float).reshape(-1, 2)
    b, f = background_nmf(Yf - C.T @ A.T, gnb)
    return Initialization(A=np.ascontiguousarray(A), C=np.ascontiguousarray(C), b=b, f=f,
                          dims=dims, centers=centers)


def _quiet_background_removed(Yf: np.ndarray, gnb: int) -> np.ndarray:
    """``Yf`` minus each pixel's median and a rank-``gnb`` background, ``(T, P)``.

    The background traces are the leading temporal singular vectors of the quietest
    half of the pixels (lowest variance: mostly background), projected out of every
    pixel.
    """
    Z = Yf - _time_median(Yf)
    if gnb == 0 or Z.shape[1] < 4:
        return Z.astype(np.float32)
    var = np.einsum("tp,tp->p", Z, Z)
    quiet = var <= np.median(var)
    Q = Z[:, quiet].astype(np.float64)
    Q -= Q.mean(axis=0)
    u, _, _ = _leading_svd(Q, gnb)
    U = u.astype(np.float32)
    Zc = Z - Z.mean(axis=0)
    return (Z - U @ (U.T @ Zc)).astype(np.float32)


# --------------------------------------------------------------------------- seeds
def seed_masks(seeds: Any, dims: tuple[int, int] | None = None) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Footprint masks ``(K, Y, X)`` float32 and label values from user seeds.

    Parameters
    ----------
    seeds : array_like
        A label image ``(Y, X)`` of integers (0 = background): component ``k`` is the
        ``k``-th smallest non-zero label value, so ``label_values[k]`` is its label;
        or a stack ``(K, Y, X)`` of masks or weights (``label_values = k + 1``).
    dims : tuple of int, optional
        Expected ``(Y, X)``.

    Returns
    -------
    masks : ndarray, shape (K, Y, X), float32
    label_values : ndarray of int64, shape (K,)
    """
    s = np.asarray(seeds)
    if s.ndim == 2:
        if s.dtype.kind not in "iub":
            if s.dtype.kind == "f" and np.all(np.isfinite(s)) and np.all(s == np.round(s)):
                s = s.astype(np.int64)
            else:
                raise ValueError("a 2-D seeds image should hold integer labels "
                                 f"(0 = background), got dtype {s.dtype}.")
        values = np.unique(s[s > 0]).astype(np.int64)
        masks = np.stack([(s == v) for v in values]).astype(np.float32) if values.size \
            else np.zeros((0, *s.shape), np.float32)
    elif s.ndim == 3:
        if s.dtype.kind not in "biuf":
            raise ValueError(f"a seeds stack should be numeric masks, got dtype {s.dtype}.")
        masks = np.nan_to_num(s.astype(np.float32), nan=0.0)
        if np.any(masks < 0):
            raise ValueError("a seeds stack should be non-negative masks or weights.")
        values = np.arange(1, len(masks) + 1, dtype=np.int64)
    else:
        raise ValueError("seeds should be a label image (Y, X) or a mask stack (K, Y, X), "
                         f"got shape {s.shape}.")
    if dims is not None and tuple(masks.shape[1:]) != tuple(dims):
        raise ValueError(f"seeds have frame shape {tuple(masks.shape[1:])}, the movie "
                         f"{tuple(dims)}.")
    return masks, values


def seeded(
    Y: Any,
    seeds: Any,
    *,
    gnb: int = 1,
    n_iter: int = 5,
) -> Initialization:
    """Initialisation from user seeds: a label image or a stack of masks.

    Footprints start as the masks (weights as given, binary masks as ones); the
    background is a rank-``gnb`` NMF of the data outside the seeds (inside them its
    values are interpolated by the factorisation of the whole frame); traces are the
    non-negative least-squares fit of the data minus the background, then ``n_iter``
    HALS iterations refine traces and footprints within the masks.

    Component ``k`` corresponds to ``label_values[k]`` (see :func:`seed_masks`): the
    ``k``-th smallest non-zero label of a label image, or ``k + 1`` for a stack.

    Parameters
    ----------
    Y : array_like, shape (T, Y, X)
    seeds : array_like, shape (Y, X) or (K, Y, X)
    gnb : int
    n_iter : int

    Returns
    -------
    Initialization
        With ``label_values``.
    """
    Yf, dims = as_matrix(Y)
    masks, values = seed_masks(seeds, dims)
    A = masks.reshape(len(masks), -1).T.copy()
    return _seeded_from(Yf, dims, A, values, gnb=gnb, n_iter=n_iter)


def _seeded_from(Yf: np.ndarray, dims: tuple[int, int], A: np.ndarray, values: np.ndarray,
                 *, gnb: int, n_iter: int) -> Initialization:
    T, P = Yf.shape
    K = A.shape[1]
    norms = np.linalg.norm(A, axis=0)
    A = A / np.where(norms > 0, norms, 1)
    support = A > 0
    b, f = background_nmf(Yf, gnb)
    B = f.T @ b.T if gnb else 0
    R = Yf - B
    C = np.zeros((K, T), np.float32)
    if K:
        for _ in range(max(1, n_iter)):
            C = _hals_columns(R @ A, A.T @ A, C.T, n_sweeps=2).T
            A = _hals_columns(R.T @ C.T, C @ C.T, A, mask=support)
    centers = np.array([np.unravel_index(int(np.argmax(a)), dims) if a.any() else
                        (np.nan, np.nan) for a in A.T], float).reshape(-1, 2)
    return Initialization(A=np.ascontiguousarray(A, np.float32),
                          C=np.ascontiguousarray(C, np.float32), b=b, f=f, dims=dims,
                          centers=centers, label_values=np.asarray(values, np.int64))
