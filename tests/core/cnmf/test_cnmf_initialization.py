"""CNMF initialisations: greedy ROI search, sparse NMF, seeds
(napari_amnesia.core.cnmf.initialization).
"""

from __future__ import annotations

import numpy as np
import pytest
from cnmf_data import N_CELLS, SHAPE, T, corr_rows

from napari_amnesia.core.cnmf.initialization import greedy_roi, seed_masks, seeded, sparse_nmf


def test_greedy_roi_finds_every_cell_and_no_more(sim):
    movie, truth = sim
    init = greedy_roi(movie, K=40, gSig=4, gnb=2)
    d = np.linalg.norm(init.centers[:, None] - truth.centers[None], axis=2)
    assert np.all(d.min(axis=0) < 3)  # every cell seeded
    assert init.K <= N_CELLS + 3  # K larger than the cells: no invented components
    assert init.A.shape == (SHAPE[0] * SHAPE[1], init.K) and init.C.shape == (init.K, T)
    assert init.b.shape[1] == 2 and init.f.shape == (2, T)


def test_sparse_nmf_components_lie_on_cells(sim):
    movie, truth = sim
    init = sparse_nmf(movie, K=20, alpha=0.5, gnb=2, rng=0)
    assert 1 <= init.K <= 20
    A = init.A / np.maximum(np.linalg.norm(init.A, axis=0), 1e-12)
    overlap = truth.footprints.reshape(N_CELLS, -1) @ A  # cosine with true cells
    # the strongest components are cells
    energy = np.linalg.norm(init.C, axis=1)
    top = np.argsort(energy)[::-1][:5]
    assert np.all(overlap[:, top].max(axis=0) > 0.5)


def test_seed_masks_keep_label_order():
    labels = np.zeros((20, 20), int)
    labels[2:5, 2:5] = 12
    labels[10:14, 10:14] = 3
    labels[15:18, 2:6] = 7
    masks, values = seed_masks(labels)
    assert values.tolist() == [3, 7, 12]
    for k, v in enumerate(values):
        np.testing.assert_array_equal(masks[k] > 0, labels == v)
    with pytest.raises(ValueError, match="frame shape"):
        seed_masks(labels, (10, 10))
    with pytest.raises(ValueError, match="label image"):
        seed_masks(np.zeros(5))


def test_seeded_building_block(sim):
    movie, truth = sim
    init = seeded(movie, truth.labels(), gnb=1)
    assert init.K == N_CELLS and init.label_values.tolist() == list(range(1, N_CELLS + 1))
    assert np.median(corr_rows(init.C, truth.traces)) > 0.8
