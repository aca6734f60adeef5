"""suite2p and CaImAn results open in napari as ROIs, are curated and exported (Xvfb)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tifffile

from napari_amnesia.core.cnmf.export import read_imagej_rois
from napari_amnesia.napari.session import session_for

sys.path.insert(0, str(Path(__file__).parents[1] / "core" / "formats"))
from exchange_fixtures import write_caiman_file, write_suite2p_plane  # noqa: E402

PLUGIN = "napari-amnesia"
METADATA = """\
session: {description: curated suite2p plane, start_time: "2026-01-31T14:05:00+01:00"}
subject: {subject_id: m1, species: Mus musculus, sex: U, age: P90D}
device: {name: Microscope}
imaging: {technique: two-photon, rate: 15.0, indicator: GCaMP6f, location: VISp,
          excitation_lambda: 920, emission_lambda: 510}
"""


def test_suite2p_plane_opens_curates_and_exports(make_napari_viewer, tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    src = write_suite2p_plane(tmp_path / "rec1" / "suite2p" / "plane0", 0)
    K = len(src["stat"])
    viewer = make_napari_viewer()
    layers = viewer.open(tmp_path / "rec1" / "suite2p", plugin=PLUGIN)
    names = [layer.name for layer in layers]
    assert names[0] == "rec1 plane0 · ROIs" and "rec1 plane0 · footprints" in names
    rois = layers[0]
    assert len(rois.features) == K
    np.testing.assert_array_equal(rois.features["accepted"], src["iscell"][:, 0] > 0.5)
    meta = rois.metadata["napari_amnesia"]
    assert meta["imported"]["format"] == "suite2p" and meta["stage"] == "cnmf"
    # the Curate dock curates them with their traces: the result comes into the session
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Curate ROIs")
    dock.bind(rois)
    assert session_for(viewer).result("rec1 plane0", "cnmf") is not None
    assert dock.curated is not None and dock.curated.K == K
    first = int(rois.features["index"][0])
    dock.labels.value = str(first)
    dock.reject()
    assert dock.decisions[first] is False
    # Export in each format, with the dock's decisions
    plane = dock.export(tmp_path / "out_s2p", format="suite2p")
    assert plane is not None, dock.status.value
    iscell = np.load(plane / "iscell.npy")
    assert iscell.shape == (K, 2) and iscell[0, 0] == 0
    np.testing.assert_allclose(np.load(plane / "F.npy"), src["F"], rtol=1e-4, atol=1e-3)
    tif = dock.export(tmp_path / "out_labels", format="labels")
    assert tif.name == "labels.tif" and first not in tifffile.imread(tif)
    zipped = dock.export(tmp_path / "out_imagej", format="imagej")
    assert read_imagej_rois(zipped, rois.data.shape)[1]  # ROIs named roi_<label>
    folder = dock.export(tmp_path / "out_csv", format="csv")
    assert (folder / "components.csv").is_file()
    assert dock.export(tmp_path / "out_csv", format="csv") is None
    assert "already exists" in dock.status.value
    # NWB needs the metadata: the dock says so and writes nothing
    assert dock.export(tmp_path / "out_nwb", format="nwb") is None
    assert "metadata" in dock.status.value and not (tmp_path / "out_nwb").exists()
    try:
        import pynwb  # noqa: F401

        from napari_amnesia.core.formats.nwb import write_nwb  # noqa: F401
    except ImportError:
        return
    (tmp_path / "session.yaml").write_text(METADATA)
    nwb = dock.export(tmp_path / "out_nwb", format="nwb", metadata=tmp_path / "session.yaml")
    assert nwb is not None and nwb.suffix == ".nwb", dock.status.value
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(nwb), "r") as io:
        rois_nwb = io.read().processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        accepted = rois_nwb["accepted"].data[:]
    assert len(accepted) == K and not accepted[0]  # the dock's decision


def test_caiman_file_opens_as_rois(make_napari_viewer, tmp_path):
    src = write_caiman_file(tmp_path / "cnm.hdf5", 1)
    K = len(src["dense"])
    viewer = make_napari_viewer()
    layers = viewer.open(tmp_path / "cnm.hdf5", plugin=PLUGIN)
    rois = layers[0]
    assert rois.name == "cnm · ROIs" and len(rois.features) == K
    accepted = np.zeros(K, bool)
    accepted[src["idx"]] = True
    np.testing.assert_array_equal(rois.features["accepted"], accepted)
    np.testing.assert_allclose(rois.features["snr"], src["SNR_comp"])


def test_labels_save_as_an_imagej_roi_set(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    labels = np.zeros((30, 40), np.int32)
    labels[3:10, 4:12] = 2
    labels[15:25, 20:33] = 7
    layer = viewer.add_labels(labels, name="cells")
    written = layer.save(str(tmp_path / "cells.zip"), plugin=PLUGIN)
    assert written and Path(written[0]).suffix == ".zip"
    drawn, names = read_imagej_rois(tmp_path / "cells.zip", labels.shape)
    assert names == ["roi_2", "roi_7"]
    for i, value in enumerate((2, 7)):
        np.testing.assert_array_equal(drawn == i + 1, labels == value)
