"""Tests of napari_amnesia.core.io: lazy movie reading, saving, info and contrast."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_amnesia.core import io
from napari_amnesia.core.io import (
    MovieError,
    MovieWarning,
    contrast_limits,
    iter_save_movie,
    movie_info,
    natural_sort_key,
    open_movie,
    save_movie,
)
from napari_amnesia.core.progress import Progress

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"


def ramp(t=12, y=10, x=14, dtype="uint16", seed=0):
    """A movie whose frame k is filled with k plus small seeded noise (values distinct)."""
    rng = np.random.default_rng(seed)
    data = np.arange(t, dtype=np.float64)[:, None, None] * 100 + rng.integers(0, 50, (t, y, x))
    return data.astype(dtype)


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- round trips


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
def test_tiff_round_trip(tmp_path, kwargs, contiguous, fmt):
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
def test_every_supported_dtype_round_trips(tmp_path, dtype):
    data = ramp(t=5, dtype=dtype)
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, data)
    movie = open_movie(path)
    assert movie.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(movie.compute(), data)


def test_npy_round_trip_memmapped(tmp_path):
    data = ramp(t=10, dtype="float32")
    path = tmp_path / "movie.npy"
    np.save(path, data)
    movie = open_movie(path, chunk_frames=3)
    assert movie.chunks[0] == (3, 3, 3, 1)
    np.testing.assert_array_equal(movie.compute(), data)
    np.testing.assert_array_equal(movie[7, 2:5].compute(), data[7, 2:5])
    info = movie_info(path)
    assert info["format"] == "npy" and info["contiguous"] is True


def test_fortran_order_npy(tmp_path):
    data = np.asfortranarray(ramp(t=6))
    path = tmp_path / "f.npy"
    np.save(path, data)
    np.testing.assert_array_equal(open_movie(path).compute(), data)


def test_opening_is_deterministic_and_depends_on_the_selection(tmp_path):
    data = np.stack([ramp(t=6), ramp(t=6, seed=1)], axis=1)  # T C Y X
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TCYX"})
    a = open_movie(path, channel=0)
    assert a.name == open_movie(path, channel=0).name
    assert a.name != open_movie(path, channel=1).name


# --------------------------------------------------------------------------- folders, globs, lists


def _write_frames(folder: Path, n: int, name="image{}.tif", shape=(6, 7)):
    folder.mkdir(exist_ok=True)
    for k in range(1, n + 1):
        tifffile.imwrite(folder / name.format(k), np.full(shape, k, np.uint16))


def test_folder_of_frames_in_natural_order(tmp_path):
    folder = tmp_path / "export"
    _write_frames(folder, 12)
    (folder / "notes.txt").write_text("not an image")
    (folder / ".image0.tif").write_bytes(b"hidden junk")  # hidden files are ignored
    movie = open_movie(folder, chunk_frames=5)
    assert movie.shape == (12, 6, 7)
    assert movie.chunks[0] == (5, 5, 2)
    np.testing.assert_array_equal(movie.max(axis=(1, 2)).compute(), np.arange(1, 13))
    info = movie_info(folder)
    assert info["format"] == "tiff-folder" and info["n_files"] == 12


def test_glob_of_frames_in_natural_order(tmp_path):
    _write_frames(tmp_path, 11, name="Frame_{}.TIF")
    movie = open_movie(str(tmp_path / "Frame_*.TIF"))
    np.testing.assert_array_equal(movie[:, 0, 0].compute(), np.arange(1, 12))


def test_folder_of_compressed_frames(tmp_path):
    for k in range(1, 4):
        tifffile.imwrite(tmp_path / f"f{k}.tif", np.full((5, 5), k, np.uint8), compression="zlib")
    np.testing.assert_array_equal(open_movie(tmp_path)[:, 2, 2].compute(), [1, 2, 3])


def test_concatenation_of_multipage_files(tmp_path):
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


# --------------------------------------------------------------------------- extra axes


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


def test_z_stack_is_read_as_time(tmp_path, caplog):
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


# --------------------------------------------------------------------------- bad input


def test_missing_path(tmp_path):
    missing = tmp_path / "nope.tif"
    with pytest.raises(FileNotFoundError, match="nope.tif"):
        open_movie(missing)


def test_single_image_is_not_a_movie(tmp_path):
    path = tmp_path / "one.tif"
    tifffile.imwrite(path, np.zeros((30, 40), np.uint16))
    with pytest.raises(MovieError, match=r"one.tif.*single 2-D image of shape \(30, 40\)"):
        open_movie(path)
    npy = tmp_path / "one.npy"
    np.save(npy, np.zeros((30, 40)))
    with pytest.raises(MovieError, match=r"one.npy.*2-D image of shape \(30, 40\)"):
        open_movie(npy)


def test_empty_folder_and_unmatched_glob(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(MovieError, match=f"{tmp_path}.*no TIFF"):
        open_movie(tmp_path)
    with pytest.raises(MovieError, match="matches no files"):
        open_movie(str(tmp_path / "*.tif"))
    with pytest.raises(MovieError, match="empty list"):
        open_movie([])


def test_frames_of_different_shapes(tmp_path):
    _write_frames(tmp_path, 3)
    tifffile.imwrite(tmp_path / "image4.tif", np.zeros((6, 8), np.uint16))
    _write_frames(tmp_path, 0)
    with pytest.raises(MovieError) as err:
        open_movie(tmp_path)
    message = str(err.value)
    assert "image4.tif" in message and "(6, 8)" in message and "(6, 7)" in message


def test_files_of_different_dtypes(tmp_path):
    tifffile.imwrite(tmp_path / "a1.tif", ramp(t=5))
    tifffile.imwrite(tmp_path / "a2.tif", ramp(t=5, dtype="float32"))
    with pytest.raises(MovieError, match=r"a2.tif.*float32.*uint16"):
        open_movie(tmp_path)


@pytest.mark.parametrize("kwargs", [{}, {"imagej": True}, {"compression": "zlib"}])
def test_truncated_tiff(tmp_path, kwargs):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, ramp(t=40, y=32, x=32), **kwargs)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(int(size * 0.6))
    with pytest.raises(MovieError, match=r"cut.tif.*(truncated|corrupt)"):
        open_movie(path)


def test_truncated_npy(tmp_path):
    path = tmp_path / "cut.npy"
    np.save(path, ramp(t=10))
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 100)
    with pytest.raises(MovieError, match=r"cut.npy.*truncated"):
        open_movie(path)


def test_corrupt_and_unknown_files(tmp_path):
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"\x00\x01garbage" * 50)
    with pytest.raises(MovieError, match="junk.tif.*not a TIFF"):
        open_movie(junk)
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(MovieError, match="empty.tif.*empty file"):
        open_movie(empty)
    # a TIFF header followed by garbage: tifffile fails, the error names the file
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00\x08\x00\x00\x00\xff\xff")  # an IFD of 65535 tags
    with pytest.raises(MovieError, match="broken.tif.*not a readable TIFF") as err:
        open_movie(broken)
    assert err.value.__cause__ is not None
    video = tmp_path / "movie.avi"
    video.write_bytes(b"RIFF0000AVI ")
    with pytest.raises(MovieError, match=r"movie.avi.*unsupported format '.avi'"):
        open_movie(video)


def test_unsupported_dtypes(tmp_path):
    path = tmp_path / "complex.npy"
    np.save(path, np.zeros((3, 4, 5), np.complex64))
    with pytest.raises(MovieError, match=r"complex.npy.*pixel type complex64"):
        open_movie(path)
    path = tmp_path / "bool.tif"
    tifffile.imwrite(path, np.zeros((3, 4, 5), bool))
    with pytest.raises(MovieError, match=r"bool.tif.*pixel type bool"):
        open_movie(path)
    path = tmp_path / "object.npy"
    np.save(path, np.empty((3, 4, 5), object), allow_pickle=True)
    with pytest.raises(MovieError, match=r"object.npy.*pixel type object"):
        open_movie(path)


def test_bad_chunk_frames(tmp_path):
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, ramp())
    with pytest.raises(ValueError, match="chunk_frames.*-1"):
        open_movie(path, chunk_frames=-1)


def test_nan_frames_are_reported(tmp_path, caplog):
    data = ramp(t=40, dtype="float32")
    data[0, 1, 1] = np.nan
    data[39, 2, 2] = np.nan
    path = tmp_path / "nan.tif"
    tifffile.imwrite(path, data)
    with pytest.warns(MovieWarning, match=r"nan.tif: 2 of 16 sampled frames contain NaN"):
        movie = open_movie(path)
    assert "NaN" not in caplog.text  # one warning, not a log line besides it
    assert np.isnan(movie[0, 1, 1].compute())  # reported, not altered


def test_no_warning_without_nans(tmp_path, recwarn):
    path = tmp_path / "clean.tif"
    tifffile.imwrite(path, ramp(dtype="float32"))
    open_movie(path)
    assert not [w for w in recwarn if issubclass(w.category, MovieWarning)]


# --------------------------------------------------------------------------- lazy reads


def _record_reads(monkeypatch):
    """Record the time keys the movie's array-like is asked for by dask."""
    calls = []
    original = io._MovieArray.__getitem__

    def spy(self, key):
        result = original(self, key)
        calls.append(result.shape[0] if result.ndim == 3 else 1)
        return result

    monkeypatch.setattr(io._MovieArray, "__getitem__", spy)
    return calls


@pytest.mark.parametrize("layout", ["contiguous", "zlib", "folder", "files"])
def test_single_frame_access_reads_one_frame(tmp_path, monkeypatch, layout):
    data = ramp(t=60, y=16, x=16)
    if layout == "folder":
        for k, frame in enumerate(data):
            tifffile.imwrite(tmp_path / f"f{k}.tif", frame)
        source = tmp_path
    elif layout == "files":
        tifffile.imwrite(tmp_path / "a1.tif", data[:30])
        tifffile.imwrite(tmp_path / "a2.tif", data[30:])
        source = tmp_path
    else:
        source = tmp_path / "m.tif"
        tifffile.imwrite(source, data, compression=None if layout == "contiguous" else "zlib")
    movie = open_movie(source, chunk_frames=25)
    calls = _record_reads(monkeypatch)
    mapped = []
    original_map = io._MemmapPart._map
    monkeypatch.setattr(
        io._MemmapPart,
        "_map",
        lambda self, shape, offset: mapped.append(shape) or original_map(self, shape, offset),
    )
    np.testing.assert_array_equal(movie[37].compute(), data[37])
    assert calls == [1]  # one getter call, for one frame, not the 25-frame chunk
    if layout == "contiguous":
        assert mapped == [(16, 16)]  # and only that frame was mapped
    calls.clear()
    np.testing.assert_array_equal(movie[10:13].compute(), data[10:13])
    assert calls == [3]


def test_contiguous_reads_map_small_blocks(tmp_path, monkeypatch):
    data = ramp(t=50, y=64, x=64)
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, data)
    monkeypatch.setattr(io, "_MAP_BLOCK_BYTES", 64 * 64 * 2 * 8)  # 8 frames per map
    mapped = []
    original_map = io._MemmapPart._map
    monkeypatch.setattr(
        io._MemmapPart,
        "_map",
        lambda self, shape, offset: mapped.append(shape[0]) or original_map(self, shape, offset),
    )
    movie = open_movie(path, chunk_frames=50)
    np.testing.assert_array_equal(movie.compute(), data)
    assert max(mapped) == 8 and sum(mapped) == 50


BOUNDED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import dask
    import numpy as np
    from napari_amnesia._memory import peak_mb, reset_peak
    from napari_amnesia.core.io import open_movie

    dask.config.set(scheduler="threads", num_workers=2)
    before = reset_peak()
    movie = open_movie(sys.argv[1], chunk_frames=16)
    mean = movie.mean(axis=0).compute()
    print(json.dumps({"before": before, "after": peak_mb(), "mean": float(mean.mean())}))
    """
)


def test_mean_over_time_has_bounded_memory(tmp_path):
    """A 300 MB contiguous TIFF: computing its mean must not load it into memory.

    With 2 worker threads and 16-frame (8 MB) chunks, the expected peak increase is
    about 2 x (8 MB chunk copy + 8 MB mapped block), plus dask's bookkeeping; loading
    the file would cost 300 MB. The bound (40% of the file) leaves room for
    allocator noise while still failing if the file is copied whole.
    """
    t, y, x = 600, 512, 512
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, shape=(t, y, x), dtype=np.uint16, photometric="minisblack")
    with tifffile.TiffFile(path) as tif:
        offset = tif.series[0].dataoffset
    with open(path, "r+b") as fh:
        fh.seek(offset)
        for t0 in range(0, t, 50):
            fh.write(np.full((50, y, x), t0 // 50, np.uint16).tobytes())
    file_mb = path.stat().st_size / 2**20
    result = subprocess.run(
        [sys.executable, "-c", BOUNDED_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    assert numbers["mean"] == pytest.approx(np.mean(np.arange(12)))
    increase = numbers["after"] - numbers["before"]
    assert increase < 0.4 * file_mb, (
        f"peak RSS rose by {increase:.0f} MB for a {file_mb:.0f} MB file"
    )


# --------------------------------------------------------------------------- contrast limits


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


def test_contrast_limits_read_only_sampled_frames(tmp_path, monkeypatch):
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, ramp(t=200))
    movie = open_movie(path, chunk_frames=50)
    calls = _record_reads(monkeypatch)
    contrast_limits(movie, n_frames=8)
    assert sorted(calls) == [1] * 8


# --------------------------------------------------------------------------- saving


@pytest.mark.parametrize("dtype", ["uint16", "int16", "float32", "float64", "int32"])
def test_save_round_trip_is_contiguous(tmp_path, dtype):
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
def test_save_frame_rate(tmp_path, dtype):
    path = tmp_path / "fr.tif"
    save_movie(ramp(dtype=dtype), path, frame_rate=30.0)
    assert movie_info(path)["frame_rate"] == pytest.approx(30.0)
    assert movie_info(path)["time_axis"] == "T"


def test_save_bigtiff_and_compressed_and_npy(tmp_path):
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


def test_save_refuses_to_overwrite(tmp_path):
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


def test_save_never_overwrites_its_own_input(tmp_path):
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


def test_failed_save_leaves_nothing_behind(tmp_path):
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


def test_cancelled_save_leaves_nothing_behind(tmp_path):
    gen = iter_save_movie(ramp(t=12), tmp_path / "out.tif", chunk_frames=2)
    next(gen)
    next(gen)
    gen.close()  # what a cancel does
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_bad_input(tmp_path):
    with pytest.raises(MovieError, match=r"shape \(4, 5\)"):
        save_movie(np.zeros((4, 5)), tmp_path / "a.tif")
    with pytest.raises(MovieError, match="complex128"):
        save_movie(np.zeros((2, 4, 5), complex), tmp_path / "a.tif")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        save_movie(ramp(), tmp_path / "nowhere" / "a.tif")


# --------------------------------------------------------------------------- real movies


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
