"""Tests of napari_amnesia.core.io.sequence: folders, globs and lists of files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_amnesia.core.io import (
    MovieError,
    movie_info,
    natural_sort_key,
    open_movie,
)


def test_natural_sort_key_orders_numbers_and_ignores_case():
    names = ["image10.tif", "Image2.tif", "image1.tif", "IMAGE11.tif", "image3.TIF"]
    assert sorted(names, key=natural_sort_key) == [
        "image1.tif",
        "Image2.tif",
        "image3.TIF",
        "image10.tif",
        "IMAGE11.tif",
    ]
    assert natural_sort_key(Path("a/b2")) < natural_sort_key("a/b10")


def test_folder_of_frames_in_natural_order(tmp_path, write_frames):
    folder = tmp_path / "export"
    write_frames(folder, 12)
    (folder / "notes.txt").write_text("not an image")
    (folder / ".image0.tif").write_bytes(b"hidden junk")  # hidden files are ignored
    movie = open_movie(folder, chunk_frames=5)
    assert movie.shape == (12, 6, 7)
    assert movie.chunks[0] == (5, 5, 2)
    np.testing.assert_array_equal(movie.max(axis=(1, 2)).compute(), np.arange(1, 13))
    info = movie_info(folder)
    assert info["format"] == "tiff-folder" and info["n_files"] == 12


def test_glob_of_frames_in_natural_order(tmp_path, write_frames):
    write_frames(tmp_path, 11, name="Frame_{}.TIF")
    movie = open_movie(str(tmp_path / "Frame_*.TIF"))
    np.testing.assert_array_equal(movie[:, 0, 0].compute(), np.arange(1, 12))


def test_folder_of_compressed_frames(tmp_path):
    for k in range(1, 4):
        tifffile.imwrite(tmp_path / f"f{k}.tif", np.full((5, 5), k, np.uint8), compression="zlib")
    np.testing.assert_array_equal(open_movie(tmp_path)[:, 2, 2].compute(), [1, 2, 3])


def test_concatenation_of_multipage_files(tmp_path, ramp):
    parts = [ramp(t=5), ramp(t=3, seed=1) + 1000, ramp(t=4, seed=2) + 2000]
    for k, part in enumerate(parts):
        # mixed storage: contiguous, compressed, contiguous
        compression = "zlib" if k == 1 else None
        tifffile.imwrite(
            tmp_path / f"run_{k + 1}.tif", part, compression=compression, photometric="minisblack"
        )
    movie = open_movie(tmp_path, chunk_frames=4)
    expected = np.concatenate(parts)
    assert movie.shape == expected.shape
    assert movie.chunks[0] == (4, 1, 3, 4)  # chunks never span two files
    np.testing.assert_array_equal(movie.compute(), expected)
    np.testing.assert_array_equal(movie[4:7].compute(), expected[4:7])  # across files
    info = movie_info(tmp_path)
    assert info["format"] == "tiff-files" and info["n_files"] == 3
    assert info["contiguous"] is False
    # a list keeps the given order
    files = [tmp_path / "run_3.tif", tmp_path / "run_1.tif"]
    np.testing.assert_array_equal(open_movie(files).compute(), np.concatenate([parts[2], parts[0]]))


def test_empty_folder_and_unmatched_glob(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(MovieError, match=f"{tmp_path}.*no TIFF"):
        open_movie(tmp_path)
    with pytest.raises(MovieError, match="matches no files"):
        open_movie(str(tmp_path / "*.tif"))
    with pytest.raises(MovieError, match="empty list"):
        open_movie([])
