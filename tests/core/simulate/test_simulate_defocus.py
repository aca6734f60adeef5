"""Tests of the out-of-focus cells (``n_out_of_focus``): in the movie, not in the truth."""

from __future__ import annotations

import numpy as np
import pytest

from napari_amnesia.core.simulate import simulate

CLEAN = dict(n_frames=50, shape=(96, 96), n_cells=8, n_neurite_groups=2, motion=False,
             photon_noise="none", read_noise=0.0, bleaching=0.0, dtype="float32",
             spike_rate=2.0)


def _area(fps):
    return (fps >= 0.2 * fps.reshape(len(fps), -1).max(axis=1)[:, None, None]).sum(axis=(1, 2))


def test_none_by_default_and_zero_is_the_clean_scene():
    """Default: no out-of-focus cells; an explicit 0 changes no pixel."""
    a, ta = simulate(**CLEAN, rng=4)
    b, _ = simulate(**CLEAN, n_out_of_focus=0, rng=4)
    assert np.array_equal(a, b)
    assert len(ta.out_of_focus_footprints) == 0 and len(ta.out_of_focus_traces) == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_out_of_focus_cells_are_rendered_but_not_cells(seed):
    """The movie gains exactly footprints x traces; the truth's cells stay the same."""
    base, t0 = simulate(**CLEAN, rng=seed)
    movie, t1 = simulate(**CLEAN, n_out_of_focus=6, rng=seed)
    assert t1.out_of_focus_footprints.shape == (6, 96, 96)
    assert t1.out_of_focus_traces.shape == (6, 50)
    # the planted cells, their activity, neurites and background are untouched
    for name in ("footprints", "traces", "spike_counts", "branch_footprints",
                 "background_temporal"):
        np.testing.assert_array_equal(getattr(t0, name), getattr(t1, name))
    added = np.einsum("kyx,kt->tyx", t1.out_of_focus_footprints, t1.out_of_focus_traces)
    np.testing.assert_allclose(movie - base, added, atol=2e-2)
    # larger and blurred: bigger than the cells, dimmer at their peak
    assert np.median(_area(t1.out_of_focus_footprints)) > 2 * np.median(_area(t1.footprints))
    oof_peak = (t1.out_of_focus_footprints.reshape(6, -1).max(axis=1)
                * t1.out_of_focus_traces.min(axis=1))
    cell_peak = t1.footprints.reshape(8, -1).max(axis=1) * t1.baseline
    assert np.median(oof_peak) < 0.6 * np.median(cell_peak)
    # with their own activity: most fire within these 50 frames at 2 Hz
    assert np.sum(t1.out_of_focus_traces.max(axis=1) > t1.out_of_focus_traces.min(axis=1)) >= 3


@pytest.mark.parametrize(("name", "value"), [("n_out_of_focus", -1),
                                             ("out_of_focus_brightness", 0.0)])
def test_bad_values_raise_naming_them(name, value):
    """Bad values are refused with the parameter's name."""
    with pytest.raises(ValueError, match=name):
        simulate(n_frames=5, shape=(32, 32), n_cells=1, **{name: value})
