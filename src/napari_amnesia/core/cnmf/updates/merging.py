"""Merging of CNMF components that overlap and whose traces correlate.

:func:`merge_components` (the method is described in
:mod:`napari_amnesia.core.cnmf.updates`) and the pair statistics it uses
(:func:`overlapping_pairs`, :func:`pair_correlation`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy import sparse

from .temporal import Deconvolution

__all__ = ["merge_components", "overlapping_pairs", "pair_correlation"]

logger = logging.getLogger(__name__)

_EPS = 1e-12


def _unit_rows(C: np.ndarray) -> np.ndarray:
    X = np.asarray(C, np.float64)
    X = X - X.mean(axis=1, keepdims=True)
    n = np.sqrt(np.einsum("ij,ij->i", X, X))
    return np.divide(X, n[:, None], out=np.zeros_like(X), where=n[:, None] > 0)


def pair_correlation(C: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Pearson correlation of rows ``C[i]`` and ``C[j]`` (0 for a constant row)."""
    X = _unit_rows(C)
    return np.einsum("ij,ij->i", X[i], X[j]) if len(i) else np.zeros(0)


def overlapping_pairs(A: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``i < j`` of footprints sharing at least one pixel, with their cosine.

    Computed from the sparse product ``A^T A``, so the cost follows the number of
    overlapping pairs, not ``K^2``.
    """
    A = sparse.csc_matrix(A, dtype=np.float32)
    G = sparse.triu(A.T @ A, k=1).tocoo()
    B = (A > 0).astype(np.float32)
    shared = sparse.triu(B.T @ B, k=1).tocoo()
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=0)).ravel())
    i, j = shared.row.astype(np.int64), shared.col.astype(np.int64)
    lookup = sparse.csr_matrix((G.data, (G.row, G.col)), shape=A.shape[1:] * 2)
    dots = np.asarray(lookup[i, j]).ravel() if len(i) else np.zeros(0)
    den = norms[i] * norms[j]
    cosine = np.divide(dots, den, out=np.zeros_like(dots, dtype=np.float64), where=den > 0)
    return i, j, cosine


def merge_components(
    A: Any,
    C: np.ndarray,
    YrA: np.ndarray,
    *,
    merge_thr: float = 0.85,
    deconvolution: Deconvolution | None = None,
    extra: dict[str, np.ndarray] | None = None,
    n_iter: int = 10,
    n_threads: int | None = 1,
    candidates: np.ndarray | None = None,
    same_footprint: float = 0.7,
) -> tuple[sparse.csc_matrix, np.ndarray, np.ndarray, dict[str, np.ndarray], list]:
    """Merge overlapping components whose traces correlate above ``merge_thr``.

    Components whose footprints are nearly the same (cosine similarity at least
    ``same_footprint``) are merged whatever their traces: when one cell is held by
    two copies, the temporal update gives its signal to one of them and leaves the
    other with noise, so their traces do not correlate.

    Parameters
    ----------
    A : sparse, shape (P, K)
    C : ndarray, shape (K, T)
    YrA : ndarray, shape (K, T)
        Residual traces (``C + YrA`` is the raw trace).
    merge_thr : float
    deconvolution : Deconvolution, optional
    extra : dict of arrays with K rows, optional
        Per-component arrays (``S``, ``baseline``, ``g``, ``lam``...) carried along;
        merged components get the values of their deconvolution (keys ``S``,
        ``baseline``, ``g``, ``lam``) or of the group's first member (others).
    n_iter : int
        Alternating rank-1 iterations.
    candidates : ndarray of bool, shape (K, K), optional
        Pairs allowed to merge (default all).
    same_footprint : float
        Cosine similarity of footprints above which components are merged whatever
        their traces (> 1 disables it).

    Returns
    -------
    A, C, YrA, extra, groups
        ``groups`` lists the old indices merged into each new component (the merged
        components come last, in the order of ``groups``).
    """
    deconvolution = deconvolution or Deconvolution()
    A = sparse.csc_matrix(A, dtype=np.float32)
    K = A.shape[1]
    extra = dict(extra or {})
    if K < 2:
        return A, C, YrA, extra, []
    i, j, cosine = overlapping_pairs(A)
    corr = pair_correlation(C, i, j)
    ok = (corr >= merge_thr) | (cosine >= same_footprint)
    if candidates is not None:
        ok &= np.asarray(candidates)[i, j]
    if not ok.any():
        return A, C, YrA, extra, []
    edges = sparse.coo_matrix((np.ones(int(ok.sum())), (i[ok], j[ok])), shape=(K, K))
    from scipy.sparse.csgraph import connected_components

    n, lab = connected_components(edges.tocsr(), directed=False)
    groups = [np.flatnonzero(lab == i) for i in range(n)]
    groups = [g for g in groups if g.size > 1]
    new_cols, raws = [], []
    for grp in groups:
        raw = C[grp].astype(np.float64) + YrA[grp]
        Ag = A[:, grp]
        union = np.unique(Ag.indices)
        Au = Ag[union].toarray().astype(np.float64)  # (|U|, m)
        Gm = Au.T @ Au
        c = raw.T @ np.diag(Gm)  # footprint-weighted sum
        a = np.zeros(union.size)
        for _ in range(n_iter):
            cc = float(c @ c)
            if cc <= _EPS:
                break
            a = np.maximum(Au @ (raw @ c), 0) / cc
            aa = float(a @ a)
            if aa <= _EPS:
                break
            c = raw.T @ (Au.T @ a) / aa
        na = float(np.linalg.norm(a))
        col = np.zeros(A.shape[0], np.float32)
        if na > 0:
            col[union] = a / na
            c = c * na
        new_cols.append(col)
        raws.append(c)
    Cm, Sm, blm, Gm_, lamm = deconvolution.run(np.asarray(raws), n_threads=n_threads)
    gone = np.zeros(K, bool)
    for grp in groups:
        gone[grp] = True
    keep = np.flatnonzero(~gone)
    A_new = sparse.hstack([A[:, keep], sparse.csc_matrix(np.stack(new_cols, axis=1))],
                          format="csc")
    C_new = np.concatenate([C[keep], Cm.astype(C.dtype)])
    YrA_new = np.concatenate([YrA[keep], (np.asarray(raws) - Cm).astype(YrA.dtype)])
    merged_values = {"S": Sm, "baseline": blm, "g": Gm_, "lam": lamm}
    for key, val in list(extra.items()):
        val = np.asarray(val)
        if key in merged_values:
            add = np.asarray(merged_values[key]).astype(val.dtype).reshape(
                (len(groups),) + val.shape[1:])
        else:
            add = np.stack([val[g[0]] for g in groups])
        extra[key] = np.concatenate([val[keep], add])
    logger.debug("merged %d groups of components (%d -> %d)", len(groups), K,
                 A_new.shape[1])
    return A_new, C_new, YrA_new, extra, [g.tolist() for g in groups]
