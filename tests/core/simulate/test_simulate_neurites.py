"""Tests of the neurite trees: the planted graph is what the image shows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from napari_amnesia.core.simulate import simulate


def test_branch_graph_is_a_forest_of_groups(small):
    """Branch graph is a forest of groups."""
    _, truth = small
    graph = truth.branch_graph
    edges, junctions = graph["edges"], graph["junctions"]
    B, G = truth.n_branches, truth.n_groups
    assert edges.shape == (B - G, 2)  # one tree per group: every non-root has one parent
    assert graph["n_segments"] == B + len(edges)
    assert len(graph["endpoints"]) == B + G
    for (parent, child), junction in zip(edges, junctions, strict=True):
        assert truth.branch_groups[parent] == truth.branch_groups[child]
        np.testing.assert_allclose(truth.branch_paths[child][0], junction)
        d = np.hypot(*(truth.branch_paths[parent] - junction).T).min()
        assert d < 1e-9  # the junction lies on the parent's centre line
        steps = np.hypot(*np.diff(truth.branch_paths[child], axis=0).T)
        np.testing.assert_allclose(steps, 1.0, atol=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_neurites_never_cross_touch_or_enter_somata(seed):
    # the 2-D image of the planted trees has exactly the planted graph: centre lines
    # of different branches keep >= 6 px (the clearance for 1-px-wide neurites) apart
    # except at a fork, where the child diverges by >= 30 degrees; no neurite enters
    # a soma
    """Neurites never cross touch or enter somata."""
    _, truth = simulate(n_frames=2, shape=(192, 192), n_cells=12, n_neurite_groups=3,
                        branches_per_group=5, rng=seed)
    paths = truth.branch_paths
    pairs = [tuple(e) for e in truth.branch_graph["edges"].tolist()]
    edges = set(pairs)
    fork = {frozenset(e): j for e, j in zip(pairs, truth.branch_graph["junctions"],
                                             strict=True)}
    for i in range(len(paths)):
        for k in range(i + 1, len(paths)):
            d = cdist(paths[i], paths[k])
            j = fork.get(frozenset((i, k)))
            if j is None:
                assert d.min() >= 6.0 - 1e-9, (i, k, d.min())
            else:
                child = paths[k] if (i, k) in edges else paths[i]
                parent = paths[i] if (i, k) in edges else paths[k]
                r = np.hypot(*(child - j).T)
                near = cdist(child, parent).min(axis=1)
                assert np.all(near >= np.minimum(6.0, 0.5 * r) - 1e-6)
    cells = truth.labels(threshold=0.05) > 0
    pts = np.round(np.concatenate(paths)).astype(int)
    assert not cells[pts[:, 0], pts[:, 1]].any()


def test_a_seed_grows_the_same_trees_whatever_the_number_of_cells():
    """A seed grows the same trees whatever the number of cells."""
    _, alone = simulate(n_frames=2, shape=(256, 256), n_cells=0, n_neurite_groups=2,
                        branches_per_group=3, rng=11)
    _, crowd = simulate(n_frames=2, shape=(256, 256), n_cells=5, n_neurite_groups=2,
                        branches_per_group=3, rng=11)
    # the same draws: each branch of the crowded scene is the start of the lone one
    # (a branch stops short where a soma is in its way)
    assert alone.n_branches == crowd.n_branches
    for a, c in zip(alone.branch_paths, crowd.branch_paths, strict=True):
        np.testing.assert_allclose(c, a[: len(c)])
