"""Tests of core.skeleton.statistics: totals of several movies and their CSV table."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from napari_amnesia.core.progress import drive
from napari_amnesia.core.simulate import simulate
from napari_amnesia.core.skeleton import (
    SkeletonResult,
    iter_skeleton_statistics,
    skeleton_statistics,
    write_statistics_csv,
)


def test_statistics_over_several_movies(tmp_path):
    """Tabulate several movies, files and arrays, and write the CSV."""
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


def test_movies_with_the_same_stem_are_saved_to_their_own_folders(tmp_path):
    """Save same-stem movies to folders of their own, recorded in each row."""
    import tifffile

    movie, _ = simulate(n_frames=12, shape=(64, 64), n_cells=0, n_neurite_groups=1,
                        branches_per_group=2, motion=False, rng=4)
    paths = []
    for day, scale in (("day1", 1), ("day2", 2), ("day3", 3)):
        (tmp_path / day).mkdir()
        paths.append(tmp_path / day / ("movie.tif" if day != "day3" else "MOVIE.tif"))
        tifffile.imwrite(paths[-1], movie.astype(np.float32) * scale)
    paths.insert(2, tmp_path / "day2" / "missing.tif")
    out = tmp_path / "out"
    out.mkdir()
    rows = skeleton_statistics(paths, save_dir=out, errors="record")
    assert [r["folder"] for r in rows] == ["movie.skeleton", "movie-2.skeleton", "",
                                           "MOVIE-3.skeleton"]
    assert rows[2]["error"]
    assert sorted(p.name for p in out.iterdir()) == ["MOVIE-3.skeleton", "movie-2.skeleton",
                                                     "movie.skeleton"]
    for row in (rows[0], rows[1], rows[3]):
        saved = SkeletonResult.load(out / row["folder"])
        assert saved.totals == {k: row[k] for k in saved.totals}
    first, second = (SkeletonResult.load(out / name).summary
                     for name in ("movie.skeleton", "movie-2.skeleton"))
    assert second.mean() > 1.5 * first.mean()  # day 2's movie, not day 1's again
    # arrays read elsewhere keep the names they are given (the CLI's filled movies)
    (tmp_path / "named").mkdir()
    (tmp_path / "unnamed").mkdir()
    rows = skeleton_statistics([movie, movie], save_dir=tmp_path / "named",
                               names=["a/movie.tif", "b/movie.tif"])
    assert [(r["path"], r["folder"]) for r in rows] == [
        ("a/movie.tif", "movie.skeleton"), ("b/movie.tif", "movie-2.skeleton")]
    rows = skeleton_statistics([movie], save_dir=tmp_path / "unnamed")
    assert rows[0]["path"] == "<array 0>" and rows[0]["folder"] == "array_0.skeleton"
    with pytest.raises(ValueError, match="one name per input"):
        skeleton_statistics([movie], names=["a", "b"])
    table = write_statistics_csv(rows, tmp_path / "stats.csv")
    with open(table, newline="") as f:
        assert list(csv.DictReader(f))[0]["folder"] == "array_0.skeleton"
