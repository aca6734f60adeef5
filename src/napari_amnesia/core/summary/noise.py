"""The noise level of ``pnr``: CaImAn's ``get_noise_fft`` band power, by Welch segments.

:func:`_band_power_sum` adds the periodogram power ``|X_k|^2 / n`` in the band
:func:`_band_bins` selects, for every pixel of a segment of frames: power-of-two
segments use an FFT along time vectorized across pixels (:func:`_band_power_lanes`),
other lengths ``scipy.fft``.
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np

from ..parallel import n_workers, numba_threads
from ._fastmath import _FASTMATH


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
        with numba_threads(), nb.parallel_chunksize(4):
            _band_power_lanes(flat, k0, k1, twr, twi, rev, acc)
        return
    import scipy.fft

    block = min(npix, max(64, (8 * 2**20) // (4 * n)))  # ~8 MB of float32
    buf = np.empty((block, n), np.float32)
    means = np.empty(npix)
    workers = n_workers()
    for p0 in range(0, npix, block):
        p1 = min(npix, p0 + block)
        b = buf[: p1 - p0]
        with numba_threads():
            _transpose_centred(flat, p0, p1, b, means)
        spec = scipy.fft.rfft(b, axis=1, workers=workers)
        with numba_threads():
            _band_power(spec.view(np.float32), k0, k1, n, acc[p0:p1])
