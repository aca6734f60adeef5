"""Tests of napari_amnesia.core.io.contrast: display range from sampled frames."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_amnesia.core.io import (
    contrast_limits,
    open_movie,
)


def test_contrast_limits_from_sampled_frames():
    rng = np.random.default_rng(7)
    movie = rng.normal(100, 10, (100, 20, 20)).astype(np.float32)
    lo, hi = contrast_limits(da.from_array(movie, chunks=(10, 20, 20)))
    sample = movie[np.linspace(0, 99, 16).round().astype(int)]  # evenly spaced, ends in
    assert lo == pytest.approx(np.percentile(sample, 0.5))
    assert hi == pytest.approx(np.percentile(sample, 99.9))
    assert contrast_limits(movie) == (lo, hi)  # numpy too, same answer
    assert contrast_limits(movie, percentiles=(0, 100)) == (sample.min(), sample.max())


def test_contrast_limits_ignore_nans_and_are_never_equal():
    movie = np.full((10, 5, 5), 7.0)
    lo, hi = contrast_limits(movie)
    assert lo < 7.0 < hi
    movie[:, 0, 0] = np.nan
    movie[:, 1, 1] = 9.0
    lo, hi = contrast_limits(movie, percentiles=(0, 100))
    assert (lo, hi) == (7.0, 9.0)
    assert contrast_limits(np.full((3, 4, 4), np.nan)) == (0.0, 1.0)
    lo, hi = contrast_limits(np.zeros((3, 4, 4), np.uint8))
    assert lo < hi
    with pytest.raises(ValueError, match="percentiles"):
        contrast_limits(movie, percentiles=(50, 10))


def test_contrast_limits_read_only_sampled_frames(tmp_path, monkeypatch, ramp, record_reads):
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, ramp(t=200))
    movie = open_movie(path, chunk_frames=50)
    calls = record_reads(monkeypatch)
    contrast_limits(movie, n_frames=8)
    assert sorted(calls) == [1] * 8
