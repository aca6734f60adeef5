"""Exports of a CNMF result (labels TIFF, CSV, ImageJ ROI zip) and ImageJ ROI import."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile
from scipy import sparse

from napari_amnesia.core.cnmf import CNMFParams
from napari_amnesia.core.cnmf.export import export, read_imagej_rois, write_imagej_rois
from napari_amnesia.core.cnmf.result import SourceResult
from napari_amnesia.core.files import OutputExistsError
from napari_amnesia.core.simulate import simulate


@pytest.fixture(scope="module")
def planted():
    """A result made of the planted footprints and traces (no fit needed)."""
    movie, truth = simulate(n_frames=50, shape=(64, 64), n_cells=6, n_neurite_groups=0,
                            motion=False, rng=4)
    K = truth.footprints.shape[0]
    A = sparse.csc_matrix(truth.footprints.reshape(K, -1).T)
    T = movie.shape[0]
    result = SourceResult(
        footprints=A, traces=truth.traces, spikes=truth.spikes,
        residual_traces=np.zeros((K, T), np.float32),
        background_footprints=np.zeros((64 * 64, 0)), background_traces=np.zeros((0, T)),
        baseline=np.zeros(K), g=np.full((K, 1), 0.9), lam=np.zeros(K),
        sn=np.ones((64, 64)), shape=(64, 64), params=CNMFParams(),
        accepted=np.arange(K) % 3 != 1, snr=np.linspace(1, 5, K),
        r_values=np.linspace(0.5, 0.99, K), dff=truth.traces / 10.0,
        label_values=np.arange(K) * 10 + 5)
    return result


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_export_writes_every_file_of_the_accepted_components(planted, tmp_path):
    out = export(planted, tmp_path / "exports")
    chosen = np.flatnonzero(planted.accepted)
    names = [f"roi_{v}" for v in planted.label_values[chosen]]
    labels = tifffile.imread(out / "labels.tif")
    np.testing.assert_array_equal(labels, planted.labels())
    assert set(np.unique(labels)) - {0} == set(planted.label_values[chosen].tolist())
    rows = _read_csv(out / "components.csv")
    assert rows[0][:3] == ["label", "index", "accepted"]
    assert [int(r[0]) for r in rows[1:]] == planted.label_values[chosen].tolist()
    assert [int(r[1]) for r in rows[1:]] == chosen.tolist()
    for name, data in (("traces", planted.traces), ("spikes", planted.spikes),
                       ("dff", planted.dff), ("raw_traces", planted.raw_traces)):
        rows = _read_csv(out / f"{name}.csv")
        assert rows[0] == ["frame", *names]
        values = np.array(rows[1:], float)
        np.testing.assert_array_equal(values[:, 0], np.arange(planted.n_frames))
        np.testing.assert_allclose(values[:, 1:], data[chosen].T, rtol=1e-5, atol=1e-6)


def test_imagej_rois_round_trip_to_the_same_pixels(planted, tmp_path):
    out = export(planted, tmp_path / "exports", accepted_only=False)
    labels, names = read_imagej_rois(out / "rois.zip", planted.shape)
    assert names == [f"roi_{v}" for v in planted.label_values]
    painted = planted.labels(accepted_only=False)
    for i, value in enumerate(planted.label_values):
        a, b = labels == i + 1, painted == value
        iou = (a & b).sum() / (a | b).sum()
        assert iou >= 0.8, (value, iou)


def test_imagej_import_of_rectangles_and_ovals_and_errors(tmp_path):
    import roifile

    rect = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=10, top=5, right=20,
                             bottom=9, name="box")
    roifile.roiwrite(tmp_path / "set.zip", [rect], mode="w")
    labels, names = read_imagej_rois(tmp_path / "set.zip", (32, 32))
    assert names == ["box"]
    # pixels whose centres lie inside x in [10, 20), y in [5, 9): rows 5..8, cols 10..19
    expected = np.zeros((32, 32), bool)
    expected[5:9, 10:20] = True
    np.testing.assert_array_equal(labels == 1, expected)
    with pytest.raises(FileNotFoundError, match="no such ImageJ ROI file"):
        read_imagej_rois(tmp_path / "missing.zip", (32, 32))
    (tmp_path / "bad.zip").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a readable ImageJ ROI file"):
        read_imagej_rois(tmp_path / "bad.zip", (32, 32))
    line = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.LINE, x1=1, y1=1, x2=5, y2=5, name="l")
    roifile.roiwrite(tmp_path / "line.zip", [line], mode="w")
    with pytest.raises(ValueError, match="encloses no area"):
        read_imagej_rois(tmp_path / "line.zip", (32, 32))


def test_exports_never_overwrite(planted, tmp_path):
    out = export(planted, tmp_path / "exports")
    before = (out / "traces.csv").read_bytes()
    with pytest.raises(OutputExistsError):
        export(planted, out)
    assert (out / "traces.csv").read_bytes() == before
    write_imagej_rois(tmp_path / "r.zip", [np.array([[1, 1], [1, 5], [5, 5]])], ["a"])
    with pytest.raises(OutputExistsError):
        write_imagej_rois(tmp_path / "r.zip", [], [])
    with pytest.raises(ValueError, match=".zip"):
        write_imagej_rois(tmp_path / "r.roi", [], [])


def test_exports_overwrite_their_own_files_and_list_them_in_the_manifest(planted, tmp_path):
    from napari_amnesia.core.cnmf.export import write_traces_csv
    from napari_amnesia.core.files import NotOwnedError, read_manifest

    out = export(planted, tmp_path / "exports")
    listed = set(read_manifest(out)["files"])
    assert {"labels.tif", "components.csv", "traces.csv", "raw_traces.csv", "spikes.csv",
            "dff.csv", "rois.zip"} <= listed
    again = export(planted, out, accepted_only=False, overwrite=True)  # ours: replaced
    assert again == out
    assert len(_read_csv(out / "components.csv")) == planted.K + 1
    assert set(read_manifest(out)["files"]) == listed
    # single files: recorded in their folder's manifest, so overwrite=True may replace them
    rois = tmp_path / "rois.zip"
    write_imagej_rois(rois, [np.array([[1, 1], [1, 5], [5, 5]])], ["a"])
    write_imagej_rois(rois, [np.array([[1, 1], [1, 6], [6, 6]])], ["b"], overwrite=True)
    assert [n for n in read_imagej_rois(rois, (8, 8))[1]] == ["b"]
    table = tmp_path / "t.csv"
    write_traces_csv(table, np.ones((1, 4)), ["roi_1"])
    write_traces_csv(table, np.zeros((1, 4)), ["roi_1"], overwrite=True)
    assert {"rois.zip", "t.csv"} <= set(read_manifest(tmp_path)["files"])
    # a file the package did not write is never replaced
    (tmp_path / "mine.csv").write_text("user data")
    with pytest.raises(NotOwnedError):
        write_traces_csv(tmp_path / "mine.csv", np.ones((1, 4)), ["roi_1"], overwrite=True)
    assert (tmp_path / "mine.csv").read_text() == "user data"


def test_export_marks_anatomical_rois(tmp_path):
    """components.csv says which ROIs are silent somata proposed from the mean image."""
    import csv
    import dataclasses

    from napari_amnesia.core import cnmf
    from napari_amnesia.core.cnmf.export import export
    from napari_amnesia.core.simulate import simulate

    movie, _ = simulate(n_frames=200, shape=(48, 48), n_cells=4, n_neurite_groups=0,
                        motion=False, rng=0)
    result = cnmf.fit(movie, gSig=(3, 3), K=4, rf=None)
    export(result, tmp_path / "plain")
    with open(tmp_path / "plain" / "components.csv") as fh:
        assert "anatomical" not in next(csv.reader(fh))  # unchanged without them
    flags = np.zeros(result.K, bool)
    flags[0] = True
    export(dataclasses.replace(result, anatomical=flags), tmp_path / "marked",
           accepted_only=False)
    with open(tmp_path / "marked" / "components.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["anatomical"] for r in rows] == ["True"] + ["False"] * (result.K - 1)
