"""Tests of napari_amnesia.core.motion.apply: laziness, borders, applying shifts to a movie."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage

from napari_amnesia.core.motion import (
    MotionParams,
    apply_shifts,
    correct,
)


# --------------------------------------------------------------------------- laziness
class _CountingArray:
    def __init__(self, data):
        self.data = data
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim
        self.reads: list[tuple[int, int]] = []

    def __getitem__(self, key):
        t = key[0]
        self.reads.append((t.start or 0, t.stop))
        return self.data[key]


def test_corrected_is_lazy_and_one_frame_reads_one_chunk(rigid_movie):
    movie, _ = rigid_movie
    source = _CountingArray(movie)
    lazy = da.from_array(source, chunks=(25, *movie.shape[1:]), asarray=True)
    res = correct(lazy, max_shifts=6, compute_metrics=False, num_frames_split=25)
    assert isinstance(res.corrected, da.Array)
    assert res.corrected.dtype == np.float32 and res.corrected.shape == movie.shape
    source.reads.clear()
    res.corrected[60].compute()
    assert source.reads and all(50 <= a and b <= 75 for a, b in source.reads), source.reads


# --------------------------------------------------------------------------- borders
def _bar_movie():
    frame = np.zeros((32, 40), np.float32)
    frame[0, :] = 100.0  # bright top row
    frame[10:20, 10:20] = 5.0
    frame += 1.0
    return np.repeat(frame[None], 3, axis=0)


@pytest.mark.parametrize("mode", ["nan", "copy", "min", "zero"])
def test_border_modes_and_no_wrap_around(mode):
    movie = _bar_movie()
    shifts = np.tile([-3.0, 0.0], (3, 1))  # content moved up: correction moves it down
    out = apply_shifts(movie, shifts, border_nan=mode).compute()
    assert out.shape == movie.shape
    # rows 0-2 of the corrected frame come from outside the frame (rows -3..-1)
    top = out[:, :3]
    if mode == "nan":
        assert np.isnan(top).all()
    elif mode == "zero":
        assert (top == 0).all()
    elif mode == "min":
        assert np.allclose(top, 1.0)
    else:  # copy: the nearest row inside, the bright one
        assert np.allclose(top, 101.0)
    # the bright top row moved down by 3 and did not wrap to the bottom
    assert np.allclose(out[:, 3], 101.0)
    assert out[:, -5:].max() <= 1.0 + 1e-4
    # interior moved by exactly 3 rows
    assert np.allclose(out[0, 13:23, 10:20], 6.0, atol=1e-4)


def test_border_nan_true_means_nan():
    assert MotionParams(border_nan=True).border_nan == "nan"
    assert MotionParams(border_nan=False).border_nan == "copy"


def test_subpixel_shift_applied_with_correct_sign():
    rng = np.random.default_rng(0)
    img = ndimage.gaussian_filter(rng.random((48, 48)), 2).astype(np.float32)
    d = (1.3, -0.6)
    moved = ndimage.shift(img, d, order=3, mode="nearest")[None]
    out = apply_shifts(moved, np.array([d])).compute()[0]
    inner = (slice(6, -6), slice(6, -6))
    assert np.abs(out[inner] - img[inner]).max() < 0.02 * np.ptp(img)


# --------------------------------------------------------------------------- apply / save
def test_apply_shifts_to_another_movie_equals_correcting_it(rigid_movie, rigid_result):
    movie, _ = rigid_movie
    other = 2.0 * movie.astype(np.float32) + 5.0  # e.g. a functional channel
    applied = apply_shifts(other, rigid_result).compute()
    expected = 2.0 * rigid_result.corrected.compute() + 5.0
    np.testing.assert_allclose(applied, expected, rtol=1e-5, atol=1e-2)
    # and the piecewise variant through the result's method
    same = rigid_result.apply(movie).compute()
    np.testing.assert_array_equal(same, rigid_result.corrected.compute())


def test_apply_shifts_checks_shapes(rigid_result, rigid_movie):
    movie, _ = rigid_movie
    with pytest.raises(ValueError, match="shifts should have shape"):
        apply_shifts(movie[:10], rigid_result.shifts)
    with pytest.raises(ValueError, match="border_nan"):
        apply_shifts(movie, rigid_result.shifts, border_nan="wrap")
