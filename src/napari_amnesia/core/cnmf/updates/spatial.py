"""The CNMF updates: HALS, spatial, temporal, merging — in memory or streamed.

The model of Pnevmatikakis et al. (2016) [1]_: the movie seen as a ``(T, P)``
matrix ``Y`` (pixels in C order) is ``Y ≈ (A C + b f)^T + noise`` with non-negative
footprints ``A`` ``(P, K)`` (sparse, CSC), calcium traces ``C`` ``(K, T)`` following
an autoregressive model, and a low-rank background ``b`` ``(P, gnb)``, ``f``
``(gnb, T)``. Each update below solves for one factor with the others fixed.

The movie enters only through products with it (``Y C^T`` on the supports, ``A^T
Y``, ``b^T Y``, each pixel's ``|y|^2``), computed by :class:`Frames` in one pass over
time chunks: a movie held in memory is read as views, a lazy (dask) movie is read
chunk by chunk as dask tasks, so the whole field never needs to be in memory.

Spatial update (:func:`update_spatial`)
---------------------------------------
Each pixel ``p`` is regressed on the traces of the components whose *dilated*
support contains it (the support grown by ``support_dilation`` pixels: a
footprint can grow, not jump) plus the background traces, with non-negative
coefficients. CaImAn solves this per pixel by LARS stopped where the residual
reaches the noise level, ``|y_p - a_p [C; f]|^2 <= sn_p^2 T`` ([1]_, eq. 9 and
"Spatial update"). Here the same solution is reached without LARS:

* ``method_ls="nnls"``: the non-negative least-squares solution, by coordinate
  descent on the small Gram matrix of the pixel's active traces (exact).
* ``method_ls="lasso_lars"`` (default): the noise-constrained one. LARS computes the
  lasso path ``min 1/2 |y_p - a [C; f]|^2 + lam |a_neurons|_1``, ``a >= 0``, and
  stops at the ``lam`` where the residual equals ``sn_p^2 T``. The residual of the
  lasso solution grows monotonically with ``lam``, so that point is found by
  bisection on ``lam`` (30 steps, each a warm-started coordinate descent): the
  plain NNLS fit when its residual is already above the noise level, all-zero
  neural coefficients when the background alone fits the pixel within the noise,
  and otherwise the largest ``lam`` whose residual is at most ``sn_p^2 T`` — the
  sparsest fit the noise allows, as LARS gives. The background coefficients are
  never penalised. ``sn_p`` is the noise level *as CaImAn computes it*
  (:func:`caiman_noise_scale`: its PSD average is not debiased, 0.75 of the true
  level for ``"logmexp"``), so the same data get the same sparsity as with
  CaImAn; with the true level the bound would fall inside the residual's own
  random fluctuation (``sn^2 sqrt(2T)``) and zero about half of the weak pixels at
  random.

The footprints are then cleaned as in [1]_/[2]_: values below ``maxthr`` times the
footprint's maximum are dropped, only the largest pixels holding ``nrgthr`` of its
energy are kept, and (``extract_cc``) only its connected piece (8-connectivity) of
largest energy. Footprints are scaled to unit L2 norm, the traces by the inverse,
and empty components are dropped.

Temporal update (:func:`update_temporal`)
-----------------------------------------
Block-coordinate descent over groups of components whose footprints do not overlap
([1]_, "Temporal update"; CaImAn's ``update_order``): for a group, the *raw trace*
of each member is its footprint's projection of the movie minus the background and
the other components, ``y_k = c_k + a_k^T (Y - b f - A C) / |a_k|^2`` — members of a
group do not overlap, so they are independent — and it is deconvolved by OASIS
(:func:`~napari_amnesia.core.cnmf.deconvolution.deconvolve_many`) into calcium
``c_k``, activity ``s_k``, a baseline, AR coefficients and a sparsity penalty. The
*residual trace* is ``y_k - c_k`` (it holds the baseline, as CaImAn's ``YrA``:
``traces + residual_traces`` is the raw trace). After each pass the background
traces get a HALS update. ``ITER`` passes.

Merging (:func:`merge_components`)
----------------------------------
Components that share pixels and whose traces correlate above ``merge_thr`` are
grouped (connected pieces of that graph); each group becomes one component, the
best rank-1 non-negative approximation of ``sum_k a_k (c_k + r_k)^T`` on the union
of their supports (alternating updates, [1]_ "Merging"), deconvolved again.

References
----------
.. [1] Pnevmatikakis, E. A. et al. (2016). Simultaneous denoising, deconvolution, and
   demixing of calcium imaging data. Neuron 89, 285-299.
.. [2] Giovannucci, A. et al. (2019). CaImAn, an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173.
.. [3] Cichocki, A. & Phan, A.-H. (2009). Fast local algorithms for large scale
   nonnegative matrix and tensor factorizations. IEICE Trans. Fundamentals E92-A,
   708-721.
.. [4] Friedrich, J., Zhou, P. & Paninski, L. (2017). Fast online deconvolution of
   calcium imaging data. PLoS Comput. Biol. 13, e1005423.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np
from scipy import ndimage, sparse

from .initialization import all_finite

__all__ = [
    "Frames",
    "Deconvolution",
    "TemporalResult",
    "hals",
    "update_spatial",
    "threshold_components",
    "update_temporal",
    "update_background_traces",
    "merge_components",
    "overlap_groups",
    "normalize_components",
    "caiman_noise_scale",
    "overlapping_pairs",
    "pair_correlation",
]

logger = logging.getLogger(__name__)

_EPS = 1e-12
_CHUNK_BYTES = 64 * 2**20


# --------------------------------------------------------------------------- the movie
class Frames:
    """A movie seen as float32 ``(T, P)`` matrix blocks of consecutive frames.

    Parameters
    ----------
    movie : array_like
        ``(T, Y, X)`` numpy or dask array, or an in-memory ``(T, P)`` matrix (then
        ``dims`` is required): float32, or an integer type that the passes over the
        movie cast to float32 a few frames at a time (:func:`float_rows`), so that
        a compact movie (uint16) never gets a float32 copy of a whole block.
    dims : tuple of int, optional
        ``(Y, X)`` when ``movie`` is a matrix.
    chunk_frames : int, optional
        Frames per block; default about 64 MB of float32.
    fill : ndarray, shape (P,), optional
        Values replacing NaN/inf (each pixel's mean); without it, non-finite values
        are replaced by 0.

    Notes
    -----
    A numpy movie is read as views (cast to float32 block by block); a dask movie
    block by block inside dask tasks (:meth:`map`), so only a few blocks are in
    memory at once.
    """

    def __init__(self, movie: Any, dims: tuple[int, int] | None = None, *,
                 chunk_frames: int | None = None, fill: np.ndarray | None = None) -> None:
        shape = tuple(int(n) for n in movie.shape)
        if len(shape) == 2:
            if dims is None:
                raise ValueError("dims is required for a (T, P) matrix.")
            self.dims = (int(dims[0]), int(dims[1]))
            if shape[1] != self.dims[0] * self.dims[1]:
                raise ValueError(f"matrix of {shape[1]} pixels does not match dims {dims}.")
        elif len(shape) == 3:
            self.dims = shape[1:]
        else:
            raise ValueError(f"movie should be (T, Y, X), got shape {shape}.")
        self.movie = movie
        self.T = shape[0]
        self.P = self.dims[0] * self.dims[1]
        self.lazy = not isinstance(movie, np.ndarray)
        if chunk_frames is None:
            chunk_frames = max(1, _CHUNK_BYTES // (4 * max(1, self.P)))
        self.chunk_frames = int(min(max(1, chunk_frames), max(1, self.T)))
        self.fill = None if fill is None else np.asarray(fill, np.float32).reshape(self.P)
        #: results that depend on the movie only (e.g. each pixel's energy), reused
        self.cache: dict[str, Any] = {}

    @property
    def in_memory_matrix(self) -> bool:
        """The movie is a float32 or integer ``(T, P)`` matrix in memory (blocks are views).
        """
        m = self.movie
        return isinstance(m, np.ndarray) and m.ndim == 2 and (
            m.dtype == np.float32 or m.dtype.kind in "iu")

    def bounds(self) -> list[tuple[int, int]]:
        """``(t0, t1)`` of every block."""
        c = self.chunk_frames
        return [(t0, min(self.T, t0 + c)) for t0 in range(0, self.T, c)]

    def block(self, t0: int, t1: int) -> np.ndarray:
        """Frames ``t0:t1`` as a ``(t1 - t0, P)`` matrix, non-finite filled.

        float32, except for an in-memory integer matrix: a view in its own type (use
        :func:`float_rows` to read it as float32 a few frames at a time).
        """
        m = self.movie
        if self.in_memory_matrix:
            return m[t0:t1]  # a view: in-memory matrices are already cleaned
        x = m[t0:t1]
        if self.lazy:
            x = x.compute(scheduler="synchronous") if hasattr(x, "compute") else np.asarray(x)
        x = np.asarray(x).reshape(t1 - t0, self.P)
        out = x.astype(np.float32, copy=True)
        if x.dtype.kind == "f" and not all_finite(out):  # integers are always finite
            bad = ~np.isfinite(out)
            if self.fill is None:
                out[bad] = 0
            else:
                out[bad] = np.broadcast_to(self.fill, out.shape)[bad]
        return out

    def map(self, func: Callable[..., Any], *args: Any, parallel: bool = True) -> list[Any]:
        """``[func(block, t0, t1, *args) for each block]``, blocks as dask tasks."""
        bounds = self.bounds()
        if not parallel or len(bounds) == 1 or self.in_memory_matrix and self.T * self.P < 2**22:
            return [func(self.block(t0, t1), t0, t1, *args) for t0, t1 in bounds]
        import dask

        from ..parallel import blas_single_threaded

        def task(t0: int, t1: int) -> Any:
            return func(self.block(t0, t1), t0, t1, *args)

        tasks = [dask.delayed(task, pure=False)(t0, t1) for t0, t1 in bounds]
        with blas_single_threaded():
            return list(dask.compute(*tasks, scheduler="threads"))


#: Bytes of float32 that :func:`float_rows` casts at once (fits a core's L2 cache).
_CAST_BYTES = 2 * 2**20


def float_rows(block: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(s0, s1, rows)``: a block's rows ``s0:s1`` as float32, a few at a time.

    A float32 block is given whole (no copy); another type is cast a few frames
    at a time (about 2 MB of float32), so that a pass over a compact in-memory movie
    works on float32 rows that stay in cache, and never holds a float32 copy of
    the block.
    """
    if block.dtype == np.float32:
        yield 0, block.shape[0], block
        return
    n = block.shape[0]
    step = max(1, _CAST_BYTES // max(1, 4 * block.shape[1]))
    for s0 in range(0, n, step):
        s1 = min(n, s0 + step)
        yield s0, s1, block[s0:s1].astype(np.float32)


def as_frames(Y: Any, dims: tuple[int, int] | None = None, **kw: Any) -> Frames:
    """``Y`` as :class:`Frames` (returned as is when it already is one)."""
    return Y if isinstance(Y, Frames) else Frames(Y, dims, **kw)


# --------------------------------------------------------------------------- small tools
def normalize_components(A: sparse.csc_matrix, C: np.ndarray, *others: np.ndarray | None
                         ) -> tuple[Any, ...]:
    """Scale footprints to unit L2 norm and the traces (and ``others``) inversely."""
    A = sparse.csc_matrix(A, dtype=np.float32)
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=0)).ravel())
    scale = np.where(norms > 0, norms, 1.0)
    A = A @ sparse.diags((1.0 / scale).astype(np.float32))
    out = [sparse.csc_matrix(A, dtype=np.float32), np.asarray(C) * scale[:, None]]
    for o in others:
        out.append(None if o is None else np.asarray(o) * scale[:, None])
    return tuple(out)


def dilated_supports(A: Any, dims: tuple[int, int], radius: int) -> list[np.ndarray]:
    """Pixel indices of each footprint's support grown by ``radius`` (disk)."""
    A = sparse.csc_matrix(A)
    h, w = dims
    out = []
    if radius > 0:
        yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
        disk = (yy ** 2 + xx ** 2) <= radius ** 2 + 0.5
    for k in range(A.shape[1]):
        lo, hi = A.indptr[k], A.indptr[k + 1]
        idx = A.indices[lo:hi][A.data[lo:hi] > 0]
        if idx.size == 0:
            out.append(np.zeros(0, np.int64))
            continue
        if radius == 0:
            out.append(np.sort(idx).astype(np.int64))
            continue
        r, c = np.divmod(idx, w)
        y0, y1 = max(0, r.min() - radius), min(h, r.max() + radius + 1)
        x0, x1 = max(0, c.min() - radius), min(w, c.max() + radius + 1)
        img = np.zeros((y1 - y0, x1 - x0), bool)
        img[r - y0, c - x0] = True
        img = ndimage.binary_dilation(img, structure=disk)
        ry, rx = np.nonzero(img)
        out.append(((ry + y0) * w + (rx + x0)).astype(np.int64))
    return out


# --------------------------------------------------------------------------- HALS
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
    from .initialization import _hals_columns

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


# --------------------------------------------------------------------------- spatial
@nb.njit(cache=True, nogil=True)
def _pair_products(block, Ct, pix, comp, out):  # pragma: no cover - compiled
    """out[i] += sum_t block[t, pix[i]] * Ct[t, comp[i]]."""
    T = block.shape[0]
    M = pix.shape[0]
    for t in range(T):
        for i in range(M):
            out[i] += block[t, pix[i]] * Ct[t, comp[i]]


@nb.njit(cache=True, nogil=True)
def _cd_nnls(G, r, x, lam, m, max_sweeps, tol):  # pragma: no cover - compiled
    """Coordinate descent for min 1/2 x'Gx - r'x + lam * sum(x[:m]), x >= 0."""
    n = x.shape[0]
    for _ in range(max_sweeps):
        delta = 0.0
        scale = 0.0
        for j in range(n):
            d = G[j, j]
            if d <= 0.0:
                x[j] = 0.0
                continue
            grad = r[j]
            for i in range(n):
                grad -= G[j, i] * x[i]
            if j < m:
                grad -= lam
            new = x[j] + grad / d
            if new < 0.0:
                new = 0.0
            ch = abs(new - x[j]) * math.sqrt(d)
            if ch > delta:
                delta = ch
            v = abs(new) * math.sqrt(d)
            if v > scale:
                scale = v
            x[j] = new
        if delta <= tol * (scale + 1e-30):
            break


@nb.njit(cache=True)
def _rss(G, r, x, yy):  # pragma: no cover - compiled
    n = x.shape[0]
    q = 0.0
    for j in range(n):
        s = 0.0
        for i in range(n):
            s += G[j, i] * x[i]
        q += x[j] * (s - 2.0 * r[j])
    return yy + q


@nb.njit(cache=True, nogil=True)
def _solve_pixels(p0, p1, indptr, comps, pair_rhs, bg_rhs, CC, yy, noise, K, lasso,
                  warm_pairs, warm_bg, out_pairs, out_bg):  # pragma: no cover - compiled
    """Per-pixel NNLS / noise-constrained lasso of the spatial update (pixels p0:p1)."""
    gnb = bg_rhs.shape[1]
    for p in range(p0, p1):
        s0 = indptr[p]
        s1 = indptr[p + 1]
        m = s1 - s0
        n = m + gnb
        if n == 0:
            continue
        idx = np.empty(n, np.int64)
        r = np.empty(n)
        x = np.empty(n)
        for j in range(m):
            idx[j] = comps[s0 + j]
            r[j] = pair_rhs[s0 + j]
            x[j] = warm_pairs[s0 + j]
        for j in range(gnb):
            idx[m + j] = K + j
            r[m + j] = bg_rhs[p, j]
            x[m + j] = warm_bg[p, j]
        G = np.empty((n, n))
        for a in range(n):
            for c in range(n):
                G[a, c] = CC[idx[a], idx[c]]
        _cd_nnls(G, r, x, 0.0, m, 500, 1e-7)
        if lasso and m > 0 and noise[p] > 0.0:
            rss0 = _rss(G, r, x, yy[p])
            if rss0 < noise[p]:
                # background alone (neural coefficients held at zero)
                xb = np.zeros(n)
                for j in range(gnb):
                    xb[m + j] = x[m + j]
                xbg = xb[m:].copy()
                if gnb > 0:
                    _cd_nnls(G[m:, m:], r[m:], xbg, 0.0, 0, 500, 1e-7)
                    for j in range(gnb):
                        xb[m + j] = xbg[j]
                rssb = _rss(G, r, xb, yy[p])
                if rssb <= noise[p]:
                    x[:] = xb
                else:
                    lam_hi = 0.0
                    for j in range(m):
                        gj = r[j]
                        for i in range(gnb):
                            gj -= G[j, m + i] * xb[m + i]
                        if gj > lam_hi:
                            lam_hi = gj
                    lam_lo = 0.0
                    best = x.copy()
                    xt = x.copy()
                    for _ in range(30):
                        lam = 0.5 * (lam_lo + lam_hi)
                        _cd_nnls(G, r, xt, lam, m, 500, 1e-7)
                        if _rss(G, r, xt, yy[p]) <= noise[p]:
                            lam_lo = lam
                            best[:] = xt
                        else:
                            lam_hi = lam
                    x[:] = best
        for j in range(m):
            out_pairs[s0 + j] = x[j]
        for j in range(gnb):
            out_bg[p, j] = x[m + j]


def _spatial_pass(block: np.ndarray, t0: int, t1: int, Ct: np.ndarray, ft: np.ndarray,
                  pix: np.ndarray, comp: np.ndarray, energy: bool = True
                  ) -> tuple[np.ndarray, ...]:
    pairs = np.zeros(pix.size, np.float64)
    P = block.shape[1]
    bg = np.zeros((P, ft.shape[1]))
    yy = np.zeros(P) if energy else None
    for s0, s1, rows in float_rows(block):
        if pix.size:
            _pair_products(rows, np.ascontiguousarray(Ct[t0 + s0:t0 + s1]), pix, comp,
                           pairs)
        if ft.shape[1]:
            bg += rows.T @ ft[t0 + s0:t0 + s1]
        if energy:
            yy += np.einsum("tp,tp->p", rows, rows, dtype=np.float64)
    return pairs, bg, yy


def update_spatial(
    Y: Any,
    C: np.ndarray,
    f: np.ndarray,
    A: Any,
    sn: np.ndarray,
    *,
    dims: tuple[int, int] | None = None,
    b: np.ndarray | None = None,
    support_dilation: int = 3,
    method_ls: str = "lasso_lars",
    maxthr: float = 0.1,
    nrgthr: float = 0.9999,
    extract_cc: bool = True,
    noise_scale: float = 1.0,
    n_threads: int = 1,
) -> tuple[sparse.csc_matrix, np.ndarray, np.ndarray]:
    """Spatial update: new footprints and background footprints (see module doc).

    Parameters
    ----------
    Y : array_like or Frames
        Movie ``(T, Y, X)``, float32 ``(T, P)`` matrix (with ``dims``) or
        :class:`Frames`.
    C : ndarray, shape (K, T)
        Traces (calcium, without baseline).
    f : ndarray, shape (gnb, T)
        Background traces.
    A : sparse or ndarray, shape (P, K)
        Current footprints (their dilated supports bound the new ones).
    sn : ndarray, shape (P,)
        Noise level of each pixel.
    dims : tuple of int, optional
    b : ndarray, shape (P, gnb), optional
        Current background footprints (warm start).
    support_dilation : int
    method_ls : {"lasso_lars", "nnls"}
    maxthr, nrgthr, extract_cc
        Footprint cleaning, see :func:`threshold_components`.
    noise_scale : float
        The residual bound of ``"lasso_lars"`` is ``(noise_scale * sn)^2 T``; see
        :func:`caiman_noise_scale` for the value that reproduces CaImAn.
    n_threads : int
        Threads for the per-pixel solve.

    Returns
    -------
    A : scipy.sparse.csc_matrix, shape (P, K)
        New footprints (not normalised; empty ones are all-zero columns).
    b : ndarray, shape (P, gnb)
    pixel_energy : ndarray, shape (P,)
        ``|y_p|^2`` of every pixel (reusable).
    """
    if method_ls not in ("lasso_lars", "nnls"):
        raise ValueError(f'method_ls should be "lasso_lars" or "nnls", got {method_ls!r}.')
    frames = as_frames(Y, dims)
    dims = frames.dims
    P, T = frames.P, frames.T
    A = sparse.csc_matrix(A, dtype=np.float32)
    K = A.shape[1]
    C = np.asarray(C, np.float32).reshape(K, T)
    f = np.asarray(f, np.float32).reshape(-1, T)
    gnb = f.shape[0]
    supports = dilated_supports(A, dims, support_dilation)
    if K:
        pix = np.concatenate(supports) if supports else np.zeros(0, np.int64)
        comp = np.concatenate([np.full(s.size, k, np.int64) for k, s in enumerate(supports)])
    else:
        pix = comp = np.zeros(0, np.int64)
    order = np.lexsort((comp, pix))
    pix, comp = pix[order], comp[order]
    indptr = np.zeros(P + 1, np.int64)
    np.add.at(indptr, pix + 1, 1)
    indptr = np.cumsum(indptr)
    # warm start: current values
    Acsr = A.tocsr()
    warm = np.asarray(Acsr[pix, comp]).ravel().astype(np.float64) if pix.size else \
        np.zeros(0)
    warm_bg = np.zeros((P, gnb)) if b is None else np.asarray(b, np.float64).reshape(P, gnb)
    # one pass over the movie
    yy = frames.cache.get("pixel_energy")
    parts = frames.map(_spatial_pass, np.ascontiguousarray(C.T), np.ascontiguousarray(f.T),
                       pix, comp, yy is None)
    pair_rhs = np.sum([q[0] for q in parts], axis=0) if parts else np.zeros(pix.size)
    bg_rhs = np.sum([q[1] for q in parts], axis=0) if parts else np.zeros((P, gnb))
    if yy is None:
        yy = np.sum([q[2] for q in parts], axis=0) if parts else np.zeros(P)
        frames.cache["pixel_energy"] = yy
    del parts
    Cf = np.concatenate([C, f], axis=0).astype(np.float64)
    CC = Cf @ Cf.T
    noise = (noise_scale * np.asarray(sn, np.float64).reshape(P)) ** 2 * T
    out_pairs = np.zeros(pix.size)
    out_bg = np.zeros((P, gnb))
    lasso = method_ls == "lasso_lars"
    args = (indptr, comp, pair_rhs, bg_rhs, CC, yy, noise, K, lasso, warm, warm_bg,
            out_pairs, out_bg)
    if n_threads > 1 and P > 4096:
        from ..parallel import thread_map

        edges = np.linspace(0, P, 4 * n_threads + 1).astype(int)
        list(thread_map(lambda e: _solve_pixels(e[0], e[1], *args),
                        list(zip(edges[:-1], edges[1:], strict=True)), n_threads))
    else:
        _solve_pixels(0, P, *args)
    A_new = sparse.csc_matrix((out_pairs.astype(np.float32), (pix, comp)), shape=(P, K))
    A_new.eliminate_zeros()
    A_new = threshold_components(A_new, dims, maxthr=maxthr, nrgthr=nrgthr,
                                 extract_cc=extract_cc)
    return A_new, out_bg.astype(np.float32), yy


def caiman_noise_scale(noise_method: str) -> float:
    """Ratio of CaImAn's pixel noise level to the unbiased one, for white noise.

    :func:`~napari_amnesia.core.cnmf.noise.estimate_noise` corrects the PSD average
    for its bias; CaImAn does not, and its LARS bound ``sn^2 T`` uses the biased
    value: ``exp(-gamma / 2)`` (0.749) of the true noise for ``"logmexp"``,
    ``sqrt(ln 2)`` (0.833) for ``"median"``, 1 for ``"mean"``. Using the same bound
    gives the same sparsity as CaImAn: the constraint then acts only where the fit
    is much better than the noise, while an unbiased bound zeroes about half of the
    weak pixels at random (ragged footprints: on simulated somata the spatial
    correlation of footprints with the data fell from 0.99 to 0.85).
    """
    return {"mean": 1.0, "median": math.sqrt(math.log(2.0)),
            "logmexp": math.exp(-np.euler_gamma / 2)}.get(noise_method, 1.0)


def threshold_components(A: Any, dims: tuple[int, int], *, maxthr: float = 0.1,
                         nrgthr: float = 0.9999, extract_cc: bool = True
                         ) -> sparse.csc_matrix:
    """Clean footprints: relative threshold, energy threshold, largest connected piece.

    Parameters
    ----------
    A : sparse or ndarray, shape (P, K)
    dims : tuple of int
    maxthr : float
        Values below ``maxthr * max`` are dropped.
    nrgthr : float
        Only the largest values holding this fraction of the energy are kept.
    extract_cc : bool
        Keep only the 8-connected piece of largest energy.

    Returns
    -------
    scipy.sparse.csc_matrix
    """
    A = sparse.csc_matrix(A, dtype=np.float32)
    A.sum_duplicates()
    h, w = dims
    data, indices, indptr = A.data.copy(), A.indices, A.indptr
    keep = np.zeros(data.size, bool)
    eight = np.ones((3, 3), bool)
    for k in range(A.shape[1]):
        lo, hi = indptr[k], indptr[k + 1]
        if hi == lo:
            continue
        v = data[lo:hi]
        ok = v > 0
        if not ok.any():
            continue
        ok &= v >= maxthr * v.max()
        if nrgthr < 1:
            e = np.where(ok, v, 0).astype(np.float64) ** 2
            order = np.argsort(e)[::-1]
            cum = np.cumsum(e[order])
            n_keep = int(np.searchsorted(cum, nrgthr * cum[-1])) + 1
            sel = np.zeros(v.size, bool)
            sel[order[:n_keep]] = True
            ok &= sel
        if extract_cc and ok.sum() > 1:
            idx = indices[lo:hi]
            r, c = np.divmod(idx, w)
            y0, x0 = r.min(), c.min()
            img = np.zeros((r.max() - y0 + 1, c.max() - x0 + 1), np.float64)
            img[r[ok] - y0, c[ok] - x0] = v[ok].astype(np.float64) ** 2
            lab, n = ndimage.label(img > 0, structure=eight)
            if n > 1:
                energy = ndimage.sum_labels(img, lab, index=np.arange(1, n + 1))
                best = int(np.argmax(energy)) + 1
                ok &= lab[r - y0, c - x0] == best
        keep[lo:hi] = ok
    data[~keep] = 0
    out = sparse.csc_matrix((data, indices, indptr), shape=A.shape)
    out.eliminate_zeros()
    return out


# --------------------------------------------------------------------------- temporal
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
        from .deconvolution import deconvolve_many

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
    """Groups of components whose footprints do not overlap (greedy colouring)."""
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


# --------------------------------------------------------------------------- merging
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

