"""Summary images of a calcium-imaging movie, computed in one streaming pass.

Every image is computed from ONE read of the movie, one time chunk at a time, so
memory does not depend on the number of frames:

- ``mean``, ``max``, ``std`` (population standard deviation, ``ddof=0``);
- ``corr``: the local correlation image (CaImAn's ``local_correlations``);
- ``max_corr``: the maximum over consecutive time bins of the per-bin local
  correlation image (CaImAn's ``max_correlation_image``);
- ``pnr`` and ``corr_pnr``: the peak-to-noise ratio of the movie and the
  correlation image of the noise-normalized, thresholded movie (CaImAn's
  ``correlation_pnr``, used to seed CNMF-E on one-photon data). By default
  (``gsig=None``, CaImAn's default too) the movie is taken as it is; with
  ``gsig`` it is first filtered with CaImAn's spatial kernel (a one-photon
  option, sized to the neurons).

The per-pixel work (sums, sums of squares, maxima, products with the neighbours,
the spatial filter) runs in fused numba kernels: one sweep over each chunk does
what a plain-numpy implementation needs about fifteen passes for. The kernels
sum up to 64 frames in float32 (full SIMD width, buffers in the L1 cache) before
folding the sums into float64 accumulators. Without the spatial filter, the
"filtered" movie is the raw one: its mean and maximum are the raw ones and its
thresholded products are accumulated in the same sweep as the raw products.

How the streaming estimates relate to CaImAn's in-memory definitions
--------------------------------------------------------------------
``mean``, ``max``, ``std``, ``corr``, ``max_corr`` and ``pnr``'s numerator are
exact (up to floating-point rounding): they are finished from per-pixel sums,
sums of squares and neighbour cross-products accumulated in float64 (over
float32 partial sums of at most 64 frames) after centring every pixel on its
value in the first frame. For integer movies of up to 16 bits, the float32
partial sums are exact while they stay below 2**24.

The noise level used by ``pnr`` is CaImAn's ``get_noise_fft`` quantity
(``noise_range=(0.25, 0.5)`` of the sampling rate, method ``'mean'``): the mean
of the periodogram ``|X_k|^2 / n`` over the frequency bins ``0.25 < k/n <= 0.5``.
A full-length FFT is not streamable, so the periodogram is averaged over
consecutive segments of ``noise_frames`` frames (a Welch estimate with a
rectangular window and no overlap; removing each segment's mean would change
only its zero-frequency bin, which is outside the band). The estimate is the
mean over *all* band bins of the segments used (a shorter last segment
contributes its own bins); like CaImAn, which uses 3072 frames at most, at most
``noise_max_frames`` frames (3072 by default; whole segments spread evenly over
the movie, the first included) are used. When the movie is no longer than one segment it is exactly
CaImAn's full-length estimate; otherwise it estimates the same spectral density
with the same number of degrees of freedom (T/4 bins) -- CaImAn itself uses only
3072 frames (three pieces of 1024 concatenated) when T > 3072.

``corr_pnr`` thresholds ``(filtered - mean) / noise`` at 3 before correlating.
That needs the mean and the noise before the pass is over; they are taken from
the first ``noise_frames`` frames (the first Welch segment: its FFT is done as
soon as its frames are read, before the chunk's sweep; chunks read before it is
complete, when ``chunk_frames < noise_frames``, are kept in memory until then).
When ``T <= noise_frames`` this is
exact; otherwise the threshold is a provisional one: per pixel, the noise is
known to about ``1/sqrt(noise_frames)`` (6 % for 256 frames) and a slow drift of
the baseline after the first segment shifts the threshold. The correlation
itself is insensitive to the per-pixel scale, so only which samples pass the
threshold is affected. The tests measure the difference against the exact
in-memory definition.

References
----------
.. [1] Giovannucci A. et al. (2019). CaImAn an open source tool for scalable
   calcium imaging data analysis. eLife 8:e38173. ``caiman.summary_images``:
   ``local_correlations``, ``max_correlation_image``, ``correlation_pnr``;
   ``caiman.source_extraction.cnmf.pre_processing.get_noise_fft``.
.. [2] Zhou P. et al. (2018). Efficient and accurate extraction of in vivo
   calcium signals from microendoscopic video data. eLife 7:e28728 (CNMF-E:
   peak-to-noise ratio and correlation images of the filtered movie).
.. [3] Welch P. (1967). The use of fast Fourier transform for the estimation of
   power spectra. IEEE Trans. Audio Electroacoust. 15(2):70-73.
"""

from __future__ import annotations

import functools
import logging
import math
import mmap
import os
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np

from .progress import Progress, ProgressGenerator, drive

__all__ = [
    "SummaryImages",
    "summary_images",
    "iter_summary_images",
    "local_correlations",
    "iter_local_correlations",
]

logger = logging.getLogger(__name__)

_MESSAGE = "summary images"
# fastmath without 'nnan'/'ninf': NaN and infinity must propagate so that they can
# be detected after each chunk.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
_CHUNK_BYTES = 256 * 2**20  # target size of one float32 chunk
_NOISE_BYTES = 256 * 2**20  # target size of one float32 noise segment
_UNSET: Any = object()


# --------------------------------------------------------------------------- result
@dataclass
class SummaryImages:
    """Summary images of a movie, all ``(Y, X)`` float32.

    Attributes
    ----------
    mean, max, std : ndarray
        Temporal mean, maximum and standard deviation (``ddof=0``) of each pixel.
    corr : ndarray
        Local correlation image: for each pixel, the mean over its 4 or 8
        neighbours of the Pearson correlation over time (CaImAn's
        ``local_correlations``).
    pnr : ndarray
        Peak-to-noise ratio of the movie (spatially filtered when ``gsig`` is
        given; CaImAn's ``correlation_pnr``); negative values set to 0.
    corr_pnr : ndarray
        Local correlation image of the (filtered) movie minus its mean divided by
        its noise, with values below the threshold (3) set to 0.
    max_corr : ndarray
        Maximum over time bins of the per-bin local correlation image (CaImAn's
        ``max_correlation_image``).
    noise : ndarray
        Noise level of the (filtered) movie used by ``pnr`` (CaImAn's ``sn`` from
        ``get_noise_fft``, estimated by Welch averaging).
    n_frames : int
        Number of frames read.
    params : dict
        The parameters used (chunk and segment lengths resolved).
    elapsed : float
        Wall time of the computation in seconds.
    """

    mean: np.ndarray
    max: np.ndarray
    std: np.ndarray
    corr: np.ndarray
    pnr: np.ndarray
    corr_pnr: np.ndarray
    max_corr: np.ndarray
    noise: np.ndarray
    n_frames: int
    params: dict = field(default_factory=dict)
    elapsed: float = 0.0

    _IMAGES = ("mean", "max", "std", "corr", "pnr", "corr_pnr", "max_corr", "noise")

    def as_dict(self) -> dict[str, np.ndarray]:
        """Return the images as a ``{name: (Y, X) float32 array}`` dict."""
        return {name: getattr(self, name) for name in self._IMAGES}


# --------------------------------------------------------------------------- kernels
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


@nb.njit(fastmath=_FASTMATH, cache=True, nogil=True)
def _horizontal(row, pad, ag, ab, gx, gy, widths, wi, m, use_box, eout):  # pragma: no cover
    """The horizontal part of the filter for one row, per kernel row ``d <= ry``.

    ``eout[d] = gy[d] * G_k - m * B_k`` with ``k = wi[d]``, where
    ``G_k = sum_{|j| <= widths[k]} gx[j] * row[x + j]`` and ``B_k`` the same with
    unit weights (replicated borders): the nested sums of every width come from
    one sweep over the taps, and each kernel row's weighted combination is
    formed as soon as its width is reached. The shifted rows are views, so the
    inner loops are plain contiguous loops that vectorize.
    """
    nx = row.shape[0]
    rx = (gx.shape[0] - 1) // 2
    ry = eout.shape[0] - 1
    nw = widths.shape[0]
    mid = pad[rx : rx + nx]
    for x in range(nx):
        mid[x] = row[x]
    first = mid[0]
    last = mid[nx - 1]
    for j in range(rx):
        pad[j] = first
        pad[rx + nx + j] = last
    g0 = gx[rx]
    for x in range(nx):
        ag[x] = g0 * mid[x]
    for x in range(nx):
        ab[x] = mid[x]
    k = 0
    for j in range(0, rx + 1):
        if j > 0:
            gj = gx[rx + j]
            left = pad[rx - j : rx - j + nx]
            right = pad[rx + j : rx + j + nx]
            if use_box:
                for x in range(nx):
                    p = left[x] + right[x]
                    ag[x] += gj * p
                    ab[x] += p
            else:
                for x in range(nx):
                    ag[x] += gj * (left[x] + right[x])
        if k < nw and widths[k] == j:
            for d in range(ry + 1):
                if wi[d] != k:
                    continue
                e = eout[d]
                g = gy[d]
                if use_box:
                    for x in range(nx):
                        e[x] = g * ag[x] - m * ab[x]
                else:
                    for x in range(nx):
                        e[x] = g * ag[x]
            k += 1


@nb.njit(parallel=True, fastmath=_FASTMATH, cache=True, nogil=True)
def _filter_frames(data, out, gy, gx, widths, wi, m, use_box):  # pragma: no cover
    """Correlate every frame of ``data`` with CaImAn's (centred) Gaussian kernel.

    The kernel is ``(gy[dy] * gx[dx] - m)`` on a support whose row ``dy`` is the
    interval ``|dx| <= widths[wi[dy]]`` (``wi[dy] < 0``: empty row), 0 elsewhere,
    with replicated borders (OpenCV ``BORDER_REPLICATE``); it is symmetric in
    ``dy``. Each input row is swept once horizontally (:func:`_horizontal`: the
    weighted row sums for the ``ry + 1`` distinct kernel rows) into a ring
    buffer of rows; each output row is then the plain sum of ``2 ry + 1``
    buffered rows. About 30 operations per pixel instead of 113 multiply-adds
    for a direct 13 x 13 disk.
    """
    n = data.shape[0]
    ny = data.shape[1]
    nx = data.shape[2]
    ry = (gy.shape[0] - 1) // 2
    rx = (gx.shape[0] - 1) // 2
    ring = 2 * ry + 1
    mf = np.float32(m)
    for i in nb.prange(n):
        er = np.zeros((ring, ry + 1, nx), np.float32)
        pad = np.empty(nx + 2 * rx, np.float32)
        ag = np.empty(nx, np.float32)
        ab = np.empty(nx, np.float32)
        acc = np.empty(nx, np.float32)
        frame = data[i]
        next_row = 0
        for y in range(ny):
            last = min(y + ry, ny - 1)
            while next_row <= last:
                _horizontal(frame[next_row], pad, ag, ab, gx, gy, widths, wi, mf, use_box,
                            er[next_row % ring])
                next_row += 1
            # the centre row
            e = er[y % ring, ry]
            for x in range(nx):
                acc[x] = e[x]
            d = 0
            while d < ry:  # two kernel rows above and their two mirrors below at once
                if wi[d] < 0:
                    d += 1
                    continue
                ea = er[min(max(y + d - ry, 0), ny - 1) % ring, d]
                eb = er[min(max(y + ry - d, 0), ny - 1) % ring, d]
                if d + 1 < ry and wi[d + 1] >= 0:
                    ec = er[min(max(y + d + 1 - ry, 0), ny - 1) % ring, d + 1]
                    ed = er[min(max(y + ry - d - 1, 0), ny - 1) % ring, d + 1]
                    for x in range(nx):
                        acc[x] += (ea[x] + eb[x]) + (ec[x] + ed[x])
                    d += 2
                else:
                    for x in range(nx):
                        acc[x] += ea[x] + eb[x]
                    d += 1
            o = out[i, y]
            for x in range(nx):
                o[x] = acc[x]


@nb.njit(parallel=True, fastmath=_FASTMATH, cache=True, nogil=True)
def _transpose_centred(flat, p0, p1, out, means):  # pragma: no cover - compiled
    """``out[p - p0, :] = flat[:, p] - mean`` (float32) for the pixels ``p0:p1``.

    ``flat`` is a segment (n, pixels) with time first; the output has time last,
    so that each pixel's series is contiguous for the FFT. ``means[p]`` receives
    the (float64) mean of pixel ``p``. Tiles of 64 pixels: contiguous reads of
    every frame, and the tile of the output stays in cache while it is written.
    """
    n = flat.shape[0]
    tile = 64
    ntile = (p1 - p0 + tile - 1) // tile
    for it in nb.prange(ntile):
        a = p0 + it * tile
        b = min(a + tile, p1)
        w = b - a
        s = np.zeros(tile, np.float64)
        for t in range(n):
            src = flat[t, a:b]
            for j in range(w):
                s[j] += np.float64(src[j])
        for j in range(w):
            s[j] /= n
            means[a + j] = s[j]
        dst = out[a - p0 : b - p0]
        for t in range(n):
            src = flat[t, a:b]
            for j in range(w):
                dst[j, t] = np.float32(np.float64(src[j]) - s[j])


@nb.njit(parallel=True, fastmath=_FASTMATH, cache=True, nogil=True)
def _band_power(spec, k0, k1, n, out):  # pragma: no cover - compiled
    """``out[p] += sum_{k0 <= k < k1} |X[p, k]|^2 / n`` (float64 sums).

    ``spec`` is the rFFT output viewed as float32 (real and imaginary parts
    interleaved), so the sum is a plain contiguous reduction.
    """
    for p in nb.prange(spec.shape[0]):
        row = spec[p, 2 * k0 : 2 * k1]
        s = 0.0
        for j in range(row.shape[0]):
            v = np.float64(row[j])
            s += v * v
        out[p] += s / n


_LANES = 16  # pixels per SIMD lane group of the lane FFT (16 float32: two AVX2 registers)
_GROUPS = 8  # lane groups per task: 2 * 16 * 8 = 256 pixels, contiguous reads of each frame


@nb.njit(fastmath=_FASTMATH, cache=True, nogil=True)
def _fft_lanes(z, twr, twi):  # pragma: no cover - compiled
    """In-place radix-2 FFT along axis 0 of ``z`` (n, 2, _LANES), bit-reversed input.

    ``z[t, 0]`` and ``z[t, 1]`` hold the real and imaginary parts of ``_LANES``
    independent sequences; every butterfly is a loop over the lanes (SIMD).
    ``twr + 1j * twi`` = ``exp(-2j pi k / n)`` for ``k < n / 2``.
    """
    n = z.shape[0]
    half = 1
    while half < n:
        step = n // (2 * half)
        for k in range(0, n, 2 * half):
            for j in range(half):
                wr = twr[j * step]
                wi = twi[j * step]
                u = k + j
                v = u + half
                for lane in range(_LANES):
                    vr = z[v, 0, lane]
                    vi = z[v, 1, lane]
                    xr = wr * vr - wi * vi
                    xi = wr * vi + wi * vr
                    ar = z[u, 0, lane]
                    ai = z[u, 1, lane]
                    z[u, 0, lane] = ar + xr
                    z[u, 1, lane] = ai + xi
                    z[v, 0, lane] = ar - xr
                    z[v, 1, lane] = ai - xi
        half *= 2


@nb.njit(parallel=True, fastmath=_FASTMATH, cache=True, nogil=True)
def _band_power_lanes(flat, k0, k1, twr, twi, rev, out):  # pragma: no cover - compiled
    """``out[p] += sum_{k0 <= k < k1} |X_k|^2 / n`` for every pixel of ``flat`` (n, P).

    ``n`` is a power of two. The FFT runs along time in the native (time, pixel)
    layout, vectorized across pixels (no transposition): two pixels ``a`` and
    ``b`` are packed into one complex sequence ``z = x_a + i x_b``, whose FFT
    ``Z`` gives ``|X_a,k|^2 = |Z_k + conj(Z_{n-k})|^2 / 4`` and
    ``|X_b,k|^2 = |Z_k - conj(Z_{n-k})|^2 / 4``. Each pixel's value in the
    first frame is subtracted first (a constant changes only the zero-frequency
    bin, outside the band, and this keeps the float32 rounding of a large
    baseline out of the band).
    """
    n = flat.shape[0]
    npix = flat.shape[1]
    tile = 2 * _LANES
    group = _GROUPS * tile
    for it in nb.prange((npix + group - 1) // group):
        a = it * group
        w = min(group, npix - a)
        z = np.zeros((_GROUPS, n, 2, _LANES), np.float32)
        x0 = np.zeros(group, np.float64)
        first = flat[0, a : a + w]
        for j in range(w):
            x0[j] = np.float64(first[j])
        for t in range(n):
            src = flat[t, a : a + w]
            r = rev[t]
            if w == group:
                for g in range(_GROUPS):
                    zr = z[g, r, 0]
                    zi = z[g, r, 1]
                    b = g * tile
                    for lane in range(_LANES):
                        zr[lane] = np.float32(np.float64(src[b + lane]) - x0[b + lane])
                    for lane in range(_LANES):
                        zi[lane] = np.float32(
                            np.float64(src[b + _LANES + lane]) - x0[b + _LANES + lane]
                        )
            else:
                for j in range(w):
                    g = j // tile
                    q = j - g * tile
                    z[g, r, q // _LANES, q % _LANES] = np.float32(np.float64(src[j]) - x0[j])
        scale = 0.25 / n
        for g in range((w + tile - 1) // tile):
            zg = z[g]
            _fft_lanes(zg, twr, twi)
            pa = np.zeros(_LANES, np.float64)
            pb = np.zeros(_LANES, np.float64)
            for k in range(k0, k1):
                c = (n - k) % n
                for lane in range(_LANES):
                    zr = zg[k, 0, lane]
                    zi = zg[k, 1, lane]
                    cr = zg[c, 0, lane]
                    ci = zg[c, 1, lane]
                    sr = zr + cr
                    si = zi - ci
                    dr = zr - cr
                    di = zi + ci
                    pa[lane] += np.float64(sr * sr + si * si)
                    pb[lane] += np.float64(dr * dr + di * di)
            b = g * tile
            for lane in range(_LANES):
                if b + lane < w:
                    out[a + b + lane] += pa[lane] * scale
                if b + _LANES + lane < w:
                    out[a + b + _LANES + lane] += pb[lane] * scale


# --------------------------------------------------------------------------- helpers
def _gaussian_1d(ksize: int, sigma: float) -> np.ndarray:
    """Normalized sampled Gaussian of odd length ``ksize`` (OpenCV's getGaussianKernel)."""
    x = np.arange(ksize, dtype=np.float64) - (ksize - 1) / 2
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return (g / g.sum()).astype(np.float32)


@dataclass(frozen=True)
class _Taps:
    gy: np.ndarray
    gx: np.ndarray
    widths: np.ndarray
    wi: np.ndarray
    m: float
    use_box: bool
    kernel: np.ndarray  # the equivalent 2-D kernel (for documentation and tests)


def _filter_taps(gsig: tuple[float, float], center_psf: bool) -> _Taps:
    """Decompose CaImAn's ``correlation_pnr`` spatial filter into row intervals.

    CaImAn (``background_filter='disk'``): kernel size ``int(2 * gSig) * 2 + 1``;
    ``psf = g_y g_x^T``; support ``psf >= max(psf[0])`` (a disk); the support mean
    is subtracted and the kernel set to 0 outside it. Without ``center_psf`` the
    plain Gaussian blur of the same size.
    """
    ky, kx = (int(2 * s) * 2 + 1 for s in gsig)
    gy = _gaussian_1d(ky, gsig[0])
    gx = _gaussian_1d(kx, gsig[1])
    psf = np.outer(gy, gx).astype(np.float32)
    ry, rx = ky // 2, kx // 2
    if not center_psf:
        widths = np.array([rx], np.int64)
        wi = np.zeros(ky, np.int64)
        return _Taps(gy, gx, widths, wi, 0.0, False, psf)
    support = psf >= psf[0].max()
    m = psf[support].mean(dtype=np.float32)
    kernel = np.where(support, psf - m, np.float32(0)).astype(np.float32)
    half = np.full(ky, -1, np.int64)
    for d in range(ky):
        cols = np.flatnonzero(support[d])
        if cols.size:
            w = rx - int(cols[0])
            if not (cols[-1] == rx + w and cols.size == 2 * w + 1):  # pragma: no cover
                raise RuntimeError("filter support is not a symmetric interval per row")
            half[d] = w
    widths = np.unique(half[half >= 0])
    wi = np.array([np.searchsorted(widths, w) if w >= 0 else -1 for w in half], np.int64)
    del ry
    return _Taps(gy, gx, widths.astype(np.int64), wi, float(m), True, kernel)


def _band_bins(n: int, noise_range: tuple[float, float]) -> tuple[int, int]:
    """First and last+1 rFFT bins of a length-``n`` signal in CaImAn's noise band.

    Same frequency grid and inequalities as ``get_noise_fft``:
    ``noise_range[0] < k / n <= noise_range[1]``.
    """
    ff = np.arange(0, 0.5 + 1.0 / n, 1.0 / n)
    ind = (ff > noise_range[0]) & (ff <= noise_range[1])
    ind = ind[: n // 2 + 1]
    k = np.flatnonzero(ind)
    if k.size == 0:
        return 0, 0
    return int(k[0]), int(k[-1]) + 1


@functools.lru_cache(maxsize=8)
def _fft_tables(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twiddles (real, imaginary; float32) and bit-reversal permutation for a length-n FFT."""
    k = np.arange(n // 2)
    bits = n.bit_length() - 1
    rev = np.zeros(n, np.int64)
    for b in range(bits):
        rev |= ((np.arange(n) >> b) & 1) << (bits - 1 - b)
    return (np.cos(2 * np.pi * k / n).astype(np.float32),
            (-np.sin(2 * np.pi * k / n)).astype(np.float32), rev)


def _band_power_sum(segment: np.ndarray, out: np.ndarray, band: tuple[int, int]) -> None:
    """Add ``sum_{k in band} |X_k|^2 / n`` of every pixel of ``segment`` (n, Y, X) to ``out``.

    Power-of-two lengths (the default segments): :func:`_band_power_lanes`, an FFT
    along time vectorized across pixels, in one parallel call. Other lengths:
    blocks of pixels are transposed (time last, mean removed) and handed to
    ``scipy.fft``.
    """
    n = segment.shape[0]
    k0, k1 = band
    if k1 <= k0:
        return
    flat = segment.reshape(n, -1)
    acc = out.reshape(-1)
    npix = flat.shape[1]
    if n >= 2 and n & (n - 1) == 0:
        twr, twi, rev = _fft_tables(n)
        with nb.parallel_chunksize(4):
            _band_power_lanes(flat, k0, k1, twr, twi, rev, acc)
        return
    import scipy.fft

    block = min(npix, max(64, (8 * 2**20) // (4 * n)))  # ~8 MB of float32
    buf = np.empty((block, n), np.float32)
    means = np.empty(npix)
    workers = os.cpu_count() or 1
    for p0 in range(0, npix, block):
        p1 = min(npix, p0 + block)
        b = buf[: p1 - p0]
        _transpose_centred(flat, p0, p1, b, means)
        spec = scipy.fft.rfft(b, axis=1, workers=workers)
        _band_power(spec.view(np.float32), k0, k1, n, acc[p0:p1])


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


def _is_memmap(a: np.ndarray) -> bool:
    base: Any = a
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def _as_kernel_array(a: Any) -> np.ndarray:
    """A C-contiguous array of a dtype the kernels are compiled for."""
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = a.view(np.uint8)
    elif a.dtype.kind == "f" and a.dtype.itemsize < 4:
        a = a.astype(np.float32)
    elif not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return np.ascontiguousarray(a)


def _kernel_dtype(dtype: Any) -> np.dtype:
    """The dtype :func:`_as_kernel_array` gives an array of ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.dtype(np.uint8)
    if dtype.kind == "f" and dtype.itemsize < 4:
        return np.dtype(np.float32)
    return dtype.newbyteorder("=")


def _read_chunks(
    movie: Any, chunk: int, prefetch: bool
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(t0, t1, frames)``, reading the next chunk in a thread meanwhile.

    With ``prefetch``, the chunks are read into two buffers used in turn (no
    fresh allocation, hence no page faults, per chunk; a dask chunk is stored
    straight into its buffer, without dask's concatenation copy): a chunk's
    array is overwritten two chunks later, so the consumer must copy what it
    keeps.
    """
    n = movie.shape[0]
    starts = list(range(0, n, chunk))

    def read(t0: int) -> np.ndarray:
        return _as_kernel_array(np.asarray(movie[t0 : min(n, t0 + chunk)]))

    if not prefetch or len(starts) == 1:
        for t0 in starts:
            yield t0, min(n, t0 + chunk), read(t0)
        return
    dask_array = sys.modules.get("dask.array")
    is_dask = dask_array is not None and isinstance(movie, dask_array.Array)
    shape = (min(chunk, n),) + tuple(int(s) for s in movie.shape[1:])
    buffers = [np.empty(shape, _kernel_dtype(movie.dtype)) for _ in range(2)]

    def read_into(i: int) -> np.ndarray:
        t0 = starts[i]
        t1 = min(n, t0 + chunk)
        out = buffers[i % 2][: t1 - t0]
        if is_dask:
            dask_array.store(movie[t0:t1], out, lock=False)
        else:  # a memmap is read (from the disk) here, in the reading thread
            out[...] = movie[t0:t1]
        return out

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="amnesia-read") as pool:
        future = pool.submit(read_into, 0)
        for i, t0 in enumerate(starts):
            frames = future.result()
            if i + 1 < len(starts):
                future = pool.submit(read_into, i + 1)
            yield t0, min(n, t0 + chunk), frames


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


def _check_finite(acc: np.ndarray, frames: np.ndarray, t0: int) -> None:
    if np.isfinite(acc).all():
        return
    bad = ~np.isfinite(frames)
    n_nan = int(np.isnan(frames).sum())
    n_inf = int(bad.sum()) - n_nan
    if n_nan + n_inf == 0:
        raise ValueError(
            f"the movie has values too large for float32 computations in frames "
            f"{t0}-{t0 + len(frames) - 1} (largest magnitude "
            f"{float(np.abs(frames).max()):g}); rescale it"
        )
    first = t0 + int(np.flatnonzero(bad.reshape(len(frames), -1).any(axis=1))[0])
    raise ValueError(
        f"the movie has {n_nan} NaN and {n_inf} infinite values in frames "
        f"{t0}-{t0 + len(frames) - 1}, the first in frame {first}; summary images "
        "need finite values (nan_policy='raise')"
    )


# --------------------------------------------------------------------------- validation
def _validate(
    movie: Any, *, eight_neighbours: Any, gsig: Any, center_psf: Any, bin_size: Any,
    chunk_frames: Any, nan_policy: Any, noise_frames: Any, noise_range: Any,
    threshold: Any, noise_max_frames: Any = 3072,
) -> tuple[float, float] | None:
    shape = getattr(movie, "shape", None)
    if shape is None or len(shape) != 3:
        raise ValueError(
            f"movie should be a 3-D (T, Y, X) array, got shape {shape!r}"
            f" ({type(movie).__name__})"
        )
    if shape[0] < 2:
        raise ValueError(f"movie should have at least 2 frames, got T={shape[0]}")
    if shape[1] < 1 or shape[2] < 1:
        raise ValueError(f"movie frames should not be empty, got shape {tuple(shape)}")
    dtype = np.dtype(getattr(movie, "dtype", np.float64))
    if dtype.kind not in "biuf":
        raise ValueError(f"movie should have a real numeric dtype, got {dtype}")
    if not isinstance(eight_neighbours, (bool, np.bool_)):
        raise ValueError(f"eight_neighbours should be True or False, got {eight_neighbours!r}")
    if not isinstance(center_psf, (bool, np.bool_)):
        raise ValueError(f"center_psf should be True or False, got {center_psf!r}")
    if isinstance(bin_size, (bool, np.bool_)) or not isinstance(bin_size, (int, np.integer)) \
            or bin_size < 2:
        raise ValueError(f"bin_size should be an integer >= 2, got {bin_size!r}")
    if chunk_frames is not None and (
        isinstance(chunk_frames, (bool, np.bool_))
        or not isinstance(chunk_frames, (int, np.integer)) or chunk_frames < 1
    ):
        raise ValueError(f"chunk_frames should be None or an integer >= 1, got {chunk_frames!r}")
    if noise_frames is not None and (
        isinstance(noise_frames, (bool, np.bool_))
        or not isinstance(noise_frames, (int, np.integer)) or noise_frames < 8
    ):
        raise ValueError(f"noise_frames should be None or an integer >= 8, got {noise_frames!r}")
    if isinstance(noise_max_frames, (bool, np.bool_)) or not isinstance(
        noise_max_frames, (int, np.integer)
    ) or noise_max_frames < 1:
        raise ValueError(f"noise_max_frames should be an integer >= 1, got {noise_max_frames!r}")
    if nan_policy != "raise":
        raise ValueError(
            f'nan_policy should be "raise" (the only policy implemented), got {nan_policy!r}'
        )
    try:
        lo, hi = (float(v) for v in noise_range)
    except (TypeError, ValueError):
        raise ValueError(f"noise_range should be two frequencies, got {noise_range!r}") from None
    if not 0 <= lo < hi <= 0.5:
        raise ValueError(
            f"noise_range should satisfy 0 <= low < high <= 0.5, got {noise_range!r}"
        )
    if not (isinstance(threshold, (int, float, np.number)) and math.isfinite(threshold)):
        raise ValueError(f"corr_pnr_threshold should be a finite number, got {threshold!r}")
    if gsig is None:
        return None
    values = list(gsig) if isinstance(gsig, Sequence) and not isinstance(gsig, str) else [gsig]
    if len(values) == 1:
        values = values * 2
    ok = len(values) == 2 and all(
        isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
        and math.isfinite(v) and v > 0 for v in values
    )
    if not ok:
        raise ValueError(
            f"gsig should be None or a positive number (or a (y, x) pair), got {gsig!r}"
        )
    return float(values[0]), float(values[1])


def _auto_lengths(shape: tuple[int, int, int], noise_frames: int | None,
                  chunk_frames: int | None) -> tuple[int, int]:
    n, ny, nx = shape
    frame_bytes = 4 * ny * nx
    if noise_frames is None:
        noise_frames = int(min(256, max(32, _NOISE_BYTES // frame_bytes)))
    if chunk_frames is None:
        per = max(1, _CHUNK_BYTES // (frame_bytes * noise_frames))
        chunk_frames = int(noise_frames * min(per, 16))
    return int(noise_frames), int(min(chunk_frames, n))


# --------------------------------------------------------------------------- driver
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


def _run(
    movie: Any, *, eight_neighbours: bool, gsig: Any, center_psf: bool, bin_size: int,
    chunk_frames: int | None, nan_policy: str, noise_frames: int | None,
    noise_range: tuple[float, float], corr_pnr_threshold: float, prefetch: bool | None,
    filtered: bool, noise_max_frames: int = 3072,
) -> ProgressGenerator[dict[str, Any]]:
    start = time.perf_counter()
    sig = _validate(
        movie, eight_neighbours=eight_neighbours, gsig=gsig, center_psf=center_psf,
        bin_size=bin_size, chunk_frames=chunk_frames, nan_policy=nan_policy,
        noise_frames=noise_frames, noise_range=noise_range, threshold=corr_pnr_threshold,
        noise_max_frames=noise_max_frames,
    )
    eight = bool(eight_neighbours)
    n, ny, nx = (int(s) for s in movie.shape)
    seg_len, chunk = _auto_lengths((n, ny, nx), noise_frames, chunk_frames)
    noise_range = (float(noise_range[0]), float(noise_range[1]))
    if prefetch is None:
        prefetch = not (isinstance(movie, np.ndarray) and not _is_memmap(movie))
    shape2 = (ny, nx)
    d2 = np.zeros((1, 1))  # placeholders for the arrays a kernel call does not use
    d2f = np.zeros((1, 1), np.float32)
    d3 = np.zeros((1, 1, 1))
    bins = _time_bins(n, bin_size)
    boundaries = sorted({b for pair in bins for b in pair} | {n})
    real_bins = set(bins)
    taps = _filter_taps(sig, bool(center_psf)) if (filtered and sig is not None) else None
    # Without a spatial filter the "filtered" movie IS the raw movie: its sum and
    # maximum are the raw ones, and only the thresholded products need their own
    # accumulators, filled in the same sweep as the raw ones.
    eight_bit = _EIGHT if eight else 0

    # raw movie
    vmax = np.full(shape2, -np.inf, np.float32)
    center: np.ndarray | None = None
    center32 = d2f
    exact = True
    whole = _Moments(shape2)
    part = _Moments(shape2)
    part_start = 0
    max_corr = np.full(shape2, -np.inf, np.float32)
    # filtered movie
    fmax = np.full(shape2, -np.inf, np.float32)
    gmom = _Moments(shape2)
    power = np.zeros(shape2)
    n_bins_used = 0
    seg_buf: np.ndarray | None = None
    # provisional (mean, mean as float32, threshold as float32) of corr_pnr
    provisional: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    pending: list[np.ndarray] = []
    fbuf: np.ndarray | None = None  # the filtered chunk, reused
    n_segments = -(-n // seg_len)
    max_segments = max(1, noise_max_frames // seg_len)
    used_segments = set(
        np.unique(np.round(np.linspace(0, n_segments - 1, min(n_segments, max_segments))))
        .astype(int).tolist()
    )

    def threshold_stats(frames: np.ndarray) -> None:
        mu, mu32, thr32 = provisional
        fexact = _exact_in_float32(frames.dtype)
        with nb.parallel_chunksize(_ROWS_PER_TASK):
            _accumulate(frames, frames, 0, len(frames), _F_THR | eight_bit, d2, d2f, True,
                        d2f, d3, mu, mu32, thr32, fexact, d2f, gmom.sums)
        gmom.n += len(frames)

    def segment_done(seg: np.ndarray, seg_start: int) -> None:
        nonlocal n_bins_used, provisional
        band = _band_bins(len(seg), noise_range)
        _band_power_sum(seg, power, band)
        n_bins_used += band[1] - band[0]
        if seg_start == 0:
            means = seg.mean(axis=0, dtype=np.float64)
            nb_ = max(1, band[1] - band[0])
            sigma = np.sqrt(power / nb_)
            thr = np.where(sigma > 0, corr_pnr_threshold * sigma, np.inf)
            provisional = (means, means.astype(np.float32), thr.astype(np.float32))

    def feed_segments(frames: np.ndarray, t0: int, t1: int) -> None:
        nonlocal seg_buf
        s0 = (t0 // seg_len) * seg_len - seg_len
        while s0 + seg_len < t1:
            s0 += seg_len
            if s0 // seg_len not in used_segments:
                continue
            s1_ = min(s0 + seg_len, n)
            a, b = max(s0, t0), min(s1_, t1)
            if a == s0 and b == s1_:
                segment_done(frames[a - t0 : b - t0], s0)
            else:
                if seg_buf is None:
                    seg_buf = np.empty((seg_len, ny, nx), np.float32)
                seg_buf[a - s0 : b - s0] = frames[a - t0 : b - t0]
                if b == s1_:
                    segment_done(seg_buf[: s1_ - s0], s0)

    for t0, t1, frames in _read_chunks(movie, chunk, prefetch):
        if center is None:
            # the centre must be a float32 value for the float32 differences
            center = frames[0].astype(np.float32).astype(np.float64)
            center32 = center.astype(np.float32)
            exact = _exact_in_float32(frames.dtype)
            if not exact:
                center = frames[0].astype(np.float64)
        ffr = frames
        if filtered:
            if taps is not None:
                if fbuf is None:
                    fbuf = np.empty((chunk, ny, nx), np.float32)
                ffr = fbuf[: t1 - t0]
                with nb.parallel_chunksize(2):
                    _filter_frames(frames, ffr, taps.gy, taps.gx, taps.widths, taps.wi,
                                   np.float32(taps.m), taps.use_box)
            # the noise first: the first segment gives the corr_pnr threshold
            feed_segments(ffr, t0, t1)
            if provisional is not None and pending:
                for p in pending:
                    threshold_stats(p)
                pending.clear()
        warm = filtered and provisional is not None
        what = _RAW_CORR | eight_bit | (_RAW_MAX if filtered else 0)  # no max for corr only
        if taps is not None:
            what |= _F_MAX
        if warm:
            what |= _F_THR
        mu, mu32, thr32 = provisional if warm else (d2, d2f, d2f)
        fexact = _exact_in_float32(ffr.dtype)
        # --- one fused sweep, split at the max_corr bin boundaries
        pos = t0
        while pos < t1:
            stop = min(t1, next(b for b in boundaries if b > pos))
            with nb.parallel_chunksize(_ROWS_PER_TASK):
                _accumulate(frames, ffr, pos - t0, stop - t0, what, center, center32,
                            exact, vmax, part.sums, mu, mu32, thr32, fexact, fmax,
                            gmom.sums)
            part.n += stop - pos
            if warm:
                gmom.n += stop - pos
            if frames.dtype.kind == "f":
                _check_finite(part.s2, frames, t0)  # NaN, inf or overflow
            pos = stop
            if stop in boundaries:
                if (part_start, stop) in real_bins:
                    np.maximum(max_corr, part.image(eight), out=max_corr)
                whole.add(part)
                part.reset()
                part_start = stop
        if filtered and not warm:  # (the buffers are reused: keep a copy)
            pending.append(ffr.copy())
        del frames, ffr
        yield Progress(t1, n, _MESSAGE)

    whole.add(part)
    mean = (center + whole.s1 / n).astype(np.float32)
    var = np.maximum(whole.s2 / n - (whole.s1 / n) ** 2, 0.0)
    out: dict[str, Any] = {
        "mean": mean,
        "max": vmax,
        "std": np.sqrt(var).astype(np.float32),
        "corr": whole.image(eight),
        "max_corr": max_corr,
    }
    if filtered:
        noise = np.sqrt(power / max(1, n_bins_used))
        if taps is None:  # the filtered movie is the raw one
            fmean = center + whole.s1 / n
            fmax = vmax
        else:
            # the filter is linear: the mean of the filtered movie is the
            # filtered mean image (same kernel, same replicated borders)
            from scipy import ndimage

            fmean = ndimage.correlate(center + whole.s1 / n, taps.kernel.astype(np.float64),
                                      mode="nearest")
        peak = fmax.astype(np.float64) - fmean
        pnr = np.divide(peak, noise, out=np.zeros(shape2), where=noise > 0)
        pnr[pnr < 0] = 0
        out["pnr"] = pnr.astype(np.float32)
        out["corr_pnr"] = gmom.image(eight)
        out["noise"] = noise.astype(np.float32)
    out["params"] = {
        "eight_neighbours": eight,
        "gsig": None if sig is None else (sig if sig[0] != sig[1] else sig[0]),
        "center_psf": bool(center_psf),
        "bin_size": int(bin_size),
        "chunk_frames": chunk,
        "nan_policy": nan_policy,
        "noise_frames": seg_len,
        "noise_range": noise_range,
        "noise_max_frames": int(noise_max_frames),
        "corr_pnr_threshold": float(corr_pnr_threshold),
        "corr_pnr_exact": n <= seg_len,
    }
    out["n_frames"] = n
    out["elapsed"] = time.perf_counter() - start
    logger.debug("summary images of %s frames in %.2f s", n, out["elapsed"])
    return out


# --------------------------------------------------------------------------- public API
def iter_summary_images(
    movie: Any,
    *,
    eight_neighbours: bool = True,
    gsig: float | tuple[float, float] | None = None,
    center_psf: bool = True,
    bin_size: int = 1000,
    chunk_frames: int | None = None,
    nan_policy: str = "raise",
    noise_frames: int | None = None,
    noise_range: tuple[float, float] = (0.25, 0.5),
    corr_pnr_threshold: float = 3.0,
    noise_max_frames: int = 3072,
    prefetch: bool | None = None,
    gSig: Any = _UNSET,  # noqa: N803 - CaImAn's name, accepted as an alias
) -> ProgressGenerator[SummaryImages]:
    """Compute all summary images in one streaming pass, yielding progress.

    The generator twin of :func:`summary_images`: it yields
    ``Progress(done_frames, total_frames, "summary images")`` after each chunk
    and returns the :class:`SummaryImages`. Parameters are those of
    :func:`summary_images`.
    """
    if gSig is not _UNSET:
        gsig = gSig
    raw = yield from _run(
        movie, eight_neighbours=eight_neighbours, gsig=gsig, center_psf=center_psf,
        bin_size=bin_size, chunk_frames=chunk_frames, nan_policy=nan_policy,
        noise_frames=noise_frames, noise_range=noise_range,
        corr_pnr_threshold=corr_pnr_threshold, prefetch=prefetch, filtered=True,
        noise_max_frames=noise_max_frames,
    )
    params = raw["params"]
    params["noise_mean_frame"] = float(np.mean(raw["noise"]))
    return SummaryImages(
        mean=raw["mean"], max=raw["max"], std=raw["std"], corr=raw["corr"],
        pnr=raw["pnr"], corr_pnr=raw["corr_pnr"], max_corr=raw["max_corr"],
        noise=raw["noise"], n_frames=raw["n_frames"], params=params, elapsed=raw["elapsed"],
    )


def summary_images(
    movie: Any,
    *,
    eight_neighbours: bool = True,
    gsig: float | tuple[float, float] | None = None,
    center_psf: bool = True,
    bin_size: int = 1000,
    chunk_frames: int | None = None,
    nan_policy: str = "raise",
    noise_frames: int | None = None,
    noise_range: tuple[float, float] = (0.25, 0.5),
    corr_pnr_threshold: float = 3.0,
    noise_max_frames: int = 3072,
    prefetch: bool | None = None,
    gSig: Any = _UNSET,  # noqa: N803 - CaImAn's name, accepted as an alias
) -> SummaryImages:
    """Compute mean, max, std, local correlation, PNR and max-correlation images.

    One pass over the movie, one time chunk at a time (memory independent of the
    number of frames); the next chunk is read in a thread while the current one
    is processed.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        numpy or dask array (or anything sliceable along time with a ``shape``)
        of any real dtype, ``T >= 2``. Only ``movie[t0:t1]`` is ever read.
    eight_neighbours : bool, optional
        Correlate each pixel with its 8 neighbours (True) or 4 (False); used for
        ``corr``, ``corr_pnr`` and ``max_corr``.
    gsig : float or (float, float) or None, optional
        Gaussian width in pixels of the spatial filter applied before ``pnr`` and
        ``corr_pnr`` (CaImAn's ``gSig``, also accepted as ``gSig=``); kernel size
        ``int(2 * gsig) * 2 + 1`` (13 for 3). Default ``None``: no filtering, as
        in CaImAn's ``correlation_pnr(Y, gSig=None)``; ``pnr`` and ``corr_pnr``
        then describe the raw movie and come at little extra cost. The filter is
        a one-photon (CNMF-E) option: give the expected neuron radius in pixels
        (CaImAn's CNMF-E demos use ``gSig=3`` for their data) to remove the
        smooth background before the peak-to-noise ratio is taken.
    center_psf : bool, optional
        Subtract from the Gaussian its mean over its central disk support and set
        it to 0 outside (CaImAn's default ``background_filter='disk'``), which
        removes the smooth one-photon background; False: a plain Gaussian blur.
    bin_size : int, optional
        Length in frames of the time bins of ``max_corr`` (CaImAn's default
        1000; the binning follows ``max_correlation_image`` exactly).
    chunk_frames : int, optional
        Frames read at a time. Default: about 256 MB of float32 per chunk, a
        multiple of ``noise_frames``. The result does not depend on it beyond
        floating-point rounding.
    nan_policy : {"raise"}, optional
        "raise": a ValueError naming the number of NaN (and infinite) values and
        the first frame holding one. (No other policy is implemented.)
    noise_frames : int, optional
        Segment length of the Welch estimate of the noise spectrum; the first
        segment also gives the provisional mean and noise that threshold
        ``corr_pnr`` (exact when ``T <= noise_frames``). Default 256 frames,
        fewer for frames larger than 512 x 512 (a segment is kept in memory).
    noise_range : (float, float), optional
        Frequency band, as fractions of the frame rate, whose mean power is the
        noise variance (CaImAn's ``noise_range``).
    corr_pnr_threshold : float, optional
        Values of (filtered - mean) / noise below it are set to 0 before
        ``corr_pnr`` is computed (CaImAn uses 3).
    noise_max_frames : int, optional
        At most this many frames (whole segments, evenly spaced over the movie,
        the first included) enter the noise estimate, as CaImAn's
        ``get_noise_fft(max_num_samples_fft=3072)`` uses 3072 frames (the first,
        middle and last 1024). The FFTs are the costliest part of the pass after
        the spatial filter; this bounds their cost for long movies.
    prefetch : bool, optional
        Read the next chunk in a background thread. Default: True unless the
        movie is an in-memory numpy array.

    Returns
    -------
    SummaryImages
        ``(Y, X)`` float32 images ``mean``, ``max``, ``std``, ``corr``, ``pnr``,
        ``corr_pnr``, ``max_corr`` with ``n_frames``, ``params``, ``elapsed``.

    Raises
    ------
    ValueError
        For a movie that is not 3-D with at least 2 frames, a bad option (the
        message names it and its value), or NaN / infinite values in the movie.

    Notes
    -----
    See the module documentation for how each streaming estimate relates to
    CaImAn's in-memory definition: everything is exact up to rounding except the
    noise (a Welch average of the same periodogram band; exact for
    ``T <= noise_frames``) and the ``corr_pnr`` threshold (mean and noise of the
    first ``noise_frames`` frames).

    References
    ----------
    .. [1] Giovannucci A. et al. (2019). CaImAn, eLife 8:e38173
       (``caiman.summary_images.correlation_pnr``, ``local_correlations``,
       ``max_correlation_image``; ``get_noise_fft``).

    Examples
    --------
    >>> import numpy as np
    >>> movie = np.random.default_rng(0).poisson(10, (200, 24, 32)).astype(np.uint16)
    >>> images = summary_images(movie)
    >>> images.corr.shape, images.corr.dtype
    ((24, 32), dtype('float32'))
    >>> one_photon = summary_images(movie, gsig=2)  # CNMF-E's filtered PNR
    """
    return drive(
        iter_summary_images(
            movie, eight_neighbours=eight_neighbours, gsig=gsig, center_psf=center_psf,
            bin_size=bin_size, chunk_frames=chunk_frames, nan_policy=nan_policy,
            noise_frames=noise_frames, noise_range=noise_range,
            corr_pnr_threshold=corr_pnr_threshold, noise_max_frames=noise_max_frames,
            prefetch=prefetch, gSig=gSig,
        )
    )


def iter_local_correlations(
    movie: Any,
    *,
    eight_neighbours: bool = True,
    chunk_frames: int | None = None,
    nan_policy: str = "raise",
    prefetch: bool | None = None,
) -> ProgressGenerator[np.ndarray]:
    """Generator twin of :func:`local_correlations` (yields :class:`Progress`)."""
    raw = yield from _run(
        movie, eight_neighbours=eight_neighbours, gsig=None, center_psf=True,
        bin_size=max(2, int(movie.shape[0]) if hasattr(movie, "shape") and
                     len(movie.shape) == 3 else 2),
        chunk_frames=chunk_frames, nan_policy=nan_policy, noise_frames=None,
        noise_range=(0.25, 0.5), corr_pnr_threshold=3.0, prefetch=prefetch,
        filtered=False,
    )
    return raw["corr"]


def local_correlations(
    movie: Any,
    *,
    eight_neighbours: bool = True,
    chunk_frames: int | None = None,
    nan_policy: str = "raise",
    prefetch: bool | None = None,
) -> np.ndarray:
    """Local correlation image, streaming over time chunks.

    Same definition as CaImAn's ``local_correlations``: for each pixel, the mean
    over its 4 or 8 neighbours of the Pearson correlation over time between the
    pixel and the neighbour; border pixels average over the neighbours they
    have; a constant pixel has correlation 0 with everything. Computed from
    per-pixel sums, sums of squares and the products with 4 neighbour offsets
    (right, down, down-right, down-left; the other 4 follow by symmetry),
    accumulated in float64 after centring each pixel on its first-frame value.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        numpy or dask array of any real dtype, ``T >= 2``.
    eight_neighbours : bool, optional
        8 neighbours (True) or 4 (False).
    chunk_frames, nan_policy, prefetch
        As in :func:`summary_images`.

    Returns
    -------
    ndarray, shape (Y, X), float32
        The local correlation image.

    References
    ----------
    .. [1] Giovannucci A. et al. (2019). CaImAn, eLife 8:e38173
       (``caiman.summary_images.local_correlations``).
    .. [2] Smith S. L., Häusser M. (2010). Parallel processing of visual space by
       neighboring neurons in mouse visual cortex. Nat. Neurosci. 13:1144-1149.
    """
    return drive(
        iter_local_correlations(
            movie, eight_neighbours=eight_neighbours, chunk_frames=chunk_frames,
            nan_policy=nan_policy, prefetch=prefetch,
        )
    )
