"""Tests of the planted motion: rigid shifts and the non-rigid displacement field."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_amnesia.core.simulate import simulate

QUIET = dict(photon_noise="none", read_noise=0.0, dtype="float32")


def test_rigid_motion_is_the_documented_shift():
    """Rigid motion is the documented shift."""
    movie, truth = simulate(
        n_frames=12, shape=(64, 64), n_cells=6, nonrigid=False, max_shift=3.0, rng=5, **QUIET
    )
    assert np.abs(truth.shifts).max() == pytest.approx(3.0, abs=1e-5)
    reference = truth.clean_frames(motion=False)
    np.testing.assert_allclose(truth.clean_frames(), movie, atol=1e-3)
    from skimage.registration import phase_cross_correlation

    m = 5  # ignore the border that ndimage.shift extrapolates
    for t in range(0, 12, 3):
        dy, dx = truth.shifts[t]
        shifted = ndimage.shift(reference[t], (dy, dx), order=1, mode="nearest")
        np.testing.assert_allclose(movie[t, m:-m, m:-m], shifted[m:-m, m:-m], rtol=1e-4, atol=1e-2)
        # the sign: shifting the reference the other way is much worse
        wrong = ndimage.shift(reference[t], (-dy, -dx), order=1, mode="nearest")
        err = np.abs(movie[t] - shifted)[m:-m, m:-m].mean()
        assert np.abs(movie[t] - wrong)[m:-m, m:-m].mean() > 10 * err + 0.1
        # the registration that undoes it is -shifts[t] (whole pixels: 64 px frames)
        found, _, _ = phase_cross_correlation(reference[t], movie[t])
        np.testing.assert_allclose(found, -truth.shifts[t], atol=0.5 + 1e-6)
        field_ = truth.displacement(t)
        np.testing.assert_allclose(field_[0], dy, atol=1e-6)
        np.testing.assert_allclose(field_[1], dx, atol=1e-6)


def test_nonrigid_displacement_moves_each_cell_by_the_field():
    """Nonrigid displacement moves each cell by the field."""
    movie, truth = simulate(
        n_frames=20,
        shape=(128, 128),
        n_cells=12,
        n_neurite_groups=0,
        overlap_fraction=0,
        background_brightness=0.0,
        bleaching=0.0,
        spike_rate=0.0,
        max_shift=2.0,
        nonrigid_amplitude=3.0,
        rng=6,
        **QUIET,
    )
    assert np.abs(truth.nonrigid_coefficients).sum(axis=2).max() == pytest.approx(3.0, rel=1e-5)
    img = movie - truth.offset
    reference = truth.clean_frames(0, 1, motion=False)[0] - truth.offset
    lab = truth.labels(threshold=0.05)
    grid = np.mgrid[0:128, 0:128].reshape(2, -1).T
    errors, moved = [], []
    m = 6
    for t in (0, 7, 19):
        dfield = truth.displacement(t)
        np.testing.assert_allclose(
            dfield.reshape(2, -1).T[::97], truth.displacement_at(grid[::97], t), atol=1e-5
        )
        # frame_t[o] = reference[o - d(o)]
        warped = ndimage.map_coordinates(reference, np.mgrid[0:128, 0:128] - dfield, order=1)
        np.testing.assert_allclose(img[t, m:-m, m:-m], warped[m:-m, m:-m], atol=1e-2)
        # and each isolated cell's centre of mass moved by the field at its centre
        for k in range(truth.n_cells):
            window = ndimage.binary_dilation(lab == k + 1, iterations=5)
            others = ndimage.binary_dilation((lab > 0) & (lab != k + 1), iterations=5)
            if np.any(window & others):
                continue
            ref = np.array(ndimage.center_of_mass(truth.footprints[k]))
            expected = truth.reference_to_frame(ref[None], t)[0]
            np.testing.assert_allclose(truth.frame_to_reference(expected[None], t)[0], ref)
            found = np.array(ndimage.center_of_mass(np.where(window, img[t], 0)))
            errors.append(np.hypot(*(found - expected)))
            moved.append(np.hypot(*(expected - ref)))
    assert len(errors) >= 9
    assert np.max(moved) > 2.0  # the test is not trivial
    assert np.max(errors) < 0.05, np.max(errors)
    # different cells move differently: the field is not rigid
    dmap = truth.displacement(7)
    assert np.ptp(dmap[0]) > 0.5 or np.ptp(dmap[1]) > 0.5


def test_no_motion_when_switched_off():
    """No motion when switched off."""
    movie, truth = simulate(n_frames=10, shape=(48, 48), n_cells=3, motion=False, rng=2, **QUIET)
    assert not truth.shifts.any() and not truth.nonrigid_coefficients.any()
    np.testing.assert_allclose(movie, truth.clean_frames(motion=False), atol=1e-3)
