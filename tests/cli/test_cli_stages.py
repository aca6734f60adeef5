"""The generated stage subcommands of ``amnesia``: summary, motion, cnmf, skeleton and
cluster; their options, results and the safety of --overwrite."""

import json
import os
from pathlib import Path

import numpy as np
import tifffile
import yaml
from cli_data import _one_error

from napari_amnesia.cli import main


def test_summary_and_info_on_a_movie(tmp_path, capsys):
    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.summary import summary_images

    rng = np.random.default_rng(0)
    movie = rng.poisson(50, size=(80, 40, 50)).astype(np.uint16)
    path = tmp_path / "rec.tif"
    save_movie(movie, path)
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "(80, 40, 50)" in text or "[80, 40, 50]" in text
    assert "uint16" in text
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert list(info["shape"]) == [80, 40, 50]

    out = tmp_path / "res"
    assert main(["-q", "summary", str(path), "--out", str(out), "--four-neighbours",
                 "--gsig", "0"]) == 0
    expected = summary_images(movie, eight_neighbours=False, gsig=None)
    np.testing.assert_allclose(tifffile.imread(out / "summary" / "correlation.tif"),
                               expected.corr, rtol=1e-4, atol=1e-6)
    record = json.loads((out / "summary.json").read_text())
    assert record["input"]["dtype"] == "uint16"


def test_motion_bad_parameters_are_one_line(tmp_path, capsys):
    from napari_amnesia.core.io import save_movie

    path = tmp_path / "rec.tif"
    save_movie(np.zeros((10, 32, 32), np.uint16), path)
    assert main(["-q", "motion", str(path), "--out", str(tmp_path / "o"),
                 "--overlaps", "64", "--strides", "32"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "overlaps" in err[0]
    assert not (tmp_path / "o").exists()


def test_skeleton_statistics_one_row_per_movie(tmp_path, capsys):
    import csv

    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.simulate import simulate

    paths = []
    for day, seed in (("P5", 11), ("P6", 12)):
        movie, _ = simulate(n_frames=40, shape=(128, 128), n_cells=0, n_neurite_groups=1,
                            motion=False, rng=seed)
        paths.append(tmp_path / f"{day}.tif")
        save_movie(movie, paths[-1])
    out = tmp_path / "stats"
    assert main(["-q", "skeleton", *map(str, paths), "--out", str(out),
                 "--min-branch-length", "5"]) == 0
    with open(out / "skeleton_statistics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["path"].split("/")[-1] for r in rows] == ["P5.tif", "P6.tif"]
    for row in rows:
        assert int(row["n_branches"]) >= 1 and float(row["total_length"]) > 20
    assert (out / "P5.skeleton" / "branches.csv").is_file()
    assert json.loads((out / "params.json").read_text())["min_branch_length"] == 5.0
    # a missing movie: one clear line, nothing written
    assert main(["-q", "skeleton", str(tmp_path / "P7.tif"), "--out",
                 str(tmp_path / "other")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "P7.tif" in err[0]
    assert not (tmp_path / "other").exists()


def test_cluster_from_a_template(tmp_path, capsys):
    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=300, shape=(128, 128), n_cells=0, n_neurite_groups=2,
                            motion=False, rng=3)
    path = tmp_path / "rec.tif"
    save_movie(movie, path)
    assert main(["cluster", "--list"]) == 0
    assert "clustering_branch" in capsys.readouterr().out
    out = tmp_path / "clusters"
    assert main(["-q", "cluster", "clustering_branch", "--movie", str(path),
                 "--out", str(out)]) == 0
    assert "clusters" in capsys.readouterr().out
    assert (out / "clustering_level1").is_dir() and (out / "skeleton").is_dir()
    assert json.loads((out / "config.json").read_text())["projection"]["method"] == "branch"
    # no movie anywhere: one clear line, nothing written
    assert main(["-q", "cluster", "clustering_pixel", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("amnesia: error:")
    assert not (tmp_path / "o").exists()


def test_cnmf_command_with_a_config_file_and_exports(tmp_path, capsys):
    from napari_amnesia.core.cnmf import SourceResult
    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=300, shape=(64, 64), n_cells=8, n_neurite_groups=0,
                            motion=False, rng=2)
    save_movie(movie, tmp_path / "m.tif")
    config = tmp_path / "cnmf.yaml"
    config.write_text("cnmf:\n  rf: 15\n  stride: 10\n  K: 4\n  gSig: [4, 4]\n")
    out = tmp_path / "res"
    # the option typed overrides the file
    assert main(["-q", "cnmf", str(tmp_path / "m.tif"), "--out", str(out), "--config",
                 str(config), "--k", "5"]) == 0
    assert "accepted" in capsys.readouterr().out
    record = json.loads((out / "summary.json").read_text())
    assert record["stages"]["cnmf"]["params"]["K"] == 5
    assert record["stages"]["cnmf"]["params"]["rf"] == 15
    result = SourceResult.load(out / "cnmf" / "result")
    assert result.K >= 6 and result.evaluated
    labels = tifffile.imread(out / "cnmf" / "exports" / "labels.tif")
    np.testing.assert_array_equal(labels, result.labels())
    header = (out / "cnmf" / "exports" / "traces.csv").read_text().splitlines()[0]
    assert header.startswith("frame,roi_")

    (tmp_path / "bad.yaml").write_text("cnmf:\n  rf: 15\n  Kk: 3\n")
    assert main(["-q", "cnmf", str(tmp_path / "m.tif"), "--out", str(tmp_path / "r2"),
                 "--config", str(tmp_path / "bad.yaml")]) == 1
    assert "'Kk'" in capsys.readouterr().err
    (tmp_path / "sections.yaml").write_text("cnmf: {}\nmotoin: {}\n")
    assert main(["-q", "cnmf", str(tmp_path / "m.tif"), "--out", str(tmp_path / "r3"),
                 "--config", str(tmp_path / "sections.yaml")]) == 1
    assert "motoin" in capsys.readouterr().err
    assert main(["-q", "cnmf", str(tmp_path / "m.tif"), "--out", str(tmp_path / "r4"),
                 "--rf", "100"]) == 1
    assert "rf" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r4").exists()


def test_overwrite_never_deletes_the_input_frames(tmp_path, capsys):
    raw = tmp_path / "raw"
    before = _frames_folder(raw)
    assert main(["-q", "summary", str(raw), "--out", str(raw), "--overwrite",
                 "--no-report"]) == 1
    err = _one_error(capsys)
    assert str(raw) in err and "frames being read" in err
    assert sorted((p.name, p.read_bytes()) for p in raw.iterdir()) == before
    # nor writes results among them
    assert main(["-q", "summary", str(raw), "--out", str(raw / "res"), "--no-report"]) == 1
    assert "inside the folder of frames being read" in _one_error(capsys)
    assert sorted((p.name, p.read_bytes()) for p in raw.iterdir()) == before


def _frames_folder(folder: Path, n: int = 12) -> list[bytes]:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for t in range(n):
        tifffile.imwrite(folder / f"frame{t:03d}.tif",
                         rng.integers(0, 1000, (24, 24)).astype(np.uint16))
    return sorted((p.name, p.read_bytes()) for p in folder.iterdir())


def test_overwrite_keeps_a_file_the_user_put_in_a_results_folder(tmp_path, capsys):
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.random.default_rng(1).integers(0, 500, (20, 24, 24))
                     .astype(np.uint16), photometric="minisblack")
    out = tmp_path / "res"
    argv = ["-q", "summary", str(movie), "--out", str(out), "--no-report", "--overwrite"]
    assert main(argv) == 0
    assert (out / ".napari-amnesia.json").is_file()
    (out / "summary" / "notes.txt").write_text("the mouse moved at frame 12")
    capsys.readouterr()
    assert main(argv) == 1
    err = _one_error(capsys)
    assert str(out) in err and "notes.txt" in err
    assert (out / "summary" / "notes.txt").read_text() == "the mouse moved at frame 12"
    assert (out / "summary" / "mean.tif").is_file()
    (out / "summary" / "notes.txt").unlink()
    assert main(argv) == 0  # its own results: replaced


def test_results_are_readable_by_the_group_and_others(tmp_path, capsys):
    import stat

    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.ones((12, 16, 16), np.uint16), photometric="minisblack")
    old = os.umask(0o022)
    try:
        assert main(["-q", "summary", str(movie), "--out", str(tmp_path / "res"),
                     "--no-report"]) == 0
    finally:
        os.umask(old)
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode)
             for p in [tmp_path / "res", *(tmp_path / "res").rglob("*")]}
    assert modes["res"] == 0o755 and modes["res/summary"] == 0o755
    assert modes["res/summary/mean.tif"] == 0o644 and modes["res/summary.json"] == 0o644
    assert set(modes.values()) == {0o755, 0o644}, modes


def test_skeleton_of_a_bad_file_fails_cleanly(tmp_path, capsys):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"not a tiff at all" * 8)
    out = tmp_path / "sk"
    assert main(["-q", "skeleton", str(bad), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "statistics of 0" not in captured.out and captured.out == ""
    assert _one_error_of(captured).startswith(f"amnesia: error: {bad}")
    assert not out.exists()


def _one_error_of(captured) -> str:
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("amnesia: error:"), captured.err
    return err[0]


def test_nan_policy_raise_stops_before_any_work(nan_movie, tmp_path, capsys, monkeypatch):
    import dataclasses

    from napari_amnesia.core import stages

    def never(movie, params, context):
        raise AssertionError("motion correction ran on a movie with NaN")

    monkeypatch.setitem(stages.STAGES, "motion",
                        dataclasses.replace(stages.STAGES["motion"], run=never))
    out = tmp_path / "res"
    assert main(["-q", "motion", str(nan_movie), "--out", str(out)]) == 1
    err = _one_error(capsys)
    assert "4 of 30 frames" in err and "3, 7, 20, 25" in err and "--nan-policy fill" in err
    assert not out.exists()


def test_skeleton_with_nan_policy_fill_keeps_the_movie_names(nan_movie, tmp_path, capsys):
    import csv

    out = tmp_path / "sk"
    assert main(["-q", "skeleton", str(nan_movie), "--out", str(out), "--nan-policy",
                 "fill"]) == 0
    with open(out / "skeleton_statistics.csv") as fh:
        [row] = list(csv.DictReader(fh))
    assert row["path"] == str(nan_movie) and not row["error"]
    assert (out / "nan.skeleton").is_dir()
    # the NaN frames are said once (the skeleton of this tiny noisy movie may add its own
    # warning about an emptied structure, which names the options to change)
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("amnesia: warning: ") for line in err), err
    assert sum("NaN" in line for line in err) == 1, err


def test_activity_commands_take_their_section_options(capsys):
    """amnesia clustering/factorization: an option typed replaces the configuration's value."""
    assert main(["clustering", "clustering_pixel", "--show", "--min-cluster-size", "7"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["clustering"]["min_cluster_size"] == 7
    assert all(level["min_cluster_size"] != 7 for level in shown["consecutive"])  # level 1 only
    assert main(["factorization", "factorization_nmf", "--show", "--n-components", "4"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["factorization"]["n_components"] == 4
    # a factorization configuration has no clustering section to put the option in
    assert main(["clustering", "factorization_nmf", "--show", "--min-cluster-size", "7"]) == 1
    assert "no 'clustering' section" in capsys.readouterr().err
