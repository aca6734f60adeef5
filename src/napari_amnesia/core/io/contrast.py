"""Display range of a movie from a few sampled frames."""

from __future__ import annotations

from typing import Any

import numpy as np

from .chunks import _N_SAMPLE_FRAMES, _sample_frames, _sample_indices

__all__ = ["contrast_limits"]


def contrast_limits(
    movie: Any,
    *,
    n_frames: int = _N_SAMPLE_FRAMES,
    percentiles: tuple[float, float] = (0.5, 99.9),
) -> tuple[float, float]:
    """Display range of a movie from a few evenly spaced frames, ignoring NaNs.

    Parameters
    ----------
    movie : array-like, shape (T, Y, X) or (Y, X)
        numpy or dask array; only the sampled frames are read.
    n_frames : int, optional
        How many frames to sample (evenly spaced, first and last included).
    percentiles : (float, float), optional
        Lower and upper percentiles of the sampled pixel values.

    Returns
    -------
    (float, float)
        ``(low, high)`` with ``low < high`` always (widened when the sample is flat).

    Examples
    --------
    >>> import numpy as np
    >>> movie = np.arange(100, dtype=np.float32).reshape(4, 5, 5)
    >>> contrast_limits(movie, percentiles=(0, 100))
    (0.0, 99.0)
    """
    lo_p, hi_p = (float(p) for p in percentiles)
    if not 0 <= lo_p < hi_p <= 100:
        raise ValueError(f"percentiles should satisfy 0 <= low < high <= 100, got {percentiles}.")
    if n_frames < 1:
        raise ValueError(f"n_frames should be at least 1, got {n_frames}.")
    if movie.ndim == 2:
        sample = np.asarray(movie.compute() if hasattr(movie, "compute") else movie)
    elif movie.ndim == 3:
        idx = _sample_indices(movie.shape[0], n_frames)
        if idx.size == 0:
            return (0.0, 1.0)
        sample = np.stack(_sample_frames(movie, idx))
    else:
        raise ValueError(f"movie should be (T, Y, X) or (Y, X), got shape {movie.shape}.")
    sample = sample.astype(np.float64, copy=False)
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(finite, [lo_p, hi_p]))
    if not lo < hi:
        lo, hi = float(finite.min()), float(finite.max())
    if not lo < hi:
        pad = max(abs(lo) * 1e-3, 0.5)
        lo, hi = lo - pad, hi + pad
    return (lo, hi)
