"""Tests of core.skeleton.statistics: totals of several movies and their CSV table."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from napari_amnesia.core.progress import drive
from napari_amnesia.core.simulate import simulate
from napari_amnesia.core.skeleton import (
    iter_skeleton_statistics,
    skeleton_statistics,
    write_statistics_csv,
)


def test_statistics_over_several_movies(tmp_path):
    import tifffile

    movie, _ = simulate(n_frames=20, shape=(96, 96), n_cells=0, n_neurite_groups=1,
                        branches_per_group=3, motion=False, rng=4)
    path = tmp_path / "day1.tif"
    tifffile.imwrite(path, movie)
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"not a tiff")
    steps = []
    rows = drive(iter_skeleton_statistics([path, movie, np.zeros((3, 16, 16))],
                                          save_dir=tmp_path), steps.append)
    assert [r["path"] for r in rows] == [str(path), "<array 1>", "<array 2>"]
    assert rows[0]["n_branches"] == rows[1]["n_branches"] > 0
    assert rows[0]["n_frames"] == 20 and rows[0]["height"] == 96
    assert rows[2]["n_branches"] == 0
    assert (tmp_path / "day1.skeleton" / "arrays.npz").exists()
    assert steps[-1].done == steps[-1].total == 3
    with pytest.raises(Exception, match="broken.tif"):
        skeleton_statistics([bad])
    rows += skeleton_statistics([bad], errors="record")
    assert rows[-1]["error"]
    out = write_statistics_csv(rows, tmp_path / "stats.csv")
    with open(out, newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4
    assert list(table[0])[:3] == ["path", "n_frames", "height"]
    assert table[0]["n_branches"] == str(rows[0]["n_branches"])
    with pytest.raises(FileExistsError):
        write_statistics_csv(rows, out)
