"""Steps 1-5 of the skeleton stage: from the movie to the binary structure.

Denoising and the summary image (streaming over time chunks, see
:class:`_SmoothedMovie`), normalization and histogram equalization, the local
threshold, and the clean-up of the binary mask (closing, small holes, small
objects).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..progress import ProgressGenerator
from .params import SkeletonParams

#: Smallest CLAHE tile (pixels) when ``clahe_kernel_size`` is automatic.
CLAHE_MIN_TILE = 32


# --------------------------------------------------------------------------- steps 1-2
def _radius(sigma: float) -> int:
    """scipy.ndimage's Gaussian kernel radius for truncate=4."""
    return int(4.0 * float(sigma) + 0.5)


class _SmoothedMovie:
    """A (T, Y, X) movie seen through a 3-D Gaussian filter, computed per time slice.

    ``smoothed[t0:t1]`` reads ``movie[t0 - r : t1 + r]`` (clipped to the movie),
    filters it with reflecting boundaries and returns frames ``t0..t1-1``: equal
    to the in-memory ``gaussian_filter(movie, sigma, mode="reflect")`` there.
    """

    def __init__(self, movie: Any, sigma_time: float, sigma_space: float) -> None:
        self.movie = movie
        self.shape = tuple(int(s) for s in movie.shape)
        self.ndim = 3
        self.dtype = np.dtype(np.float32)
        self.sigma = (float(sigma_time), float(sigma_space), float(sigma_space))
        self.radius = _radius(sigma_time) if sigma_time > 0 else 0

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        tkey, rest = key[0], key[1:]
        n = self.shape[0]
        if isinstance(tkey, (int, np.integer)):
            t = int(tkey) + (n if tkey < 0 else 0)
            return self[(slice(t, t + 1), *rest)][0]
        if not isinstance(tkey, slice):
            raise TypeError("the smoothed movie is read with a time slice")
        t0, t1, step = tkey.indices(n)
        if step != 1:
            raise TypeError("the smoothed movie is read with a contiguous time slice")
        if t1 <= t0:
            return np.zeros((0, *self.shape[1:]), np.float32)[(slice(None), *rest)]
        a0, a1 = max(0, t0 - self.radius), min(n, t1 + self.radius)
        block = np.asarray(self.movie[a0:a1], dtype=np.float32)
        out = ndi.gaussian_filter(block, self.sigma, mode="reflect", truncate=4.0)
        return out[t0 - a0 : t1 - a0][(slice(None), *rest)]


def _chunk_for(shape: tuple[int, ...], chunk_frames: int | None) -> int:
    if chunk_frames is not None:
        return int(chunk_frames)
    frame_bytes = 4 * int(shape[1]) * int(shape[2])
    return int(max(8, min(shape[0], (128 * 2**20) // max(1, frame_bytes))))


def _iter_summary(movie: Any, p: SkeletonParams) -> ProgressGenerator[np.ndarray]:
    """Run steps 1-2 (denoising, summary image) on a (T, Y, X) movie with T >= 2."""
    from ..summary import iter_summary_images

    chunk = _chunk_for(movie.shape, p.chunk_frames)
    if p.summary == "mean":
        source = movie  # the mean commutes with the 3-D filter (module notes)
    else:
        source = _SmoothedMovie(movie, p.denoise_sigma_time, p.denoise_sigma_space)
    images = yield from iter_summary_images(
        source, gsig=None, chunk_frames=chunk, noise_max_frames=max(8, min(3072, chunk)),
        noise_frames=max(8, min(256, chunk)),
    )
    if p.summary == "mean":
        image = images.mean.astype(np.float32)
        if p.denoise_sigma_space > 0:
            image = ndi.gaussian_filter(image, p.denoise_sigma_space, mode="reflect")
        return image
    return {"max": images.max, "std": images.std, "correlation": images.corr}[p.summary].astype(
        np.float32
    )


# --------------------------------------------------------------------------- steps 3-5
def _normalize(image: np.ndarray, percentiles: tuple[float, float]) -> np.ndarray:
    finite = np.isfinite(image)
    if not finite.any():
        return np.zeros(image.shape, np.float32)
    lo, hi = np.percentile(image[finite], percentiles)
    if not hi > lo:
        lo, hi = float(image[finite].min()), float(image[finite].max())
    if not hi > lo:  # constant image: nothing stands out
        return np.zeros(image.shape, np.float32)
    out = (np.where(finite, image, lo) - lo) / (hi - lo)
    return np.clip(out, 0, 1).astype(np.float32)


def _equalize(image: np.ndarray, p: SkeletonParams) -> np.ndarray:
    from skimage import exposure

    if p.equalization == "none" or not np.ptp(image) > 0:
        return image.astype(np.float32)
    if p.equalization == "global":
        return exposure.equalize_hist(image).astype(np.float32)
    kernel = p.clahe_kernel_size
    if kernel is not None:
        kernel = min(kernel, *image.shape) if min(image.shape) >= 2 else None
    elif min(image.shape) >= 2:
        # 1/8 of the image, at least CLAHE_MIN_TILE px: on a small crop, tiles of
        # 1/8 are no wider than a soma and equalize the noise between structures
        kernel = tuple(max(2, min(s, max(s // 8, CLAHE_MIN_TILE))) for s in image.shape)
    return exposure.equalize_adapthist(
        image, kernel_size=kernel, clip_limit=p.clahe_clip_limit
    ).astype(np.float32)


def _disk(radius: int) -> np.ndarray:
    r = int(radius)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (yy**2 + xx**2) <= r * r


def _remove_small(mask: np.ndarray, min_size: int, connectivity: int) -> np.ndarray:
    """Remove connected objects of fewer than ``min_size`` pixels."""
    if min_size <= 1 or not mask.any():
        return mask
    labels, n = ndi.label(mask, structure=ndi.generate_binary_structure(2, connectivity))
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_size
    keep[0] = False
    return keep[labels]


def _fill_small_holes(mask: np.ndarray, max_size: int) -> np.ndarray:
    """Fill holes (background pieces not touching the border) of at most ``max_size`` px."""
    if max_size <= 0 or not mask.any():
        return mask
    labels, n = ndi.label(~mask)  # 4-connected background
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    fill = sizes <= max_size
    fill[0] = False
    fill[border] = False
    return mask | fill[labels]


def _threshold(image: np.ndarray, p: SkeletonParams) -> tuple[np.ndarray, np.ndarray]:
    from skimage.filters import threshold_local

    block = p.threshold_block_size
    limit = max(3, min(image.shape) - (1 - min(image.shape) % 2))
    if block > limit:  # scikit-image needs a block within the image
        block = limit if limit % 2 else limit - 1
    if min(image.shape) < 3:
        local = np.full(image.shape, image.mean(), np.float32)
    else:
        local = threshold_local(image, block, method=p.threshold_method,
                                offset=-p.threshold_offset).astype(np.float32)
    return image > local, local

