"""Tests of napari_amnesia.core.io.nan_policy: one NaN policy (issue 12), every frame checked."""

from __future__ import annotations

import logging
import warnings

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_amnesia.core.io import (
    MovieError,
    MovieWarning,
    apply_nan_policy,
    find_nan_frames,
    open_movie,
)


@pytest.fixture
def nan_file(tmp_path):
    data = np.random.default_rng(0).random((40, 16, 16)).astype(np.float32) + 1
    data[[5, 9]] = np.nan  # whole frames (missed by a sample of 16 frames)
    data[33, 4, 4] = np.inf
    path = tmp_path / "nan.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    return path, data


def test_every_frame_is_checked(nan_file):
    path, _ = nan_file
    np.testing.assert_array_equal(find_nan_frames(open_movie(path, nan_policy=None)),
                                  [5, 9, 33])


def test_raise_names_the_frames(nan_file):
    path, _ = nan_file
    with pytest.raises(MovieError, match=r"nan.tif: 3 of 40 frames hold NaN or infinite values "
                       r"\(frames 5, 9, 33; 513 pixels\).*nan_policy='fill'"):
        open_movie(path, nan_policy="raise")


def test_fill_uses_each_pixels_mean_and_warns_once(nan_file, caplog):
    path, data = nan_file
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        movie = open_movie(path, nan_policy="fill")
    assert [w.category for w in seen] == [MovieWarning]
    assert "frames 5, 9, 33" in str(seen[0].message)
    assert not [r for r in caplog.records if "NaN" in r.getMessage()]  # not twice
    assert isinstance(movie, da.Array) and movie.dtype == np.float32
    filled = movie.compute()
    finite = np.where(np.isfinite(data), data, np.nan)
    np.testing.assert_allclose(filled[5], np.nanmean(finite, axis=0), rtol=1e-6)
    np.testing.assert_allclose(filled[33, 4, 4], np.nanmean(finite[:, 4, 4]), rtol=1e-6)
    np.testing.assert_array_equal(filled[10], data[10])


def test_clean_and_integer_movies_are_returned_as_they_are(tmp_path):
    clean = np.ones((6, 4, 4), np.float32)
    assert apply_nan_policy(clean, "raise") is clean
    ints = da.from_array(np.ones((6, 4, 4), np.uint16))
    assert apply_nan_policy(ints, "fill") is ints
    with pytest.raises(ValueError, match="nan_policy should be one of 'raise', 'fill'"):
        apply_nan_policy(clean, "ignore")


def test_the_sampled_warning_is_one_warning_not_a_log_line_too(nan_file, caplog):
    path, data = nan_file
    data[0, 0, 0] = np.nan
    tifffile.imwrite(path, data, photometric="minisblack")
    with caplog.at_level(logging.DEBUG), pytest.warns(MovieWarning, match="sampled frames"):
        open_movie(path)
    assert not [r for r in caplog.records if "NaN" in r.getMessage()]


def test_nan_frames_are_reported(tmp_path, caplog, ramp):
    data = ramp(t=40, dtype="float32")
    data[0, 1, 1] = np.nan
    data[39, 2, 2] = np.nan
    path = tmp_path / "nan.tif"
    tifffile.imwrite(path, data)
    with pytest.warns(MovieWarning, match=r"nan.tif: 2 of 16 sampled frames contain NaN"):
        movie = open_movie(path)
    assert "NaN" not in caplog.text  # one warning, not a log line besides it
    assert np.isnan(movie[0, 1, 1].compute())  # reported, not altered


def test_no_warning_without_nans(tmp_path, recwarn, ramp):
    path = tmp_path / "clean.tif"
    tifffile.imwrite(path, ramp(dtype="float32"))
    open_movie(path)
    assert not [w for w in recwarn if issubclass(w.category, MovieWarning)]
