"""Local correlation: the fused per-pixel accumulation and the correlation image.

One sweep of :func:`_accumulate` over each chunk adds, per pixel, the (centred)
sums, sums of squares and products with the right, lower, lower-right and
lower-left neighbours (the other four follow by symmetry), for the raw movie and
for the thresholded filtered movie of ``corr_pnr``, and updates the maxima; it does
what a plain-numpy implementation needs about fifteen passes for. It sums up to 64
frames in float32 (full SIMD width, buffers in the L1 cache) before folding the
sums into float64 accumulators (:class:`_Moments`), from which
:func:`_correlation_image` finishes CaImAn's ``local_correlations``.
:func:`_time_bins` gives the time bins of ``max_correlation_image``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._fastmath import _FASTMATH

# What one call of _accumulate does (bit flags).
_RAW_MAX = 1  # vmax = max(vmax, x) on the raw movie
_RAW_CORR = 2  # raw moments (centred on `center`)
_F_MAX = 8  # fmax = max(fmax, f)
_F_THR = 16  # thresholded moments of the filtered movie (centred on `mu`)
_EIGHT = 32  # diagonal products too
# Frames summed in float32 before the sums are folded into the float64
# accumulators: the float32 partial sums of an integer movie are exact as long as
# they stay below 2**24 (|centred value| < 512 for the squares), and otherwise
# carry a relative rounding error of about 1e-7.
_BLOCK = 64
# Parallel loops hand out work in small pieces (rows, frames, pixel groups) to
# whichever thread is free, rather than one fixed share per thread: the reading
# thread, or any other process, then delays only a piece, not the whole sweep.
_ROWS_PER_TASK = 8


@nb.njit(fastmath=_FASTMATH, cache=True, nogil=True)
def _centred_row(row, c64, c32, exact, out):  # pragma: no cover - compiled
    """``out[1 + x] = row[x] - c[x]`` in float32 (``out`` has one pad on each side).

    ``exact``: the dtype is exactly representable in float32 (integers of 16 bits
    at most, float32), so the subtraction can be done in float32 without any
    extra rounding; otherwise it is done in float64.
    """
    nx = row.shape[0]
    o = out[1 : nx + 1]
    if exact:
        for x in range(nx):
            o[x] = np.float32(row[x]) - c32[x]
    else:
        for x in range(nx):
            o[x] = np.float32(np.float64(row[x]) - c64[x])


@nb.njit(fastmath=_FASTMATH, cache=True, nogil=True)
def _thresholded_row(row, c64, c32, thr, exact, out):  # pragma: no cover - compiled
    """``out[1 + x] = v if v >= thr[x] else 0`` with ``v = row[x] - c[x]`` (float32)."""
    nx = row.shape[0]
    o = out[1 : nx + 1]
    zero = np.float32(0.0)
    if exact:
        for x in range(nx):
            v = np.float32(row[x]) - c32[x]
            o[x] = v if v >= thr[x] else zero
    else:
        for x in range(nx):
            v = np.float32(np.float64(row[x]) - c64[x])
            o[x] = v if v >= thr[x] else zero


@nb.njit(fastmath=_FASTMATH, cache=True, nogil=True)
def _row_products(pc, pn, loc, eight):  # pragma: no cover - compiled
    """Add one frame's sums and neighbour products of a row to ``loc`` (6, nx).

    ``pc`` and ``pn`` are the (padded, zero-bordered) centred row and the row below
    (all zeros for the last row): ``loc`` += c, c*c, c*right, c*below,
    c*below-right, c*below-left. The zero borders make every loop branch-free
    over the whole row (the products with a missing neighbour add 0). Few arrays
    per loop, so that the loops vectorize.
    """
    nx = loc.shape[1]
    c = pc[1 : nx + 1]
    cr = pc[2 : nx + 2]
    b = pn[1 : nx + 1]
    l0 = loc[0]
    l1 = loc[1]
    l2 = loc[2]
    l3 = loc[3]
    for x in range(nx):
        l0[x] += c[x]
        l1[x] += c[x] * c[x]
    for x in range(nx):
        l2[x] += c[x] * cr[x]
        l3[x] += c[x] * b[x]
    if eight:
        br = pn[2 : nx + 2]
        bl = pn[0:nx]
        l4 = loc[4]
        l5 = loc[5]
        for x in range(nx):
            l4[x] += c[x] * br[x]
            l5[x] += c[x] * bl[x]


@nb.njit(fastmath=_FASTMATH, cache=True, nogil=True)
def _fold(loc, out, y):  # pragma: no cover - compiled
    """``out[k, y] += loc[k]`` in float64, then ``loc`` = 0."""
    for k in range(loc.shape[0]):
        o = out[k, y]
        lk = loc[k]
        for x in range(o.shape[0]):
            o[x] += np.float64(lk[x])
        for x in range(o.shape[0]):
            lk[x] = 0.0


@nb.njit(parallel=True, fastmath=_FASTMATH, cache=True, nogil=True)
def _accumulate(
    data, fdata, t0, t1, what, center, center32, exact, vmax, raw,
    mu, mu32, thr32, fexact, fmax, thm,
):  # pragma: no cover - compiled
    """Fused per-pixel accumulation over frames ``t0:t1`` of ``data`` and ``fdata``.

    ``data`` is the raw chunk (T, Y, X) and ``fdata`` the filtered one (``data``
    itself when there is no filter); ``what`` says which of these to do:

    - ``_RAW_MAX``: ``vmax`` = max(vmax, x);
    - ``_RAW_CORR``: with c = x - center, ``raw[0..5]`` (6, Y, X) += c, c*c and
      the products with the right, lower, lower-right and lower-left neighbours
      (the last two with ``_EIGHT``);
    - ``_F_MAX``: ``fmax`` = max(fmax, f) (the filtered movie's mean is the
      filtered mean image: no sum is needed);
    - ``_F_THR``: the same six sums as ``raw`` into ``thm`` for v = f - mu set to 0
      where v < thr.

    Rows are split among threads; each thread walks all frames of its rows,
    summing ``_BLOCK`` frames in float32 row buffers (which stay in the L1 cache
    and let the loops use the full SIMD width) before folding them into the
    float64 accumulators.
    """
    ny = data.shape[1]
    nx = data.shape[2]
    raw_max = (what & _RAW_MAX) != 0
    raw_corr = (what & _RAW_CORR) != 0
    f_max = (what & _F_MAX) != 0
    f_thr = (what & _F_THR) != 0
    eight = (what & _EIGHT) != 0
    for yy in nb.prange(ny):
        y = np.int64(yy)
        below = y + 1 < ny
        pc = np.zeros(nx + 2, np.float32)
        pn = np.zeros(nx + 2, np.float32)  # stays 0 for the last row
        gc = np.zeros(nx + 2, np.float32)
        gn = np.zeros(nx + 2, np.float32)
        loc = np.zeros((6, nx), np.float32)
        gloc = np.zeros((6, nx), np.float32)
        # maxima in the data's own dtype (integer maxima vectorize best)
        lmax = data[t0, y].copy()
        fmx = fdata[t0, y].copy()
        for tb in range(t0, t1, _BLOCK):
            te = min(tb + _BLOCK, t1)
            for t in range(tb, te):
                if raw_max:
                    row = data[t, y]
                    for x in range(nx):
                        lmax[x] = max(lmax[x], row[x])
                if raw_corr:
                    _centred_row(data[t, y], center[y], center32[y], exact, pc)
                    if below:
                        _centred_row(data[t, y + 1], center[y + 1], center32[y + 1], exact, pn)
                    _row_products(pc, pn, loc, eight)
                if f_max:
                    frow = fdata[t, y]
                    for x in range(nx):
                        fmx[x] = max(fmx[x], frow[x])
                if f_thr:
                    _thresholded_row(fdata[t, y], mu[y], mu32[y], thr32[y], fexact, gc)
                    if below:
                        _thresholded_row(fdata[t, y + 1], mu[y + 1], mu32[y + 1],
                                         thr32[y + 1], fexact, gn)
                    _row_products(gc, gn, gloc, eight)
            if raw_corr:
                _fold(loc, raw, y)
            if f_thr:
                _fold(gloc, thm, y)
        if raw_max:
            vm = vmax[y]
            for x in range(nx):
                vm[x] = max(vm[x], np.float32(lmax[x]))
        if f_max:
            fm = fmax[y]
            for x in range(nx):
                fm[x] = max(fm[x], np.float32(fmx[x]))


def _correlation_image(
    n: int, s1: np.ndarray, s2: np.ndarray, ph: np.ndarray, pv: np.ndarray,
    pd1: np.ndarray, pd2: np.ndarray, eight: bool,
) -> np.ndarray:
    """Local correlation image from (centred) sums, squares and neighbour products."""
    mean = s1 / n
    msq = s2 / n
    var = msq - mean * mean
    ok = (var > 0) & (var > 1e-12 * msq)
    inv = np.zeros_like(var)
    np.divide(1.0, np.sqrt(var, where=ok, out=np.zeros_like(var)), out=inv, where=ok)
    rho = np.zeros_like(var)

    def pair(prod, a, b):
        return (prod / n - mean[a] * mean[b]) * inv[a] * inv[b]

    full, head, tail = slice(None), slice(None, -1), slice(1, None)
    h = pair(ph[:, :-1], (full, head), (full, tail))
    rho[:, :-1] += h
    rho[:, 1:] += h
    v = pair(pv[:-1], (head, full), (tail, full))
    rho[:-1] += v
    rho[1:] += v
    if eight:
        d1 = pair(pd1[:-1, :-1], (head, head), (tail, tail))
        rho[:-1, :-1] += d1
        rho[1:, 1:] += d1
        d2 = pair(pd2[:-1, 1:], (head, tail), (tail, head))
        rho[:-1, 1:] += d2
        rho[1:, :-1] += d2
    count = _neighbour_count(var.shape, eight)
    return np.divide(rho, count, out=np.zeros_like(rho), where=count > 0).astype(np.float32)


def _neighbour_count(shape: tuple[int, int], eight: bool) -> np.ndarray:
    ny, nx = shape
    iy = np.arange(ny)[:, None]
    ix = np.arange(nx)[None, :]
    vert = (iy > 0).astype(int) + (iy < ny - 1)
    horiz = (ix > 0).astype(int) + (ix < nx - 1)
    count = vert + horiz
    if eight:
        count = count + vert * horiz
    return count.astype(np.float64)


def _time_bins(n: int, bin_size: int) -> list[tuple[int, int]]:
    """CaImAn's ``max_correlation_image`` bins.

    One bin when ``n <= bin_size``; otherwise, when the remainder is less than
    half a bin the bin size grows to ``n // (n // bin_size)``; ``n // bin_size``
    bins of equal length, the remaining frames belonging to no bin.
    """
    if n <= bin_size:
        return [(0, n)]
    if n % bin_size < bin_size / 2:
        bin_size = n // (n // bin_size)
    return [(i * bin_size, (i + 1) * bin_size) for i in range(n // bin_size)]


class _Moments:
    """float64 accumulators of a correlation image: one (6, Y, X) array.

    ``s1``, ``s2``, ``ph``, ``pv``, ``pd1``, ``pd2``: sums of the centred values,
    of their squares and of their products with the right, lower, lower-right and
    lower-left neighbours.
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        self.sums = np.zeros((6,) + tuple(shape))
        self.n = 0

    @property
    def s1(self) -> np.ndarray:
        return self.sums[0]

    @property
    def s2(self) -> np.ndarray:
        return self.sums[1]

    def add(self, other: _Moments) -> None:
        self.sums += other.sums
        self.n += other.n

    def reset(self) -> None:
        self.sums[...] = 0
        self.n = 0

    def image(self, eight: bool) -> np.ndarray:
        return _correlation_image(self.n, *self.sums, eight)


def _exact_in_float32(dtype: np.dtype) -> bool:
    """Whether every value of ``dtype`` is a float32 (so float32 differences are exact)."""
    return dtype == np.float32 or (dtype.kind in "biu" and dtype.itemsize <= 2)
