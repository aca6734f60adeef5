"""Tests of napari_amnesia.core.io.save: atomic, owned, chunk-by-chunk saving."""

from __future__ import annotations

import re

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_amnesia.core.files import NotOwnedError, read_manifest
from napari_amnesia.core.io import (
    MovieError,
    iter_save_movie,
    movie_info,
    open_movie,
    save_movie,
)
from napari_amnesia.core.progress import Progress


@pytest.mark.parametrize("dtype", ["uint16", "int16", "float32", "float64", "int32"])
def test_save_round_trip_is_contiguous(tmp_path, dtype, ramp):
    data = ramp(t=11, dtype=dtype)
    path = tmp_path / "out.tif"
    steps = []
    result = save_movie(da.from_array(data, chunks=(4, -1, -1)), path, chunk_frames=3)
    assert result == path
    movie = open_movie(path)
    np.testing.assert_array_equal(movie.compute(), data)
    info = movie_info(path)
    assert info["contiguous"] is True and info["dtype"] == dtype
    gen = iter_save_movie(data, tmp_path / "again.tif", chunk_frames=4)
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as stop:
        assert stop.value == tmp_path / "again.tif"
    assert [s.done for s in steps] == [0, 4, 8, 11]
    assert all(isinstance(s, Progress) and s.total == 11 for s in steps)


@pytest.mark.parametrize("dtype", ["uint16", "float64"])
def test_save_frame_rate(tmp_path, dtype, ramp):
    path = tmp_path / "fr.tif"
    save_movie(ramp(dtype=dtype), path, frame_rate=30.0)
    assert movie_info(path)["frame_rate"] == pytest.approx(30.0)
    assert movie_info(path)["time_axis"] == "T"


def test_save_bigtiff_and_compressed_and_npy(tmp_path, ramp):
    data = ramp(t=7)
    big = save_movie(data, tmp_path / "big.tif", bigtiff=True)
    assert movie_info(big)["format"] == "bigtiff" and movie_info(big)["contiguous"]
    np.testing.assert_array_equal(open_movie(big).compute(), data)
    packed = save_movie(
        data, tmp_path / "z.tif", compression="zlib", frame_rate=5.0, chunk_frames=3
    )
    info = movie_info(packed)
    assert info["compression"] is not None and info["contiguous"] is False
    assert info["frame_rate"] == pytest.approx(5.0) and info["shape"] == data.shape
    np.testing.assert_array_equal(open_movie(packed).compute(), data)
    npy = save_movie(da.from_array(data, chunks=2), tmp_path / "m.npy", chunk_frames=3)
    np.testing.assert_array_equal(np.load(npy), data)
    np.testing.assert_array_equal(open_movie(npy).compute(), data)


def test_save_refuses_to_overwrite(tmp_path, ramp):
    path = tmp_path / "out.tif"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="out.tif.*overwrite=True"):
        save_movie(ramp(), path)
    assert path.read_bytes() == b"precious"
    # even when asked, a file napari-amnesia did not write is kept (issue 12)
    with pytest.raises(FileExistsError, match="out.tif was not written by napari-amnesia"):
        save_movie(ramp(), path, overwrite=True)
    assert path.read_bytes() == b"precious"
    path.unlink()
    save_movie(ramp() + 1, path)
    save_movie(ramp(), path, overwrite=True)  # its own output: replaced
    np.testing.assert_array_equal(open_movie(path).compute(), ramp())


def test_save_never_overwrites_its_own_input(tmp_path, ramp):
    path = tmp_path / "raw.tif"
    tifffile.imwrite(path, ramp())
    before = path.read_bytes()
    movie = open_movie(path)
    for candidate in (movie, movie.astype(np.float32) * 2):
        with pytest.raises(MovieError, match="raw.tif.*reads from"):
            save_movie(candidate, path, overwrite=True)
    npy = tmp_path / "raw.npy"
    np.save(npy, ramp())
    mapped = np.load(npy, mmap_mode="r")
    for candidate in (mapped, mapped[1:]):
        with pytest.raises(MovieError, match="reads from"):
            save_movie(candidate, npy, overwrite=True)
    assert path.read_bytes() == before


def test_failed_save_leaves_nothing_behind(tmp_path, ramp):
    path = tmp_path / "out.tif"
    save_movie(ramp(t=2), path)  # older results of the package
    before = path.read_bytes()

    def explode(block):
        if block.size and block.min() >= 500:
            raise RuntimeError("boom")
        return block

    movie = da.from_array(ramp(t=12), chunks=(3, -1, -1)).map_blocks(explode)
    with pytest.raises(RuntimeError, match="boom"):
        save_movie(movie, path, overwrite=True, chunk_frames=3)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".napari-amnesia.json", "out.tif"]


def test_cancelled_save_leaves_nothing_behind(tmp_path, ramp):
    gen = iter_save_movie(ramp(t=12), tmp_path / "out.tif", chunk_frames=2)
    next(gen)
    next(gen)
    gen.close()  # what a cancel does
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_bad_input(tmp_path, ramp):
    with pytest.raises(MovieError, match=r"shape \(4, 5\)"):
        save_movie(np.zeros((4, 5)), tmp_path / "a.tif")
    with pytest.raises(MovieError, match="complex128"):
        save_movie(np.zeros((2, 4, 5), complex), tmp_path / "a.tif")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        save_movie(ramp(), tmp_path / "nowhere" / "a.tif")


def test_saving_twice_with_overwrite_replaces_and_lists_the_file(tmp_path, ramp):
    """The file goes through core.files.atomic_file: listed in the folder's manifest."""
    path = tmp_path / "out.tif"
    save_movie(ramp(), path)
    entry = read_manifest(tmp_path)["files"]["out.tif"]
    assert entry["size"] == path.stat().st_size
    save_movie(ramp() + 7, path, overwrite=True)
    np.testing.assert_array_equal(open_movie(path).compute(), ramp() + 7)
    manifest = read_manifest(tmp_path)
    assert set(manifest["files"]) == {"out.tif"}
    assert manifest["files"]["out.tif"]["mtime_ns"] == path.stat().st_mtime_ns
    npy = save_movie(ramp(), tmp_path / "out.npy")
    save_movie(ramp() * 2, npy, overwrite=True)
    np.testing.assert_array_equal(np.load(npy), ramp() * 2)
    assert set(read_manifest(tmp_path)["files"]) == {"out.tif", "out.npy"}
    # nothing else is left behind: no temporary files
    assert sorted(p.name for p in tmp_path.iterdir()) == [".napari-amnesia.json", "out.npy",
                                                          "out.tif"]


def test_saving_over_a_users_file_is_refused_naming_it(tmp_path, ramp):
    save_movie(ramp(), tmp_path / "ours.tif")  # the folder has a manifest, without theirs
    theirs = tmp_path / "movie.tif"
    tifffile.imwrite(theirs, ramp(t=3), photometric="minisblack")
    before = theirs.read_bytes()
    refused = re.escape(str(theirs)) + " was not written by napari-amnesia"
    with pytest.raises(NotOwnedError, match=refused):
        save_movie(ramp(), theirs, overwrite=True)
    # a file of ours changed since by the user is the user's now
    ours = tmp_path / "ours.tif"
    with open(ours, "ab") as fh:
        fh.write(b"notes")
    refused = re.escape(str(ours)) + " changed since napari-amnesia wrote it"
    with pytest.raises(NotOwnedError, match=refused):
        save_movie(ramp(), ours, overwrite=True)
    assert theirs.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".napari-amnesia.json", "movie.tif",
                                                          "ours.tif"]
