"""SourceResult: lazy movies, layers, provenance, saving, labels and contours
(napari_amnesia.core.cnmf.result).
"""

from __future__ import annotations

import dataclasses
import json

import dask.array as da
import numpy as np
import pytest
from cnmf_data import FIT, SHAPE, _fields
from scipy import sparse

from napari_amnesia import __version__
from napari_amnesia.core import cnmf
from napari_amnesia.core.cnmf import SourceResult
from napari_amnesia.core.files import OutputExistsError
from napari_amnesia.core.simulate import simulate


@pytest.fixture(scope="module")
def small():
    movie, truth = simulate(n_frames=200, shape=(40, 48), n_cells=4, n_neurite_groups=0,
                            motion=False, rng=7)
    return movie, cnmf.fit(movie, K=6, gSig=4, gnb=2)


def test_reconstruction_and_residual_equal_the_dense_computation(small):
    movie, result = small
    assert result.K > 0 and result.background_footprints.shape[1] == 2
    A, C = result.footprints.toarray(), result.traces
    b, f = result.background
    dense = (A @ C + b @ f).T.reshape(movie.shape)
    rec = result.reconstruction()
    assert isinstance(rec, da.Array) and rec.dtype == np.float32
    assert rec.shape == movie.shape
    # chunks of up to 64 frames of about 8 MB, as the viewer layers had
    assert rec.chunks[0][0] == 64 and rec.chunks[1:] == ((40,), (48,))
    np.testing.assert_allclose(rec.compute(), dense, rtol=1e-5, atol=1e-4)
    res = result.residual(movie)
    assert isinstance(res, da.Array) and res.dtype == np.float32
    np.testing.assert_allclose(res.compute(), np.asarray(movie, np.float32) - dense,
                               rtol=1e-5, atol=1e-3)
    lazy_movie = da.from_array(movie, chunks=(50, 40, 48))
    np.testing.assert_allclose(result.residual(lazy_movie)[17].compute(),
                               movie[17] - dense[17], rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="shape"):
        result.residual(movie[:-1])


def test_to_layers_names_types_and_provenance(small):
    movie, result = small
    layers = result.to_layers("m", movie=movie, contours=True)
    assert [(kw["name"], kind) for _, kw, kind in layers] == [
        ("m · ROIs", "labels"), ("m · contours", "shapes"), ("m · footprints", "image"),
        ("m · reconstruction", "image"), ("m · residual", "image")]
    data, kwargs, _ = layers[0]
    np.testing.assert_array_equal(data, result.labels(0.2, accepted_only=False))
    assert list(kwargs["features"]["index"]) == list(result.label_values)
    meta = kwargs["metadata"]["napari_amnesia"]
    assert meta["stage"] == "cnmf" and meta["source"] == "m" and meta["version"] == __version__
    assert not any(kw.get("visible", True) for _, kw, _ in layers[2:])


def test_provenance_is_recorded_and_round_trips(small, tmp_path):
    _, result = small
    prov = result.provenance
    assert prov["version"] == __version__ and prov["input_shape"] == [200, 40, 48]
    assert prov["elapsed_s"] >= 0 and "T" in prov["created"]
    assert "version" not in result.info and "timings" in result.info
    back = SourceResult.load(result.save(tmp_path / "r"))
    assert back.provenance == prov and back.info.keys() == result.info.keys()
    assert result.select([0]).provenance == prov
    assert cnmf.evaluate(result, min_SNR=1.0).provenance == prov


# --------------------------------------------------------------------------- saving, labels
def test_save_load_roundtrip(fitted, tmp_path):
    result = fitted
    folder = result.save(tmp_path / "cnmf")
    back = SourceResult.load(folder)
    for name, value in _fields(result).items():
        other = getattr(back, name)
        if sparse.issparse(value):
            assert (value != other).nnz == 0 and value.dtype == other.dtype
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, other)
            assert value.dtype == other.dtype, name
        elif name == "info":
            assert json.dumps(value, sort_keys=True, default=str) == json.dumps(
                other, sort_keys=True, default=str)
        else:
            assert value == other, name
    with pytest.raises(OutputExistsError):
        result.save(folder)
    result.save(folder, overwrite=True)
    with pytest.raises(FileNotFoundError):
        SourceResult.load(tmp_path / "nothing")


def test_labels_and_contours(fitted):
    result = fitted
    lab = result.labels()
    assert lab.shape == SHAPE and lab.dtype == np.int32
    drawn = set(np.unique(lab)) - {0}
    assert drawn <= set(result.label_values[result.accepted].tolist())
    assert len(drawn) >= result.accepted.sum() - 1
    # a pixel goes to the footprint where it is relatively strongest
    images = result.footprint_images()
    k = int(np.flatnonzero(result.accepted)[0])
    peak = np.unravel_index(np.argmax(images[k]), SHAPE)
    assert lab[peak] == result.label_values[k]
    outlines = result.contours()
    assert len(outlines) == result.accepted.sum() and all(o.shape[1] == 2 for o in outlines)
    sub = result.select(result.accepted)
    assert sub.K == result.accepted.sum() and np.all(sub.accepted)


def test_empty_result_saves_and_loads(tmp_path):
    empty = cnmf.fit(np.full((60, 48, 48), 7, np.uint16), **FIT)
    back = SourceResult.load(empty.save(tmp_path / "empty"))
    assert back.K == 0 and back.traces.shape == (0, 60) and back.g.shape == (0, 1)
    assert back.footprint_images().shape == (0, 48, 48)
    assert cnmf.evaluate(back).accepted.shape == (0,)


def _with_anatomical(result):
    """The result with its last component marked anatomical (as add_silent_cells does)."""
    flags = np.zeros(result.K, bool)
    flags[-1] = True
    return dataclasses.replace(result, anatomical=flags)


def test_anatomical_flags_default_round_trip_and_select(small, tmp_path):
    _, result = small
    # results without anatomical components: all False, nothing new in the folder
    assert result.anatomical.dtype == bool and not result.anatomical.any()
    folder = result.save(tmp_path / "plain")
    with np.load(folder / "arrays.npz") as npz:
        assert "anatomical" not in npz.files
    assert not SourceResult.load(folder).anatomical.any()
    marked = _with_anatomical(result)
    assert "1 anatomical" in repr(marked)
    back = SourceResult.load(marked.save(tmp_path / "marked"))
    np.testing.assert_array_equal(back.anatomical, marked.anatomical)
    sub = back.select([result.K - 1, 0])
    assert sub.anatomical.tolist() == [True, False]
    # a copy with other components made by code unaware of the field: all False
    assert not dataclasses.replace(result, **{
        f: getattr(sub, f) for f in ("footprints", "traces", "spikes", "residual_traces",
                                      "baseline", "g", "lam", "accepted",
                                      "label_values")}).anatomical.any()
    with pytest.raises(ValueError, match="anatomical"):
        dataclasses.replace(marked, anatomical=np.ones(result.K + 1, bool))


def test_layers_mark_anatomical_components(small):
    from napari_amnesia.core.cnmf.layers import ANATOMICAL, REJECTED

    movie, result = small
    plain = result.to_layers("m", contours=True)
    assert "anatomical" not in plain[0][1]["features"]
    assert "n_anatomical" not in plain[0][1]["metadata"]["napari_amnesia"]
    marked = _with_anatomical(result)
    layers = marked.to_layers("m", contours=True)
    assert [kw["name"] for _, kw, _ in layers] == [kw["name"] for _, kw, _ in plain]
    rois = layers[0][1]
    np.testing.assert_array_equal(rois["features"]["anatomical"], marked.anatomical)
    assert rois["metadata"]["napari_amnesia"]["n_anatomical"] == 1
    last, first = int(marked.label_values[-1]), int(marked.label_values[0])
    assert rois["colormap"][last] == ANATOMICAL
    assert rois["colormap"][first] not in (ANATOMICAL, REJECTED)
    contours = layers[1][1]
    assert contours["features"]["anatomical"][-1]
    np.testing.assert_allclose(contours["edge_color"][-1], ANATOMICAL)
    # a rejected anatomical component is grey like any rejected one
    rejected = dataclasses.replace(marked, accepted=~marked.anatomical)
    assert rejected.to_layers("m")[0][1]["colormap"][last] == REJECTED
