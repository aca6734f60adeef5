"""HALS updates: the in-memory refinement of ``Y ≈ A C + b f`` and the background traces.

:func:`hals` (hierarchical alternating least squares, Cichocki & Phan 2009) refines
a patch's initialization; :func:`update_background_traces` is the HALS step of the
background traces ``f`` between temporal passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from .spatial import dilated_supports

__all__ = ["hals", "update_background_traces"]

_EPS = 1e-12


def hals(Y: Any, A: np.ndarray, C: np.ndarray, b: np.ndarray, f: np.ndarray, *,
         dims: tuple[int, int] | None = None, n_iter: int = 5,
         support_dilation: int | None = 3) -> tuple[np.ndarray, ...]:
    """Refine ``Y ≈ A C + b f`` by hierarchical alternating least squares.

    Alternates exact non-negative updates of each trace and each footprint
    (Cichocki & Phan 2009 [3]_), the footprints restricted to their initial support
    dilated by ``support_dilation`` pixels (None: unrestricted); the background is
    refined with them, unrestricted. In memory: for a patch or a small movie.

    Parameters
    ----------
    Y : ndarray, shape (T, P) float32 (or (T, Y, X))
    A : ndarray, shape (P, K)
    C : ndarray, shape (K, T)
    b : ndarray, shape (P, gnb)
    f : ndarray, shape (gnb, T)
    dims : tuple of int, optional
        ``(Y, X)``; required for a matrix ``Y`` when ``support_dilation`` is set.
    n_iter : int
    support_dilation : int or None

    Returns
    -------
    A, C, b, f : ndarray
    """
    from ..initialization.common import _hals_columns

    Y = np.asarray(Y)
    if Y.ndim == 3:
        dims = Y.shape[1:]
        Y = Y.reshape(len(Y), -1)
    K = A.shape[1]
    gnb = b.shape[1]
    if K + gnb == 0 or n_iter == 0:
        return A, C, b, f
    W = np.concatenate([A, b], axis=1).astype(np.float32)
    H = np.concatenate([C, f], axis=0).astype(np.float32)
    mask = np.ones(W.shape, np.float32)
    if support_dilation is not None and K:
        mask[:, :K] = 0
        for k, idx in enumerate(dilated_supports(sparse.csc_matrix(A), dims,
                                                 support_dilation)):
            mask[idx, k] = 1
    for _ in range(n_iter):
        H = _hals_columns(Y @ W, W.T @ W, H.T).T
        W = _hals_columns(Y.T @ H.T, H @ H.T, W, mask=mask)
    return (np.ascontiguousarray(W[:, :K]), np.ascontiguousarray(H[:K]),
            np.ascontiguousarray(W[:, K:]), np.ascontiguousarray(H[K:]))


def update_background_traces(f: np.ndarray, bY: np.ndarray, bA: np.ndarray, C: np.ndarray,
                             bb: np.ndarray, *, n_sweeps: int = 1) -> np.ndarray:
    """HALS update of the background traces given ``b^T Y``, ``b^T A``, ``b^T b``."""
    f = np.array(f, np.float64)
    R = bY - bA @ C
    for _ in range(n_sweeps):
        for j in range(f.shape[0]):
            d = bb[j, j]
            if d <= _EPS:
                continue
            f[j] = np.maximum(f[j] + (R[j] - bb[j] @ f) / d, 0)
    return f.astype(np.float32)
