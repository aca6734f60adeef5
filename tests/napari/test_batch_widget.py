"""The Batch dock: recordings in, a progress table out, a row opens its results."""

import numpy as np
import pytest
import tifffile

PLUGIN = "napari-amnesia"
CONFIG = "summary: {}\ncnmf: {rf: 12, stride: 6, K: 4, gSig: [3, 3], p: 1, gnb: 1}\n"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two tiny simulated recordings (48x48, 120 frames) and a small configuration."""
    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.simulate import simulate

    root = tmp_path_factory.mktemp("study")
    paths = []
    for i, name in enumerate(["rec_a", "rec_b"]):
        movie, _ = simulate(n_frames=120, shape=(48, 48), n_cells=4, n_neurite_groups=0,
                            motion=False, rng=i)
        save_movie(movie, root / f"{name}.tif")
        paths.append(root / f"{name}.tif")
    config = root / "pipeline.yaml"
    config.write_text(CONFIG)
    return root, paths, config


def _dock(viewer):
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Batch")
    return dock


def _fill(dock, recordings, config, out, **values):
    dock.add_recordings(recordings)
    dock.config.value = config
    dock.out.value = out
    for name, value in values.items():
        getattr(dock, name).value = value


def _column(dock, name):
    from napari_amnesia.napari.widgets.batch import COLUMNS

    j = COLUMNS.index(name)
    return [dock.table.native.item(i, j).text() for i in range(dock.table.native.rowCount())]


def test_batch_dock_runs_opens_and_resumes(make_napari_viewer, study, tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    root, paths, config = study
    viewer = make_napari_viewer()
    dock = _dock(viewer)
    assert dock.config.line_edit.value == ""  # no configuration chosen by default
    assert "Save pipeline config" in dock.config_hint.value
    out = tmp_path / "batch"
    _fill(dock, [*paths, root / "missing.tif"], config, out)
    assert dock.run() is None  # synchronous
    assert [r["name"] for r in dock.rows] == ["rec_a", "rec_b", "missing"]
    assert [r["status"] for r in dock.rows] == ["done", "done", "failed"]
    assert "no such file" in dock.rows[2]["error"]
    assert _column(dock, "status") == ["done", "done", "failed"]
    assert _column(dock, "frames") == ["120", "120", ""]
    found = _column(dock, "components")
    assert all(" / " in cell for cell in found[:2]) and found[2] == ""
    assert "no such file" in _column(dock, "error")[2]
    assert all(float(t) > 0 for t in _column(dock, "time (s)")[:2])
    assert "2 done" in dock.status.value and "1 failed" in dock.status.value
    assert (out / "batch.csv").is_file() and (out / "rec_a" / "summary.json").is_file()

    # a row opens its recording's results; a failed one says why
    before = len(viewer.layers)
    layers = dock.open_row(0)
    assert layers and len(viewer.layers) == before + len(layers)
    assert all(layer.data.shape[-2:] == (48, 48) for layer in layers)
    assert "Opened 'rec_a'" in dock.status.value
    assert dock.open_row(2) is None
    assert dock.status.value.startswith("'missing' failed:") and "no such file" in (
        dock.status.value)
    assert any(layer.name == "rec_a · mean" for layer in layers)  # named after the folder

    def shown(name):  # the recording's own mean image is in the viewer, under its name
        return f"{name} · mean" in viewer.layers and np.array_equal(
            viewer.layers[f"{name} · mean"].data,
            tifffile.imread(out / name / "summary" / "mean.tif"))

    assert shown("rec_a") and not shown("rec_b")
    dock.table.native.cellDoubleClicked.emit(1, 0)  # a double-click on rec_b
    assert shown("rec_b") and "Opened 'rec_b'" in dock.status.value
    dock.table.native.selectRow(0)
    dock.open_button.changed.emit(True)  # "Open" the selected row
    assert shown("rec_a") and "Opened 'rec_a'" in dock.status.value

    # the same batch again: done recordings skipped, the missing one failed again
    dock.run()
    assert [r["status"] for r in dock.rows] == ["skipped", "skipped", "failed"]
    assert _column(dock, "frames")[:2] == ["120", "120"]
    dock.force.value = True
    dock.run()
    assert [r["status"] for r in dock.rows] == ["done", "done", "failed"]

    # a new dock choosing that output folder shows the batch, and opens its rows
    other = _dock(make_napari_viewer())
    other.out.value = out
    assert [r["status"] for r in other.rows] == ["done", "done", "failed"]
    assert "holds a batch of 3" in other.status.value
    assert other.open_row(1)


def test_batch_dock_in_a_worker_thread(make_napari_viewer, study, tmp_path, qtbot, monkeypatch):
    monkeypatch.delenv("NAPARI_AMNESIA_SYNC", raising=False)
    root, paths, config = study
    dock = _dock(make_napari_viewer())
    _fill(dock, paths, config, tmp_path / "threaded")
    seen = []
    worker = dock.run()
    assert worker is not None and not dock.run_button.enabled
    worker.yielded.connect(lambda step: seen.append([r["status"] for r in dock.rows]))
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        pass
    qtbot.waitUntil(lambda: dock.run_button.enabled, timeout=5_000)
    assert [r["status"] for r in dock.rows] == ["done", "done"]
    assert seen and seen[0][-1] in ("pending", "running")  # rows filled as they finish
    assert dock.open_row(0)


def test_cancel_stops_the_batch_and_a_rerun_goes_on(make_napari_viewer, study, tmp_path, qtbot,
                                                    monkeypatch):
    monkeypatch.delenv("NAPARI_AMNESIA_SYNC", raising=False)
    root, paths, config = study
    dock = _dock(make_napari_viewer())
    _fill(dock, paths, config, tmp_path / "cancelled")
    worker = dock.run()
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        dock.cancel()
    assert dock.status.value == "Cancelled."
    assert [r["status"] for r in dock.rows] == ["cancelled", "cancelled"]
    qtbot.waitUntil(lambda: dock.run_button.enabled, timeout=5_000)
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    dock.run()
    assert [r["status"] for r in dock.rows] == ["done", "done"]


def test_rows_follow_the_progress_messages(make_napari_viewer, tmp_path):
    """Running rows, from a local batch's and a cluster's messages; the time column."""
    from napari_amnesia.core.progress import Progress

    dock = _dock(make_napari_viewer())
    dock._out = tmp_path
    dock._set_rows([{"name": n, "path": str(tmp_path / f"{n}.tif"), "status": "pending"}
                    for n in ("a", "a-2", "b")])
    dock._on_step(Progress(0, 3, "a (1/3): summary images"))  # a local batch
    assert [r["status"] for r in dock.rows] == ["running", "pending", "pending"]
    assert dock.status.value == "0 of 3 recording(s) done: a (1/3): summary images"
    dock._on_step(Progress(0, 3, "a-2: motion correction; b: CNMF"))  # on a cluster
    assert [r["status"] for r in dock.rows] == ["running", "running", "running"]
    (tmp_path / "batch.csv").write_text(
        "name,path,status,error,warnings,frames,elapsed_summary,elapsed_cnmf,elapsed,folder\n"
        f"a,{tmp_path / 'a.tif'},done,,K=2 capped the count,120,0.5,1.25,2.0,{tmp_path / 'a'}\n"
        f"a-2,{tmp_path / 'a-2.tif'},pending,,,,,,,{tmp_path / 'a-2'}\n"
        f"b,{tmp_path / 'b.tif'},failed,bad file,,,,,,{tmp_path / 'b'}\n")
    dock._on_step(Progress(2, 3, "b: failed"))
    assert [r["status"] for r in dock.rows] == ["done", "running", "failed"]
    assert _column(dock, "time (s)") == ["2.0", "", ""]  # the whole recording's time
    assert _column(dock, "error") == ["", "", "bad file"]
    assert _column(dock, "warnings") == ["K=2 capped the count", "", ""]
    dock._set_rows([dict(dock.rows[0]), dict(dock.rows[1], status="cancelled"),
                    dict(dock.rows[2])])
    dock._merge(dock._csv_rows(), "a-2: CNMF")  # batch.csv says pending: still cancelled
    assert dock.rows[1]["status"] == "cancelled"


def test_batch_dock_on_a_local_cluster(make_napari_viewer, study, tmp_path, monkeypatch):
    """workers = 1: a LocalCluster started for the run gives the same rows as in process."""
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    root, paths, config = study
    viewer = make_napari_viewer()
    local, cluster = _dock(viewer), _dock(viewer)
    _fill(local, paths, config, tmp_path / "local")
    local.run()
    _fill(cluster, paths, config, tmp_path / "cluster", workers=1)
    cluster.run()
    assert [r["status"] for r in cluster.rows] == ["done", "done"]
    for key in ("frames", "components", "accepted", "median_snr"):
        assert [r[key] for r in cluster.rows] == [r[key] for r in local.rows], key
    with pytest.raises(ValueError):  # the cluster and its client were closed after the run
        from distributed import default_client

        default_client()


@pytest.mark.parametrize("case, expected", [
    ("no recordings", "Add recordings first"),
    ("no configuration", "Choose a configuration first"),
    ("missing configuration", "does not exist"),
    ("bad configuration", "unknown section"),
    ("no output folder", "Choose an output folder first"),
    ("output is a file", "is a file; choose a folder"),
    ("output parent missing", "does not exist; choose a folder in an existing one"),
    ("workers and scheduler", "Give either workers or scheduler, not both"),
    ("bad scheduler", "neither an address"),
])
def test_bad_inputs_get_one_clear_message(make_napari_viewer, study, tmp_path, monkeypatch,
                                          case, expected):
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    root, paths, config = study
    dock = _dock(make_napari_viewer())
    bad = tmp_path / "bad.yaml"
    bad.write_text("summary: {}\nsumary: {}\n")
    a_file = tmp_path / "a file"
    a_file.write_text("")
    values = {"recordings": paths, "config": config, "out": tmp_path / "out"}
    if case == "no recordings":
        values["recordings"] = []
    elif case == "no configuration":
        values["config"] = None
    elif case == "missing configuration":
        values["config"] = tmp_path / "nowhere.yaml"
    elif case == "bad configuration":
        values["config"] = bad
    elif case == "no output folder":
        values["out"] = None
    elif case == "output is a file":
        values["out"] = a_file
    elif case == "output parent missing":
        values["out"] = tmp_path / "no" / "such" / "out"
    elif case == "workers and scheduler":
        dock.workers.value = 2
        dock.scheduler.value = "tcp://127.0.0.1:8786"
    elif case == "bad scheduler":
        dock.scheduler.value = "localhost"
    dock.add_recordings(values["recordings"])
    if values["config"] is not None:
        dock.config.value = values["config"]
    if values["out"] is not None:
        dock.out.value = values["out"]
    assert dock.run() is None
    assert expected in dock.status.value, dock.status.value
    assert dock.rows == [] and not (tmp_path / "out").exists()
    assert dock.open_row() is None and dock.status.value == "Select a recording in the table first."


def test_add_movies_and_folders(make_napari_viewer, study, tmp_path):
    from napari_amnesia.core.io import save_movie
    from napari_amnesia.napari.widgets.batch import recordings_in

    root, paths, config = study
    folder = tmp_path / "animals"
    frames = folder / "Animal_2"
    frames.mkdir(parents=True)
    movie = np.zeros((3, 8, 8), np.uint16)
    for t in (10, 2, 1):  # natural order: img1, img2, img10
        save_movie(movie[:1], frames / f"img{t}.tif")
    save_movie(movie, folder / "Animal_10.tif")
    save_movie(movie, folder / "Animal_1.tif")
    (folder / "notes.txt").write_text("not a movie")
    (folder / "empty").mkdir()
    assert recordings_in(folder) == [folder / "Animal_1.tif", frames, folder / "Animal_10.tif"]
    assert recordings_in(frames) == [frames]  # a folder of frames is one recording

    dock = _dock(make_napari_viewer())
    dock.add_files.value = paths
    assert dock.recording_paths() == [str(p) for p in paths]
    dock.add_files.value = paths[:1]  # listed already: not added twice
    assert len(dock.recording_paths()) == 2
    dock.add_folder.value = folder
    assert dock.recording_paths()[2:] == [str(p) for p in recordings_in(folder)]
    assert "Added 3 recording(s)" in dock.status.value
    dock.add_folder.value = frames
    assert "Added Animal_2 as one recording" in dock.status.value
    dock.add_folder.value = folder / "empty"
    assert "holds no movie file" in dock.status.value
