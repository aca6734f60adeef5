"""CNMF-E's ring model of the one-photon background, fitted and applied over time chunks.

The background of a one-photon movie is bright, blurry and fluctuating. CNMF-E
(Zhou et al. 2018 [1]_, "Background model") predicts the fluctuation of each pixel
from the pixels on a ring around it, far enough to lie outside the pixel's own cell:

    B(t) = b0 + W (Y(t) - A C(t) - b0)

with ``b0`` the constant baseline of each pixel (``mean_t (Y - A C)``) and ``W`` a
sparse matrix whose row ``p`` has non-zero weights only on the ring of ``p``: the
pixels at distance ``[r, r + 1)`` with ``r = ring_size_factor * gSiz / 2``
(CaImAn's ``ring_size_factor``). Each row is the least-squares regression of the
pixel's fluctuation on its ring's, ``w_p = argmin sum_t (x_p(t) - w . x_ring(t))^2``
with ``x = Y - A C - b0``, solved from its normal equations (a small ridge, 1e-4 of
the mean diagonal, keeps them well posed). With ``ssub_B > 1`` (CaImAn's
``ssub_B``) the model lives on a grid downsampled by block means of
``ssub_B x ssub_B`` pixels (``r`` divided by ``ssub_B``): the fluctuation is
smooth, so the coarse grid loses little and costs ``ssub_B^4`` times less; the
prediction is brought back to full resolution by repeating each block's value.

Memory does not depend on the movie's length: the normal equations (one
``n x n`` Gram matrix per grid pixel, ``n`` the ring's size) are accumulated over
time chunks (:func:`fit_ring`), and the background-subtracted movie ``Y - B`` that
the CNMF updates see is computed chunk by chunk when they read it
(:class:`RingFrames`). Each pixel's sums run over time in a fixed order, so the
result does not depend on the number of threads.

References
----------
.. [1] Zhou, P. et al. (2018). Efficient and accurate extraction of in vivo calcium
   signals from microendoscopic video data. eLife 7, e28728.
.. [2] Giovannucci, A. et al. (2019). CaImAn, an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173 (``compute_W``, ``ring_size_factor``,
   ``ssub_B``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np
from scipy import sparse

from ..parallel import numba_threads
from .updates.frames import Frames

__all__ = ["RingModel", "ring_offsets", "ring_radius", "fit_ring", "RingFrames",
           "RingMovie", "background_block"]

#: Ridge of the normal equations, relative to their mean diagonal.
_RIDGE = 1e-4
#: Bytes of float32 frames in a block of :class:`RingFrames`.
_BLOCK_BYTES = 16 * 2**20
#: Grid pixels whose normal equations are solved at once (memory of the solve).
_SOLVE_BLOCK = 1024


def ring_radius(ring_size_factor: float, cell_box: Any) -> float:
    """Ring radius in pixels: ``ring_size_factor * gSiz / 2`` (``gSiz`` averaged over axes)."""
    return float(ring_size_factor) * float(np.mean(cell_box)) / 2.0


def ring_offsets(radius: float) -> np.ndarray:
    """``(dy, dx)`` of the pixels at distance ``[radius, radius + 1)`` from a pixel.

    Examples
    --------
    >>> len(ring_offsets(2.0))
    16
    """
    R = int(math.ceil(radius + 1))
    dy, dx = np.mgrid[-R:R + 1, -R:R + 1]
    d = np.hypot(dy, dx)
    keep = (d >= radius) & (d < radius + 1)
    return np.stack([dy[keep], dx[keep]], axis=1).astype(np.int64)


def _grid(dims: tuple[int, int], ssub: int) -> tuple[tuple[int, int], sparse.csr_matrix,
                                                     sparse.csr_matrix]:
    """Downsampled grid, block-mean matrix ``D`` (P2, P) and repetition matrix ``U`` (P, P2)."""
    h, w = dims
    h2, w2 = -(-h // ssub), -(-w // ssub)
    rows = (np.arange(h) // ssub)[:, None] * w2 + (np.arange(w) // ssub)[None, :]
    rows = rows.ravel()
    P, P2 = h * w, h2 * w2
    U = sparse.csr_matrix((np.ones(P, np.float32), (np.arange(P), rows)), shape=(P, P2))
    counts = np.bincount(rows, minlength=P2).astype(np.float32)
    D = sparse.csr_matrix(((1.0 / counts[rows]).astype(np.float32), (rows, np.arange(P))),
                          shape=(P2, P))
    return (h2, w2), D, U


def _neighbours(dims2: tuple[int, int], offsets: np.ndarray) -> np.ndarray:
    """Index of each grid pixel's ring neighbours, ``-1`` outside the grid (P2, n)."""
    h2, w2 = dims2
    r, c = np.divmod(np.arange(h2 * w2), w2)
    rr = r[:, None] + offsets[None, :, 0]
    cc = c[:, None] + offsets[None, :, 1]
    inside = (rr >= 0) & (rr < h2) & (cc >= 0) & (cc < w2)
    return np.where(inside, rr * w2 + cc, -1).astype(np.int64)


@nb.njit(parallel=True, cache=True, nogil=True, fastmath=True)
def _accumulate(X, idx, G, g, xx):  # pragma: no cover - compiled
    """Add ``sum_t x_ring x_ring^T`` to ``G[p]``, ``sum_t x_ring x_p`` to ``g[p]``.

    And ``sum_t x_p^2`` to ``xx[p]``.

    ``X`` is ``(P2, t)`` float32 (pixel-major); ``idx[p]`` the ring of ``p`` (``-1``: none). Each
    pixel's ring traces are gathered into a ``(n, t)`` block and the products are
    dot products over time. ``G[p]`` holds the upper triangle only, row by row
    (:func:`_packed_index`: half the memory of the ``n x n`` matrices). Each ``p``
    is summed in the same order whatever the threads.
    """
    T = X.shape[1]
    P2, n = idx.shape
    for p in nb.prange(P2):
        V = np.zeros((n, T), np.float32)
        ring = idx[p]
        x = X[p]
        for i in range(n):
            j = ring[i]
            if j >= 0:
                V[i] = X[j]
        Gp = G[p]
        gp = g[p]
        s = np.float32(0.0)
        for t in range(T):
            s += x[t] * x[t]
        xx[p] += s
        for i in range(n):
            if ring[i] < 0:
                continue
            vi = V[i]
            s = np.float32(0.0)
            for t in range(T):
                s += vi[t] * x[t]
            gp[i] += s
            row = i * n - (i * (i - 1)) // 2 - i  # packed index of (i, j) is row + j
            for j in range(i, n):
                if ring[j] < 0:
                    continue
                vj = V[j]
                s = np.float32(0.0)
                for t in range(T):
                    s += vi[t] * vj[t]
                Gp[row + j] += s


def _packed_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the upper triangle of an ``n x n`` matrix, in packed order.

    Examples
    --------
    >>> [a.tolist() for a in _packed_index(3)]
    [[0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2]]
    """
    return np.triu_indices(n)


@dataclass
class RingModel:
    """A fitted ring background: ``B(t) = b0 + U W D (Y(t) - A C(t) - b0)``.

    Attributes
    ----------
    dims : tuple of int
        Frame shape ``(Y, X)``.
    ssub_B : int
        Downsampling of the grid the model lives on.
    radius : float
        Ring radius in full-resolution pixels.
    W : scipy.sparse.csr_matrix, shape (P2, P2)
        Ring weights on the grid (``P2`` its pixels).
    b0 : ndarray, shape (Y * X,)
        Constant baseline of each pixel.
    share : float
        Share of the fluctuation of ``Y - A C`` (its variance over time, summed over
        the grid) that the ring predicts: high for a one-photon movie, low for a
        two-photon one.
    """

    dims: tuple[int, int]
    ssub_B: int  # noqa: N815 - CaImAn's name
    radius: float
    W: sparse.csr_matrix
    b0: np.ndarray
    share: float = float("nan")

    def __post_init__(self) -> None:
        """Build the grid operators."""
        self.dims = (int(self.dims[0]), int(self.dims[1]))
        self._dims2, self._D, self._U = _grid(self.dims, int(self.ssub_B))
        self.b0 = np.asarray(self.b0, np.float32).reshape(-1)

    def fluctuation(self, X: np.ndarray) -> np.ndarray:
        """``U W D X`` for rows ``X`` (t, P): the predicted background minus ``b0``."""
        Xd = (self._D @ np.asarray(X, np.float32).T)  # (P2, t)
        return np.asarray((self._U @ (self.W @ Xd)).T, np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Return the arrays that :meth:`from_arrays` reads back (for a result folder)."""
        W = self.W.tocsr()
        return {"ring_W_data": W.data.astype(np.float32), "ring_W_indices": W.indices,
                "ring_W_indptr": W.indptr, "ring_b0": self.b0,
                "ring_meta": np.array([self.dims[0], self.dims[1], self.ssub_B,
                                       self.radius, self.share], np.float64)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> RingModel:
        """Rebuild from :meth:`to_arrays`."""
        h, w, s, radius, share = (float(v) for v in arrays["ring_meta"])
        dims2, _, _ = _grid((int(h), int(w)), int(s))
        P2 = dims2[0] * dims2[1]
        W = sparse.csr_matrix((arrays["ring_W_data"], arrays["ring_W_indices"],
                               arrays["ring_W_indptr"]), shape=(P2, P2))
        return cls(dims=(int(h), int(w)), ssub_B=int(s), radius=radius, W=W,
                   b0=arrays["ring_b0"], share=share)


def background_block(model: RingModel, Y: np.ndarray, AC: np.ndarray | None) -> np.ndarray:
    """Ring background ``B`` of rows ``Y`` (t, P) given the components' movie ``AC`` (t, P)."""
    X = np.asarray(Y, np.float32) - model.b0
    if AC is not None:
        X -= AC
    out = model.fluctuation(X)
    out += model.b0
    return out


def _component_rows(A: Any, C: np.ndarray | None, t0: int, t1: int) -> np.ndarray | None:
    if A is None or C is None or A.shape[1] == 0:
        return None
    return np.asarray((A @ C[:, t0:t1]).T, np.float32)


def fit_ring(
    frames: Frames,
    A: Any,
    C: np.ndarray | None,
    *,
    radius: float,
    ssub_B: int = 2,  # noqa: N803 - CaImAn's name
    tsub: int = 1,
    mean: np.ndarray | None = None,
) -> RingModel:
    """Fit the ring model to ``Y - A C`` (least squares, normal equations over time chunks).

    Parameters
    ----------
    frames : Frames
        The movie (in memory or streamed).
    A : sparse matrix, shape (P, K), optional
        Footprints (None or K = 0: the whole movie is background).
    C : ndarray, shape (K, T), optional
        Traces.
    radius : float
        Ring radius in full-resolution pixels (:func:`ring_radius`).
    ssub_B : int
        Grid downsampling.
    tsub : int
        Frames averaged before the products (the background is slow; 1 = none).
    mean : ndarray, shape (P,), optional
        Each pixel's mean over time (computed by a pass over the movie when not given).

    Returns
    -------
    RingModel
    """
    dims = frames.dims
    T = frames.T
    dims2, D, _ = _grid(dims, ssub_B)
    P2 = dims2[0] * dims2[1]
    offsets = ring_offsets(radius / ssub_B)
    idx = _neighbours(dims2, offsets)
    n = idx.shape[1]
    if mean is None:
        parts = frames.map(lambda blk, t0, t1: np.asarray(blk, np.float64).sum(axis=0),
                           parallel=False)
        mean = (np.sum(parts, axis=0) / T).astype(np.float32)
    b0 = np.asarray(mean, np.float32).reshape(-1).copy()
    if A is not None and C is not None and A.shape[1]:
        b0 -= np.asarray(A @ C.mean(axis=1), np.float32).ravel()
    G = np.zeros((P2, n * (n + 1) // 2), np.float32)  # upper triangles, packed
    g = np.zeros((P2, n), np.float32)
    xx = np.zeros(P2, np.float32)
    tsub = max(1, int(tsub))
    # blocks of about 16 MB of float32 (each makes three or four arrays of that size)
    step = max(tsub, (max(1, _BLOCK_BYTES // (4 * max(1, frames.P))) // tsub) * tsub)
    for t0 in range(0, T, step):
        t1 = min(T, t0 + step)
        blk = np.asarray(frames.block(t0, t1), np.float32) - b0
        AC = _component_rows(A, C, t0, t1)
        if AC is not None:
            blk -= AC
        Xd = np.asarray((D @ blk.T).T, np.float32)  # (t, P2)
        m = (len(Xd) // tsub) * tsub
        if tsub > 1 and m:
            Xd = np.ascontiguousarray(Xd[:m].reshape(m // tsub, tsub, P2).mean(axis=1))
        with numba_threads():
            _accumulate(np.ascontiguousarray(Xd.T), idx, G, g, xx)
    W = _solve(G, g, idx)
    # explained variance of each grid pixel: w . g (the least-squares fit's)
    explained = np.asarray(W.multiply(_dense_rows(g, idx, P2)).sum(axis=1)).ravel()
    total = float(xx.astype(np.float64).sum())
    share = float(np.clip(explained.sum() / total, 0, 1)) if total > 0 else float("nan")
    return RingModel(dims=dims, ssub_B=int(ssub_B), radius=float(radius), W=W, b0=b0,
                     share=share)


def _dense_rows(g: np.ndarray, idx: np.ndarray, P2: int) -> sparse.csr_matrix:
    """``g`` laid out like ``W`` (row ``p``, column ``idx[p, i]``)."""
    valid = idx >= 0
    rows = np.repeat(np.arange(P2), idx.shape[1])[valid.ravel()]
    return sparse.csr_matrix((g[valid], (rows, idx[valid])), shape=(P2, P2))


def _solve(G: np.ndarray, g: np.ndarray, idx: np.ndarray) -> sparse.csr_matrix:
    """Ring weights from the normal equations (ridge ``_RIDGE`` of the mean diagonal).

    ``G`` holds each pixel's upper triangle, packed (:func:`_accumulate`).
    """
    P2, n = idx.shape
    data = np.zeros((P2, n), np.float32)
    valid = idx >= 0
    eye = np.eye(n)
    rows, cols = _packed_index(n)
    for p0 in range(0, P2, _SOLVE_BLOCK):
        p1 = min(P2, p0 + _SOLVE_BLOCK)
        Gb = np.empty((p1 - p0, n, n))
        Gb[:, rows, cols] = G[p0:p1]
        Gb[:, cols, rows] = G[p0:p1]
        diag = np.einsum("pii->pi", Gb)
        scale = diag.sum(axis=1) / np.maximum(valid[p0:p1].sum(axis=1), 1)
        ridge = _RIDGE * np.where(scale > 0, scale, 1.0)
        Gb += ridge[:, None, None] * eye
        # pixels off the grid have empty rows: their weight is 0 (diagonal set to 1)
        off = ~valid[p0:p1] | (diag <= 0)
        Gb[off[:, :, None] & eye.astype(bool)[None]] = 1.0
        gb = np.where(off, 0.0, g[p0:p1].astype(np.float64))
        data[p0:p1] = np.linalg.solve(Gb, gb[:, :, None])[:, :, 0]
    data[~valid] = 0
    rows = np.repeat(np.arange(P2), n)
    cols = np.where(valid, idx, 0).ravel()
    W = sparse.csr_matrix((data.ravel(), (rows, cols)), shape=(P2, P2))
    W.eliminate_zeros()
    return W


class RingFrames(Frames):
    """The movie minus its ring background, ``Y - B``, seen as :class:`Frames`.

    Every block is computed when read: ``Y(t) - b0 - U W D (Y(t) - A C(t) - b0)``
    with the components ``A``, ``C`` fixed at construction (the background is
    re-estimated between the CNMF updates by building a new one). The movie is
    never copied: memory is a few blocks.

    Parameters
    ----------
    frames : Frames
        The movie.
    model : RingModel
    A : sparse matrix, shape (P, K), optional
    C : ndarray, shape (K, T), optional
    """

    def __init__(self, frames: Frames, model: RingModel, A: Any = None,
                 C: np.ndarray | None = None) -> None:
        # blocks of about 16 MB of float32: each read makes four arrays of that size
        # (frames, components, background, difference), in every thread at once
        chunk = max(1, min(frames.chunk_frames, _BLOCK_BYTES // (4 * max(1, frames.P))))
        super().__init__(frames.movie, frames.dims, chunk_frames=chunk, fill=frames.fill)
        self.source = frames
        self.model = model
        self.A = None if A is None else sparse.csc_matrix(A, dtype=np.float32)
        self.C = None if C is None else np.asarray(C, np.float32)
        self.lazy = True

    @property
    def in_memory_matrix(self) -> bool:
        """Always False: blocks are computed."""
        return False

    def block(self, t0: int, t1: int) -> np.ndarray:
        """Frames ``t0:t1`` minus their ring background, float32 ``(t1 - t0, P)``."""
        Y = np.asarray(self.source.block(t0, t1), np.float32)
        return Y - background_block(self.model, Y, _component_rows(self.A, self.C, t0, t1))

    def background(self, t0: int, t1: int) -> np.ndarray:
        """Return the ring background of frames ``t0:t1``, float32 ``(t1 - t0, P)``."""
        Y = np.asarray(self.source.block(t0, t1), np.float32)
        return background_block(self.model, Y, _component_rows(self.A, self.C, t0, t1))

    def frames_at(self, times: np.ndarray, *, background: bool = False) -> np.ndarray:
        """Frames ``times`` (sorted or not) of ``Y - B`` (or of ``B``), ``(n, Y, X)``.

        Each frame's background depends on that frame only, so only the frames
        asked for are read.
        """
        times = np.asarray(times, np.int64).ravel()
        src = self.source.movie
        if self.source.in_memory_matrix:
            Y = np.asarray(src[times], np.float32)
        else:
            Y = src[times] if not hasattr(src, "vindex") else src[np.sort(times)]
            Y = np.asarray(Y.compute() if hasattr(Y, "compute") else Y, np.float32)
            if hasattr(src, "vindex"):
                Y = Y[np.argsort(np.argsort(times))]
            Y = Y.reshape(len(times), self.P)
            if not np.all(np.isfinite(Y)):
                bad = ~np.isfinite(Y)
                Y[bad] = 0 if self.fill is None else np.broadcast_to(self.fill, Y.shape)[bad]
        AC = None if self.A is None or self.A.shape[1] == 0 else \
            np.asarray((self.A @ self.C[:, times]).T, np.float32)
        B = background_block(self.model, Y, AC)
        out = B if background else Y - B
        return out.reshape(len(times), *self.dims)

    def as_movie(self, *, background: bool = False) -> Any:
        """Return a lazy dask ``(T, Y, X)`` array of ``Y - B`` (or of ``B``), a block a chunk."""
        import dask
        import dask.array as da

        h, w = self.dims
        parts = []
        for t0, t1 in self.bounds():
            fn = self.background if background else self.block
            d = dask.delayed(lambda a, b, f=fn: f(a, b).reshape(b - a, h, w), pure=False)
            parts.append(da.from_delayed(d(t0, t1), (t1 - t0, h, w), np.float32))
        return da.concatenate(parts, axis=0)


class RingMovie:
    """``Y - B`` (or ``B``) as a read-only ``(T, Y, X)`` movie computed frame by frame.

    Indexing the first axis (an integer, a slice, an array of frame indices) reads
    and corrects only those frames (:meth:`RingFrames.frames_at`); the other axes
    are then indexed in memory. What the evaluation reads (a few frames per
    component).
    """

    def __init__(self, frames: RingFrames, *, background: bool = False) -> None:
        self.frames = frames
        self.background = background
        self.shape = (frames.T, *frames.dims)
        self.dtype = np.dtype(np.float32)
        self.ndim = 3

    def __len__(self) -> int:
        """Return the number of frames."""
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        """Frames of the corrected movie (see the class documentation)."""
        key = key if isinstance(key, tuple) else (key,)
        first, rest = key[0], key[1:]
        if isinstance(first, slice):
            times = np.arange(self.shape[0])[first]
        else:
            times = np.asarray(first)
        scalar = times.ndim == 0
        out = self.frames.frames_at(np.atleast_1d(times), background=self.background)
        if scalar:
            out = out[0]
        return out[(slice(None),) * (not scalar) + rest] if rest else out
