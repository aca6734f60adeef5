"""Tests of core.skeleton.image: the streamed 3-D smoothing of the movie."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_amnesia.core.skeleton.image import _SmoothedMovie


@pytest.mark.parametrize("chunk", [1, 3, 7, 50])
def test_smoothed_movie_equals_in_memory_filter(chunk):
    """Read the streamed 3-D smoothing in chunks: it equals the in-memory filter."""
    rng = np.random.default_rng(0)
    movie = rng.normal(10, 3, (23, 17, 19)).astype(np.float32)
    expected = ndi.gaussian_filter(movie, (1.5, 1.0, 1.0), mode="reflect")
    sm = _SmoothedMovie(movie, 1.5, 1.0)
    got = np.concatenate([sm[t0:t0 + chunk] for t0 in range(0, 23, chunk)])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(sm[5], expected[5], atol=1e-4)
