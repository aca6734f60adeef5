"""core.cnmf.layers: a result's napari layer data, built without napari."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from napari_amnesia.core.cnmf import CNMFParams, SourceResult
from napari_amnesia.core.cnmf.layers import cnmf_layers, footprint_map


def _result(K: int, shape=(20, 24), T=30) -> SourceResult:
    rng = np.random.default_rng(0)
    A = sparse.random(shape[0] * shape[1], K, density=0.05, random_state=1, format="csc")
    return SourceResult(
        footprints=A, traces=rng.random((K, T)), spikes=np.zeros((K, T)),
        residual_traces=np.zeros((K, T)), background_footprints=np.zeros((A.shape[0], 0)),
        background_traces=np.zeros((0, T)), baseline=np.zeros(K), g=np.full((K, 1), 0.9),
        lam=np.zeros(K), sn=np.ones(shape), shape=shape, params=CNMFParams(gSig=3))


def test_footprint_map_scales_each_footprint_to_its_peak():
    res = _result(3)
    image = footprint_map(res)
    assert image.shape == res.shape and image.dtype == np.float32
    assert np.isclose(image.max(), 1.0) and image.min() >= 0


def test_a_result_without_components_still_gives_layers():
    """An empty suite2p plane or a fit that found nothing opens as empty layers."""
    res = _result(0)
    np.testing.assert_array_equal(footprint_map(res), np.zeros(res.shape, np.float32))
    layers = cnmf_layers(res, "movie")
    assert layers and all(np.asarray(data).size == 0 or not np.asarray(data).any()
                          for data, _, kind in layers if kind in ("labels", "image"))
