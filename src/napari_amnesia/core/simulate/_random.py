"""Random processes the scene is drawn from: slow time series and smooth fields."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, signal


def _ou(rng: np.random.Generator, size: int, n: int, tau: float) -> np.ndarray:
    """Draw ``size`` stationary Ornstein-Uhlenbeck series of unit variance.

    Their time constant is ``tau`` frames; the result has shape (size, n).
    """
    rho = math.exp(-1.0 / max(tau, 1e-6))
    x0 = rng.standard_normal((size, 1))
    e = rng.standard_normal((size, n)) * math.sqrt(1 - rho * rho)
    y, _ = signal.lfilter([1.0], [1.0, -rho], e, axis=-1, zi=rho * x0)
    return y


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Draw a smooth random field in [0, 1] (Gaussian-filtered white noise, via FFT)."""
    noise = rng.standard_normal(shape)
    f = np.fft.irfft2(ndimage.fourier_gaussian(np.fft.rfft2(noise), sigma, n=shape[1]), s=shape)
    f -= f.min()
    top = f.max()
    return f / top if top > 0 else f
