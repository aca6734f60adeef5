"""Shared fixtures of the skeleton tests: planted single-tree scenes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from napari_amnesia.core.simulate import simulate


def separation(truth, exclude: float = 8.0) -> float:
    """Return the smallest distance between two planted centre lines.

    Distances are taken away from shared junctions (``simulate`` keeps the lines
    >= 6 px apart except within a fork).
    """
    paths = truth.branch_paths
    edges = truth.branch_graph["edges"].tolist()
    junctions = truth.branch_graph["junctions"]
    best = np.inf
    for i in range(len(paths)):
        for j in range(i + 1, len(paths)):
            a, b = paths[i], paths[j]
            shared = [k for k, e in enumerate(edges) if set(e) == {i, j}]
            if shared:
                a = a[np.hypot(*(a - junctions[shared[0]]).T) > exclude]
                b = b[np.hypot(*(b - junctions[shared[0]]).T) > exclude]
            if len(a) and len(b):
                best = min(best, float(cdist(a, b).min()))
    return best


def planted_scenes(count, *, shape=(128, 128), per_group=3, **sim):
    """Single-tree scenes of seeds 1 .. count (every one: the trees never cross)."""
    scenes = []
    for seed in range(1, count + 1):
        kw = dict(n_frames=100, shape=shape, n_cells=0, n_neurite_groups=1,
                  branches_per_group=per_group, motion=False, rng=seed)
        kw.update(sim)
        movie, truth = simulate(**kw)
        assert separation(truth) >= 4.5, seed
        scenes.append((movie, truth))
    return scenes


@pytest.fixture
def planted():
    """:func:`planted_scenes`, for the tests that plant their own scenes."""
    return planted_scenes


@pytest.fixture(scope="session")
def clean_scenes():
    """Eight clean single-tree scenes (seeds 1-8), shared by the skeleton tests."""
    return planted_scenes(8)
