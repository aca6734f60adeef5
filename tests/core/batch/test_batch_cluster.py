"""core.batch.cluster: the one way the command, the dock and scripts reach a dask cluster."""

import json

import pytest

from napari_amnesia.core.batch.cluster import check_cluster, connect, describe, where

CLI = {"scheduler": "--scheduler", "workers": "--workers"}


def test_choices_are_checked_without_connecting(tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    scheduler_file.write_text("{}")
    assert check_cluster() == ("here", None)
    assert check_cluster(None, 3) == ("workers", 3)
    assert check_cluster("tcp://10.1.2.3:8786") == ("address", "tcp://10.1.2.3:8786")
    assert check_cluster(" node7:8786 ") == ("address", "node7:8786")
    assert check_cluster(scheduler_file) == ("file", str(scheduler_file))
    assert check_cluster("  ", None) == ("here", None)  # an empty field: here
    assert where(None, None) == "here"
    assert where(None, 2) == "2 local worker process(es)"
    assert where("tcp://h:1") == "the cluster at tcp://h:1"


@pytest.mark.parametrize("scheduler, workers, error, message", [
    (None, 0, ValueError, "--workers should be at least 1, got 0."),
    (None, -2, ValueError, "--workers should be at least 1, got -2."),
    (None, True, ValueError, "--workers should be at least 1, got True."),
    ("tcp://h:8786", 2, ValueError, "give either --workers or --scheduler, not both"),
    ("localhost", None, FileNotFoundError, "--scheduler 'localhost' is neither an address"),
    ("host:port", None, FileNotFoundError, "--scheduler 'host:port' is neither an address"),
])
def test_bad_choices_name_the_option_as_the_interface_does(scheduler, workers, error, message):
    with pytest.raises(error) as raised:
        check_cluster(scheduler, workers, labels=CLI)
    assert message in str(raised.value)
    with pytest.raises(error) as raised:  # the dock's words: its fields' labels
        with connect(scheduler, workers):
            pass
    assert "--" not in str(raised.value)


def test_here_yields_no_client():
    with connect() as client:
        assert client is None
    assert describe(None) == "this process"


def test_unreachable_scheduler_and_bad_scheduler_files(tmp_path):
    not_json = tmp_path / "not-json.json"
    not_json.write_text("this is not JSON")
    no_address = tmp_path / "no-address.json"
    no_address.write_text(json.dumps({"type": "Scheduler"}))
    for path, words in ((not_json, "not a scheduler file"), (no_address, "names no 'address'")):
        with pytest.raises(OSError, match=words) as raised:
            with connect(path, labels=CLI):
                pass
        assert str(raised.value).startswith(f"--scheduler {path}: ")
    with pytest.raises(OSError, match=r"^scheduler tcp://127\.0\.0\.1:1: could not connect"):
        with connect("tcp://127.0.0.1:1", timeout="1s"):
            pass
    unreachable = tmp_path / "unreachable.json"
    unreachable.write_text(json.dumps({"address": "tcp://127.0.0.1:1"}))
    with pytest.raises(OSError, match="could not connect to tcp://127.0.0.1:1"):
        with connect(unreachable, timeout="1s"):
            pass


def _numba_threads() -> int:
    import numba

    return numba.get_num_threads()


def test_workers_start_a_cluster_closed_after_and_a_running_one_is_reached(tmp_path):
    distributed = pytest.importorskip("distributed")
    with connect(workers=1) as client:
        info = client.scheduler_info()["workers"]
        assert [w["nthreads"] for w in info.values()] == [1]
        assert "1 worker(s)" in describe(client) and "dashboard http" in describe(client)
        with pytest.raises(ValueError):  # not dask's default: the caller's arrays stay here
            distributed.default_client()
        assert client.submit(sum, [1, 2]).result() == 3
        # numba's parallel loops too use the worker's one thread, not every core
        assert client.submit(_numba_threads).result() == 1
    assert client.status == "closed"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        scheduler_file = tmp_path / "scheduler.json"  # as dask scheduler --scheduler-file
        scheduler_file.write_text(json.dumps({"type": "Scheduler",
                                              "address": cluster.scheduler_address}))
        for scheduler in (cluster.scheduler_address, scheduler_file):
            with connect(scheduler) as client:
                assert client.submit(sum, [2, 3]).result() == 5
                assert cluster.scheduler_address in describe(client)
            assert client.status == "closed"
        assert cluster.status.name == "running"  # a cluster it did not start keeps running
