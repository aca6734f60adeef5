"""Tests of napari_amnesia.core.summary.result: saving, loading and layers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from summary_reference import IMAGES

from napari_amnesia import __version__
from napari_amnesia.core.files import OutputExistsError
from napari_amnesia.core.summary import SummaryImages, SummaryParams


def test_provenance_and_info(images):
    assert images.provenance["version"] == __version__
    assert images.provenance["created"] and images.provenance["elapsed_s"] > 0
    assert images.elapsed == images.provenance["elapsed_s"]
    assert images.info["corr_pnr_exact"] is True
    assert images.info["noise_mean_frame"] == pytest.approx(float(np.mean(images.noise)))
    assert isinstance(images.params, SummaryParams) and images.params.gsig == 2.0


def test_save_load_round_trip(tmp_path, images):
    folder = images.save(tmp_path / "summary")
    for stem in ("mean", "max", "std", "correlation", "pnr", "correlation_pnr",
                 "max_correlation", "noise"):
        image = tifffile.imread(folder / f"{stem}.tif")
        assert image.dtype == np.float32 and image.shape == images.mean.shape
    assert json.loads((folder / "params.json").read_text())["gsig"] == 2.0
    back = SummaryImages.load(folder)
    for name in IMAGES:
        np.testing.assert_array_equal(getattr(back, name), getattr(images, name))
    assert back.params == images.params and back.n_frames == images.n_frames
    assert back.provenance == images.provenance and back.info == images.info
    with pytest.raises(OutputExistsError):
        images.save(folder)
    images.save(folder, overwrite=True)
    with pytest.raises(FileNotFoundError, match="not a saved SummaryImages"):
        SummaryImages.load(tmp_path)


def test_to_layers(images):
    layers = images.to_layers("day1")
    names = [kwargs["name"] for _, kwargs, _ in layers]
    assert names == ["day1 · mean", "day1 · max", "day1 · std", "day1 · correlation",
                     "day1 · PNR", "day1 · correlation (PNR)", "day1 · max correlation"]
    assert all(kind == "image" for _, _, kind in layers)
    assert [kwargs["visible"] for _, kwargs, _ in layers] == [True] + [False] * 6
    meta = layers[0][1]["metadata"]["napari_amnesia"]
    assert meta["stage"] == "summary" and meta["source"] == "day1"
    assert meta["params"]["gsig"] == 2.0 and meta["version"] == __version__
    json.dumps(meta)  # the metadata is JSON-ready
    np.testing.assert_array_equal(layers[3][0], images.corr)


def test_params_dict_becomes_the_dataclass(images):
    copy = SummaryImages(**images.as_dict(), n_frames=images.n_frames,
                         params={"gsig": 3, "bin_size": 50})
    assert copy.params == SummaryParams(gsig=3.0, bin_size=50)
