"""The patch grid and the patch tasks of CNMF (napari_amnesia.core.cnmf.patches)."""

from __future__ import annotations

import dask.array as da
import numpy as np
from cnmf_data import FIT, SHAPE, RecordingArray, T

from napari_amnesia.core.cnmf import CNMFParams
from napari_amnesia.core.cnmf.patches import patch_grid, patch_task, read_patch


def test_patch_grid_covers_the_frame_with_overlaps():
    grid = patch_grid((96, 70), 15, 10)
    cover = np.zeros((96, 70), int)
    for y0, y1, x0, x1 in grid:
        assert y1 - y0 == 30 and x1 - x0 == 30
        cover[y0:y1, x0:x1] += 1
    assert cover.min() >= 1
    assert patch_grid((96, 70), None, 10) == [(0, 96, 0, 70)]


def test_patch_task_reads_only_its_region(sim):
    movie, _ = sim
    rec = RecordingArray(movie)
    lazy = da.from_array(rec, chunks=(150, *SHAPE), asarray=False)
    bounds = (20, 50, 40, 70)
    Y = read_patch(lazy, bounds)
    assert Y.shape == (T, 30, 30) and Y.dtype == np.float32
    assert rec.reads and all(r[1:] == (30, 30) for r in rec.reads), rec.reads
    np.testing.assert_array_equal(Y, movie[:, 20:50, 40:70])
    rec.reads.clear()
    fit = patch_task(lazy, bounds, CNMFParams(**FIT))
    assert all(r[1:] == (30, 30) for r in rec.reads)
    assert fit.A.shape[0] == 900 and fit.C.shape == (fit.K, T)
