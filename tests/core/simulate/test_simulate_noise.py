"""Tests of the noise model: shot and read noise at the documented level."""

from __future__ import annotations

import numpy as np
import pytest

from napari_amnesia.core.simulate import simulate


@pytest.mark.parametrize("photon_noise", ["gaussian", "poisson"])
def test_noise_level_matches_the_model(photon_noise):
    """Noise level matches the model."""
    movie, truth = simulate(
        n_frames=80,
        shape=(48, 48),
        n_cells=4,
        motion=False,
        bleaching=0.0,
        gain=2.0,
        read_noise=3.0,
        photon_noise=photon_noise,
        dtype="float32",
        rng=9,
    )
    clean = truth.clean_frames()
    residual = movie - clean
    expected = np.sqrt(2.0 * (clean - truth.offset) + 9.0)
    z = residual / expected
    assert abs(z.mean()) < 0.02
    assert z.std() == pytest.approx(1.0, abs=0.03)
    ratio = residual.std(axis=0) / truth.pixel_noise_sd
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)
