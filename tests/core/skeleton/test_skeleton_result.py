"""Tests of core.skeleton.result: SkeletonResult save/load and layers."""

from __future__ import annotations

import numpy as np
import pytest

from napari_amnesia.core.skeleton import (
    SkeletonResult,
    skeletonize,
)


def test_save_and_load_roundtrip(tmp_path, clean_scenes):
    """Save a result to a folder and load it back unchanged."""
    movie, _ = clean_scenes[1]
    r = skeletonize(movie, min_branch_length=5)
    folder = r.save(tmp_path / "sk")
    back = SkeletonResult.load(folder)
    assert back.params == r.params and back.totals == r.totals
    np.testing.assert_array_equal(back.branch_labels, r.branch_labels)
    np.testing.assert_array_equal(back.mask, r.mask)
    np.testing.assert_array_equal(back.somata, r.somata)
    np.testing.assert_allclose(back.junctions, r.junctions)
    assert len(back.paths) == len(r.paths)
    assert all((a == b).all() for a, b in zip(back.paths, r.paths, strict=True))
    assert list(back.branches.columns) == list(r.branches.columns)
    np.testing.assert_allclose(back.branches["length"], r.branches["length"])
    np.testing.assert_allclose(back.summary, r.summary)
    with pytest.raises(FileExistsError):
        r.save(folder)
    r.save(folder, overwrite=True)
    empty = skeletonize(np.zeros((16, 16)))
    assert SkeletonResult.load(empty.save(tmp_path / "empty")).totals["n_branches"] == 0
    with pytest.raises(FileNotFoundError):
        SkeletonResult.load(tmp_path)


def test_provenance_round_trips_and_old_folders_load(tmp_path):
    """Record provenance, save and load it; load a folder of the older layout."""
    import json

    from napari_amnesia import __version__

    image = np.zeros((40, 40), np.float32)
    image[20, 5:35] = image[5:20, 20] = 1.0
    r = skeletonize(image, objects_min_size=5, soma_radius=0)
    prov = r.provenance
    assert prov["version"] == __version__ and prov["created"] and prov["elapsed_s"] >= 0
    assert prov["input_shape"] == [40, 40] and prov["n_frames"] == 0 and prov["timings"]
    assert r.info == {"warnings": []}
    back = SkeletonResult.load(r.save(tmp_path / "sk"))
    assert back.provenance == json.loads(json.dumps(prov)) and back.info == r.info
    # a folder saved before provenance had its own key: provenance was mixed into info
    old = {"input_shape": [40, 40], "n_frames": 0, "elapsed": 0.5, "timings": {},
           "version": "0.0.9", "warnings": ["w"]}
    (tmp_path / "sk" / "info.json").write_text(json.dumps(old))
    back = SkeletonResult.load(tmp_path / "sk")
    assert back.info == {"warnings": ["w"]}
    assert back.provenance == {"input_shape": [40, 40], "n_frames": 0, "elapsed_s": 0.5,
                               "timings": {}, "version": "0.0.9"}


def test_to_layers_gives_the_dock_layers():
    """Build the dock's layers (names, types, kwargs) from the result."""
    import pandas as pd

    from napari_amnesia.core.simulate import simulate

    movie, _ = simulate(n_frames=40, shape=(96, 96), n_cells=1, n_neurite_groups=1,
                        branches_per_group=3, motion=False, rng=4)
    r = skeletonize(movie)
    layers = r.to_layers("mov")
    assert [(kw["name"], kind) for _, kw, kind in layers] == [
        ("mov · structure", "image"), ("mov · skeleton", "labels"),
        ("mov · branches", "shapes"), ("mov · junctions", "points")]
    (mask, mkw, _), (labels, lkw, _), (paths, pkw, _), (junctions, jkw, _) = layers
    assert mask.dtype == np.uint8 and (mask == r.mask).all()
    assert {k: v for k, v in mkw.items() if k not in ("name", "metadata")} == {
        "colormap": "gray", "opacity": 0.5, "contrast_limits": [0, 1], "visible": False}
    assert labels.dtype == np.int32 and (labels == r.branch_labels).all()
    pd.testing.assert_frame_equal(lkw["features"], r.features())
    assert list(lkw["features"]["index"]) == list(r.branches["branch_id"])
    assert len(paths) == len(r.paths) and paths[0].dtype == float
    assert {k: v for k, v in pkw.items() if k not in ("name", "metadata")} == {
        "shape_type": "path", "edge_color": "cyan", "edge_width": 0.5, "visible": False}
    assert junctions.shape == (r.totals["n_junctions"], 2)
    assert {k: v for k, v in jkw.items() if k not in ("name", "metadata")} == {
        "size": 4, "face_color": "red"}
    meta = lkw["metadata"]["napari_amnesia"]
    assert meta["stage"] == "skeleton" and meta["source"] == "mov"
    assert meta["params"] == r.params.to_dict()
    # an empty result has no path layer; a preview is one intermediate image
    empty = skeletonize(np.zeros((16, 16)))
    assert [kind for *_, kind in empty.to_layers("e")] == ["image", "labels", "points"]
    data, kwargs, kind = r.preview_layer("mov", "equalized")
    assert kind == "image" and kwargs["name"] == "mov · skeleton equalized"
    np.testing.assert_array_equal(data, r.intermediates["equalized"])
    with pytest.raises(KeyError, match="nothing"):
        r.preview_layer("mov", "nothing")
    with pytest.raises(TypeError, match="colour"):
        r.to_layers("mov", colour="red")
