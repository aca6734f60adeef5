"""Noise and AR estimation of CNMF (napari_amnesia.core.cnmf.noise), on planted
AR(1)/AR(2) traces with known coefficients and noise.
"""

from __future__ import annotations

import numpy as np
import pytest
from cnmf_data import G1, G2, ar_traces

from napari_amnesia.core.cnmf.noise import estimate_ar, estimate_ar_many, estimate_noise


# =========================================================================== noise
@pytest.mark.parametrize("method", ["mean", "median", "logmexp"])
def test_noise_white_within_5_percent(method):
    rng = np.random.default_rng(1)
    Y = rng.normal(0.0, 2.0, (4, 3, 4000)).astype(np.float32)
    sn = estimate_noise(Y, noise_method=method)
    assert sn.shape == (4, 3)
    assert np.all(np.abs(sn / 2.0 - 1) < 0.05)


def test_noise_of_calcium_traces_within_10_percent():
    """The spectral estimate also sees the transients' own high-frequency power: with
    an instantaneous rise (AR(1)) at 0.5 Hz and a peak SNR of 4 it is biased up by
    about 4.5 % (2.5 % with a 50 ms rise, AR(2)), CaImAn's estimate alike; its
    spread over traces of 3000 frames is about 2.5 %."""
    for g, worst in ((G2, 0.10), (G1, 0.12)):
        Y, _, _ = ar_traces(20, 3000, g, sn=0.25, seed=2)
        err = np.abs(estimate_noise(Y) / 0.25 - 1)
        assert np.median(err) < 0.06 and np.all(err < worst), err
    # without activity the estimate is unbiased
    Y, C, _ = ar_traces(20, 3000, G1, sn=0.25, seed=2)
    err = estimate_noise(Y - C) / 0.25 - 1
    assert abs(np.median(err)) < 0.01 and np.all(np.abs(err) < 0.10)


def test_noise_debias_false_is_caimans_definition():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(2, 1001))
    T = y.shape[1]
    psd = np.abs(np.fft.rfft(y, axis=1)) ** 2 / T
    f = np.arange(psd.shape[1]) / T
    band = psd[:, (f > 0.25) & (f <= 0.5)]
    expected = {
        "mean": np.sqrt(band.mean(1)),
        "median": np.sqrt(np.median(band, 1)),
        "logmexp": np.sqrt(np.exp(np.log(band).mean(1))),
    }
    for method, ref in expected.items():
        got = estimate_noise(y, noise_method=method, debias=False)
        np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_noise_edge_cases_and_chunks():
    rng = np.random.default_rng(4)
    Y = rng.normal(size=(7, 500))
    Y[2] = 5.0  # constant
    Y[4, 10] = np.nan
    sn = estimate_noise(Y)
    assert sn[2] == 0
    assert np.isnan(sn[4])
    others = np.delete(np.arange(7), [2, 4])
    chunked = estimate_noise(Y, chunk_bytes=1)
    np.testing.assert_allclose(chunked[others], sn[others])
    np.testing.assert_array_equal(estimate_noise(np.zeros(64)), 0.0)
    import dask.array as da

    np.testing.assert_allclose(
        estimate_noise(da.from_array(Y[others], chunks=(2, 500))), sn[others]
    )
    with pytest.raises(ValueError, match="noise_method"):
        estimate_noise(Y, noise_method="max")
    with pytest.raises(ValueError, match="noise_range"):
        estimate_noise(Y, noise_range=(0.3, 0.2))
    with pytest.raises(ValueError, match="too short|no frequency bin"):
        estimate_noise(np.ones(1))


# =========================================================================== AR
def test_estimate_ar1_within_5_percent():
    Y, _, _ = ar_traces(10, 5000, G1, sn=0.25, seed=5)
    g = estimate_ar_many(Y, p=1, fudge_factor=1.0)
    assert g.shape == (10, 1)
    assert np.all(np.abs(g[:, 0] / G1[0] - 1) < 0.05), g.ravel()
    # the single-trace function is the same computation
    np.testing.assert_allclose(estimate_ar(Y[3], p=1, fudge_factor=1.0), g[3])
    # fudge_factor shrinks the pole
    np.testing.assert_allclose(estimate_ar(Y[3], p=1, fudge_factor=0.9), 0.9 * g[3])


def test_estimate_ar2_decay_within_5_percent():
    """AR(2): the decay pole is well determined, the rise pole much less (it
    carries little power), so g2 is checked loosely."""
    Y, _, _ = ar_traces(10, 5000, G2, sn=0.25, seed=6)
    g = estimate_ar_many(Y, p=2, lags=10, fudge_factor=1.0)
    decay = np.array([np.max(np.roots([1.0, -a, -b]).real) for a, b in g])
    assert np.all(np.abs(decay / 0.92 - 1) < 0.05), decay
    assert np.all(np.abs(np.median(g, axis=0) / G2 - 1) < 0.15)


def test_estimate_ar_edge_cases():
    assert estimate_ar(np.arange(50.0), p=0).shape == (0,)
    np.testing.assert_array_equal(estimate_ar(np.full(100, 3.0), p=2), [0.0, 0.0])
    with pytest.raises(ValueError, match="too short"):
        estimate_ar(np.arange(5.0), p=1, lags=5)
    with pytest.raises(ValueError, match="NaN"):
        estimate_ar(np.r_[np.arange(50.0), np.nan], p=1)
    with pytest.raises(ValueError, match="fudge_factor"):
        estimate_ar(np.arange(50.0), fudge_factor=1.5)
    with pytest.raises(ValueError, match="p \\(AR order\\)"):
        estimate_ar(np.arange(50.0), p=-1)
