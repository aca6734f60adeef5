"""Editing tracks by hand: split, merge, reassign with undo, the tables and labels follow."""

import csv

import numpy as np
import pytest

from napari_amnesia.core.files import OutputExistsError
from napari_amnesia.core.multisession import RegistrationResult, pair_scores, register
from napari_amnesia.core.multisession.editing import TrackEditor
from napari_amnesia.core.simulate.sessions import simulate_sessions

SEEDS = (0, 1, 2)


def _registered(seed):
    data = simulate_sessions(3, preset="standard", shape=(96, 96), n_cells=24, rng=seed,
                             silent_fraction=0.15, new_fraction=0.0)
    result = register(data.footprints, data.templates, names=["day1", "day2", "day3"])
    return data, result


def _cells(data, row):
    return {int(data.identity[s][k]) for s, k in enumerate(row) if k >= 0}


def _pure_full_tracks(data, result):
    """Tracks holding one planted cell in all three sessions."""
    return [t for t in range(result.n_tracks) if np.all(result.assignments[t] >= 0)
            and len(_cells(data, result.assignments[t])) == 1
            and min(_cells(data, result.assignments[t])) >= 0]


@pytest.fixture(scope="module", params=SEEDS)
def registered(request):
    return _registered(request.param)


def test_unedited_editor_is_the_registration(registered):
    data, result = registered
    editor = TrackEditor(result, data.footprints)
    labels = editor.session_labels()
    assert labels.shape == (3, 96, 96)
    for s in range(3):  # each session shows its own footprints, with their tracks' labels
        held = set((np.flatnonzero(result.assignments[:, s] >= 0) + 1).tolist())
        shown = set(np.unique(labels[s]).tolist()) - {0}
        assert shown <= held and len(shown) >= 0.95 * len(held)
    table = editor.table()
    assert np.array_equal(table["track"], np.arange(result.n_tracks))
    assert np.array_equal(table["day2"], result.assignments[:, 1])
    assert not table["edited"].any()
    back = editor.to_result()
    assert np.array_equal(back.assignments, result.assignments)
    assert "edits" not in back.info


def test_split_then_merge_back_restores_tracks_and_model_confidence(registered):
    data, result = registered
    editor = TrackEditor(result, data.footprints)
    full = _pure_full_tracks(data, result)
    assert len(full) >= 6
    before = pair_scores(result.assignments, data.identity)
    new = [editor.split(t, ["day3"]) for t in full]
    assert editor.n_tracks == result.n_tracks + len(full)
    assert np.all(editor.counts()[full] == 2) and np.all(editor.counts()[new] == 1)
    broken = pair_scores(editor.to_result().assignments, data.identity)
    assert broken["recall"] < before["recall"] - 0.05 and broken["precision"] >= (
        before["precision"] - 1e-9)
    # the split tracks lost their last day's footprint to a rival track of one cell:
    # the model's confidence in them falls
    assert np.median(editor.confidence[full]) < np.median(result.confidence[full]) - 0.3
    for t, n in zip(full, new, strict=True):
        editor.merge(t, n)
    again = editor.to_result()
    assert np.array_equal(again.assignments, result.assignments)
    # recomputed with the registration's model, the confidence is the registration's
    assert np.allclose(again.confidence, result.confidence, atol=1e-6)
    assert editor.n_tracks == result.n_tracks and editor.n_rows == result.n_tracks + len(full)
    assert [e["action"] for e in editor.log].count("merge") == len(full)


def test_reassign_to_the_wrong_cell_is_doubted_and_undone(registered):
    data, result = registered
    editor = TrackEditor(result, data.footprints)
    full = _pure_full_tracks(data, result)
    centers = result.track_centers[full]
    # two neighbouring cells: give the second's day-2 footprint to the first
    d = np.hypot(*(centers[:, None] - centers[None]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    i, j = np.unravel_index(np.argmin(d), d.shape)
    a, b = full[i], full[j]
    k = int(result.assignments[b, 1])
    labels_before = editor.session_labels()
    to = editor.reassign("day2", k, a)
    assert to == a and editor.assignments[a, 1] == k and editor.assignments[b, 1] == -1
    apart = editor.n_rows - 1  # a's own day-2 footprint, set apart
    assert editor.assignments[apart, 1] == result.assignments[a, 1]
    assert editor.edited[[a, b, apart]].all()
    assert _cells(data, editor.assignments[a]) == (_cells(data, result.assignments[a])
                                                   | _cells(data, result.assignments[b]))
    assert editor.confidence[a] < 0.5 < result.confidence[a]
    # the labels follow: in day 2, b's footprint is drawn with a's label
    labels = editor.session_labels()
    assert np.any(labels[1] == apart + 1) and not np.any(labels[1] == b + 1)
    assert np.array_equal(labels[0], labels_before[0])
    assert editor.undo() and not editor.undo()
    assert np.array_equal(editor.session_labels(), labels_before)
    assert np.array_equal(editor.to_result().assignments, result.assignments)
    assert editor.redo() and editor.assignments[a, 1] == k
    assert [e["action"] for e in editor.log] == ["reassign", "undo", "redo"]
    # a footprint on its own
    own = editor.reassign("day2", k)
    assert editor.counts()[own] == 1 and editor.assignments[own, 1] == k


def test_save_writes_the_edited_tracks_and_reloads(registered, tmp_path):
    data, result = registered
    editor = TrackEditor(result, data.footprints)
    t = _pure_full_tracks(data, result)[0]
    new = editor.split(t, [1, 2])
    edited = editor.to_result()
    folder = edited.save(tmp_path / "edited")
    back = RegistrationResult.load(folder)
    assert np.array_equal(back.assignments, edited.assignments)
    assert back.n_tracks == result.n_tracks + 1
    assert [e["action"] for e in back.info["edits"]] == ["split"]
    assert back.info["edits"][0]["sessions"] == ["day2", "day3"]
    with open(folder / "tracks.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == back.n_tracks
    got = {tuple(int(r[n]) for n in ("day1", "day2", "day3")) for r in rows}
    assert tuple(editor.assignments[t]) in got and tuple(editor.assignments[new]) in got
    # position order, as register() gives it
    assert np.all(np.diff(back.track_centers[:, 0]) >= 0)
    # reopened for editing: the same tracks
    again = TrackEditor(back, data.footprints)
    assert np.array_equal(again.to_result().assignments, back.assignments)
    with pytest.raises(OutputExistsError):
        edited.save(folder)  # never over an existing folder without overwrite
    edited.save(folder, overwrite=True)  # the package's own folder may be replaced


def test_each_bad_edit_says_why():
    data, result = _registered(0)
    editor = TrackEditor(result, data.footprints)
    full = _pure_full_tracks(data, result)
    a, b = full[:2]
    with pytest.raises(ValueError, match=rf"tracks {a} and {b} both hold a footprint in "
                                         "day1, day2, day3"):
        editor.merge(a, b)
    with pytest.raises(ValueError, match="would leave it empty"):
        editor.split(a, ["day1", "day2", "day3"])
    with pytest.raises(ValueError, match="there is no session 'day9'"):
        editor.split(a, ["day9"])
    with pytest.raises(ValueError, match="there is no track 999"):
        editor.merge(a, 999)
    with pytest.raises(ValueError, match="cannot be merged with itself"):
        editor.merge(a, a)
    with pytest.raises(ValueError, match="is not registered"):
        editor.reassign("day1", 10_000, a)
    with pytest.raises(ValueError, match=f"already in track {a}"):
        editor.reassign(0, int(result.assignments[a, 0]), a)
    single = int(np.flatnonzero(editor.counts() == 1)[0]) if np.any(
        editor.counts() == 1) else editor.split(a, ["day3"])
    s = int(np.flatnonzero(editor.assignments[single] >= 0)[0])
    with pytest.raises(ValueError, match="already alone"):
        editor.reassign(s, int(editor.assignments[single, s]))
    n = editor.split(b, ["day2"])
    editor.merge(b, n)
    with pytest.raises(ValueError, match=f"track {n} is empty"):
        editor.split(n, ["day2"])
    with pytest.raises(ValueError, match="3 sessions but 2 footprint sets"):
        TrackEditor(result, data.footprints[:2])
    with pytest.raises(ValueError, match="day2: .* footprints given but the registration "
                                         "read"):
        TrackEditor(result, [data.footprints[0], data.footprints[1][:, :-1],
                             data.footprints[2]])
    with pytest.raises(ValueError, match="footprints are needed"):
        TrackEditor(result)
