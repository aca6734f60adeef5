"""Summary images of a calcium-imaging movie, computed in one streaming pass.

Every image is computed from ONE read of the movie, one time chunk at a time, so
memory does not depend on the number of frames:

- ``mean``, ``max``, ``std`` (population standard deviation, ``ddof=0``);
- ``corr``: the local correlation image (CaImAn's ``local_correlations``);
- ``max_corr``: the maximum over consecutive time bins of the per-bin local
  correlation image (CaImAn's ``max_correlation_image``);
- ``pnr`` and ``corr_pnr``: the peak-to-noise ratio of the spatially filtered
  movie and the correlation image of the filtered, noise-normalized, thresholded
  movie (CaImAn's ``correlation_pnr``, used to seed CNMF-E on one-photon data).

The per-pixel work (sums, sums of squares, maxima, products with the neighbours,
the spatial filter) runs in fused numba kernels: one sweep over each chunk does
what a plain-numpy implementation needs about fifteen passes for.

How the streaming estimates relate to CaImAn's in-memory definitions
--------------------------------------------------------------------
``mean``, ``max``, ``std``, ``corr``, ``max_corr`` and ``pnr``'s numerator are
exact (up to floating-point rounding): they are finished from per-pixel sums,
sums of squares and neighbour cross-products accumulated in float64 after
centring every pixel on its value in the first frame.

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
the first ``noise_frames`` frames (the first Welch segment, whose filtered frames
are kept in memory until it is complete). When ``T <= noise_frames`` this is
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

import logging
import math
import mmap
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np

from ._progress import Progress, ProgressGenerator, drive

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
        Peak-to-noise ratio of the spatially filtered movie (CaImAn's
        ``correlation_pnr``); negative values set to 0.
    corr_pnr : ndarray
        Local correlation image of the filtered movie divided by its noise, with
        values below the threshold (3) set to 0.
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
@nb.njit(parallel=True, fastmath=_FASTMATH, cache=True, nogil=True)
def _accumulate(
    data, t0, t1, center, thr, use_thr, do_sum, do_max, do_corr, eight,
    total, vmax, s1, s2, ph, pv, pd1, pd2,
):  # pragma: no cover - compiled
    """Fused per-pixel accumulation over frames ``t0:t1`` of ``data`` (T, Y, X).

    ``total`` += x and ``vmax`` = max(vmax, x) (when asked); with ``do_corr``,
    v = x - center (set to 0 where ``use_thr`` and v < thr) feeds ``s1`` += v,
    ``s2`` += v*v and the products with the right (``ph``), lower (``pv``),
    lower-right (``pd1``) and lower-left (``pd2``) neighbours. Rows are split
    among threads; each thread walks all frames of its rows, so the float64
    accumulators of a row stay in cache.
    """
    ny = data.shape[1]
    nx = data.shape[2]
    for yy in nb.prange(ny):
        y = np.int64(yy)
        below = y + 1 < ny
        yb = y + 1 if below else y
        cur = np.empty(nx, np.float64)
        nxt = np.empty(nx, np.float64)
        for t in range(t0, t1):
            row = data[t, y]
            if do_sum:
                for x in range(nx):
                    total[y, x] += np.float64(row[x])
            if do_max:
                for x in range(nx):
                    v = np.float32(row[x])
                    if v > vmax[y, x]:
                        vmax[y, x] = v
            if not do_corr:
                continue
            row2 = data[t, yb]
            for x in range(nx):
                cur[x] = np.float64(row[x]) - center[y, x]
            for x in range(nx):
                nxt[x] = np.float64(row2[x]) - center[yb, x]
            if use_thr:
                for x in range(nx):
                    if cur[x] < thr[y, x]:
                        cur[x] = 0.0
                for x in range(nx):
                    if nxt[x] < thr[yb, x]:
                        nxt[x] = 0.0
            for x in range(nx):
                s1[y, x] += cur[x]
                s2[y, x] += cur[x] * cur[x]
            for x in range(nx - 1):
                ph[y, x] += cur[x] * cur[x + 1]
            if below:
                for x in range(nx):
                    pv[y, x] += cur[x] * nxt[x]
                if eight:
                    for x in range(nx - 1):
                        pd1[y, x] += cur[x] * nxt[x + 1]
                    for x in range(1, nx):
                        pd2[y, x] += cur[x] * nxt[x - 1]


@nb.njit(fastmath=_FASTMATH, cache=True, nogil=True)
def _horizontal(row, pad, ag, ab, gx, widths, hout, bout, use_box):  # pragma: no cover
    """Horizontal Gaussian (and box) sums of one row over nested half-widths.

    ``hout[k] = sum_{|j| <= widths[k]} gx[j] * row[x + j]`` and ``bout[k]`` the
    same with unit weights, with replicated borders.
    """
    nx = row.shape[0]
    rx = (gx.shape[0] - 1) // 2
    nw = widths.shape[0]
    for x in range(nx):
        pad[x + rx] = row[x]
    first = pad[rx]
    last = pad[rx + nx - 1]
    for j in range(rx):
        pad[j] = first
        pad[rx + nx + j] = last
    g0 = gx[rx]
    for x in range(nx):
        ag[x] = g0 * pad[x + rx]
        ab[x] = pad[x + rx]
    k = 0
    if widths[0] == 0:
        for x in range(nx):
            hout[0, x] = ag[x]
            bout[0, x] = ab[x]
        k = 1
    for j in range(1, rx + 1):
        gj = gx[rx + j]
        if use_box:
            for x in range(nx):
                p = pad[x + rx - j] + pad[x + rx + j]
                ag[x] += gj * p
                ab[x] += p
        else:
            for x in range(nx):
                ag[x] += gj * (pad[x + rx - j] + pad[x + rx + j])
        if k < nw and widths[k] == j:
            for x in range(nx):
                hout[k, x] = ag[x]
                bout[k, x] = ab[x]
            k += 1


@nb.njit(parallel=True, fastmath=_FASTMATH, cache=True, nogil=True)
def _filter_frames(data, out, gy, gx, widths, wi, m, use_box):  # pragma: no cover
    """Correlate every frame of ``data`` with CaImAn's (centred) Gaussian kernel.

    The kernel is ``(gy[dy] * gx[dx] - m)`` on a support whose row ``dy`` is the
    interval ``|dx| <= widths[wi[dy]]`` (``wi[dy] < 0``: empty row), 0 elsewhere,
    with replicated borders (OpenCV ``BORDER_REPLICATE``). It is applied as
    nested horizontal sums (one sweep per row gives the sums for every width)
    followed by a vertical combination over a ring buffer of rows: about 35
    multiply-adds per pixel instead of 113 for a direct 13 x 13 disk.
    """
    n = data.shape[0]
    ny = data.shape[1]
    nx = data.shape[2]
    ry = (gy.shape[0] - 1) // 2
    rx = (gx.shape[0] - 1) // 2
    ring = 2 * ry + 1
    nw = widths.shape[0]
    for i in nb.prange(n):
        hr = np.empty((ring, nw, nx), np.float32)
        br = np.empty((ring, nw, nx), np.float32)
        pad = np.empty(nx + 2 * rx, np.float32)
        ag = np.empty(nx, np.float32)
        ab = np.empty(nx, np.float32)
        acc = np.empty(nx, np.float32)
        frame = data[i]
        next_row = 0
        for y in range(ny):
            last = min(y + ry, ny - 1)
            while next_row <= last:
                s = next_row % ring
                _horizontal(frame[next_row], pad, ag, ab, gx, widths, hr[s], br[s], use_box)
                next_row += 1
            for x in range(nx):
                acc[x] = 0.0
            for d in range(ring):
                k = wi[d]
                if k < 0:
                    continue
                r = min(max(y + d - ry, 0), ny - 1)
                s = r % ring
                g = gy[d]
                if use_box:
                    for x in range(nx):
                        acc[x] += g * hr[s, k, x] - m * br[s, k, x]
                else:
                    for x in range(nx):
                        acc[x] += g * hr[s, k, x]
            for x in range(nx):
                out[i, y, x] = acc[x]


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


def _band_power_sum(segment: np.ndarray, out: np.ndarray, band: tuple[int, int]) -> None:
    """Add ``sum_{k in band} |X_k|^2 / n`` of every pixel of ``segment`` (n, Y, X) to ``out``."""
    import scipy.fft

    n = segment.shape[0]
    k0, k1 = band
    flat = segment.reshape(n, -1)
    acc = out.reshape(-1)
    npix = flat.shape[1]
    block = max(1024, (32 * 2**20) // (8 * (n // 2 + 1)))
    workers = os.cpu_count() or 1
    for p0 in range(0, npix, block):
        p1 = min(npix, p0 + block)
        block_data = flat[:, p0:p1]
        # removing the mean changes only the zero-frequency bin mathematically, but
        # keeps the float32 rounding of a large baseline out of the band
        block_data = block_data - block_data.mean(axis=0, dtype=np.float64).astype(np.float32)
        spec = scipy.fft.rfft(block_data, axis=0, workers=workers)[k0:k1]
        power = spec.real * spec.real
        power += spec.imag * spec.imag
        acc[p0:p1] += power.sum(axis=0, dtype=np.float64) / n


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


def _read_chunks(
    movie: Any, chunk: int, prefetch: bool
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(t0, t1, frames)``, reading the next chunk in a thread meanwhile."""
    n = movie.shape[0]

    def read(t0: int) -> np.ndarray:
        a = np.asarray(movie[t0 : min(n, t0 + chunk)])
        if prefetch and _is_memmap(a):
            a = np.array(a)  # do the disk read here, in the reading thread
        return _as_kernel_array(a)

    starts = list(range(0, n, chunk))
    if not prefetch or len(starts) == 1:
        for t0 in starts:
            yield t0, min(n, t0 + chunk), read(t0)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="amnesia-read") as pool:
        future = pool.submit(read, starts[0])
        for i, t0 in enumerate(starts):
            frames = future.result()
            if i + 1 < len(starts):
                future = pool.submit(read, starts[i + 1])
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
    """float64 accumulators of a correlation image (+ optional sum and max)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.s1, self.s2, self.ph, self.pv, self.pd1, self.pd2 = (
            np.zeros(shape) for _ in range(6)
        )
        self.n = 0

    def fields(self) -> tuple[np.ndarray, ...]:
        return self.s1, self.s2, self.ph, self.pv, self.pd1, self.pd2

    def add(self, other: _Moments) -> None:
        for a, b in zip(self.fields(), other.fields(), strict=True):
            a += b
        self.n += other.n

    def reset(self) -> None:
        for a in self.fields():
            a[...] = 0
        self.n = 0

    def image(self, eight: bool) -> np.ndarray:
        return _correlation_image(self.n, *self.fields(), eight)


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
    dummy = np.zeros((1, 1))
    bins = _time_bins(n, bin_size)
    boundaries = sorted({b for pair in bins for b in pair} | {n})
    real_bins = set(bins)
    taps = _filter_taps(sig, bool(center_psf)) if (filtered and sig is not None) else None

    # raw movie
    total = np.zeros(0)
    vmax = np.full(shape2, -np.inf, np.float32)
    center: np.ndarray | None = None
    whole = _Moments(shape2)
    part = _Moments(shape2)
    part_start = 0
    max_corr = np.full(shape2, -np.inf, np.float32)
    # filtered movie
    fsum = np.zeros(shape2)
    fmax = np.full(shape2, -np.inf, np.float32)
    gmom = _Moments(shape2)
    power = np.zeros(shape2)
    n_bins_used = 0
    seg_buf: np.ndarray | None = None
    provisional: tuple[np.ndarray, np.ndarray] | None = None
    pending: list[np.ndarray] = []
    n_segments = -(-n // seg_len)
    max_segments = max(1, noise_max_frames // seg_len)
    used_segments = set(
        np.unique(np.round(np.linspace(0, n_segments - 1, min(n_segments, max_segments))))
        .astype(int).tolist()
    )

    def threshold_stats(frames: np.ndarray) -> None:
        mu, thr = provisional
        _accumulate(frames, 0, len(frames), mu, thr, True, False, False, True, eight,
                    dummy, fmax, *gmom.fields())
        gmom.n += len(frames)

    def segment_done(seg: np.ndarray, seg_start: int) -> None:
        nonlocal n_bins_used, provisional
        band = _band_bins(len(seg), noise_range)
        if band[1] > band[0]:
            _band_power_sum(seg, power, band)
            n_bins_used += band[1] - band[0]
        if seg_start == 0:
            mu = seg.mean(axis=0, dtype=np.float64)
            nb_ = max(1, band[1] - band[0])
            sigma = np.sqrt(power / nb_)
            thr = np.where(sigma > 0, corr_pnr_threshold * sigma, np.inf)
            provisional = (mu, thr)

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
            center = frames[0].astype(np.float64)
            total = center  # keep a reference for the mean
        # --- raw statistics, split at the max_corr bin boundaries
        pos = t0
        while pos < t1:
            stop = min(t1, next(b for b in boundaries if b > pos))
            _accumulate(frames, pos - t0, stop - t0, center, dummy, False, False, True,
                        True, eight, dummy, vmax, *part.fields())
            part.n += stop - pos
            if frames.dtype.kind == "f":
                _check_finite(part.s1, frames, t0)
            pos = stop
            if stop in boundaries:
                if (part_start, stop) in real_bins:
                    np.maximum(max_corr, part.image(eight), out=max_corr)
                whole.add(part)
                part.reset()
                part_start = stop
        # --- filtered statistics
        if filtered:
            if taps is not None:
                ffr = np.empty((t1 - t0, ny, nx), np.float32)
                _filter_frames(frames, ffr, taps.gy, taps.gx, taps.widths, taps.wi,
                               np.float32(taps.m), taps.use_box)
            else:
                ffr = frames.astype(np.float32, copy=False)
            warm = provisional is not None
            if warm:  # one fused sweep: sum, max and thresholded products
                mu, thr = provisional
                _accumulate(ffr, 0, len(ffr), mu, thr, True, True, True, True, eight,
                            fsum, fmax, *gmom.fields())
                gmom.n += len(ffr)
            else:
                _accumulate(ffr, 0, len(ffr), dummy, dummy, False, True, True, False, eight,
                            fsum, fmax, *gmom.fields())
            feed_segments(ffr, t0, t1)
            if warm:
                pass
            elif provisional is not None:
                for p in pending:
                    threshold_stats(p)
                pending.clear()
                threshold_stats(ffr)
            else:
                pending.append(ffr)
            del ffr
        del frames
        yield Progress(t1, n, _MESSAGE)

    whole.add(part)
    mean = (total + whole.s1 / n).astype(np.float32)
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
        peak = fmax.astype(np.float64) - fsum / n
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
    gsig: float | tuple[float, float] | None = 3.0,
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
    gsig: float | tuple[float, float] | None = 3.0,
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
        ``int(2 * gsig) * 2 + 1`` (13 for 3). ``None``: no filtering.
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
    >>> images = summary_images(movie, gsig=2)
    >>> images.corr.shape, images.corr.dtype
    ((24, 32), dtype('float32'))
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
