"""Merging of overlapping, correlated CNMF components
(napari_amnesia.core.cnmf.updates.merging).
"""

from __future__ import annotations

import numpy as np
from cnmf_data import SHAPE, T
from scipy import sparse

from napari_amnesia.core.cnmf.updates import Deconvolution, merge_components


def test_merge_components_joins_two_halves_of_a_cell(sim):
    movie, truth = sim
    a = truth.footprints[0].ravel()
    left, right = a.copy(), a.copy()
    cols = np.arange(a.size) % SHAPE[1]
    centre = truth.centers[0, 1]
    left[cols > centre + 1] = 0  # the halves share two columns
    right[cols < centre - 1] = 0
    other = truth.footprints[5].ravel()
    A = sparse.csc_matrix(np.stack([left, right, other], axis=1))
    c = truth.traces[[0, 0, 5]].astype(np.float32)
    rng = np.random.default_rng(0)
    C = c + rng.normal(0, 1, c.shape).astype(np.float32)
    YrA = np.zeros_like(C)
    A2, C2, _, extra, groups = merge_components(A, C, YrA, merge_thr=0.85,
                                                deconvolution=Deconvolution(p=1),
                                                extra={"S": np.zeros_like(C)})
    assert groups == [[0, 1]]
    assert A2.shape[1] == 2 and C2.shape == (2, T) and extra["S"].shape == (2, T)
    merged = A2[:, 1].toarray().ravel()
    both = left + right  # the rank-1 approximation of left c' + right c'
    assert merged @ (both / np.linalg.norm(both)) > 0.99
    assert np.corrcoef(C2[1], truth.traces[0])[0, 1] > 0.95
