"""Fourier-domain building blocks of registration (float32 / complex64 throughout).

How a shift is measured
-----------------------
Frames are correlated with a *windowed* template, never windowed themselves: the
template ``T`` is band-passed (Gaussian low-pass against pixel noise, Gaussian
high-pass against smooth background) and multiplied by a window ``w`` that is zero
within ``max_shift`` pixels of the frame edges and rises with a raised-cosine taper;
the frame ``F`` is band-passed the same way. The cross-correlation

    c(τ) = Σ_o w(o) T(o) F(o + τ)

then only reads frame pixels that exist for every searched ``|τ| <= max_shift``, so
the circular FFT correlation has no wrap-around, and because the window multiplies
only one side there is no deterministic pull of the peak towards zero (windowing
both images multiplies the correlation by the window's autocorrelation, whose slope
biases every estimate towards zero shift). The peak of ``c`` is searched first on
the integer grid inside the bound, then on a ``1 / upsample_factor`` grid around it
by evaluating the inverse DFT only there (the matrix-multiply DFT of Guizar-Sicairos,
Thurman & Fienup 2008 [1]_), and finally refined by a parabola through the best grid
sample. Both evaluations are matrix products shared by all frames of a chunk, so no
inverse FFT is needed at all.

``phase_correlation`` whitens the cross-power spectrum (``C / |C|``) before the
Gaussian low-pass, as suite2p does [2]_.

References
----------
.. [1] Guizar-Sicairos, M., Thurman, S. T. & Fienup, J. R. (2008). Efficient subpixel
   image registration algorithms. Opt. Lett. 33, 156-158.
.. [2] Pachitariu, M. et al. (2017). Suite2p: beyond 10,000 neurons with standard
   two-photon microscopy. bioRxiv 061507.
.. [3] Pnevmatikakis, E. A. & Giovannucci, A. (2017). NoRMCorre. J. Neurosci.
   Methods 291, 83-94.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft

__all__ = [
    "bandpass",
    "edge_window",
    "DFTWindow",
    "peak_subpixel",
    "rfft2",
    "irfft2",
]

_EPS = np.float32(1e-6)


def rfft2(a: np.ndarray, s: tuple[int, int] | None = None, workers: int = 1) -> np.ndarray:
    """Real 2-D FFT over the last two axes, complex64 for float32 input."""
    return sfft.rfft2(np.asarray(a, np.float32), s=s, axes=(-2, -1), workers=workers)


def irfft2(a: np.ndarray, s: tuple[int, int], workers: int = 1) -> np.ndarray:
    """Inverse of :func:`rfft2` (float32 out)."""
    return sfft.irfft2(a, s=s, axes=(-2, -1), workers=workers).astype(np.float32, copy=False)


def _freq2(shape: tuple[int, int]) -> np.ndarray:
    """Squared spatial frequency (cycles/px)² on the rfft grid, float64 (Y, X//2+1)."""
    Y, X = shape
    fy = np.fft.fftfreq(Y)[:, None]
    fx = np.fft.rfftfreq(X)[None, :]
    return fy * fy + fx * fx


def bandpass(shape: tuple[int, int], smooth_sigma: float,
             highpass_sigma: float | None) -> np.ndarray:
    """Gaussian band-pass on the rfft grid of ``shape``, float32 ``(Y, X//2+1)``.

    ``exp(-2π²σ_lo²f²) · (1 - exp(-2π²σ_hi²f²))``: a Gaussian blur of ``smooth_sigma``
    px minus a Gaussian blur of ``highpass_sigma`` px (the zero frequency is always
    removed).
    """
    f2 = _freq2(shape)
    h = np.ones_like(f2)
    if smooth_sigma and smooth_sigma > 0:
        h *= np.exp(-2 * math.pi**2 * smooth_sigma**2 * f2)
    if highpass_sigma is not None:
        h *= 1 - np.exp(-2 * math.pi**2 * highpass_sigma**2 * f2)
    h[0, 0] = 0.0
    return h.astype(np.float32)


def lowpass(shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian low-pass of ``sigma`` px on the rfft grid of ``shape`` (float32)."""
    if not sigma:
        return np.ones((shape[0], shape[1] // 2 + 1), np.float32)
    return np.exp(-2 * math.pi**2 * sigma**2 * _freq2(shape)).astype(np.float32)


def edge_window(n: int, zero: int, taper: int) -> np.ndarray:
    """1-D window: 0 within ``zero`` samples of both ends, raised-cosine over ``taper``.

    If the frame is too short for ``zero`` and the full taper, the taper is shortened
    (at least one sample stays at 1).
    """
    w = np.zeros(n, np.float64)
    inner = n - 2 * zero
    if inner <= 0:
        raise ValueError(f"no pixel left to compare: {n} px with a {zero} px margin.")
    taper = int(max(0, min(taper, (inner - 1) // 2)))
    w[zero : n - zero] = 1.0
    if taper:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(taper) + 1) / (taper + 1))
        w[zero : zero + taper] = ramp
        w[n - zero - taper : n - zero] = ramp[::-1]
    return w


class DFTWindow:
    """Evaluate real 2-D correlations from their rfft spectrum on small grids.

    For a spectrum ``C`` of shape ``(..., Y, X//2+1)`` (rfft of a real ``(Y, X)``
    array ``c``), ``evaluate(C)`` returns ``c`` at the points ``y_i + dy``, ``x_j + dx``
    for the offsets given at construction — exact band-limited interpolation, the
    matrix-multiply DFT of Guizar-Sicairos et al. (2008), batched as two matrix
    products shared by every spectrum.
    """

    def __init__(self, shape: tuple[int, int], offsets_y: np.ndarray,
                 offsets_x: np.ndarray) -> None:
        Y, X = shape
        self.shape = (int(Y), int(X))
        ky = np.fft.fftfreq(Y) * Y  # integer frequencies
        kx = np.arange(X // 2 + 1, dtype=np.float64)
        oy = np.asarray(offsets_y, np.float64)
        ox = np.asarray(offsets_x, np.float64)
        # c(y, x) = (1/YX) Re Σ_ky Σ_kx w_kx C[ky, kx] exp(2πi (ky y / Y + kx x / X))
        # with w = 1 for kx = 0 (and Nyquist when X is even), 2 otherwise (Hermitian).
        wx = np.full(kx.size, 2.0)
        wx[0] = 1.0
        if X % 2 == 0:
            wx[-1] = 1.0
        self.ey = np.exp(2j * np.pi * np.outer(oy, ky) / Y).astype(np.complex64)  # (J, Y)
        self.ex = (wx[:, None] * np.exp(2j * np.pi * np.outer(kx, ox) / X) / (Y * X)).astype(
            np.complex64
        )  # (Kx, J)
        self.offsets_y = oy
        self.offsets_x = ox

    def evaluate(self, spectra: np.ndarray) -> np.ndarray:
        """Real correlation values at the grid, shape ``(..., Jy, Jx)`` float32."""
        # contract the contiguous last axis first, as one large GEMM (no transposed
        # copy of the spectra; a broadcast np.matmul over the stack is ~50x slower),
        # then the small intermediate over rows
        lead = spectra.shape[:-2]
        Y, K = spectra.shape[-2:]
        tmp = (spectra.reshape(-1, K) @ self.ex).reshape(*lead, Y, -1)  # (..., Y, Jx)
        out = np.tensordot(tmp, self.ey, axes=([-2], [1]))  # (..., Jx, Jy)
        return np.ascontiguousarray(np.swapaxes(out.real, -1, -2), dtype=np.float32)


def phase_ramp(shape: tuple[int, int], shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factors that move a spectrum's origin to ``shifts`` (rows, cols).

    Returns ``ry (..., Y, 1)`` and ``rx (..., 1, X//2+1)`` complex64 such that
    ``C * ry * rx`` is the spectrum of ``c(· + shifts)``.
    """
    Y, X = shape
    ky = np.fft.fftfreq(Y) * Y
    kx = np.arange(X // 2 + 1, dtype=np.float64)
    s = np.asarray(shifts, np.float64)
    ry = np.exp(2j * np.pi * s[..., 0:1] * ky / Y).astype(np.complex64)[..., :, None]
    rx = np.exp(2j * np.pi * s[..., 1:2] * kx / X).astype(np.complex64)[..., None, :]
    return ry, rx


def peak_subpixel(values: np.ndarray, mask: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Argmax of each ``(..., Jy, Jx)`` map, refined by 1-D parabolas.

    Parameters
    ----------
    values : ndarray, shape (..., Jy, Jx)
        Sampled correlation maps.
    mask : ndarray of bool, broadcastable to ``values``, optional
        Samples allowed to be the peak.

    Returns
    -------
    iy, ix : ndarray of float, shape (...)
        Peak position in grid units (integer argmax plus a parabolic offset within
        ±0.5; no offset on the grid's edge).
    peak : ndarray of float32, shape (...)
        The largest sampled value.
    """
    v = values
    if mask is not None:
        v = np.where(mask, values, -np.inf)
    Jy, Jx = v.shape[-2:]
    flat = v.reshape(*v.shape[:-2], Jy * Jx)
    arg = np.argmax(flat, axis=-1)
    iy, ix = np.divmod(arg, Jx)
    peak = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]

    def offset(c, m, p):
        denom = m - 2 * c + p
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(denom < 0, 0.5 * (m - p) / denom, 0.0)
        d = np.where(np.isfinite(d), d, 0.0)
        return np.clip(d, -0.5, 0.5)

    def at(yy, xx):
        idx = (yy * Jx + xx)[..., None]
        return np.take_along_axis(flat, idx, axis=-1)[..., 0]

    fy = np.zeros(iy.shape)
    fx = np.zeros(ix.shape)
    oky = (iy > 0) & (iy < Jy - 1)
    okx = (ix > 0) & (ix < Jx - 1)
    yl, yh = np.clip(iy - 1, 0, Jy - 1), np.clip(iy + 1, 0, Jy - 1)
    xl, xh = np.clip(ix - 1, 0, Jx - 1), np.clip(ix + 1, 0, Jx - 1)
    cy_m, cy_p = at(yl, ix), at(yh, ix)
    cx_m, cx_p = at(iy, xl), at(iy, xh)
    fy = np.where(oky & np.isfinite(cy_m) & np.isfinite(cy_p), offset(peak, cy_m, cy_p), 0.0)
    fx = np.where(okx & np.isfinite(cx_m) & np.isfinite(cx_p), offset(peak, cx_m, cx_p), 0.0)
    return iy + fy, ix + fx, peak


def whiten(spectra: np.ndarray) -> np.ndarray:
    """Phase correlation: divide a cross-power spectrum by its magnitude (in place)."""
    mag = np.abs(spectra)
    scale = np.float32(1e-5) * mag.mean(axis=(-2, -1), keepdims=True) + _EPS
    mag += scale
    spectra /= mag
    return spectra
