"""Sparse NMF initialization (:func:`sparse_nmf`) for dendrites and irregular shapes.

The method is described in :mod:`napari_amnesia.core.cnmf.initialization`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .background import background_nmf
from .common import (
    _EPS,
    Initialization,
    _hals_columns,
    _leading_svd,
    _time_median,
    as_matrix,
    pixel_noise,
)

__all__ = ["sparse_nmf"]


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
    """Initialise by sparse non-negative matrix factorisation (dendrites, axons).

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
