"""Tests of napari_amnesia.core.io.array: a frame read is one small read."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_amnesia.core.io import (
    open_movie,
)
from napari_amnesia.core.io.memmap import _MemmapPart


@pytest.mark.parametrize("layout", ["contiguous", "zlib", "folder", "files"])
def test_single_frame_access_reads_one_frame(tmp_path, monkeypatch, layout, ramp, record_reads):
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
    calls = record_reads(monkeypatch)
    mapped = []
    original_map = _MemmapPart._map
    monkeypatch.setattr(
        _MemmapPart,
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
