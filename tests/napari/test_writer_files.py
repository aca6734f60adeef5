"""The napari writers replace only what napari-amnesia wrote (issue 12)."""

import json

import numpy as np
import pytest
import tifffile

from napari_amnesia.napari._writer import write_bundle, write_labels


def _labels():
    labels = np.zeros((20, 30), np.int32)
    labels[2:6, 3:9] = 4
    return labels


def test_labels_writer_replaces_its_own_file_never_a_users(tmp_path):
    users = tmp_path / "segmentation.tif"
    users.write_bytes(b"a segmentation drawn by hand")
    with pytest.raises(FileExistsError, match="segmentation.tif was not written by napari-amnesia"):
        write_labels(str(users), _labels(), {"name": "rois"})
    assert users.read_bytes() == b"a segmentation drawn by hand"

    ours = tmp_path / "rois.tif"
    assert write_labels(str(ours), _labels(), {"name": "rois"}) == [str(ours)]
    manifest = json.loads((tmp_path / ".napari-amnesia.json").read_text())
    assert "rois.tif" in manifest["files"] and "segmentation.tif" not in manifest["files"]
    write_labels(str(ours), _labels() * 2, {"name": "rois"})  # napari's dialog asked: replaced
    assert tifffile.imread(ours).max() == 8


def test_bundle_writer_marks_its_folder_and_never_merges(tmp_path):
    image = np.ones((20, 30), np.float32)
    out = tmp_path / "bundle"
    write_bundle(str(out), [(image, {"name": "mean"}, "image")])
    manifest = json.loads((out / ".napari-amnesia.json").read_text())
    assert manifest["kind"] == "results folder"
    assert sorted(manifest["files"]) == ["00_mean.tif", "layers.json"]
    with pytest.raises(FileExistsError, match="already exists"):
        write_bundle(str(out), [(image, {"name": "mean"}, "image")])
