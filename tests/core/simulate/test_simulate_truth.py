"""Tests of GroundTruth: label images, frame checks and renderings of any part."""

from __future__ import annotations

import numpy as np
import pytest

from napari_amnesia.core.simulate import simulate

QUIET = dict(photon_noise="none", read_noise=0.0, dtype="float32")


def test_labels_rule():
    """Labels rule."""
    _, truth = simulate(n_frames=5, shape=(96, 96), n_cells=10, overlap_fraction=0.6, rng=11)
    assert len(truth.overlapping_pairs) >= 2
    lab = truth.labels()
    assert lab.dtype == np.int32 and lab.shape == truth.shape
    assert set(np.unique(lab)) == set(range(truth.n_cells + 1))
    rel = truth.footprints / truth.footprints.max(axis=(1, 2), keepdims=True)
    covered = rel >= 0.2
    expect = np.where(covered.any(axis=0), np.argmax(np.where(covered, rel, -1), axis=0) + 1, 0)
    np.testing.assert_array_equal(lab, expect)
    i, j = truth.overlapping_pairs[0]
    both = covered[i] & covered[j]
    assert np.all(np.isin(lab[both], [i + 1, j + 1]))
    # a looser threshold covers more pixels
    assert (truth.labels(threshold=0.05) > 0).sum() > (lab > 0).sum()
    blab = truth.branch_labels()
    assert set(np.unique(blab)) == set(range(truth.n_branches + 1))
    with pytest.raises(ValueError, match="threshold"):
        truth.labels(threshold=0)


def test_frame_index_checked(small):
    """Frame index checked."""
    _, truth = small
    with pytest.raises(ValueError, match="t must be"):
        truth.displacement(truth.n_frames)


def test_render_and_to_dask_give_the_same_frames(small):
    """Render and to dask give the same frames."""
    movie, truth = small
    np.testing.assert_array_equal(truth.render(17, 45), movie[17:45])
    lazy = truth.to_dask(chunk_frames=7)
    assert lazy.shape == movie.shape and lazy.dtype == movie.dtype
    np.testing.assert_array_equal(lazy[5:30].compute(), movie[5:30])
    with pytest.raises(ValueError, match="start:stop"):
        truth.render(10, 5)


def test_mean_image_is_the_mean_of_the_unmoved_clean_movie():
    """Mean image is the mean of the unmoved clean movie."""
    movie, truth = simulate(
        n_frames=50,
        shape=(48, 48),
        n_cells=4,
        n_neurite_groups=1,
        motion=False,
        rng=12,
        **QUIET,
    )
    np.testing.assert_allclose(truth.mean_image(), movie.mean(axis=0), rtol=1e-4, atol=1e-3)
