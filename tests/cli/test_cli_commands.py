"""The ``amnesia`` commands of cli/commands.py: demo (and --view), info, apply-shifts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile
from cli_data import _one_error

from napari_amnesia.cli import main


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


def test_one_photon_demo_runs_cnmf_e_on_the_miniscope_scene(tmp_path):
    """amnesia demo --mode one_photon: the simulator's standard miniscope scene, fitted by
    CNMF-E (corr/PNR seeds, ring background) and scored against its in-focus cells."""
    out = tmp_path / "demo1p"
    assert main(["-q", "demo", "--mode", "one_photon", "--out", str(out), "--frames", "300",
                 "--size", "128", "--no-skeleton"]) == 0
    record = json.loads((out / "summary.json").read_text())
    config = record["stages"]["cnmf"]["params"]
    assert config["method_init"] == "corr_pnr" and config["gnb"] == 0
    assert record["stages"]["motion"]["params"]["gSig_filt"] == 4.0
    found = record["stages"]["cnmf"]["truth"]
    # detections of out-of-focus cells are not scored (issue 16's rule); the two-photon
    # settings the demo used before gave ~0.4
    assert found["f1"] >= 0.85 and found["median_trace_r"] >= 0.9, found
    assert found["out_of_focus_components"] > 0  # the scene has them, and some are found


def test_view_without_a_display_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--out", str(out), "--frames", "30", "--size", "48",
                 "--view"]) == 1
    err = capsys.readouterr().err
    assert "needs a display" in err and str(out) in err
    assert (out / "summary.json").is_file()  # the results were written all the same


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


def test_info_reports_nan_frames(nan_movie, capsys):
    assert main(["-q", "info", str(nan_movie), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["nan_frames"] == 4 and info["first_nan_frames"] == [3, 7, 20, 25]


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
