"""Tests of the irregular somata (``soma_irregularity``): ragged, textured, off by default."""

from __future__ import annotations

import numpy as np
import pytest

from napari_amnesia.core.cnmf.features import shape_features
from napari_amnesia.core.simulate import simulate

SCENE = dict(n_frames=40, shape=(112, 112), n_cells=14, n_neurite_groups=2, motion=False)


def _compactness(truth):
    K = truth.n_cells
    f = shape_features(truth.footprints.reshape(K, -1).T, truth.shape, gSig=4.5)
    return f["compactness"], f["peak_fraction"]


def test_zero_irregularity_is_the_clean_scene_bit_for_bit():
    """An explicit 0 (the default) gives exactly the movie of a call without it."""
    a, ta = simulate(**SCENE, rng=5)
    b, tb = simulate(**SCENE, soma_irregularity=0.0, rng=5)
    assert np.array_equal(a, b)
    assert np.array_equal(ta.footprints, tb.footprints)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_irregular_somata_are_less_compact_and_uneven(seed):
    """Ragged outlines lower compactness, texture raises the peak; nothing else moves."""
    _, clean = simulate(**SCENE, rng=seed)
    _, rough = simulate(**SCENE, soma_irregularity=1.0, rng=seed)
    c0, p0 = _compactness(clean)
    c1, p1 = _compactness(rough)
    assert np.median(c1) < np.median(c0) - 0.15
    assert np.median(p1) > np.median(p0) + 0.3
    # same cells at the same places with the same spikes; other sources untouched
    np.testing.assert_array_equal(clean.centers, rough.centers)
    np.testing.assert_array_equal(clean.spike_counts, rough.spike_counts)
    np.testing.assert_array_equal(clean.branch_footprints, rough.branch_footprints)
    norms = np.sqrt((rough.footprints.astype(np.float64) ** 2).sum(axis=(1, 2)))
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    assert rough.footprints.min() >= 0
    # each footprint still is one soma around its centre
    for k, (cy, cx) in enumerate(rough.centers):
        fp = rough.footprints[k]
        assert fp[int(round(cy)), int(round(cx))] > 0.05 * fp.max() or rough.has_nucleus[k]


def test_irregularity_grows_with_the_parameter():
    """More irregularity, less compact footprints."""
    medians = [np.median(_compactness(simulate(**SCENE, soma_irregularity=v, rng=3)[1])[0])
               for v in (0.0, 0.5, 1.0)]
    assert medians[0] > medians[1] > medians[2]


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_irregularity_out_of_range_raises(value):
    """Out of [0, 1] is refused with the parameter's name."""
    with pytest.raises(ValueError, match="soma_irregularity"):
        simulate(n_frames=5, shape=(32, 32), n_cells=1, soma_irregularity=value)
