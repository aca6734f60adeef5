"""core.batch.tables: per-recording totals, checked against the per-cell and branch tables."""

import csv
import json

import numpy as np
import pytest
import tifffile

from napari_amnesia.core.batch import run_batch
from napari_amnesia.core.batch.tables import TOTAL_COLUMNS, recording_totals

CONFIG = {"summary": {}, "cnmf": {"gSig": [3, 3], "K": 8, "rf": None}, "skeleton": {}}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two simulated recordings with neurites, and a batch of summary, CNMF and skeleton."""
    from napari_amnesia.core.simulate import simulate

    root = tmp_path_factory.mktemp("tables")
    paths = []
    for seed in range(2):
        movie, _ = simulate(n_frames=150, shape=(64, 64), n_cells=6, n_neurite_groups=2,
                            branches_per_group=3, motion=False, rng=seed)
        paths.append(root / f"rec{seed}.tif")
        tifffile.imwrite(paths[-1], movie)
    return {"paths": paths, "out": root / "batch",
            "result": run_batch(CONFIG, paths, root / "batch")}


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_totals_agree_with_the_cells_table(study):
    out, result = study["out"], study["result"]
    assert [r["status"] for r in result.rows] == ["done", "done"]
    cells, totals = _csv(out / "cells.csv"), _csv(out / "recordings.csv")
    assert list(totals[0])[:len(TOTAL_COLUMNS)] == list(TOTAL_COLUMNS)
    assert [t["recording"] for t in totals] == ["rec0", "rec1"]
    for total, row in zip(totals, result.rows, strict=True):
        mine = [c for c in cells if c["recording"] == total["recording"]]
        accepted = [c for c in mine if c["accepted"] == "True"]
        assert int(total["components"]) == len(mine) == row["components"] > 0
        assert int(total["accepted"]) == len(accepted) == row["accepted"] > 0
        for key in ("event_rate", "amplitude", "snr"):
            values = np.array([float(c[key]) for c in accepted])
            assert float(total[f"median_{key}"]) == pytest.approx(np.median(values), abs=1e-4)
            assert float(total[f"mean_{key}"]) == pytest.approx(np.mean(values), abs=1e-4)
        assert float(total["median_snr"]) == pytest.approx(row["median_snr"], abs=1e-4)
        assert int(total["frames"]) == 150 and total["path"] == str(row["path"])
    # the result holds the same tables as the files
    assert len(result.cells) == len(cells) and len(result.totals) == len(totals)
    for here, there in zip(result.totals, totals, strict=True):
        assert here["mean_event_rate"] == pytest.approx(float(there["mean_event_rate"]))


def test_skeleton_totals_statistics_and_branches(study):
    out = study["out"]
    totals = _csv(out / "recordings.csv")
    statistics = _csv(out / "skeleton_statistics.csv")
    branches = _csv(out / "branches.csv")
    assert [s["recording"] for s in statistics] == ["rec0", "rec1"]
    assert [s["path"] for s in statistics] == [str(p) for p in study["paths"]]
    assert list(statistics[0])[:4] == ["path", "n_frames", "height", "width"]
    for total, stat in zip(totals, statistics, strict=True):
        name = total["recording"]
        own = json.loads((out / name / "skeleton" / "totals.json").read_text())
        assert int(total["skeleton_n_branches"]) == own["n_branches"] == int(stat["n_branches"])
        assert int(total["skeleton_pixels"]) == own["skeleton_pixels"]
        assert stat["folder"] == f"{name}/skeleton" and (out / stat["folder"]).is_dir()
        mine = [b for b in branches if b["recording"] == name]
        assert len(mine) == own["n_branches"] > 0
        # the total length is the sum of the branches' lengths
        assert sum(float(b["length"]) for b in mine) == pytest.approx(
            float(total["skeleton_total_length"]), rel=1e-6)


def test_a_rerun_keeps_the_tables_and_a_new_configuration_replaces_them(study, tmp_path):
    out = tmp_path / "batch"
    run_batch(CONFIG, study["paths"][:1], out)
    first = (out / "recordings.csv").read_text()
    again = run_batch(CONFIG, study["paths"][:1], out)
    assert [r["status"] for r in again.rows] == ["skipped"]  # skipped recordings count too
    assert (out / "recordings.csv").read_text() == first
    assert len(_csv(out / "skeleton_statistics.csv")) == 1
    no_skeleton = run_batch({k: v for k, v in CONFIG.items() if k != "skeleton"},
                            study["paths"][:1], out)
    assert [r["status"] for r in no_skeleton.rows] == ["done"]
    totals = _csv(out / "recordings.csv")
    assert not [c for c in totals[0] if c.startswith("skeleton_")]
    assert _csv(out / "skeleton_statistics.csv") == [] and _csv(out / "branches.csv") == []
    assert (out / "skeleton_statistics.csv").read_text().startswith("path,")


def test_recording_totals_ignore_rejected_and_missing_values():
    cells = [{"component": "1", "accepted": "True", "snr": "nan", "event_rate": "2.0",
              "amplitude": "1.0"},
             {"component": "2", "accepted": "True", "snr": "5.0", "event_rate": "1.0",
              "amplitude": "3.0"},
             {"component": "3", "accepted": "True", "snr": "3.0", "event_rate": "0.0",
              "amplitude": "2.0"},
             {"component": "4", "accepted": "False", "snr": "99", "event_rate": "99",
              "amplitude": "99"}]
    totals = recording_totals(cells)
    assert (totals["components"], totals["accepted"]) == (4, 3)
    assert (totals["median_snr"], totals["mean_snr"]) == (4.0, 4.0)  # NaN left out
    assert (totals["median_event_rate"], totals["mean_event_rate"]) == (1.0, 1.0)
    assert totals["median_amplitude"] == 2.0
    none = recording_totals([dict(c, accepted="False") for c in cells])
    assert none["accepted"] == 0 and none["median_snr"] is None
    assert recording_totals([], cnmf=False, skeleton={"n_branches": 3}) == {
        "skeleton_n_branches": 3}
    blank = {"component": "1", "accepted": "True", "snr": "", "event_rate": "1",
             "amplitude": "1"}  # a blank cell of a CSV: no value, not zero
    assert recording_totals([blank])["median_snr"] is None
    assert recording_totals([blank])["mean_event_rate"] == 1.0
