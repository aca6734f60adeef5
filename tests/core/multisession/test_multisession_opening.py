"""Results folders opened for editing: registered, silent cells re-extracted, traces per day."""

import numpy as np
import pytest

from napari_amnesia.core.multisession import pair_scores
from napari_amnesia.core.multisession.inputs import save_session
from napari_amnesia.core.multisession.opening import (
    find_movie,
    open_registration,
    open_sessions,
)
from napari_amnesia.core.simulate.sessions import simulate_sessions


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("opening")
    data = simulate_sessions(3, preset="standard", shape=(64, 64), n_cells=16, rng=4,
                             silent_fraction=0.25, new_fraction=0.0, movies=True,
                             n_frames=150)
    folders = []
    for s, name in enumerate(["day1", "day2", "day3"]):
        ids = data.identity[s]
        traces = np.where(ids[:, None] >= 0, data.traces[s][np.maximum(ids, 0)], 0)
        folders.append(save_session(root / name, data.footprints[s], data.templates[s],
                                    traces, movie=data.movies[s]))
    return data, folders, root


def test_open_sessions_registers_re_extracts_and_gives_traces_per_day(study):
    data, folders, root = study
    steps = []
    editor = open_sessions(folders, progress=steps.append)
    assert editor.session_names == ["day1", "day2", "day3"]
    assert {p.message for p in steps} >= {"reading sessions", "re-extracting silent cells"}
    assert pair_scores(editor.to_result().assignments, data.identity)["f1"] >= 0.95
    assert editor.result.provenance["inputs"] == [str(f) for f in folders]
    flags = editor.re_extracted()
    assert flags.any() and not np.any(flags & (editor.assignments >= 0))
    # a track's traces across days: its detections, and its re-extraction where silent
    t = int(np.flatnonzero(flags.any(axis=1))[0])
    series, flagged = editor.track_series(t)
    held = np.flatnonzero(editor.assignments[t] >= 0)
    for s in held:
        name = editor.session_names[s]
        k = editor.assignments[t, s]
        assert np.allclose(series[name], editor.results[s].traces[k])
    assert flagged and all(name.endswith("(re-extracted)") for name in flagged)
    assert len(series) == len(held) + len(flagged)
    # an edit makes the track another one: its re-extraction is not shown any more
    others = [s for s in range(3) if s not in held]
    if len(held) >= 2:
        editor.split(t, [held[-1]])
        assert not editor.re_extracted()[t].any()
        assert not editor.track_series(t)[1]
        editor.undo()
        assert editor.track_series(t)[1] == flagged
    assert others


def test_saved_registration_reopens_for_editing(study, tmp_path):
    data, folders, root = study
    editor = open_sessions(folders, reextract=False)
    assert editor.cross is None and not editor.re_extracted().any()
    full = np.flatnonzero(editor.counts() == 3)
    editor.split(int(full[0]), ["day1"])
    saved = editor.to_result().save(tmp_path / "tracked")
    again = open_registration(saved)
    assert np.array_equal(again.assignments, editor.to_result().assignments)
    assert again.results[0] is not None
    t = int(np.flatnonzero(again.counts() == 3)[0])
    assert set(again.track_series(t)[0]) == {"day1", "day2", "day3"}


def test_find_movie_and_bad_folders(study, tmp_path):
    data, folders, root = study
    assert find_movie(folders[0]) == folders[0] / "motion" / "corrected.tif"
    assert find_movie(tmp_path) is None
    with pytest.raises(ValueError, match="add the sessions' results folders"):
        open_sessions([])
    with pytest.raises(ValueError, match="listed twice"):
        open_sessions([folders[0], folders[0]])
    with pytest.raises(ValueError, match="holds no CNMF result"):
        open_sessions([folders[0], tmp_path])
