"""Temporal update of CNMF: block-coordinate descent with OASIS deconvolution.

:func:`update_temporal` (the method is described in
:mod:`napari_amnesia.core.cnmf.updates`), its settings (:class:`Deconvolution`) and
output (:class:`TemporalResult`), the projections ``A^T Y``, ``b^T Y``
(:func:`project`) and the groups of non-overlapping components
(:func:`overlap_groups`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np
from scipy import sparse

from .background import update_background_traces
from .frames import as_frames, float_rows

__all__ = ["Deconvolution", "TemporalResult", "update_temporal", "project", "overlap_groups"]


@dataclass(frozen=True)
class Deconvolution:
    """Settings of the deconvolution of raw traces (see :mod:`.deconvolution`).

    ``s_min=None`` is the L1 problem without minimal spike (CaImAn's default); a
    number is a minimal spike size with the threshold-only problem, as CaImAn.
    """

    p: int = 1
    s_min: float | None = None
    optimize_g: int = 0
    bas_nonneg: bool = True
    noise_range: tuple[float, float] = (0.25, 0.5)
    noise_method: str = "logmexp"
    lags: int = 5
    fudge_factor: float = 0.96

    @classmethod
    def from_params(cls, params: Any) -> Deconvolution:
        """From a :class:`~.params.CNMFParams`."""
        return cls(p=params.p, s_min=params.s_min, optimize_g=params.optimize_g,
                   bas_nonneg=params.bas_nonneg, noise_range=tuple(params.noise_range),
                   noise_method=params.noise_method, lags=params.lags,
                   fudge_factor=params.fudge_factor)

    def run(self, raw: np.ndarray, *, g: np.ndarray | None = None,
            n_threads: int | None = 1) -> tuple[np.ndarray, ...]:
        """Deconvolve the rows of ``raw``: ``(C, S, baseline, g, lam)``.

        ``g`` ``(N, p)``: known AR coefficients per row (rows of zeros, or None:
        estimated from the trace).
        """
        from ..deconvolution import deconvolve_many

        raw = np.ascontiguousarray(raw, np.float64)
        N, T = raw.shape
        ok = np.isfinite(raw).all(axis=1) & (np.ptp(raw, axis=1) > 0) if N else \
            np.zeros(0, bool)
        C = np.zeros((N, T), np.float32)
        S = np.zeros((N, T), np.float32)
        bl = np.zeros(N)
        G = np.zeros((N, self.p))
        lam = np.zeros(N)
        flat = ~ok & np.isfinite(raw).all(axis=1)
        if flat.any():  # constant trace: all baseline
            bl[flat] = np.maximum(raw[flat, 0], 0) if self.bas_nonneg else raw[flat, 0]
        if ok.any():
            if self.s_min is None or self.s_min == 0:
                smin, penalty = 0.0, 1
            else:
                smin, penalty = float(self.s_min), 0
            kw = dict(p=self.p, s_min=smin, optimize_g=self.optimize_g,
                      bas_nonneg=self.bas_nonneg, penalty=penalty,
                      noise_range=self.noise_range, lags=self.lags,
                      fudge_factor=self.fudge_factor, noise_method=self.noise_method,
                      n_threads=n_threads)
            known = np.zeros(N, bool)
            if g is not None and self.p:
                g = np.asarray(g, np.float64).reshape(N, self.p)
                known = ok & np.any(g != 0, axis=1)
            for rows, gg in ((known, g), (ok & ~known, None)):
                if not rows.any():
                    continue
                c, s_, b, g_out, lm = deconvolve_many(
                    raw[rows], g=None if gg is None else gg[rows], **kw)
                C[rows], S[rows], bl[rows], lam[rows] = c, s_, b, lm
                if self.p:
                    G[rows] = g_out
        return C, S, bl, G, lam


@dataclass
class TemporalResult:
    """Output of :func:`update_temporal`."""

    C: np.ndarray
    S: np.ndarray
    baseline: np.ndarray
    g: np.ndarray
    lam: np.ndarray
    YrA: np.ndarray
    f: np.ndarray


@nb.njit(cache=True, nogil=True)
def _project_block(block, indptr, indices, data, out):  # pragma: no cover - compiled
    """out[t, k] = sum_j A[j, k] * block[t, j] (A in CSC)."""
    T = block.shape[0]
    K = indptr.shape[0] - 1
    for t in range(T):
        for k in range(K):
            s = 0.0
            for i in range(indptr[k], indptr[k + 1]):
                s += data[i] * block[t, indices[i]]
            out[t, k] = s


def _temporal_pass(block: np.ndarray, t0: int, t1: int, A: sparse.csc_matrix,
                   b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = np.zeros((t1 - t0, A.shape[1]), np.float64)
    bY = np.zeros((t1 - t0, b.shape[1]), np.float64)
    indptr, indices = A.indptr.astype(np.int64), A.indices.astype(np.int64)
    data = A.data.astype(np.float64)
    for s0, s1, rows in float_rows(block):
        if A.shape[1]:
            _project_block(rows, indptr, indices, data, out[s0:s1])
        if b.shape[1]:
            bY[s0:s1] = rows @ b
    return out, bY


def project(Y: Any, A: Any, b: np.ndarray | None = None, *,
            dims: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``A^T Y`` ``(K, T)`` and ``b^T Y`` ``(gnb, T)`` in one pass over the movie."""
    frames = as_frames(Y, dims)
    A = sparse.csc_matrix(A, dtype=np.float32)
    A.sort_indices()
    b = np.zeros((frames.P, 0), np.float32) if b is None else np.asarray(b, np.float32)
    parts = frames.map(_temporal_pass, A, b)
    AY = np.concatenate([q[0] for q in parts], axis=0).T if parts else np.zeros((A.shape[1], 0))
    bY = np.concatenate([q[1] for q in parts], axis=0).T if parts else np.zeros((b.shape[1], 0))
    return np.ascontiguousarray(AY), np.ascontiguousarray(bY)


def overlap_groups(A: Any) -> list[np.ndarray]:
    """Group components whose footprints do not overlap (greedy colouring)."""
    A = sparse.csc_matrix(A)
    K = A.shape[1]
    if K == 0:
        return []
    B = (A > 0).astype(np.float32)
    overlaps = sparse.csr_matrix(B.T @ B)
    colour = np.full(K, -1, np.int64)
    # most connected first: fewer groups
    degree = np.diff(overlaps.indptr)
    for k in np.argsort(-degree, kind="stable"):
        nbrs = overlaps.indices[overlaps.indptr[k]:overlaps.indptr[k + 1]]
        used = set(colour[nbrs][colour[nbrs] >= 0].tolist())
        c = 0
        while c in used:
            c += 1
        colour[k] = c
    return [np.flatnonzero(colour == c) for c in range(colour.max() + 1)]


def update_temporal(
    Y: Any,
    A: Any,
    b: np.ndarray,
    C: np.ndarray,
    f: np.ndarray,
    *,
    dims: tuple[int, int] | None = None,
    deconvolution: Deconvolution | None = None,
    ITER: int = 2,  # noqa: N803 - CaImAn's name
    products: tuple[np.ndarray, np.ndarray] | None = None,
    g: np.ndarray | None = None,
    n_threads: int | None = 1,
) -> TemporalResult:
    """Temporal update by block-coordinate descent with deconvolution (module doc).

    Parameters
    ----------
    Y : array_like or Frames
        The movie (only ``A^T Y`` and ``b^T Y`` are used; pass ``products`` to skip
        the pass over the movie).
    A : sparse or ndarray, shape (P, K)
    b : ndarray, shape (P, gnb)
    C : ndarray, shape (K, T)
        Current traces (start of the descent).
    f : ndarray, shape (gnb, T)
    deconvolution : Deconvolution, optional
        Default AR(1).
    ITER : int
        Passes over all groups.
    products : (AY, bY), optional
        Precomputed ``A^T Y`` and ``b^T Y``.
    g : ndarray, shape (K, p), optional
        AR coefficients known from a previous update (rows of zeros: unknown).
        Unknown ones are estimated from the raw traces in the first pass and kept
        for the following passes.
    n_threads : int, optional
        Threads of the deconvolution.

    Returns
    -------
    TemporalResult
        ``C, S, baseline, g, lam, YrA, f``.
    """
    deconvolution = deconvolution or Deconvolution()
    A = sparse.csc_matrix(A, dtype=np.float32)
    K = A.shape[1]
    b = np.asarray(b, np.float32)
    gnb = b.shape[1]
    if products is None:
        AY, bY = project(Y, A, b, dims=dims)
    else:
        AY, bY = products
    T = AY.shape[1] if K else bY.shape[1] if gnb else np.asarray(C).shape[-1]
    C = np.array(C, np.float64).reshape(K, T)
    f = np.array(f, np.float64).reshape(gnb, T)
    AA = sparse.csr_matrix(A.T @ A, dtype=np.float64)  # overlaps only: sparse
    Ab = np.asarray(A.T @ b, np.float64).reshape(K, gnb)
    bb = (b.T @ b).astype(np.float64)
    diag = AA.diagonal().copy()
    groups = overlap_groups(A)
    S = np.zeros((K, T), np.float32)
    bl = np.zeros(K)
    G = np.zeros((K, deconvolution.p)) if g is None else \
        np.array(g, np.float64).reshape(K, deconvolution.p)
    lam = np.zeros(K)
    YrA = np.zeros((K, T), np.float32)
    live = diag > 0
    for _ in range(max(1, ITER)):
        for grp in groups:
            grp = grp[live[grp]]
            if grp.size == 0:
                continue
            raw = C[grp] + (AY[grp] - Ab[grp] @ f - AA[grp] @ C) / diag[grp, None]
            c, s, bgrp, gg, lm = deconvolution.run(raw, g=G[grp], n_threads=n_threads)
            C[grp] = c
            S[grp], bl[grp], G[grp], lam[grp] = s, bgrp, gg, lm
            YrA[grp] = raw - c
        if gnb:
            f = update_background_traces(f, bY, Ab.T, C, bb).astype(np.float64)
    return TemporalResult(C=C.astype(np.float32), S=S, baseline=bl, g=G, lam=lam, YrA=YrA,
                          f=f.astype(np.float32))
