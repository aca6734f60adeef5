"""Tests of napari_amnesia.core.io.npy: memory-mapped .npy files."""

from __future__ import annotations

import numpy as np
import pytest

from napari_amnesia.core.io import (
    MovieError,
    movie_info,
    open_movie,
)


def test_npy_round_trip_memmapped(tmp_path, ramp):
    data = ramp(t=10, dtype="float32")
    path = tmp_path / "movie.npy"
    np.save(path, data)
    movie = open_movie(path, chunk_frames=3)
    assert movie.chunks[0] == (3, 3, 3, 1)
    np.testing.assert_array_equal(movie.compute(), data)
    np.testing.assert_array_equal(movie[7, 2:5].compute(), data[7, 2:5])
    info = movie_info(path)
    assert info["format"] == "npy" and info["contiguous"] is True


def test_fortran_order_npy(tmp_path, ramp):
    data = np.asfortranarray(ramp(t=6))
    path = tmp_path / "f.npy"
    np.save(path, data)
    np.testing.assert_array_equal(open_movie(path).compute(), data)


def test_truncated_npy(tmp_path, ramp):
    path = tmp_path / "cut.npy"
    np.save(path, ramp(t=10))
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 100)
    with pytest.raises(MovieError, match=r"cut.npy.*truncated"):
        open_movie(path)
