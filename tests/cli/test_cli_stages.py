"""The ``amnesia`` command: demo, summary, info, help and errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_amnesia.cli import main


def test_help_documents_every_option():
    # the console script installed next to this Python
    script = Path(sys.executable).parent / "amnesia"
    assert script.is_file(), f"console script {script} is not installed"
    result = subprocess.run([str(script), "demo", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for option in ("--out", "--overwrite", "--view", "--mode", "--frames", "--size", "--seed",
                   "--four-neighbours", "--gsig", "--bin-size"):
        assert option in result.stdout
    top = subprocess.run([sys.executable, "-m", "napari_amnesia.cli", "--help"],
                         capture_output=True, text=True)
    for command in ("info", "summary", "demo"):
        assert command in top.stdout


def test_demo_writes_a_complete_results_folder(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--out", str(out), "--frames", "300", "--size", "96"]) == 0
    for name in ("movie.tif", "summary.json", "report.png", "motion.png", "ground_truth/rois.tif",
                 "motion/corrected.tif", "motion/shifts.csv", "motion/template.tif",
                 "skeleton.png", "skeleton/branches.csv", "skeleton/totals.json",
                 "summary/mean.tif", "summary/max.tif", "summary/std.tif",
                 "summary/correlation.tif", "summary/pnr.tif", "summary/correlation_pnr.tif",
                 "summary/max_correlation.tif"):
        assert (out / name).is_file(), name
    record = json.loads((out / "summary.json").read_text())
    stage = record["stages"]["summary"]
    assert stage["frames_per_s"] > 0
    # the correlation image (of the corrected movie) separates the planted cells
    assert stage["roi_auc"]["corr"] > 0.9
    # motion correction recovered the planted shifts
    assert record["stages"]["motion"]["rigid_shift_rmse_px"] < 0.15
    # CNMF found the planted somata (neurite components are not scored) with their traces
    found = record["stages"]["cnmf"]["truth"]
    assert found["f1"] >= 0.85 and found["median_trace_r"] >= 0.9, found
    for name in ("cnmf.png", "cnmf/exports/labels.tif", "cnmf/exports/traces.csv",
                 "cnmf/exports/rois.zip", "cnmf/result/arrays.npz"):
        assert (out / name).is_file(), name
    assert record["ground_truth"]
    png = (out / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    mean = tifffile.imread(out / "summary" / "mean.tif")
    assert mean.shape == (96, 96) and mean.dtype == np.float32
    assert "ROI AUC" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no temporary left behind

    # a second run refuses to replace the results, then replaces them when asked
    before = (out / "summary.json").read_text()
    assert main(["-q", "demo", "--out", str(out), "--frames", "50", "--size", "64"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == before
    assert main(["-q", "demo", "--out", str(out), "--frames", "50", "--size", "64",
                 "--overwrite"]) == 0
    assert json.loads((out / "summary.json").read_text())["input"]["shape"] == [50, 64, 64]


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


@pytest.mark.parametrize(
    "argv, message",
    [
        (["info", "{tmp}/nope.tif"], "nope.tif"),
        (["summary", "{tmp}/nope.tif", "--out", "{tmp}/o"], "nope.tif"),
        (["summary", "{tmp}/image.tif", "--out", "{tmp}/o"], "image.tif"),
        (["demo", "--out", "{tmp}/d", "--frames", "3"], "--frames"),
        (["demo", "--out", "{tmp}/d", "--gsig", "-1"], "--gsig"),
        (["demo", "--out", "{tmp}/missing/d"], "does not exist"),
    ],
)
def test_bad_input_gives_one_clear_line(tmp_path, capsys, argv, message):
    tifffile.imwrite(tmp_path / "image.tif", np.zeros((10, 10), np.uint16))
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(["-q", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("amnesia: error:")
    assert message in err[0]
    assert not (tmp_path / "o").exists() and not (tmp_path / "d").exists()


def test_console_script_exit_status(tmp_path):
    result = subprocess.run([sys.executable, "-m", "napari_amnesia.cli", "info",
                             str(tmp_path / "missing.tif")], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "missing.tif" in result.stderr


def test_view_without_a_display_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--out", str(out), "--frames", "30", "--size", "48",
                 "--view"]) == 1
    err = capsys.readouterr().err
    assert "needs a display" in err and str(out) in err
    assert (out / "summary.json").is_file()  # the results were written all the same


def test_motion_then_apply_shifts(tmp_path, capsys):
    import csv

    from napari_amnesia.core.io import open_movie, save_movie
    from napari_amnesia.core.pipeline import shift_rmse
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=120, shape=(80, 80), n_cells=10, nonrigid=False, rng=2)
    path = tmp_path / "rec.tif"
    save_movie(movie, path)
    out = tmp_path / "res"
    assert main(["-q", "motion", str(path), "--out", str(out), "--max-shifts", "8",
                 "--border-nan", "zero"]) == 0
    assert "motion correction of" in capsys.readouterr().out
    with open(out / "motion" / "shifts.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 120
    record = json.loads((out / "summary.json").read_text())
    assert record["stages"]["motion"]["params"]["max_shifts"] == [8, 8]
    assert record["stages"]["motion"]["params"]["border_nan"] == "zero"
    estimated = np.array([[float(r["dy"]), float(r["dx"])] for r in rows])
    assert shift_rmse(estimated, truth.shifts) < 0.15

    # the same shifts applied to another movie of the same size
    red = tmp_path / "red.tif"
    save_movie((movie // 2).astype(np.uint16), red)
    fixed = tmp_path / "red_corrected.tif"
    assert main(["-q", "apply-shifts", str(out), str(red), "--out", str(fixed)]) == 0
    corrected = np.asarray(open_movie(out / "motion" / "corrected.tif")[60])
    applied = np.asarray(open_movie(fixed)[60])
    inner = (slice(10, -10), slice(10, -10))
    np.testing.assert_allclose(applied[inner], corrected[inner] / 2, rtol=0.02, atol=1.0)
    assert main(["-q", "apply-shifts", str(out), str(red), "--out", str(fixed)]) == 1
    assert "already exists" in capsys.readouterr().err
    # --overwrite replaces the file it wrote, never a user's file nor the input movie
    assert main(["-q", "apply-shifts", str(out), str(red), "--out", str(fixed),
                 "--overwrite"]) == 0
    capsys.readouterr()
    users = tmp_path / "users.tif"
    users.write_bytes(b"a user's own file")
    for target, why in ((users, "not written by napari-amnesia"), (red, "is the input movie")):
        assert main(["-q", "apply-shifts", str(out), str(red), "--out", str(target),
                     "--overwrite"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and why in err[0] and str(target) in err[0], err
    assert users.read_bytes() == b"a user's own file"
    np.testing.assert_array_equal(open_movie(red)[5].compute(), (movie[5] // 2))


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


# --------------------------------------------------------------------------- issue 12


def _one_error(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("amnesia: error:"), captured.err
    assert "Traceback" not in captured.err + captured.out
    return err[0]


def _frames_folder(folder: Path, n: int = 12) -> list[bytes]:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for t in range(n):
        tifffile.imwrite(folder / f"frame{t:03d}.tif",
                         rng.integers(0, 1000, (24, 24)).astype(np.uint16))
    return sorted((p.name, p.read_bytes()) for p in folder.iterdir())


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


def test_demo_overwrite_refuses_an_unrelated_folder(tmp_path, capsys):
    experiment = tmp_path / "experiment"
    experiment.mkdir()
    (experiment / "day1.tif").write_bytes(b"a week of recordings")
    argv = ["-q", "demo", "--out", str(experiment), "--overwrite", "--frames", "20", "--size",
            "32", "--no-motion", "--no-cnmf", "--no-skeleton"]
    assert main(argv) == 1
    err = _one_error(capsys)
    assert str(experiment) in err and "day1.tif" in err and "not written by" in err
    assert [p.name for p in experiment.iterdir()] == ["day1.tif"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["experiment"]  # nothing left over


def test_demo_script_refuses_an_unrelated_folder(tmp_path):
    experiment = tmp_path / "experiment"
    experiment.mkdir()
    (experiment / "notes.txt").write_text("precious")
    script = Path(__file__).resolve().parents[2] / "scripts" / "demo.sh"
    env = {**os.environ, "AMNESIA_VENV": str(Path(sys.executable).parent.parent),
           "AMNESIA_NO_INSTALL": "1"}
    result = subprocess.run(["bash", str(script), "--out", str(experiment), "--frames", "20",
                             "--size", "32", "--no-motion", "--no-cnmf", "--no-skeleton"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "not written by napari-amnesia" in result.stderr and "notes.txt" in result.stderr
    assert (experiment / "notes.txt").read_text() == "precious"
    assert [p.name for p in experiment.iterdir()] == ["notes.txt"]


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


@pytest.mark.parametrize("argv, option, library", [
    (["cnmf", "{movie}", "--out", "{tmp}/o", "--gsig", "0"], "--gsig", "CNMFParams"),
    (["summary", "{movie}", "--out", "{tmp}/o", "--channel", "3"], "--channel 3", "channel="),
    (["summary", "{movie}", "--out", "{tmp}/exists"], "--overwrite", "overwrite=True"),
])
def test_errors_name_the_command_line_option(tmp_path, capsys, argv, option, library):
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.ones((30, 32, 32), np.uint16), photometric="minisblack")
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "x").write_text("x")
    assert main(["-q", *[a.format(tmp=tmp_path, movie=movie) for a in argv]]) == 1
    err = _one_error(capsys)
    assert option in err and library not in err, err


def test_library_messages_in_the_command_line_words():
    from napari_amnesia.cli import in_cli_words

    names = {"gSig": "--gsig", "min_SNR": "--min-snr", "channel": "--channel",
             "nan_policy": "--nan-policy", "overwrite": "--overwrite", "K": "--k"}
    assert in_cli_words("CNMFParams.gSig should be positive, got 0.", names) == \
        "--gsig should be positive, got 0."
    assert in_cli_words("min_SNR should be > 0", names) == "--min-snr should be > 0"
    assert in_cli_words("has no channel axis; got channel=3.", names) == \
        "has no channel axis; got --channel 3."
    assert in_cli_words("pass nan_policy='fill' or overwrite=True.", names) == \
        "pass --nan-policy fill or --overwrite."
    assert in_cli_words("K components; raise K", names) == "K components; raise K"


def test_help_has_no_rest_markup():
    import re

    from napari_amnesia.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    texts = {"amnesia": parser.format_help()}
    texts.update({name: sub.format_help() for name, sub in subparsers.choices.items()})
    markup = re.compile(r"\[\w+\]_|``|:(?:func|class|meth|mod|attr|data):|`_")
    found = {name: markup.findall(text) for name, text in texts.items() if markup.search(text)}
    assert not found, found


def test_tifffile_lines_are_not_printed_before_the_message(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"not a tiff at all" * 8)
    script = Path(sys.executable).parent / "amnesia"
    result = subprocess.run([str(script), "info", str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"amnesia: error: {bad}: TIFF file has no image series."], result.stderr


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


@pytest.fixture
def nan_movie(tmp_path):
    data = np.random.default_rng(2).random((30, 24, 24)).astype(np.float32) + 1
    data[[3, 7, 20]] = np.nan
    data[25, 2, 2] = np.nan
    path = tmp_path / "nan.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    return path


def test_info_reports_nan_frames(nan_movie, capsys):
    assert main(["-q", "info", str(nan_movie), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["nan_frames"] == 4 and info["first_nan_frames"] == [3, 7, 20, 25]


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


def test_nan_policy_fill_warns_once(nan_movie, tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["-q", "summary", str(nan_movie), "--out", str(out), "--no-report",
                 "--nan-policy", "fill"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("amnesia: warning: "), captured.err
    assert "4 of 30 frames" in lines[0] and "--nan-policy fill" in lines[0]
    assert np.isfinite(tifffile.imread(out / "summary" / "mean.tif")).all()


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


def test_library_warnings_are_plain_lines_in_option_words(tmp_path, capsys):
    """A warning the library logs (a patch grid that does not fit, shifts the data do
    not support) reaches the terminal as one ``amnesia: warning:`` line that names the
    option (``--min-shift-support``), not as ``WARNING napari_amnesia.core...`` with a
    parameter name."""
    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.simulate import simulate

    movie, _ = simulate(n_frames=60, shape=(100, 100), n_cells=8, rng=2)
    movie = movie.astype(np.float32)
    rng = np.random.default_rng(0)
    movie[[10, 30]] = rng.normal(float(movie.mean()), float(movie.std()),
                                 (2, 100, 100))  # frames without the tissue
    save_movie(movie, tmp_path / "m.tif")
    assert main(["motion", str(tmp_path / "m.tif"), "--out", str(tmp_path / "res"),
                 "--pw-rigid", "true"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("amnesia: warning: ") for line in err), err
    assert any("patch grid" in line for line in err), err
    support = [line for line in err if "not support" in line]
    assert support and "--min-shift-support" in support[0], err
    assert not any("napari_amnesia" in line or "min_shift_support" in line for line in err)


def test_paths_named_like_a_parameter_are_not_rewritten(tmp_path, capsys):
    """Errors speak in option words, but a file path that contains a parameter's name
    (a folder called max_shifts/) is printed as it is."""
    folder = tmp_path / "max_shifts"
    folder.mkdir()
    (folder / "fake.tif").write_text("not a movie")
    assert main(["motion", str(folder / "fake.tif"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert str(folder / "fake.tif") in err and "--max-shifts" not in err, err
