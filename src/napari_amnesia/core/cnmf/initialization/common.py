"""The output of every initialization (:class:`Initialization`) and the helpers they share.

The movie as a float32 ``(T, P)`` matrix (:func:`as_matrix`), non-finite pixels
(:func:`fill_nonfinite`), per-pixel noise (:func:`pixel_noise`), Gaussian smoothing
matrices, and the small solvers (leading singular vectors, HALS sweeps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np

__all__ = ["Initialization", "as_matrix", "all_finite", "nonfinite_pixels", "fill_nonfinite",
           "gaussian_matrix", "pixel_noise", "NOISE_FRAMES"]

_EPS = 1e-12


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


def as_matrix(Y: Any) -> tuple[np.ndarray, tuple[int, int]]:
    """Return a ``(T, Y, X)`` movie in memory as a float32 ``(T, P)`` matrix and its dims.

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
    """Return the indices of the pixels (columns of a ``(T, P)`` matrix) holding NaN or inf."""
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
    """Return the ``(n, n)`` matrix of a 1-D Gaussian filter (zero outside the image).

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
#: Bytes of the float64 spectrum :func:`pixel_noise` transforms at a time (a patch task
#: runs beside others: its temporaries are kept small).
NOISE_CHUNK_BYTES = 8 * 2**20


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
    from ..noise import estimate_noise

    if Yf.shape[0] < 4:
        return np.zeros(Yf.shape[1], np.float32)
    T = Yf.shape[0]
    if max_frames and T > max_frames:
        t0 = (T - max_frames) // 2
        Yf = Yf[t0:t0 + max_frames]
    sn = np.nan_to_num(np.asarray(estimate_noise(Yf.T, noise_range=noise_range,
                                                 noise_method=noise_method,
                                                 chunk_bytes=NOISE_CHUNK_BYTES), np.float32))
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
