"""Tests of napari_amnesia.core.io.memmap: contiguous data mapped in small blocks."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_amnesia.core.io import (
    memmap,
    open_movie,
)
from napari_amnesia.core.io.memmap import _MemmapPart


def test_contiguous_reads_map_small_blocks(tmp_path, monkeypatch, ramp):
    data = ramp(t=50, y=64, x=64)
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, data)
    monkeypatch.setattr(memmap, "_MAP_BLOCK_BYTES", 64 * 64 * 2 * 8)  # 8 frames per map
    mapped = []
    original_map = _MemmapPart._map
    monkeypatch.setattr(
        _MemmapPart,
        "_map",
        lambda self, shape, offset: mapped.append(shape[0]) or original_map(self, shape, offset),
    )
    movie = open_movie(path, chunk_frames=50)
    np.testing.assert_array_equal(movie.compute(), data)
    assert max(mapped) == 8 and sum(mapped) == 50
