"""Tests of napari_amnesia.core.summary.noise: the band power of the Welch noise estimate."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("n", [64, 256, 100, 37])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_band_power_matches_numpy_fft(n, dtype):
    # the lane FFT (powers of two) and the scipy path (other lengths) against a
    # float64 numpy FFT; 1000 pixels is not a multiple of the 256-pixel groups
    from napari_amnesia.core.summary.noise import _band_bins, _band_power_sum

    rng = np.random.default_rng(n)
    seg = (1000 + rng.normal(0, 5, (n, 20, 50)) + np.linspace(0, 30, n)[:, None, None])
    seg = np.round(seg).astype(dtype)
    band = _band_bins(n, (0.25, 0.5))
    got = np.zeros((20, 50))
    _band_power_sum(seg, got, band)
    x = seg.astype(np.float64)
    spec = np.fft.rfft(x - x.mean(0), axis=0)[band[0] : band[1]]
    ref = (np.abs(spec) ** 2).sum(0) / n
    np.testing.assert_allclose(got, ref, rtol=1e-4)
