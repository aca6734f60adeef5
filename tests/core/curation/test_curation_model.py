"""The edit model: a whole curation session without napari (edits, undo, re-extraction,
saving), and the package importing no GUI."""

import subprocess
import sys

import numpy as np
import pytest

from napari_amnesia.core import curation
from napari_amnesia.core.curation import Curation


def test_core_curation_imports_no_gui():
    forbidden = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide6", "magicgui", "matplotlib")
    code = ("import sys, napari_amnesia.core.curation; "
            f"bad = [m for m in sys.modules if m.split('.')[0] in {forbidden!r}]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def consistent(cur):
    """The table has one row per label of the image, with its size."""
    values, sizes = np.unique(cur.labels[cur.labels > 0], return_counts=True)
    assert list(cur.table["index"]) == list(values)
    assert list(cur.table["size"]) == list(sizes)


def test_a_whole_edit_session_with_undo_reextraction_and_saving(planted, tmp_path):
    movie, truth, labels = planted
    result = curation.reextract(movie, labels, K=6, gSig=(4, 4), gnb=2, min_SNR=2.0)
    cur = Curation.start(labels, result, source="movie")
    assert cur.labels is not labels and cur.result is result
    consistent(cur)
    np.testing.assert_array_equal(cur.table["accepted"], result.accepted)
    assert not cur.table["edited"].any() and not cur.table["stale"].any()

    # decisions: logged, undoable
    assert cur.reject([9]) == [9] and cur.accept([12]) == [12]
    assert cur.decisions == {9: False, 12: True}
    assert cur.undo() and cur.decisions == {9: False}
    assert cur.redo() and cur.decisions == {9: False, 12: True}
    with pytest.raises(ValueError, match=r"\[42\]"):
        cur.reject([42])

    # merge two planted cells, split them again by activity; split another by a line
    assert cur.merge([6, 27]) == 6
    assert 27 not in cur.table["index"] and cur.row(6)["edited"] and cur.row(6)["stale"]
    [part] = cur.split_by_activity(6, movie, k=2, rng=0)
    assert part == 31  # fresh: larger than every label seen
    rr, cc = np.nonzero(cur.labels == 15)
    mid = (cc.min() + cc.max()) / 2
    value, cut = cur.split_by_line([(rr.min() - 3, mid), (rr.max() + 3, mid)], prefer=15)
    assert value == 15 and cut == 32 and cur.row(cut)["component"] == -1
    with pytest.raises(ValueError, match="cuts no ROI"):
        cur.split_by_line([(0, 0), (0, 1)])
    consistent(cur)

    # delete, undo brings it back with its decision; redo deletes it again
    split = cur.labels.copy()
    cur.delete([9])
    assert 9 not in cur.table["index"]
    assert cur.undo()
    np.testing.assert_array_equal(cur.labels, split)
    assert cur.row(9)["decided"] and not cur.row(9)["accepted"] and not cur.row(9)["edited"]
    assert cur.redo() and 9 not in cur.table["index"]
    consistent(cur)

    # a ROI drawn as a mask, one painted from outside (a brush), imported ROIs
    mask = np.zeros(labels.shape, bool)
    mask[0:4, 0:4] = True
    drawn = cur.add_mask(mask)
    assert drawn == 33 and cur.row(drawn)["stale"] and cur.row(drawn)["accepted"]
    painted = cur.labels.copy()
    new = cur.new_label()
    painted[76:80, 0:4] = new
    assert cur.update_labels(painted, action="paint") and cur.row(new)["size"] == 16
    assert not cur.update_labels(painted)  # nothing changed: nothing logged
    other = np.zeros_like(labels)
    other[76:80, 76:80] = 1
    assert cur.import_rois(other) == {1: new + 1}
    consistent(cur)

    # the log names every edit, in order, with the labels it touched
    actions = [e["action"] for e in cur.log]
    assert actions == ["reject", "accept", "undo", "redo", "merge", "split by activity",
                       "split by line", "delete", "undo", "redo", "add mask", "paint",
                       "import"]
    assert cur.log[4]["labels"] == [6, 27] and cur.log[8]["labels"] == [9]
    assert cur.log[11]["labels"] == [new] and all("time" in e for e in cur.log)

    # re-extraction: identities and decisions kept; nothing stale; undo still works
    edited = cur.labels.copy()
    again = cur.reextract(movie)
    assert cur.result is again and list(again.label_values) == list(cur.table["index"])
    assert not cur.table["stale"].any() and cur.decisions == {12: True}  # 9 deleted
    assert cur.log[-1]["action"] == "re-extract" and cur.log[-1]["n_rois"] == again.K
    k = list(again.label_values).index(drawn)
    assert cur.row(drawn)["component"] == k and np.isfinite(cur.row(drawn)["snr"])
    np.testing.assert_array_equal(cur.extracted, edited)
    assert list(result.label_values) == list(range(3, 31, 3))  # the input is untouched
    assert cur.undo() and cur.row(new + 1) is None and cur.row(drawn)["component"] == k

    # save, load: the same ROIs, table and log; the curated result exports
    out = cur.save(tmp_path / "cur")
    assert cur.saved_to == out and "load_curation(" in cur.python_lines()
    back = curation.load_curation(out)
    np.testing.assert_array_equal(back.labels, cur.labels)
    for c in curation.COLUMNS:
        np.testing.assert_array_equal(back.table[c], cur.table[c])
    assert back.log == cur.log and back.decisions == cur.decisions
    assert back.source == "movie" and back.saved_to == out
    np.testing.assert_array_equal(back.result.traces, again.traces)
    assert back.redo() is False and back.reject([3]) == [3] and back.undo()


def test_a_session_on_a_hand_made_label_image_without_extraction():
    labels = np.zeros((20, 30), np.int32)
    labels[2:10, 2:10] = 1
    labels[2:10, 15:25] = 4
    cur = Curation.start(labels)
    assert cur.result is None and cur.extracted is None and cur.table["stale"].all()
    cur.merge([4, 1])
    assert list(cur.table["index"]) == [4] and cur.row(4)["size"] == 144
    cur.undo()
    value, part = cur.split_by_line([(0, 19.5), (12, 19.5)], value=4)
    assert (value, part) == (4, 5) and cur.row(5)["edited"]
    cur.undo()
    assert cur.undo() is False and list(cur.table["index"]) == [1, 4]  # nothing left
    with pytest.raises(ValueError, match="no free pixel"):
        cur.add_masks([labels == 1])
    assert [e["action"] for e in cur.log][:3] == ["merge", "undo", "split by line"]
