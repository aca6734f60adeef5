"""ROI curation without napari: edits, the ROI table, re-extraction, saving."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_amnesia.core import curation
from napari_amnesia.core.files import OutputExistsError


def squares():
    """Three ROIs: 1 (rows 2-11, cols 2-11), 2 (rows 2-11, cols 20-29), 5 (rows 20-25)."""
    labels = np.zeros((32, 40), np.int32)
    labels[2:12, 2:12] = 1
    labels[2:12, 20:30] = 2
    labels[20:26, 20:26] = 5
    return labels


@pytest.fixture(scope="module")
def planted():
    """10 somata, no neurites, no motion; the ground-truth labels as ROIs (values 3, 6, ...)."""
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=300, shape=(80, 80), n_cells=10, n_neurite_groups=0,
                            motion=False, rng=1)
    return movie, truth, np.asarray(truth.labels(), np.int32) * 3


def corr(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_core_curation_imports_no_gui():
    forbidden = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide6", "magicgui", "matplotlib")
    code = ("import sys, napari_amnesia.core.curation; "
            f"bad = [m for m in sys.modules if m.split('.')[0] in {forbidden!r}]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_delete_and_merge_keep_the_other_rois_and_name_bad_values():
    labels = squares()
    before = labels.copy()
    out = curation.delete_labels(labels, [2])
    np.testing.assert_array_equal(labels, before)  # never in place
    assert set(np.unique(out)) == {0, 1, 5}
    np.testing.assert_array_equal(out == 1, labels == 1)
    merged = curation.merge_labels(labels, [5, 1])  # the first named keeps its value
    assert set(np.unique(merged)) == {0, 2, 5}
    assert (merged == 5).sum() == 100 + 36
    np.testing.assert_array_equal(merged == 2, labels == 2)
    assert set(np.unique(curation.merge_labels(labels, [1, 2, 5], into=2))) == {0, 2}
    with pytest.raises(ValueError, match=r"\[7\]"):
        curation.delete_labels(labels, [7])
    with pytest.raises(ValueError, match="two different"):
        curation.merge_labels(labels, [1, 1])
    with pytest.raises(ValueError, match="into=5"):
        curation.merge_labels(labels, [1, 2], into=5)
    with pytest.raises(ValueError, match="integer labels"):
        curation.delete_labels(labels.astype(float) + 0.5, [1])
    assert curation.next_label(labels) == 6 and curation.next_label(labels, used=[9]) == 10


def test_split_by_line_cuts_where_the_line_runs():
    labels = squares()
    # a vertical segment at column 8.5 across ROI 1 (cols 2-11): 7 columns left, 3 right
    out, new = curation.split_label_by_line(labels, 1, [(0, 8.5), (14, 8.5)])
    assert new == 6
    np.testing.assert_array_equal(np.argwhere(out == 1)[:, 1].max(), 8)
    assert (out == 1).sum() == 70 and (out == 6).sum() == 30  # the larger part keeps 1
    assert set(np.argwhere(out == 6)[:, 1]) == {9, 10, 11}
    np.testing.assert_array_equal(out == 2, labels == 2)
    # a line stopping short of the border still cuts (segments are extended); fresh
    # values skip the ones in `used` (a deleted ROI's value is not recycled)
    out, new = curation.split_label_by_line(labels, 2, [(5.5, 22), (5.5, 26)], used=[6, 7])
    assert new == 8 and (out == 2).sum() == 60 and (out == 8).sum() == 40
    # a polyline (an L): each pixel judged by its nearest segment
    out, _ = curation.split_label_by_line(labels, 1, [(6.5, 0), (6.5, 6.5), (14, 6.5)])
    assert (out == 1).sum() == 75 and (out == 6).sum() == 25
    np.testing.assert_array_equal(out[7:12, 2:7], 6)  # the corner the L cuts off
    with pytest.raises(ValueError, match="does not cut label 1"):
        curation.split_label_by_line(labels, 1, [(0, 15), (14, 15)])
    with pytest.raises(ValueError, match="n >= 2"):
        curation.split_label_by_line(labels, 1, [(0, 15)])


def test_split_kmeans_separates_two_cells_firing_independently():
    rng = np.random.default_rng(0)
    T = 400
    a = (rng.random(T) < 0.05).astype(float)
    b = (rng.random(T) < 0.05).astype(float)
    kernel = np.exp(-np.arange(30) / 6)
    ta, tb = np.convolve(a, kernel)[:T] * 5, np.convolve(b, kernel)[:T] * 5
    movie = rng.normal(10, 1, (T, 24, 24)).astype(np.float32)
    movie[:, 4:12, 4:10] += ta[:, None, None]
    movie[:, 4:12, 10:14] += tb[:, None, None]
    labels = np.zeros((24, 24), np.int32)
    labels[4:12, 4:14] = 4  # one ROI drawn over both cells
    labels[16:20, 16:20] = 9
    out, new = curation.split_label_kmeans(labels, 4, movie, k=2, rng=0, used=[12])
    assert new == [13]
    np.testing.assert_array_equal(out[4:12, 4:10], 4)    # the larger cell keeps the value
    np.testing.assert_array_equal(out[4:12, 10:14], 13)
    np.testing.assert_array_equal(out == 9, labels == 9)
    again, _ = curation.split_label_kmeans(labels, 4, movie, k=2, rng=0, used=[12])
    np.testing.assert_array_equal(again, out)  # seeded: reproducible
    import dask.array as da

    lazy, _ = curation.split_label_kmeans(labels, 4, da.from_array(movie, chunks=(50, 24, 24)),
                                          rng=0, used=[12])
    np.testing.assert_array_equal(lazy, out)
    with pytest.raises(ValueError, match="k should be at least 2"):
        curation.split_label_kmeans(labels, 4, movie, k=1)
    with pytest.raises(ValueError, match="movie should be"):
        curation.split_label_kmeans(labels, 4, movie[:, :10])


def test_add_mask_and_append_labels_use_fresh_values():
    labels = squares()
    mask = np.zeros_like(labels, bool)
    mask[8:16, 8:16] = True  # overlaps ROI 1
    out, value = curation.add_mask(labels, mask, used=[11])
    assert value == 12
    np.testing.assert_array_equal(out == 1, labels == 1)  # existing ROIs kept whole
    assert (out == 12).sum() == 64 - 16
    out, value = curation.add_mask(labels, mask, overwrite=True)
    assert value == 6 and (out == 6).sum() == 64 and (out == 1).sum() == 100 - 16
    with pytest.raises(ValueError, match="no free pixel"):
        curation.add_mask(labels, labels == 1)
    other = np.zeros_like(labels)
    other[28:31, 0:5] = 1
    other[0:1, 0:40] = 2      # free pixels only
    other[2:12, 2:12] = 3     # entirely on ROI 1: skipped
    out, mapping = curation.append_labels(labels, other, used=[30])
    assert mapping == {1: 31, 2: 32}
    assert (out == 31).sum() == 15 and (out == 32).sum() == 40
    np.testing.assert_array_equal(out == 1, labels == 1)


def test_read_rois_from_imagej_zip_and_labels_tiff(tmp_path):
    from napari_amnesia.core.cnmf.export import write_imagej_rois

    labels = squares()
    outlines = [np.array([[2, 2], [2, 11], [11, 11], [11, 2]], float),
                np.array([[20, 20], [20, 25], [25, 25], [25, 20]], float)]
    write_imagej_rois(tmp_path / "rois.zip", outlines, ["a", "b"])
    read = curation.read_rois(tmp_path / "rois.zip", labels.shape)
    assert set(np.unique(read)) == {0, 1, 2}
    assert (read == 1).sum() >= 81 and (read[2:12, 2:12] == 1).mean() > 0.8
    tifffile.imwrite(tmp_path / "labels.tif", labels)
    np.testing.assert_array_equal(curation.read_rois(tmp_path / "labels.tif", labels.shape),
                                  labels)
    with pytest.raises(ValueError, match=r"shape \(32, 40\).*\(10, 10\)"):
        curation.read_rois(tmp_path / "labels.tif", (10, 10))
    tifffile.imwrite(tmp_path / "image.tif", np.full((32, 40), 0.5, np.float32))
    with pytest.raises(ValueError, match="not a label image"):
        curation.read_rois(tmp_path / "image.tif", labels.shape)
    (tmp_path / "rois.txt").write_text("x")
    with pytest.raises(ValueError, match="ImageJ"):
        curation.read_rois(tmp_path / "rois.txt", labels.shape)
    with pytest.raises(FileNotFoundError):
        curation.read_rois(tmp_path / "missing.zip", labels.shape)


def test_table_follows_the_image_and_keeps_decisions_per_label():
    original = squares()
    table = curation.table_from_labels(original, original=original, extracted=original)
    assert list(table["index"]) == [1, 2, 5] and list(table["size"]) == [100, 100, 36]
    assert not table["edited"].any() and not table["stale"].any()
    table = curation.set_decision(table, [2], accepted=False)
    assert curation.decisions(table) == {2: False}
    # delete 2, then "undo" (the image comes back): its decision comes back too
    deleted = curation.delete_labels(original, [2])
    memory = table  # the dock keeps every row it has seen
    t1 = curation.table_from_labels(deleted, memory, original=original, extracted=original)
    assert list(t1["index"]) == [1, 5]
    t2 = curation.table_from_labels(original, memory, original=original, extracted=original)
    assert list(t2["accepted"]) == [True, False, True] and list(t2["decided"]) == [0, 1, 0]
    assert not t2["edited"].any()
    # a split: 1 keeps its row (edited), the new part is new (edited, accepted, stale)
    split, new = curation.split_label_by_line(original, 1, [(0, 8.5), (14, 8.5)])
    t3 = curation.table_from_labels(split, t2, original=original, extracted=original)
    assert list(t3["index"]) == [1, 2, 5, new]
    assert list(t3["edited"]) == [True, False, False, True]
    assert list(t3["stale"]) == [True, False, False, True]
    assert list(t3["size"]) == [70, 100, 36, 30]
    assert t3["component"][3] == -1 and np.isnan(t3["snr"][3]) and t3["accepted"][3]
    # decisions round trip through a plain dict (JSON keys are text)
    chosen = json.loads(json.dumps({str(k): v for k, v in curation.decisions(t3).items()}))
    fresh = curation.table_from_labels(split)
    back = curation.apply_decisions(fresh, chosen)
    assert curation.decisions(back) == curation.decisions(t3) == {2: False}
    with pytest.raises(ValueError, match=r"\[42\]"):
        curation.set_decision(t3, [42], accepted=True)


def test_reextract_keeps_identity_decisions_and_recovers_traces(planted):
    from napari_amnesia.core.cnmf import SourceResult

    movie, truth, labels = planted
    params = {"K": 6, "gSig": (4, 4), "p": 1, "gnb": 2, "min_SNR": 2.0, "rval_thr": 0.85}
    first = curation.reextract(movie, labels, **params)
    assert isinstance(first, SourceResult) and first.evaluated and first.dff is not None
    assert list(first.label_values) == list(range(3, 31, 3))
    for k in range(first.K):
        assert corr(first.traces[k], truth.traces[k]) > 0.8, k
    assert np.median([corr(first.traces[k], truth.traces[k]) for k in range(10)]) > 0.93
    assert (first.r_values > 0.85).all()  # the refined footprints', not a flat mask's
    table = curation.table_from_result(first, labels, original=labels)
    table = curation.set_decision(table, [9], accepted=False)
    table = curation.set_decision(table, [12], accepted=True)

    # merge two planted cells into one ROI, split it again by activity, delete one
    edited = curation.merge_labels(labels, [6, 27])
    edited, [new] = curation.split_label_kmeans(edited, 6, movie, k=2, rng=0)
    assert new == 31
    agree = max(((edited == 6) == (labels == 6)).mean(), ((edited == 6) == (labels == 27)).mean())
    assert agree > 0.99
    edited = curation.delete_labels(edited, [30])
    table = curation.table_from_labels(edited, table, original=labels, extracted=labels)
    assert list(table["index"]) == [3, 6, 9, 12, 15, 18, 21, 24, 31]
    stale = set(table["index"][table["stale"]].tolist())
    assert 31 in stale and stale <= {6, 31}  # 6 is stale unless k-means gave it back whole
    with pytest.raises(ValueError, match="re-extract first"):
        curation.curated_result(first, table)

    again = curation.reextract(movie, edited, result=first, reference=labels)
    assert list(again.label_values) == [3, 6, 9, 12, 15, 18, 21, 24, 31]
    assert set(again.info["reused_footprints"]) == {3, 6, 9, 12, 15, 18, 21, 24} - stale
    table = curation.table_from_result(again, edited, table, original=labels)
    assert not table["stale"].any()
    assert curation.decisions(table) == {9: False, 12: True}
    assert not table["accepted"][list(table["index"]).index(9)]
    # untouched ROIs: the same traces as before; the re-split pair: each one cell
    for v in (3, 15, 24):
        k0, k1 = list(first.label_values).index(v), list(again.label_values).index(v)
        assert corr(first.traces[k0], again.traces[k1]) > 0.99
    trace = {v: again.traces[list(again.label_values).index(v)] for v in (6, 31)}
    straight = min(corr(trace[6], truth.traces[1]), corr(trace[31], truth.traces[8]))
    crossed = min(corr(trace[6], truth.traces[8]), corr(trace[31], truth.traces[1]))
    assert max(straight, crossed) > 0.8  # each part has one planted cell's activity
    # refined footprints too (a seeded CNMF), same identities; inputs untouched
    refined = curation.reextract(movie, edited, result=again, update_footprints=True)
    assert list(refined.label_values) == list(again.label_values)
    assert refined.footprints.shape == again.footprints.shape
    curated = curation.curated_result(again, table)
    assert list(curated.label_values) == list(table["index"])
    assert list(curated.accepted) == list(table["accepted"])
    assert list(first.label_values) == list(range(3, 31, 3))  # not modified in place
    with pytest.raises(ValueError, match="empty"):
        curation.reextract(movie, np.zeros_like(labels))
    with pytest.raises(ValueError, match="like the ROIs"):
        curation.reextract(movie[:, :40], labels)


def test_save_and_load_curation_round_trip_and_never_overwrite(planted, tmp_path):
    from napari_amnesia.core.cnmf.export import export

    movie, truth, labels = planted
    result = curation.reextract(movie, labels, K=6, gSig=(4, 4), gnb=2, min_SNR=2.0)
    edited = curation.delete_labels(labels, [30])
    table = curation.table_from_result(result, labels, original=labels)
    table = curation.table_from_labels(edited, curation.set_decision(table, [9], False),
                                       original=labels, extracted=labels)
    log = [{"action": "reject", "labels": [9]}, {"action": "delete", "labels": [30]}]
    pipeline = {"movie": "movie.tif", "stages": {"cnmf": result.params.to_dict()}}
    out = curation.save_curation(tmp_path / "cur", edited, table, result=result,
                                 original=labels, extracted=labels, log=log, source="movie",
                                 pipeline=pipeline)
    assert {p.name for p in out.iterdir()} == {
        "labels.tif", "original_labels.tif", "extracted_labels.tif", "rois.csv",
        "curation.json", "result", ".napari-amnesia.json"}  # the manifest of its files
    back = curation.load_curation(out)
    np.testing.assert_array_equal(back.labels, edited)
    np.testing.assert_array_equal(back.original, labels)
    np.testing.assert_array_equal(back.extracted, labels)
    assert back.decisions == {9: False} and back.log == log and back.source == "movie"
    assert back.pipeline["stages"]["cnmf"]["K"] == 6
    for c in curation.COLUMNS:
        np.testing.assert_array_equal(back.table[c], table[c])
    np.testing.assert_array_equal(back.result.traces, result.traces)
    rows = (out / "rois.csv").read_text().splitlines()
    assert rows[0].split(",") == list(curation.COLUMNS) and len(rows) == 1 + 9
    # never over an existing folder unless asked
    stamp = (out / "curation.json").stat().st_mtime_ns
    with pytest.raises(OutputExistsError):
        back.save(out)
    assert (out / "curation.json").stat().st_mtime_ns == stamp
    back.save(out, overwrite=True)
    with pytest.raises(FileNotFoundError, match="not a curation folder"):
        curation.load_curation(tmp_path)
    # the accepted ROIs go to the usual exports once re-extracted
    again = curation.reextract(movie, back.labels, result=back.result,
                               reference=back.extracted)
    final = curation.table_from_result(again, back.labels, back.table)
    exported = export(curation.curated_result(again, final), tmp_path / "exports")
    written = tifffile.imread(exported / "labels.tif")
    assert set(np.unique(written)) - {0} == set(range(3, 28, 3)) - {9}
