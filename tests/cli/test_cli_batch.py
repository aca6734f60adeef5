"""``amnesia batch``: exit statuses, one error line per failed recording, dask clusters."""

import csv
import json
import signal

import pytest
import tifffile

from napari_amnesia.cli import build_parser, main
from napari_amnesia.core.simulate import simulate

CONFIG = "motion: {max_shifts: [4, 4]}\nsummary: {}\ncnmf: {gSig: [3, 3], K: 6, rf: null}\n"
VALUES = ("name", "status", "frames", "largest_shift", "components", "accepted", "median_snr")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_study")
    paths = []
    for seed in range(2):
        movie, _ = simulate(n_frames=120, shape=(64, 64), n_cells=5, n_neurite_groups=1,
                            branches_per_group=2, rng=seed)
        if seed == 1:
            (root / "A2").mkdir()
            for t, frame in enumerate(movie):
                tifffile.imwrite(root / "A2" / f"img{t + 1}.tif", frame)
            paths.append(str(root / "A2" / "img*.tif"))  # a quoted glob
        else:
            tifffile.imwrite(root / "A1.tif", movie)
            paths.append(str(root / "A1.tif"))
    config = root / "config.yaml"
    config.write_text(CONFIG)
    return {"config": str(config), "recordings": paths}


@pytest.fixture(scope="module")
def local(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_local") / "batch"
    assert main(["-q", "batch", study["config"], *study["recordings"], "--out", str(out)]) == 0
    return _rows(out)


@pytest.fixture
def deadline():
    """Fail a cluster test that hangs instead of blocking the run."""
    def expired(signum, frame):
        raise TimeoutError("amnesia batch on a LocalCluster took over 240 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(240)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _rows(out):
    with open(out / "batch.csv", newline="") as fh:
        return [{k: row[k] for k in VALUES} for row in csv.DictReader(fh)]


def test_help_lists_batch_after_run():
    text = build_parser().format_help()
    assert text.index(" run ") < text.index(" batch ") < text.index(" apply-shifts ")
    usage = build_parser()._subparsers._group_actions[0].choices["batch"].format_help()
    for option in ("--out", "--workers", "--scheduler", "--force", "--overwrite", "--quiet"):
        assert option in usage


def test_local_batch_and_rerun(study, local, tmp_path, capsys):
    assert [r["status"] for r in local] == ["done", "done"]
    assert [r["name"] for r in local] == ["A1", "A2"]
    assert all(int(r["frames"]) == 120 and int(r["components"]) > 0 for r in local)
    out = tmp_path / "batch"
    args = ["batch", study["config"], *study["recordings"], "--out", str(out), "-q"]
    assert main(args) == 0
    assert main(args) == 0
    assert "0 done, 2 skipped, 0 failed" in capsys.readouterr().out
    assert main([*args, "--force"]) == 0
    assert "2 done, 0 skipped" in capsys.readouterr().out
    # the batch figure: counts and rates per recording, the package's own file
    from napari_amnesia.core.files import read_manifest

    assert (out / "batch.png").stat().st_size > 10_000
    assert "batch.png" in read_manifest(out)["files"]


def test_failed_recordings_exit_1_with_one_line_each(study, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"not a tiff")
    out = tmp_path / "batch"
    status = main(["-q", "batch", study["config"], str(tmp_path / "missing.tif"), str(corrupt),
                   study["recordings"][0], "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 1
    lines = [line for line in err.splitlines() if line.startswith("amnesia: error:")]
    assert len(lines) == 2, err
    assert "missing" in lines[0] and "corrupt" in lines[1]
    assert [r["status"] for r in _rows(out)] == ["failed", "failed", "done"]


def test_usage_errors_exit_2(study, tmp_path):
    for argv in (["batch", study["config"], "--out", str(tmp_path)],
                 ["batch", study["config"], study["recordings"][0]],
                 ["batch", study["config"], study["recordings"][0], "--out", str(tmp_path),
                  "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2


def test_bad_config_and_scheduler_are_one_clear_error(study, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cnmf: {gSig: -3}\n")
    assert main(["batch", str(bad), study["recordings"][0], "--out", str(tmp_path / "o")]) == 1
    assert "amnesia: error:" in capsys.readouterr().err
    assert main(["batch", study["config"], study["recordings"][0], "--out",
                 str(tmp_path / "o"), "--scheduler", str(tmp_path / "nothing.json")]) == 1
    assert "--scheduler" in capsys.readouterr().err
    assert main(["batch", study["config"], study["recordings"][0], "--out",
                 str(tmp_path / "o"), "--workers", "0"]) == 1
    assert "--workers" in capsys.readouterr().err


def test_workers_2_equals_local(study, local, tmp_path, capsys, deadline):
    out = tmp_path / "batch"
    assert main(["-q", "batch", study["config"], *study["recordings"], "--out", str(out),
                 "--workers", "2"]) == 0
    assert "dashboard" in capsys.readouterr().err
    assert _rows(out) == local


def test_scheduler_address_and_file(study, local, tmp_path, deadline):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster, timeout="60s"):
        out = tmp_path / "by_address"
        assert main(["-q", "batch", study["config"], *study["recordings"], "--out", str(out),
                     "--scheduler", cluster.scheduler_address]) == 0
        assert _rows(out) == local
        scheduler_file = tmp_path / "scheduler.json"  # as `dask scheduler --scheduler-file`
        scheduler_file.write_text(json.dumps({"type": "Scheduler",
                                              "address": cluster.scheduler_address}))
        out = tmp_path / "by_file"
        assert main(["-q", "batch", study["config"], study["recordings"][0], "--out",
                     str(out), "--scheduler", str(scheduler_file)]) == 0
        assert _rows(out) == local[:1]


def test_batch_figure_draws_the_totals():
    """The figure's bars are recordings.csv's counts, its diamonds the accepted cells' means."""
    from napari_amnesia.report import batch_figure

    rows = [{"name": "a", "status": "done", "components": 9, "accepted": 9},
            {"name": "b", "status": "skipped"}, {"name": "c", "status": "failed"}]
    cells = [{"recording": r, "accepted": "True", "event_rate": v, "snr": 2 * v}
             for r, v in (("a", 1.0), ("a", 3.0), ("b", 0.5))]
    totals = [{"recording": "a", "components": 4, "accepted": 2, "mean_event_rate": 2.0,
               "mean_snr": 4.0, "skeleton_n_branches": 7, "skeleton_total_length": 90.0},
              {"recording": "b", "components": 1, "accepted": 1, "mean_event_rate": 0.5,
               "mean_snr": 1.0, "skeleton_n_branches": 3, "skeleton_total_length": 40.0}]
    fig = batch_figure(rows, cells, totals)
    counts, rates, snr, skeleton = fig.axes[:4]
    assert [p.get_height() for p in counts.patches] == [4, 1, 2, 1]  # found, then accepted
    assert list(rates.lines[-1].get_ydata()) == [2.0, 0.5]
    assert list(snr.lines[-1].get_ydata()) == [4.0, 1.0]
    assert [p.get_height() for p in skeleton.patches] == [7, 3]
    assert "2 recording(s), 1 failed" in fig._suptitle.get_text()
    without = batch_figure(rows, cells)  # batch.csv's counts; no skeleton panel
    assert len(without.axes) == 3
    assert [p.get_height() for p in without.axes[0].patches][:1] == [9]
    import matplotlib.pyplot as plt

    plt.close(fig)
    plt.close(without)


def test_warnings_are_shown_and_counted(tmp_path, capsys):
    """A blank recording's empty skeleton: one warning line, and its row says it."""
    import numpy as np

    tifffile.imwrite(tmp_path / "blank.tif", np.full((20, 32, 32), 7, np.uint16))
    (tmp_path / "skeleton.yaml").write_text("skeleton: {}\n")
    out = tmp_path / "batch"
    assert main(["-q", "batch", str(tmp_path / "skeleton.yaml"), str(tmp_path / "blank.tif"),
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "1 done, 0 skipped, 0 failed, 1 with warnings" in captured.out
    assert "amnesia: warning: skeleton: empty skeleton" in captured.err
    with open(out / "batch.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert row["warnings"].startswith("skeleton: empty skeleton")
