"""Initial low-rank background ``b f`` of a movie: :func:`background_nmf` (NNDSVD, HALS)."""

from __future__ import annotations

import math

import numpy as np

from .common import _EPS, _hals_columns, _leading_svd

__all__ = ["background_nmf"]


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
