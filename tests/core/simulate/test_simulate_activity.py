"""Tests of the activity: the AR calcium model and coactive neurite groups."""

from __future__ import annotations

import numpy as np
import pytest

from napari_amnesia.core.simulate import ar_coefficients, simulate


@pytest.mark.parametrize("ar_order", [1, 2])
def test_traces_follow_the_ar_model_exactly(ar_order):
    """Traces follow the ar model exactly."""
    _, truth = simulate(
        n_frames=400,
        shape=(48, 48),
        n_cells=4,
        n_neurite_groups=0,
        ar_order=ar_order,
        spike_rate=2.0,
        decay_time=0.5,
        rise_time=0.08,
        rng=2,
    )
    c = truth.traces.astype(np.float64)
    s = truth.spikes.astype(np.float64)
    g = truth.g
    assert len(g) == ar_order
    expected = ar_coefficients(decay_time=0.5, rise_time=0.08, frame_rate=30.0, ar_order=ar_order)
    np.testing.assert_allclose(g, expected)
    pred = s[:, ar_order:].copy()
    for i, gi in enumerate(g):
        pred += gi * c[:, ar_order - 1 - i : c.shape[1] - 1 - i]
    np.testing.assert_allclose(c[:, ar_order:], pred, atol=1e-3 * c.max())
    np.testing.assert_allclose(s, truth.spike_counts * truth.amplitudes[:, None], rtol=1e-6)
    assert truth.spike_counts.sum() > 20
    # least squares on the spike-free frames recovers g
    for k in range(truth.n_cells):
        lagged = np.column_stack(
            [c[k, ar_order - 1 - i : c.shape[1] - 1 - i] for i in range(ar_order)]
        )
        quiet = truth.spike_counts[k, ar_order:] == 0
        fit, *_ = np.linalg.lstsq(lagged[quiet], c[k, ar_order:][quiet], rcond=None)
        np.testing.assert_allclose(fit, g, atol=1e-3)


def test_ar_coefficient_errors():
    """Ar coefficient errors."""
    with pytest.raises(ValueError, match="rise_time"):
        ar_coefficients(decay_time=0.1, rise_time=0.2, frame_rate=30, ar_order=2)
    with pytest.raises(ValueError, match="ar_order"):
        ar_coefficients(decay_time=0.1, frame_rate=30, ar_order=3)


def test_branches_of_a_group_are_coactive_in_the_movie():
    """Branches of a group are coactive in the movie."""
    movie, truth = simulate(
        n_frames=600,
        shape=(96, 96),
        n_cells=3,
        n_neurite_groups=3,
        branches_per_group=3,
        spike_rate=1.0,
        motion=False,
        bleaching=0.0,
        rng=4,
    )
    G, groups = truth.n_groups, truth.branch_groups
    same = groups[:, None] == groups[None, :]
    off = ~np.eye(len(groups), dtype=bool)

    corr = np.corrcoef(truth.branch_traces)
    assert corr[same & off].min() > 0.9
    assert np.abs(corr[~same]).max() < 0.35

    lab = truth.branch_labels()
    # pixels of each branch (centre of the tube only), averaged into one trace
    core = truth.branch_footprints >= 0.6 * truth.branch_footprints.max(axis=(1, 2), keepdims=True)
    pix = np.stack(
        [movie[:, (lab == b + 1) & core[b]].mean(axis=1) for b in range(truth.n_branches)]
    )
    pc = np.corrcoef(pix)
    within, across = pc[same & off].mean(), pc[~same].mean()
    assert within > 0.85, within
    assert abs(across) < 0.15, across
    assert G == 3
