"""Tests of napari_amnesia.core.io.tiff: the TIFF family, its metadata and damage."""

from __future__ import annotations

import logging
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_amnesia.core.io import (
    MovieError,
    contrast_limits,
    movie_info,
    open_movie,
)

SHARED_DATA = Path(__file__).parents[3].parent / "shared" / "data"


@pytest.mark.parametrize(
    "kwargs, contiguous, fmt",
    [
        ({}, True, "tiff"),
        ({"imagej": True, "metadata": {"axes": "TYX"}}, True, "imagej"),
        ({"bigtiff": True}, True, "bigtiff"),
        ({"compression": "zlib"}, False, "tiff"),
        ({"tile": (16, 16)}, False, "tiff"),
        ({"byteorder": ">"}, True, "tiff"),
    ],
)
def test_tiff_round_trip(tmp_path, kwargs, contiguous, fmt, ramp):
    data = ramp(t=9, y=20, x=24)
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, data, **kwargs)
    movie = open_movie(path, chunk_frames=4)
    assert isinstance(movie, da.Array)
    assert movie.shape == data.shape and movie.dtype == np.dtype("uint16")
    assert movie.chunks[0] == (4, 4, 1)
    np.testing.assert_array_equal(movie.compute(), data)
    np.testing.assert_array_equal(movie[5].compute(), data[5])
    np.testing.assert_array_equal(movie[2:7, 3, ::2].compute(), data[2:7, 3, ::2])
    np.testing.assert_array_equal(movie[[0, 8, 3]].compute(), data[[0, 8, 3]])
    info = movie_info(path)
    assert info["contiguous"] is contiguous
    assert info["format"] == fmt
    assert info["shape"] == data.shape and info["dtype"] == "uint16"
    assert info["n_files"] == 1 and info["size_bytes"] == path.stat().st_size


@pytest.mark.parametrize(
    "dtype", ["uint8", "int8", "int16", "uint32", "int32", "float32", "float64"]
)
def test_every_supported_dtype_round_trips(tmp_path, dtype, ramp):
    data = ramp(t=5, dtype=dtype)
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, data)
    movie = open_movie(path)
    assert movie.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(movie.compute(), data)


def test_ome_tiff(tmp_path):
    rng = np.random.default_rng(5)
    data = rng.integers(0, 1000, (6, 2, 3, 8, 9)).astype(np.uint16)  # T Z C Y X
    path = tmp_path / "movie.ome.tif"
    tifffile.imwrite(
        path,
        data,
        ome=True,
        metadata={"axes": "TZCYX", "TimeIncrement": 100, "TimeIncrementUnit": "ms"},
    )
    movie = open_movie(path, channel=2, plane=1)
    np.testing.assert_array_equal(movie.compute(), data[:, 1, 2])
    info = movie_info(path, channel=2, plane=1)
    assert info["format"] == "ome-tiff"
    assert info["frame_rate"] == pytest.approx(10.0)
    with pytest.raises(MovieError, match="TZCYX"):
        open_movie(path, channel=0)


@pytest.mark.parametrize("kwargs", [{}, {"imagej": True}, {"compression": "zlib"}])
def test_truncated_tiff(tmp_path, kwargs, ramp):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, ramp(t=40, y=32, x=32), **kwargs)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(int(size * 0.6))
    with pytest.raises(MovieError, match=r"cut.tif.*(truncated|corrupt)"):
        open_movie(path)


def test_tifffile_lines_stay_quiet_while_a_file_is_probed(tmp_path, caplog):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"garbage" * 20)
    with caplog.at_level(logging.WARNING), pytest.raises(MovieError, match="bad.tif"):
        open_movie(bad)
    assert not [r for r in caplog.records if r.name.startswith("tifffile")]
    # outside a probe, tifffile's own logging is untouched
    with caplog.at_level(logging.WARNING):
        logging.getLogger("tifffile").warning("a line of tifffile's own")
    assert "a line of tifffile's own" in caplog.text


def _real_movies():
    if not SHARED_DATA.is_dir():
        return []
    return sorted(SHARED_DATA.glob("*.tif"))


@pytest.mark.parametrize("path", _real_movies() or [None], ids=lambda p: p.name if p else "none")
def test_real_movies_open_lazily(path):
    if path is None:
        pytest.skip(f"no real movies in {SHARED_DATA}")
    with tifffile.TiffFile(path) as tif:
        n_pages = len(tif.pages)
        page_shape = tif.pages[0].shape
        dtype = tif.pages[0].dtype
    movie = open_movie(path)
    assert movie.shape == (n_pages, *page_shape)
    assert movie.dtype == dtype
    k = n_pages // 2 + 1
    np.testing.assert_array_equal(movie[k].compute(), tifffile.imread(path, key=k))
    info = movie_info(path)
    assert info["shape"] == movie.shape and info["compression"] is not None
    lo, hi = contrast_limits(movie)
    assert lo < hi
