"""Duplicate components: overlapping footprints with correlated traces.

Overlapping patches find the cells of their overlap twice; CaImAn removes such
pairs after stitching (``del_duplicates``, Giovannucci et al. 2019 [1]_). Kept apart
from :mod:`.evaluation`, which re-exports :func:`remove_duplicates`.

References
----------
.. [1] Giovannucci, A. et al. (2019). CaImAn an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

__all__ = ["remove_duplicates"]


def _as_csc(footprints: Any) -> sparse.csc_matrix:
    if sparse.issparse(footprints):
        return sparse.csc_matrix(footprints, dtype=np.float64)
    arr = np.asarray(footprints, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"footprints should have shape (n_pixels, K), got shape {arr.shape}."
        )
    return sparse.csc_matrix(arr)


def remove_duplicates(
    footprints: Any,
    traces: Any = None,
    thr: float = 0.7,
    *,
    corr_thr: float = 0.7,
    scores: Any = None,
    support_thr: float = 0.01,
) -> np.ndarray:
    """Components that duplicate another one (to drop).

    Two components are duplicates when their footprints overlap by at least
    ``thr`` and, if ``traces`` are given, their traces correlate by at least
    ``corr_thr`` (Pearson). The overlap of ``i`` and ``j`` is the larger of the
    fraction of ``a_j``'s mass (sum of its values) that lies on ``a_i``'s support and
    the converse, the support of a footprint being where it exceeds ``support_thr``
    times its peak: 1 for identical footprints and for one contained in the other
    (the partial copies that overlapping patches produce, whatever their scaling),
    about 0 for neighbours that merely touch. Pairs are visited from the largest
    overlap down; in each pair where neither member is dropped yet, the one with the
    lower ``scores`` is dropped (default score: ``|a| * |c|``, the energy of the
    component, or ``|a|`` without traces; on a tie the higher index is dropped).

    Parameters
    ----------
    footprints : array_like or sparse matrix, shape (n_pixels, K)
    traces : array_like, shape (K, T), optional
    thr : float
        Spatial overlap threshold in [0, 1].
    corr_thr : float
        Trace correlation threshold in [-1, 1] (used with ``traces``).
    scores : array_like, shape (K,), optional
        Quality of each component (e.g. its SNR); the lower of a pair is dropped.
    support_thr : float
        Fraction of its peak above which a pixel belongs to a footprint's support.

    Returns
    -------
    ndarray of int
        Sorted indices of the components to drop.

    Examples
    --------
    >>> A = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> remove_duplicates(A, scores=[2.0, 1.0, 1.0]).tolist()
    [1]
    """
    A = _as_csc(footprints)
    n_pix, K = A.shape
    if not 0 <= float(thr) <= 1:
        raise ValueError(f"thr should be in [0, 1], got {thr!r}.")
    if K < 2:
        return np.zeros(0, np.int64)
    A = A.copy()
    A.data = np.clip(A.data, 0.0, None)
    A.eliminate_zeros()
    C = None
    if traces is not None:
        C = np.asarray(traces.toarray() if sparse.issparse(traces) else traces, dtype=np.float64)
        if C.shape[0] != K:
            raise ValueError(f"traces should have {K} rows, got shape {C.shape}.")
    if scores is None:
        norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=0)).ravel())
        scores = norms * (np.linalg.norm(C, axis=1) if C is not None else 1.0)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size != K:
        raise ValueError(f"scores should have length {K}, got {scores.size}.")
    peak = np.asarray(A.max(axis=0).toarray()).ravel()
    mass = np.asarray(A.sum(axis=0)).ravel()
    # support indicator: a > support_thr * peak
    S = A.copy()
    col = np.repeat(np.arange(K), np.diff(S.indptr))
    S.data = (S.data > support_thr * peak[col]).astype(np.float64)
    S.eliminate_zeros()
    # M[i, j] = fraction of a_j's mass on a_i's support
    M = (S.T @ A).tocsr()
    M = M @ sparse.diags(np.where(mass > 0, 1.0 / np.where(mass > 0, mass, 1.0), 0.0))
    M = sparse.csr_matrix(M)
    ov = sparse.triu(M.maximum(M.T), k=1).tocoo()
    keep = ov.data >= thr
    pairs = [(float(o), int(i), int(j)) for o, i, j in zip(ov.data[keep], ov.row[keep],
                                                           ov.col[keep], strict=True)]
    if C is not None and pairs:
        Cc = C - C.mean(axis=1, keepdims=True)
        sd = np.sqrt((Cc * Cc).sum(axis=1))
        kept = []
        for o, i, j in pairs:
            den = sd[i] * sd[j]
            rho = float(Cc[i] @ Cc[j] / den) if den > 0 else 0.0
            if rho >= corr_thr:
                kept.append((o, i, j))
        pairs = kept
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    dropped = np.zeros(K, bool)
    for _, i, j in pairs:
        if dropped[i] or dropped[j]:
            continue
        loser = j if scores[i] >= scores[j] else i
        dropped[loser] = True
    return np.flatnonzero(dropped)
