"""Tests of napari_amnesia.core.motion.result: saving, loading and layers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_amnesia.core.files import OutputExistsError
from napari_amnesia.core.motion import (
    MotionResult,
    correct,
)


def test_save_load_round_trip(tmp_path, nonrigid_movie, pw_result):
    movie, _ = nonrigid_movie
    folder = pw_result.save(tmp_path / "motion")
    for name in ("shifts.csv", "shifts_pw.csv", "template.tif", "params.json", "result.json",
                 "metrics.json"):
        assert (folder / name).is_file(), name
    loaded = MotionResult.load(folder, movie=movie)
    np.testing.assert_array_equal(loaded.shifts, pw_result.shifts)
    np.testing.assert_array_equal(loaded.shifts_pw, pw_result.shifts_pw)
    np.testing.assert_array_equal(loaded.patch_centers, pw_result.patch_centers)
    np.testing.assert_array_equal(loaded.template, pw_result.template)
    assert loaded.params == pw_result.params
    np.testing.assert_array_equal(loaded.corrected[:20].compute(),
                                  pw_result.corrected[:20].compute())
    info = json.loads((folder / "result.json").read_text())
    assert info["input_shape"] == list(movie.shape) and "version" in info
    with pytest.raises(OutputExistsError):
        pw_result.save(folder)
    pw_result.save(folder, overwrite=True)


def test_save_with_metrics_and_corrected_movie(tmp_path, rigid_result):
    folder = rigid_result.save(tmp_path / "m", corrected=True)
    loaded = MotionResult.load(folder)
    assert loaded.corrected is None
    np.testing.assert_allclose(loaded.metrics["correlation_after"],
                               rigid_result.metrics["correlation_after"])
    np.testing.assert_array_equal(loaded.metrics["corr_after"], rigid_result.metrics["corr_after"])
    import tifffile

    saved = tifffile.imread(folder / "corrected.tif")
    np.testing.assert_array_equal(saved[:5], rigid_result.corrected[:5].compute())


def test_cancelled_save_leaves_nothing(tmp_path, rigid_result):
    gen = rigid_result.iter_save(tmp_path / "out", corrected=True)
    next(gen)
    next(gen)
    gen.close()
    assert list(tmp_path.iterdir()) == []


def test_rejected_frames_are_saved_and_loaded(tmp_path, rigid_movie):
    movie, truth = rigid_movie
    mov = movie[:60].astype(np.float32)
    mov[30] = float(np.median(mov)) + np.random.default_rng(1).normal(
        0.0, 5.0, truth.shape)
    res = correct(mov, template=truth.mean_image(), max_shifts=8, compute_metrics=False)
    assert res.rejected_frames.tolist() == [30]
    loaded = MotionResult.load(res.save(tmp_path / "m"))
    assert loaded.rejected_frames.tolist() == [30] and loaded.messages == res.messages


def test_to_layers_names_kinds_and_metadata(rigid_result):
    layers = rigid_result.to_layers("day1")
    names = [kwargs["name"] for _, kwargs, _ in layers]
    assert names == ["day1 · corrected", "day1 · template", "day1 · correlation before",
                     "day1 · correlation after", "day1 · mean before", "day1 · mean after"]
    assert all(kind == "image" for _, _, kind in layers)
    movie, kwargs, _ = layers[0]
    assert movie is rigid_result.corrected
    assert kwargs["multiscale"] is False and len(kwargs["contrast_limits"]) == 2
    assert [kw.get("visible", True) for _, kw, _ in layers] == [True] + [False] * 5
    meta = kwargs["metadata"]["napari_amnesia"]
    assert meta["stage"] == "motion" and meta["source"] == "day1"
    assert meta["params"] == rigid_result.params.to_dict()
    json.dumps(meta)
    without = rigid_result.to_layers("day1", corrected=False)
    assert [kw["name"] for _, kw, _ in without] == names[1:]


def test_provenance_records_version_time_and_elapsed(rigid_result):
    from napari_amnesia import __version__

    prov = rigid_result.provenance
    assert prov["version"] == __version__ and prov["created"]
    assert prov["elapsed_s"] == prov["timings"]["total"] > 0
