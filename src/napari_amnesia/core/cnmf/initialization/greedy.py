"""Greedy initialization (:func:`greedy_roi`): seeds at the pixels of largest filtered energy.

The method is described in :mod:`napari_amnesia.core.cnmf.initialization`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numba as nb
import numpy as np

from .background import background_nmf
from .common import (
    _EPS,
    Initialization,
    _neighbourhood,
    _noise_floor,
    _remove_slow_background,
    _row_normalised,
    _subtract_outer,
    as_matrix,
    gaussian_matrix,
    pixel_noise,
)

__all__ = ["greedy_roi"]

logger = logging.getLogger(__name__)

#: Seeds in a row rejected as noise after which the greedy search stops.
_MAX_FAILURES = 3


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
    """Fill ``out[i]`` with the largest windowed energy of row ``rows[i]`` of ``D``.

    The energy is the sum of ``max(D[row], 0)^2`` over ``length`` consecutive frames
    (the whole row when not ``rolling``).
    """
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
