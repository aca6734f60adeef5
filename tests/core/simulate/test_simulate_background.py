"""Tests of the intensity model: bleaching and the (one-photon) background."""

from __future__ import annotations

import numpy as np
import pytest

from napari_amnesia.core.simulate import GroundTruth, simulate

QUIET = dict(photon_noise="none", read_noise=0.0, dtype="float32")


def test_bleaching_lowers_late_frames():
    """Bleaching lowers late frames."""
    movie, truth = simulate(
        n_frames=200, shape=(48, 48), n_cells=5, bleaching=0.3, motion=False, rng=3, **QUIET
    )
    assert truth.bleaching[0] == pytest.approx(1.0)
    assert truth.bleaching[-1] == pytest.approx(0.7, rel=1e-5)
    assert np.all(np.diff(truth.bleaching) < 0)
    f = movie.reshape(len(movie), -1).mean(axis=1) - truth.offset
    assert f[-20:].mean() < 0.85 * f[:20].mean()
    _, flat = simulate(n_frames=20, shape=(48, 48), n_cells=2, bleaching=0.0, rng=3)
    assert np.all(flat.bleaching == 1)


def _background_fraction_and_snr(truth: GroundTruth) -> tuple[float, float]:
    """Return the background's share of the cells' pixels and the median spike SNR.

    The share is the fraction of the mean fluorescence on the cells' pixels that is
    background; the SNR is the jump of a cell trace caused by one spike over the noise
    of the footprint-weighted trace.
    """
    bg = np.tensordot(truth.background_temporal.mean(axis=1), truth.background_spatial, 1)
    cells = np.tensordot(truth.baseline + truth.traces.mean(axis=1), truth.footprints, 1)
    on_cells = truth.labels() > 0
    fraction = bg[on_cells].sum() / (bg + cells)[on_cells].sum()
    snr = float(np.median(truth.amplitudes / truth.noise_sd))
    return float(fraction), snr


def test_one_photon_is_background_dominated_and_noisier():
    """One photon is background dominated and noisier."""
    kw = dict(n_frames=30, shape=(96, 96), n_cells=8, n_neurite_groups=1, rng=0)
    movie2, two = simulate(mode="two_photon", **kw)
    movie1, one = simulate(mode="one_photon", **kw)
    frac2, snr2 = _background_fraction_and_snr(two)
    frac1, snr1 = _background_fraction_and_snr(one)
    assert frac1 > 0.8 and frac2 < 0.5, (frac1, frac2)
    assert snr1 < 0.5 * snr2, (snr1, snr2)
    # one-photon cells are larger and blurrier
    area = lambda t: (t.labels() > 0).sum() / t.n_cells  # noqa: E731
    assert area(one) > 1.5 * area(two)
    assert movie1.mean() > 3 * movie2.mean()
