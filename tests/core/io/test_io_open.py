"""Tests of napari_amnesia.core.io.open: dispatch, checks across files, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tifffile

from napari_amnesia.core.io import (
    MovieError,
    open_movie,
)


def test_opening_is_deterministic_and_depends_on_the_selection(tmp_path, ramp):
    data = np.stack([ramp(t=6), ramp(t=6, seed=1)], axis=1)  # T C Y X
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TCYX"})
    a = open_movie(path, channel=0)
    assert a.name == open_movie(path, channel=0).name
    assert a.name != open_movie(path, channel=1).name


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


def test_frames_of_different_shapes(tmp_path, write_frames):
    write_frames(tmp_path, 3)
    tifffile.imwrite(tmp_path / "image4.tif", np.zeros((6, 8), np.uint16))
    write_frames(tmp_path, 0)
    with pytest.raises(MovieError) as err:
        open_movie(tmp_path)
    message = str(err.value)
    assert "image4.tif" in message and "(6, 8)" in message and "(6, 7)" in message


def test_files_of_different_dtypes(tmp_path, ramp):
    tifffile.imwrite(tmp_path / "a1.tif", ramp(t=5))
    tifffile.imwrite(tmp_path / "a2.tif", ramp(t=5, dtype="float32"))
    with pytest.raises(MovieError, match=r"a2.tif.*float32.*uint16"):
        open_movie(tmp_path)


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


def test_bad_chunk_frames(tmp_path, ramp):
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, ramp())
    with pytest.raises(ValueError, match="chunk_frames.*-1"):
        open_movie(path, chunk_frames=-1)


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
