"""core.batch: one configuration over many recordings, locally and on a real LocalCluster."""

import csv
import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_amnesia.core.batch import (
    RECORDING_FILE,
    BatchResult,
    iter_run_batch,
    recording_names,
    run_batch,
)
from napari_amnesia.core.batch.recording import BATCH_MAX_IN_MEMORY_MB
from napari_amnesia.core.io import open_movie
from napari_amnesia.core.simulate import simulate

CONFIG = {"motion": {"max_shifts": [4, 4]}, "summary": {},
          "cnmf": {"gSig": [3, 3], "K": 8, "rf": None}}
COLUMNS = ["name", "path", "status", "error", "warnings", "frames", "height", "width",
           "largest_shift", "components", "accepted", "median_snr", "elapsed_motion",
           "elapsed_summary", "elapsed_cnmf", "elapsed", "folder"]
COMPARED = ("status", "frames", "height", "width", "largest_shift", "components", "accepted",
            "median_snr", "warnings")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Three simulated recordings: two TIFF files and a folder img1.tif ... img200.tif."""
    root = tmp_path_factory.mktemp("study")
    recordings, truths = [], []
    for seed in range(3):
        movie, truth = simulate(n_frames=200, shape=(64, 64), n_cells=6, n_neurite_groups=1,
                                branches_per_group=2, rng=seed)
        if seed == 2:
            folder = root / "Animal_3"
            folder.mkdir()
            for t, frame in enumerate(movie):
                tifffile.imwrite(folder / f"img{t + 1}.tif", frame)
            recordings.append(folder)
        else:
            path = root / f"Animal_{seed + 1}.tif"
            tifffile.imwrite(path, movie)
            recordings.append(path)
        truths.append((movie, truth))
    return {"root": root, "recordings": recordings, "truths": truths}


@pytest.fixture(scope="module")
def local_run(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "batch"
    return run_batch(CONFIG, study["recordings"], out)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as lc, \
            distributed.Client(lc, timeout="60s") as client:
        yield client


@pytest.fixture
def deadline():
    """Fail a cluster test that hangs (SIGALRM in the main thread) instead of blocking CI."""
    def expired(signum, frame):
        raise TimeoutError("the batch on the LocalCluster took over 240 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(240)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _compared(rows):
    return [{k: row[k] for k in ("name", *COMPARED)} for row in rows]


def test_names_are_unique_and_plain():
    assert recording_names(["a/m.tif", "b/m.tif", "c/m.tif", "A1/*.tif", "day2/",
                            "x/run.ome.tif"]) == ["m", "m-2", "m-3", "A1", "day2", "run"]


def test_folder_of_frames_is_read_in_natural_order(study):
    movie, _ = study["truths"][2]
    np.testing.assert_array_equal(open_movie(study["recordings"][2]).compute(), movie)


def test_local_batch_finds_the_planted_cells(study, local_run):
    from napari_amnesia.core.cnmf import SourceResult
    from napari_amnesia.core.motion import MotionResult
    from napari_amnesia.core.scoring import score_sources, shift_rmse

    assert isinstance(local_run, BatchResult)
    assert [r["status"] for r in local_run.rows] == ["done"] * 3
    assert [r["name"] for r in local_run.rows] == ["Animal_1", "Animal_2", "Animal_3"]
    for row, (_, truth) in zip(local_run.rows, study["truths"], strict=True):
        folder = Path(row["folder"])
        assert row["frames"] == 200 and row["height"] == row["width"] == 64
        motion = MotionResult.load(folder / "motion")
        assert shift_rmse(motion.shifts, truth.shifts) < 0.5
        assert row["largest_shift"] == pytest.approx(
            np.hypot(*motion.shifts.T).max(), abs=1e-3)
        sources = SourceResult.load(folder / "cnmf" / "result")
        assert row["components"] == sources.K and row["accepted"] == sources.accepted.sum()
        offset = np.mean(np.asarray(truth.shifts) - motion.shifts, axis=0)
        score = score_sources(sources, truth, offset)
        assert score["recall"] >= 0.65, score  # 4 of the 6 planted cells at least
        assert (folder / "summary.json").is_file() and (folder / "config.yaml").is_file()
        assert json.loads((folder / RECORDING_FILE).read_text())["status"] == "done"


def test_csv_and_json(local_run):
    out = local_run.out
    rows = _csv(out / "batch.csv")
    assert list(rows[0]) == COLUMNS
    assert [r["status"] for r in rows] == ["done"] * 3
    assert rows[0]["largest_shift"] == str(local_run.rows[0]["largest_shift"])
    assert local_run.table() == local_run.rows and local_run.table() is not local_run.rows
    data = json.loads((out / "batch.json").read_text())
    assert {"napari_amnesia", "dask", "distributed", "config", "recordings"} <= set(data)
    assert data["config"]["cnmf"]["K"] == 8
    # long recordings are streamed: a worker's memory does not grow with their length
    assert data["config"]["cnmf"]["max_in_memory_mb"] == BATCH_MAX_IN_MEMORY_MB
    assert [len(r["hash"]) for r in data["recordings"]] == [64] * 3
    cells = _csv(out / "cells.csv")
    assert list(cells[0]) == ["recording", "component", "accepted", "snr", "event_rate",
                              "amplitude"]
    assert {c["recording"] for c in cells} == {"Animal_1", "Animal_2", "Animal_3"}
    assert len(cells) == sum(r["components"] for r in local_run.rows)
    active = [float(c["event_rate"]) for c in cells if c["accepted"] == "True"]
    assert all(0 < rate < 30 for rate in active)


def test_cluster_equals_local(study, local_run, cluster, tmp_path, deadline):
    from napari_amnesia.core.motion import MotionResult

    steps = []
    result = run_batch(CONFIG, study["recordings"], tmp_path / "batch", client=cluster,
                       progress=steps.append)
    assert _compared(result.rows) == _compared(local_run.rows)
    assert steps[-1].done == steps[-1].total == 3
    for here, there in zip(local_run.rows, result.rows, strict=True):
        a = MotionResult.load(Path(here["folder"]) / "motion").shifts
        b = MotionResult.load(Path(there["folder"]) / "motion").shifts
        np.testing.assert_array_equal(a, b)
        for name in ("cells.csv",):
            assert (Path(here["folder"]) / name).read_text() == \
                (Path(there["folder"]) / name).read_text()


def test_missing_and_corrupt_recordings_fail_alone(study, tmp_path):
    bad = tmp_path / "corrupt.tif"
    bad.write_bytes(b"this is not a TIFF")
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((5, 5), np.float32))
    recordings = [tmp_path / "missing.tif", bad, study["recordings"][0], flat]
    result = run_batch(CONFIG, recordings, tmp_path / "batch")
    status = {r["name"]: r["status"] for r in result.rows}
    assert status == {"missing": "failed", "corrupt": "failed", "Animal_1": "done",
                      "flat": "failed"}
    errors = {r["name"]: r["error"] for r in result.failed}
    assert "missing.tif" in errors["missing"] and "\n" not in errors["corrupt"]
    assert errors["corrupt"] and errors["flat"]
    rows = _csv(tmp_path / "batch" / "batch.csv")
    assert [r["status"] for r in rows] == ["failed", "failed", "done", "failed"]
    assert not (tmp_path / "batch" / "corrupt").exists()


def test_resume_skips_done_and_redoes_changed(study, tmp_path):
    first = study["recordings"][0]
    recordings = [tmp_path / "one.tif", tmp_path / "two.tif"]
    for path in recordings:
        path.write_bytes(Path(first).read_bytes())
    out = tmp_path / "batch"
    done = run_batch(CONFIG, recordings, out)
    assert [r["status"] for r in done.rows] == ["done", "done"]
    again = run_batch(CONFIG, recordings, out)
    assert [r["status"] for r in again.rows] == ["skipped", "skipped"]
    assert _compared(again.rows)[0] == {**_compared(done.rows)[0], "status": "skipped"}
    stamp = os.stat(recordings[1]).st_mtime_ns + 5_000_000_000
    os.utime(recordings[1], ns=(stamp, stamp))  # touched: a new modification time
    touched = run_batch(CONFIG, recordings, out)
    assert [r["status"] for r in touched.rows] == ["skipped", "done"]
    changed = run_batch({**CONFIG, "cnmf": {**CONFIG["cnmf"], "K": 6}}, recordings, out)
    assert [r["status"] for r in changed.rows] == ["done", "done"]
    forced = run_batch({**CONFIG, "cnmf": {**CONFIG["cnmf"], "K": 6}}, recordings, out,
                       force=True)
    assert [r["status"] for r in forced.rows] == ["done", "done"]
    assert [r["status"] for r in _csv(out / "batch.csv")] == ["done", "done"]


def test_interrupted_batch_resumes(study, tmp_path):
    out = tmp_path / "batch"
    generator = iter_run_batch(CONFIG, study["recordings"][:2], out)
    for step in generator:
        if step.done == 1:  # the first recording is done: stop there (Ctrl-C, a closed dock)
            generator.close()
            break
    rows = _csv(out / "batch.csv")
    assert [r["status"] for r in rows] == ["done", "pending"]
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    resumed = run_batch(CONFIG, study["recordings"][:2], out)
    assert [r["status"] for r in resumed.rows] == ["skipped", "done"]


def test_folders_the_batch_did_not_write_are_kept(study, tmp_path):
    out = tmp_path / "batch"
    (out / "Animal_1").mkdir(parents=True)
    (out / "Animal_1" / "notes.txt").write_text("mine")
    result = run_batch(CONFIG, study["recordings"][:1], out, overwrite=True)
    assert result.rows[0]["status"] == "failed"
    assert (out / "Animal_1" / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="no recording"):
        run_batch(CONFIG, [], out)


def test_worker_killed_mid_run_costs_only_its_task(study, local_run, tmp_path,
                                                     deadline):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "batch"
    out.mkdir()
    killed = []

    def kill_first_busy_worker(client, stop):
        pids = client.run(os.getpid)
        while not stop.is_set():
            # a recording's temporary folder exists: its worker is writing it now
            if any(p.name.endswith(".part") for p in out.iterdir()):
                busy = [w for w, keys in client.processing().items() if keys]
                if busy:
                    os.kill(pids[busy[0]], 9)
                    killed.append(busy[0])
                    return
            time.sleep(0.01)

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as lc, \
            distributed.Client(lc, timeout="60s") as client:
        stop = threading.Event()
        killer = threading.Thread(target=kill_first_busy_worker, args=(client, stop))
        killer.start()
        try:
            result = run_batch(CONFIG, study["recordings"], out, client=client)
        finally:
            stop.set()
            killer.join(timeout=30)
    assert killed, "no worker was killed: the test did not test anything"
    assert _compared(result.rows) == _compared(local_run.rows)
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
