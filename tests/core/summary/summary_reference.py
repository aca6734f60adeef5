"""In-memory references of the summary images, and the test movie.

The references are written from CaImAn's definitions (local_correlations,
max_correlation_image, correlation_pnr, get_noise_fft) with plain numpy/scipy on
the whole (small) movie, in float64.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

IMAGES = ("mean", "max", "std", "corr", "pnr", "corr_pnr", "max_corr", "noise")


def ref_local_corr(movie: np.ndarray, eight: bool = True) -> np.ndarray:
    y = movie.astype(np.float64)
    y = y - y.mean(0)
    sd = y.std(0)
    sd[sd == 0] = np.inf
    z = y / sd
    ny, nx = z.shape[1:]
    total = np.zeros((ny, nx))
    count = np.zeros((ny, nx))
    offsets = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if eight:
        offsets += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    for dy, dx in offsets:
        ys = slice(max(0, -dy), ny - max(0, dy))
        xs = slice(max(0, -dx), nx - max(0, dx))
        ys2 = slice(max(0, dy), ny - max(0, -dy))
        xs2 = slice(max(0, dx), nx - max(0, -dx))
        total[ys, xs] += (z[:, ys, xs] * z[:, ys2, xs2]).mean(0)
        count[ys, xs] += 1
    return total / count


def ref_kernel(gsig: float, center: bool = True) -> np.ndarray:
    k = int(2 * gsig) * 2 + 1
    x = np.arange(k) - (k - 1) / 2
    g = np.exp(-(x**2) / (2 * gsig**2))
    g = (g / g.sum()).astype(np.float32)
    psf = np.outer(g, g).astype(np.float32)
    if not center:
        return psf.astype(np.float64)
    disk = psf >= psf[0].max()
    psf = psf - psf[disk].mean()
    psf[~disk] = 0
    return psf.astype(np.float64)


def ref_filter(movie: np.ndarray, gsig, center: bool = True) -> np.ndarray:
    y = movie.astype(np.float64)
    if gsig is None:
        return y
    kern = ref_kernel(gsig, center)
    return np.stack([ndimage.correlate(f, kern, mode="nearest") for f in y])


def ref_noise_fft(data: np.ndarray, noise_range=(0.25, 0.5)) -> np.ndarray:
    """CaImAn's get_noise_fft(method='mean'), full length, time on axis 0."""
    n = data.shape[0]
    ff = np.arange(0, 0.5 + 1.0 / n, 1.0 / n)
    ind = (ff > noise_range[0]) & (ff <= noise_range[1])
    spec = np.fft.rfft(data, axis=0)
    psd = 2.0 / n * np.abs(spec[ind[: spec.shape[0]]]) ** 2
    return np.sqrt(np.mean(psd / 2, axis=0))


def ref_pnr(movie: np.ndarray, gsig, center: bool = True, eight: bool = True):
    f = ref_filter(movie, gsig, center)
    f = f - f.mean(0)
    noise = ref_noise_fft(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        pnr = f.max(0) / noise
        z = f / noise
    pnr[~(pnr > 0)] = 0  # negative -> 0 (CaImAn); 0/0 (constant pixel) -> 0 (ours)
    z[~(z >= 3)] = 0
    return pnr, ref_local_corr(z, eight), noise


def ref_max_corr(movie: np.ndarray, bin_size: int, eight: bool = True) -> np.ndarray:
    n = movie.shape[0]
    if n <= bin_size:
        return ref_local_corr(movie, eight)
    if n % bin_size < bin_size / 2:
        bin_size = n // (n // bin_size)
    return np.max(
        [ref_local_corr(movie[i * bin_size : (i + 1) * bin_size], eight)
         for i in range(n // bin_size)],
        axis=0,
    )


# --------------------------------------------------------------------------- data
def make_movie(n=300, ny=32, nx=40, seed=0, dtype=np.uint16) -> np.ndarray:
    """Noise + a slow background + two 'cells' with sparse transients."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:ny, :nx]
    movie = 100 + 0.2 * xx[None] + rng.normal(0, 3, (n, ny, nx))
    for cy, cx in [(10, 12), (22, 28)]:
        foot = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 2.5**2))
        spikes = (rng.random(n) < 0.03).astype(float)
        trace = np.convolve(spikes, np.exp(-np.arange(30) / 6.0))[:n] * 40
        movie += trace[:, None, None] * foot[None]
    movie[:, 0, 0] = 77  # a constant pixel
    if np.dtype(dtype).kind == "u":
        movie = np.clip(np.round(movie), 0, None)
    return movie.astype(dtype)
