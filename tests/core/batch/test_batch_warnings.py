"""A recording's warnings end up in its row of batch.csv, here and from a cluster's worker."""

import csv
import logging
import threading
import warnings

import numpy as np
import pytest
import tifffile

from napari_amnesia.core.batch import RecordingWarning, run_batch
from napari_amnesia.core.batch.recording import collect_warnings

#: K=2 caps CNMF on a movie of 5 cells (a warnings.warn); the skeleton of a blank movie is
#: empty (a log record of level WARNING)
CONFIG = {"summary": {}, "cnmf": {"gSig": [3, 3], "K": 2, "rf": None}, "skeleton": {}}
CAPPED = "K=2 capped the count"
EMPTY = "empty skeleton: no pixel exceeds its neighbourhood"


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    from napari_amnesia.core.simulate import simulate

    root = tmp_path_factory.mktemp("warned")
    movie, _ = simulate(n_frames=100, shape=(48, 48), n_cells=5, n_neurite_groups=0,
                        motion=False, rng=3)
    tifffile.imwrite(root / "cells.tif", movie)
    tifffile.imwrite(root / "blank.tif", np.full((100, 48, 48), 100, np.uint16))
    return [root / "cells.tif", root / "blank.tif"]


@pytest.fixture(scope="module")
def local(recordings, tmp_path_factory):
    out = tmp_path_factory.mktemp("warned_local") / "batch"
    return run_batch(CONFIG, recordings, out)


def _warnings(rows):
    return {row["name"]: row["warnings"] or "" for row in rows}


def test_each_row_has_its_own_warnings(local):
    found = _warnings(local.rows)
    assert CAPPED in found["cells"] and EMPTY not in found["cells"]
    assert EMPTY in found["blank"] and CAPPED not in found["blank"]
    with open(local.out / "batch.csv", newline="") as fh:
        written = _warnings(csv.DictReader(fh))
    assert written == found
    again = run_batch(CONFIG, [r["path"] for r in local.rows], local.out)  # skipped rows
    assert [r["status"] for r in again.rows] == ["skipped", "skipped"]
    assert _warnings(again.rows) == found


def test_warnings_of_a_worker_come_back_in_the_row(recordings, local, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster, timeout="60s") as client:
        with pytest.warns(RecordingWarning) as shown:
            result = run_batch(CONFIG, recordings, tmp_path / "batch", client=client)
    assert _warnings(result.rows) == _warnings(local.rows)
    texts = [str(w.message) for w in shown if issubclass(w.category, RecordingWarning)]
    assert any(t.startswith("cells: ") and CAPPED in t for t in texts)  # shown here too
    assert any(t.startswith("blank: skeleton: ") and EMPTY in t for t in texts)


def test_collecting_keeps_each_warning_once_and_shows_it_as_before():
    shown = []
    logger = logging.getLogger("napari_amnesia.test")
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, *args, **kwargs: shown.append(str(message))
        before = warnings.showwarning
        for _ in range(2):  # "once per place" starts afresh with each recording
            with collect_warnings() as collected:
                for _ in range(3):
                    warnings.warn("frames without data", RuntimeWarning, stacklevel=1)
                warnings.warn("old API", DeprecationWarning, stacklevel=1)
                logger.warning("empty  skeleton:\n lower threshold_offset")
            assert collected == ["frames without data", "empty skeleton: lower threshold_offset"]
        assert warnings.showwarning is before  # put back
    assert shown.count("frames without data") == 2 and "old API" in shown


def test_recordings_in_threads_at_once_leave_warnings_as_they_were():
    barrier = threading.Barrier(3)
    results = {}

    def recording(name):
        with collect_warnings() as collected:
            barrier.wait()
            warnings.warn(f"{name} warned", UserWarning, stacklevel=1)
            barrier.wait()
        results[name] = collected

    threads = [threading.Thread(target=recording, args=(n,)) for n in ("a", "b", "c")]
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = before = lambda *args, **kwargs: None
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert warnings.showwarning is before
    assert all(f"{n} warned" in results[n] for n in "abc")
