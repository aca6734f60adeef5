"""Tests of the somata: footprints, placement and planted overlaps."""

from __future__ import annotations

import numpy as np

from napari_amnesia.core.simulate import simulate


def test_footprints_normalized_nonnegative_and_inside(small):
    """Footprints normalized nonnegative and inside."""
    _, truth = small
    Y, X = truth.shape
    for fps in (truth.footprints, truth.branch_footprints):
        norms = np.sqrt((fps.astype(np.float64) ** 2).sum(axis=(1, 2)))
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
        assert fps.min() >= 0
    border = np.ones((Y, X), bool)
    border[1:-1, 1:-1] = False
    # (unit norm) energy on the frame border is negligible: cells lie inside the frame
    assert (truth.footprints[:, border] ** 2).sum(axis=1).max() < 1e-4
    assert np.all((truth.centers >= 0) & (truth.centers < [Y, X]))
    for path in truth.branch_paths:
        assert np.all((path >= 0) & (path <= [Y - 1, X - 1]))


def test_overlapping_pairs_planted_when_asked():
    """Overlapping pairs planted when asked."""
    _, truth = simulate(n_frames=5, shape=(96, 96), n_cells=10, overlap_fraction=0.4, rng=1)
    pairs = truth.overlapping_pairs
    assert len(pairs) >= 2
    for i, j in pairs:
        fi = truth.footprints[i] >= 0.2 * truth.footprints[i].max()
        fj = truth.footprints[j] >= 0.2 * truth.footprints[j].max()
        assert np.any(fi & fj)
        # overlapping, yet distinct cells: centres at least ~half a radius apart
        assert np.hypot(*(truth.centers[i] - truth.centers[j])) > 2.0
    _, apart = simulate(n_frames=5, shape=(128, 128), n_cells=8, overlap_fraction=0.0, rng=1)
    assert len(apart.overlapping_pairs) == 0
