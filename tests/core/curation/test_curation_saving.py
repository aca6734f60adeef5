"""Reading ROI files and the curation folder; never written over."""

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
