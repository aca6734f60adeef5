"""The Sessions dock: register results folders, one stack and one tracks layer, edit, save."""

import csv

import numpy as np
import pytest

from napari_amnesia.core.multisession import RegistrationResult, save_session
from napari_amnesia.core.simulate.sessions import simulate_sessions

PLUGIN = "napari-amnesia"
NAMES = ["day1", "day2", "day3"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """3 sessions of 20 planted cells, 64x64, as results folders with their movies."""
    root = tmp_path_factory.mktemp("sessions")
    data = simulate_sessions(3, preset="standard", shape=(64, 64), n_cells=20, rng=5,
                             silent_fraction=0.2, new_fraction=0.0, movies=True,
                             n_frames=100)
    folders = []
    for s, name in enumerate(NAMES):
        ids = data.identity[s]
        traces = np.where(ids[:, None] >= 0, data.traces[s][np.maximum(ids, 0)], 0)
        folders.append(save_session(root / name, data.footprints[s], data.templates[s],
                                    traces.astype(np.float32), movie=data.movies[s]))
    return data, folders


def _registered(make_napari_viewer, study, monkeypatch, *, reextract=True):
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    data, folders = study
    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Sessions")
    assert dock.add_sessions(folders) == 3
    assert dock.add_sessions(folders[:1]) == 0  # listed once
    dock.reextract.value = reextract
    assert dock.run() is None  # synchronous
    assert dock.editor is not None, dock.status.value
    return viewer, dock, data


def _cell_label(data, editor, labels, s, k):
    """The label drawn at the peak of footprint k of session s, carried into the common space."""
    transform = editor.result.transforms[s]
    col = data.footprints[s][:, k].toarray().ravel()
    peak = np.unravel_index(np.argmax(col), data.shape)
    r, c = np.round(transform.apply_points([peak])[0]).astype(int)
    return int(labels[s, r, c])


def test_sessions_dock_shows_one_stack_tracks_keeping_labels_and_traces_across_days(
        make_napari_viewer, study, monkeypatch):
    viewer, dock, data = _registered(make_napari_viewer, study, monkeypatch)
    editor = dock.editor
    stack = viewer.layers["sessions · aligned templates"]
    tracks = viewer.layers["sessions · tracks"]
    assert stack.data.shape == (3, 64, 64) and tracks.data.shape == (3, 64, 64)
    assert stack.contrast_limits[1] > stack.contrast_limits[0]
    assert viewer.layers["sessions · re-extracted"].data.shape == (3, 64, 64)
    assert viewer.layers["sessions · re-extracted"].data.any()
    assert "tracks over 3 sessions" in dock.status.value
    # a planted cell found in every session keeps one label across the sessions
    kept = 0
    for cell in range(20):
        where = [np.flatnonzero(data.identity[s] == cell) for s in range(3)]
        if not all(len(w) == 1 for w in where):
            continue
        labels = [_cell_label(data, editor, tracks.data, s, int(where[s][0]))
                  for s in range(3)]
        # each day's footprint is drawn with its track's label...
        assert labels == [editor.track_of(s, int(where[s][0])) + 1 for s in range(3)]
        kept += len(set(labels)) == 1
    assert kept >= 8  # ...and the registration put 8 of these 9 cells in one track each
    # the table has one row per track
    rows = dock.table_rows()
    assert list(rows)[:4] == ["track", *NAMES]
    assert len(rows["track"]) == editor.n_tracks
    assert set(tracks.features["index"]) == set(range(1, editor.n_rows + 1))

    # selecting a track (picking its label) plots its traces across days
    full = int(np.flatnonzero(editor.counts() == 3)[0])
    tracks.selected_label = full + 1  # what picking the label does
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")
    assert dock.track.value == full
    assert list(traces.series) == NAMES
    for s, name in enumerate(NAMES):
        expected = editor.results[s].traces[editor.assignments[full, s]]
        assert np.allclose(traces.series[name], expected)
    assert f"track {full}: 3 of 3 sessions" in traces.title.text()
    # a track silent one day: that day's trace is the re-extracted one, in grey
    silent = np.flatnonzero(editor.re_extracted().any(axis=1))
    assert silent.size
    dock.select(int(silent[0]))
    flagged = [n for n in traces.series if n.endswith("(re-extracted)")]
    assert flagged and all(traces.series_colors[n] == "0.55" for n in flagged)
    # a label of the re-extracted outlines is its track too
    traces.show_label(viewer.layers["sessions · re-extracted"], int(silent[-1]) + 1)
    assert f"track {int(silent[-1])}:" in traces.title.text()
    # clicking a row of the table selects its track
    dock._row_clicked(0)
    assert tracks.selected_label == int(dock.table_rows()["track"][0]) + 1


def test_split_merge_reassign_undo_follow_in_table_and_labels_then_save(
        make_napari_viewer, study, monkeypatch, tmp_path):
    viewer, dock, data = _registered(make_napari_viewer, study, monkeypatch, reextract=False)
    editor = dock.editor
    tracks = viewer.layers["sessions · tracks"]
    assert "sessions · re-extracted" not in [layer.name for layer in viewer.layers]
    n = editor.n_tracks
    full = [int(t) for t in np.flatnonzero(editor.counts() == 3)]
    a, b = full[:2]
    original = np.array(tracks.data)

    # split: day2 and day3 of track a become a new track
    dock.select(a)
    viewer.dims.set_current_step(0, 1)
    assert dock.session.value == "day2"
    new = dock.split()
    assert new == n and editor.counts()[[a, new]].tolist() == [1, 2]
    assert len(dock.table_rows()["track"]) == n + 1
    assert np.any(tracks.data[1] == new + 1) and not np.any(tracks.data[1] == a + 1)
    assert np.array_equal(tracks.data[0], original[0])
    assert tracks.features["edited"][a] and tracks.features["edited"][new]
    # merge them back
    dock.track.value, dock.other.value = a, new
    assert dock.merge() == a
    assert len(dock.table_rows()["track"]) == n
    assert np.array_equal(tracks.data, original)
    # merging two tracks of one session is refused, with the reason
    dock.other.value = b
    assert dock.merge() is None
    assert "both hold a footprint in day1, day2, day3" in dock.status.value
    # reassign a's day-3 footprint to a new track of its own, then undo it
    viewer.dims.set_current_step(0, 2)
    dock.track.value, dock.other.value = a, -1
    moved = dock.reassign()
    assert moved == editor.n_rows - 1 and editor.assignments[moved, 2] >= 0
    assert not np.any(tracks.data[2] == a + 1)
    rows = dock.table_rows()
    assert rows["day3"][rows["track"].index(str(a))] == "-1"
    assert dock.undo()
    assert np.array_equal(tracks.data, original)
    rows = dock.table_rows()
    assert rows["day3"][rows["track"].index(str(a))] != "-1"
    assert dock.redo() and not np.any(tracks.data[2] == a + 1)
    # Ctrl-Z / Ctrl-Shift-Z on the tracks layer are the dock's undo / redo
    from napari.utils.key_bindings import coerce_keybinding

    tracks.keymap[coerce_keybinding("Control-Z")](tracks)
    assert np.array_equal(tracks.data, original) and dock.status.value == "Undone."
    tracks.keymap[coerce_keybinding("Control-Shift-Z")](tracks)
    assert not np.any(tracks.data[2] == a + 1) and dock.status.value == "Redone."

    # save: the edited registration, reloadable; never over a folder without overwrite
    out = dock.save(tmp_path / "tracked")
    assert out is not None and "Saved" in dock.status.value
    back = RegistrationResult.load(out)
    assert np.array_equal(back.assignments, editor.to_result().assignments)
    assert back.n_tracks == n + 1
    with open(out / "tracks.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == n + 1
    assert [e["action"] for e in back.info["edits"]][:3] == ["split", "merge", "reassign"]
    assert dock.save(tmp_path / "tracked") is None and "already exists" in dock.status.value
    assert dock.save(tmp_path / "tracked", overwrite=True) == out
    # reopened in the dock: the saved tracks
    dock.open(out)
    assert dock.editor.n_tracks == n + 1 and not dock.editor.edited.any()
    assert np.array_equal(dock.editor.assignments, back.assignments)


def test_bad_input_is_said_in_the_dock(make_napari_viewer, study, monkeypatch, tmp_path):
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    data, folders = study
    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Sessions")
    assert dock.run() is None and "at least two sessions" in dock.status.value
    dock.add_sessions([folders[0], tmp_path])
    dock.run()
    assert dock.status.value.startswith("Failed:") and "holds no CNMF result" in (
        dock.status.value)
    assert dock.editor is None
    dock.remove_session(tmp_path)
    dock.add_sessions([tmp_path / "missing"])
    dock.run()
    assert "is not a folder" in dock.status.value
    dock.max_shift.value = -3
    dock.remove_session(tmp_path / "missing")
    dock.add_sessions([folders[1]])
    dock.run()
    assert "Invalid parameter" in dock.status.value and "max_shift" in dock.status.value
    assert dock.split() is None and "Register sessions first" in dock.status.value


def test_registration_runs_in_a_worker_and_cancel_adds_nothing(make_napari_viewer, study,
                                                               qtbot, monkeypatch):
    monkeypatch.delenv("NAPARI_AMNESIA_SYNC", raising=False)
    data, folders = study
    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Sessions")
    dock.add_sessions(folders)
    dock.reextract.value = False
    worker = dock.run()
    assert worker is not None and not dock.run_button.enabled
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        pass
    assert dock.run_button.enabled and dock.editor is not None
    assert viewer.layers["sessions · tracks"].data.shape == (3, 64, 64)
    viewer.layers.clear()
    # the pool is free (a worker of an earlier test still running would hold the cancelled
    # one in its queue), and the signal is watched before the cancel can end the worker
    from qtpy.QtCore import QThreadPool

    assert QThreadPool.globalInstance().waitForDone(120_000)
    worker = dock.run()
    with qtbot.waitSignal(worker.finished, timeout=120_000):
        dock.cancel()
    assert dock.status.value == "Cancelled."
    assert "sessions · tracks" not in [layer.name for layer in viewer.layers]
