"""``amnesia register``: tracks, transforms, cross-day traces and a figure from results folders."""

import csv
import json

import numpy as np
import pytest
import tifffile
from cli_data import _one_error

from napari_amnesia.cli import main
from napari_amnesia.core.multisession import RegistrationResult, pair_scores, save_session
from napari_amnesia.core.simulate.sessions import simulate_sessions


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    root = tmp_path_factory.mktemp("register")
    data = simulate_sessions(3, preset="standard", shape=(96, 96), n_cells=24, rng=11,
                             silent_fraction=0.25, movies=True, n_frames=200)
    folders = []
    for s, name in enumerate(["day1", "day2", "day3"]):
        ids = data.identity[s]
        traces = np.where(ids[:, None] >= 0, data.traces[s][np.maximum(ids, 0)], 0)
        folders.append(save_session(root / name, data.footprints[s], data.templates[s],
                                    traces, movie=data.movies[s]))
    return data, folders, root


def test_register_writes_tracks_transforms_traces_and_figure(sessions, capsys):
    data, folders, root = sessions
    out = root / "tracked"
    assert main(["register", *map(str, folders), "--out", str(out), "-q"]) == 0
    said = capsys.readouterr().out
    assert "tracks over 3 sessions" in said and "re-extracted" in said
    for name in ("tracks.csv", "assignments.csv", "transforms.json", "aligned_templates.tif",
                 "cross_day.csv", "tracks.png", "registration/tracks.csv",
                 "cross_day/traces.npz"):
        assert (out / name).is_file(), name
    with open(out / "tracks.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:4] == ["track", "day1", "day2", "day3"]
    assignments = np.array([[int(r[n]) for n in ("day1", "day2", "day3")] for r in rows])
    assert pair_scores(assignments, data.identity)["f1"] >= 0.97
    result = RegistrationResult.load(out / "registration")
    assert np.array_equal(result.assignments, assignments)
    assert set(json.loads((out / "transforms.json").read_text())) == {"day1", "day2", "day3"}
    assert tifffile.imread(out / "aligned_templates.tif").shape == (3, 96, 96)
    with open(out / "cross_day.csv", newline="") as fh:
        cross = list(csv.DictReader(fh))
    assert len(cross) == 3 * len(rows)
    flagged = [r for r in cross if r["re_extracted"] == "True"]
    assert flagged and all(r["footprint"] == "-1" for r in flagged)
    # the order of the folders changes nothing but the order of the columns
    again = root / "tracked_reversed"
    assert main(["register", *map(str, folders[::-1]), "--out", str(again), "-q",
                 "--no-reextract"]) == 0
    back = RegistrationResult.load(again / "registration")
    assert np.array_equal(back.assignments[:, ::-1], result.assignments)


def test_register_refuses_to_replace_and_overwrites_its_own(sessions, capsys):
    _, folders, root = sessions
    out = root / "twice"
    args = ["register", *map(str, folders[:2]), "--out", str(out), "-q", "--no-reextract"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 1
    assert "exists" in _one_error(capsys)
    assert main([*args, "--overwrite"]) == 0
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main([*args, "--overwrite"]) == 1
    _one_error(capsys)
    assert (out / "notes.txt").read_text() == "mine"


def test_register_bad_input_gets_one_clear_line(sessions, tmp_path, capsys):
    data, folders, _ = sessions
    assert main(["register", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 1
    assert "no such results folder" in _one_error(capsys)
    (tmp_path / "empty").mkdir()
    assert main(["register", str(folders[0]), str(tmp_path / "empty"), "--out",
                 str(tmp_path / "o")]) == 1
    assert "holds no CNMF result" in _one_error(capsys)
    other = simulate_sessions(1, preset="standard", shape=(96, 96), n_cells=24, rng=99)
    save_session(tmp_path / "elsewhere", other.footprints[0], other.templates[0])
    assert main(["register", *map(str, folders[:2]), str(tmp_path / "elsewhere"), "--out",
                 str(tmp_path / "o"), "-q", "--no-reextract"]) == 1
    line = _one_error(capsys)
    assert "elsewhere" in line and "do not overlap" in line and "--min-correlation" in line
    assert main(["register", *map(str, folders[:2]), "--out", str(tmp_path / "o"), "-q",
                 "--max-distance", "-3"]) == 1
    assert "--max-distance" in _one_error(capsys)
    assert main(["register", *map(str, folders[:2]), "--out", str(tmp_path / "o"),
                 "--movies", "a.tif"]) == 1
    assert "--movies gives 1 movies for 2" in _one_error(capsys)
    # one session: one track per footprint, and the note-free output
    assert main(["register", str(folders[0]), "--out", str(tmp_path / "one"), "-q",
                 "--no-reextract"]) == 0
    one = RegistrationResult.load(tmp_path / "one" / "registration")
    assert one.n_tracks == data.footprints[0].shape[1]
