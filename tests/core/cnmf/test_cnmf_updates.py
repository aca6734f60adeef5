"""The HALS refinement and the spatial and temporal updates of CNMF
(napari_amnesia.core.cnmf.updates).
"""

from __future__ import annotations

import numpy as np
from cnmf_data import N_CELLS, SHAPE, T, corr_rows
from scipy import sparse

from napari_amnesia.core.cnmf.initialization import greedy_roi
from napari_amnesia.core.cnmf.updates import (
    Deconvolution,
    hals,
    normalize_components,
    update_spatial,
    update_temporal,
)


def test_hals_reduces_the_residual(sim):
    movie, _ = sim
    Y = movie.reshape(T, -1).astype(np.float32)
    init = greedy_roi(movie, K=20, gSig=4, gnb=2)

    def residual(A, C, b, f):
        return np.linalg.norm(Y - C.T @ A.T - f.T @ b.T)

    before = residual(init.A, init.C, init.b, init.f)
    A, C, b, f = hals(Y, init.A, init.C, init.b, init.f, dims=SHAPE, n_iter=5)
    assert residual(A, C, b, f) < before
    assert np.all(A >= 0) and np.all(C >= 0)


def test_spatial_and_temporal_updates_recover_planted_factors(sim):
    movie, truth = sim
    Y = movie.reshape(T, -1).astype(np.float32)
    K = N_CELLS
    true_A = sparse.csc_matrix(truth.footprints.reshape(K, -1).T)
    from napari_amnesia.core.cnmf.initialization import pixel_noise

    sn = pixel_noise(Y)
    # temporal update from the true footprints and a flat background start
    b0 = np.ones((Y.shape[1], 1), np.float32) * Y.mean(axis=0)[:, None]
    f0 = np.ones((1, T), np.float32)
    A0, _ = normalize_components(true_A, np.zeros((K, T)))
    tr = update_temporal(Y, A0, b0, np.zeros((K, T)), f0, dims=SHAPE,
                         deconvolution=Deconvolution(p=1), ITER=2)
    assert np.median(corr_rows(tr.C, truth.traces)) > 0.95
    assert np.median(corr_rows(tr.S, truth.spikes)) > 0.9
    # spatial update from the recovered traces, starting from shrunken footprints
    start = true_A.copy()
    start.data[start.data < 0.5 * start.max()] = 0
    start.eliminate_zeros()
    A, b, _ = update_spatial(Y, tr.C, tr.f, start, sn, dims=SHAPE, support_dilation=3)
    An, _ = normalize_components(A, np.zeros((K, 1)))
    cos = np.asarray((An.multiply(A0)).sum(axis=0)).ravel()
    assert np.median(cos) > 0.9
