"""Tests of napari_amnesia.core.io.layout: axes, channel and plane selection."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tifffile

from napari_amnesia.core.io import (
    MovieError,
    movie_info,
    open_movie,
)


def test_imagej_hyperstack_channel_and_plane(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.integers(0, 1000, (7, 3, 2, 9, 10)).astype(np.uint16)  # T Z C Y X
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZCYX", "finterval": 0.05})
    movie = open_movie(path, channel=1, plane=2, chunk_frames=3)
    assert movie.shape == (7, 9, 10)
    np.testing.assert_array_equal(movie.compute(), data[:, 2, 1])
    np.testing.assert_array_equal(movie[4].compute(), data[4, 2, 1])
    info = movie_info(path, channel=1, plane=2)
    assert info["format"] == "imagej" and info["axes"] == "TZCYX"
    assert info["frame_rate"] == pytest.approx(20.0)
    assert info["time_axis"] == "T"
    with pytest.raises(MovieError) as err:
        open_movie(path)
    message = str(err.value)
    assert str(path) in message
    assert "TZCYX (T=7, Z=3, C=2, Y=9, X=10)" in message
    assert "channel=0..1" in message and "plane=0..2" in message
    with pytest.raises(MovieError, match=r"channel=5 is out of range"):
        open_movie(path, channel=5, plane=0)


def test_compressed_hyperstack_selection(tmp_path):
    rng = np.random.default_rng(4)
    data = rng.integers(0, 1000, (5, 2, 8, 9)).astype(np.uint16)  # T C Y X
    path = tmp_path / "hyperz.tif"
    tifffile.imwrite(path, data, imagej=True, compression="zlib", metadata={"axes": "TCYX"})
    with pytest.raises(MovieError, match=r"TCYX \(T=5, C=2, Y=8, X=9\); pass channel=0..1"):
        open_movie(path)
    movie = open_movie(path, channel=1, chunk_frames=2)
    np.testing.assert_array_equal(movie.compute(), data[:, 1])
    np.testing.assert_array_equal(movie[[4, 0]].compute(), data[[4, 0], 1])


def test_z_stack_is_read_as_time(tmp_path, caplog, ramp):
    data = ramp(t=6)
    path = tmp_path / "slices.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZYX"})
    with caplog.at_level(logging.INFO, logger="napari_amnesia.core.io"):
        movie = open_movie(path)
    np.testing.assert_array_equal(movie.compute(), data)
    assert "as time" in caplog.text
    assert movie_info(path)["time_axis"] == "Z"


def test_rgb_needs_a_channel(tmp_path):
    rgb = np.random.default_rng(6).integers(0, 255, (4, 8, 9, 3)).astype(np.uint8)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    with pytest.raises(MovieError, match=r"RGB.*convert it to grayscale.*channel=0..2"):
        open_movie(path)
    np.testing.assert_array_equal(open_movie(path, channel=1).compute(), rgb[..., 1])
