"""Tests of core.skeleton.graph: branch table, drawn shapes, pruning."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from napari_amnesia.core.skeleton import (
    BRANCH_TYPES,
    prune_skeleton,
    skeleton_graph,
    skeletonize,
)


def test_branch_table_is_consistent(clean_scenes):
    """Check the branch table against the labels, paths, totals and mask."""
    movie, truth = clean_scenes[0]
    r = skeletonize(movie)
    b = r.branches
    n = r.totals["n_branches"]
    assert n == len(b) == len(r.paths) == r.branch_labels.max() > 0
    assert list(b["branch_id"]) == list(range(1, n + 1))
    assert set(b["type"]) <= set(BRANCH_TYPES.values())
    assert np.isclose(b["length"].sum(), r.totals["total_length"])
    assert (b["euclidean_length"] <= b["length"] + 1e-9).all()
    assert ((b["tortuosity"] >= 1 - 1e-9) | b["tortuosity"].isna()).all()
    assert np.isfinite(b["mean_intensity"]).all()
    # labels partition the skeleton; every path lies on the skeleton
    assert ((r.branch_labels > 0) == r.skeleton).all()
    for path in r.paths:
        assert r.skeleton[path[:, 0], path[:, 1]].all()
    assert r.skeleton[r.mask == 0].sum() == 0
    assert r.junctions.shape == (r.totals["n_junctions"], 2)
    assert r.endpoints.shape == (r.totals["n_endpoints"], 2)
    for key in ("summary", "equalized", "smoothed", "threshold", "binary", "mask",
                "raw_skeleton"):
        assert r.intermediates[key].shape == r.shape


def test_skeleton_graph_of_drawn_shapes():
    """Count the branches, junctions and cycles of a drawn T and a ring."""
    img = np.zeros((40, 40), bool)
    img[20, 5:35] = True  # a horizontal line
    img[5:20, 20] = True  # a branch up from its middle: a T
    g = skeleton_graph(img)
    assert g["totals"]["n_branches"] == 3
    assert g["totals"]["n_junctions"] == 1
    assert g["totals"]["n_endpoints"] == 3
    assert np.hypot(*(g["junctions"][0] - [20, 20])) <= 1.5
    assert sorted(g["branches"]["type"]) == ["junction-endpoint"] * 3
    ring = np.zeros((30, 30), bool)
    rr, cc = np.nonzero(ndi.binary_dilation(np.pad(np.ones((10, 10), bool), 10))
                        ^ np.pad(np.ones((10, 10), bool), 10))
    ring[rr, cc] = True
    from skimage.morphology import skeletonize as thin

    g = skeleton_graph(thin(ring))
    assert g["totals"]["n_cycles"] == 1 and g["totals"]["n_branches"] == 1
    assert g["branches"]["type"][0] == "cycle"


def test_prune_removes_short_spurs_only():
    """Prune a short spur and keep a long branch."""
    img = np.zeros((40, 60), bool)
    img[20, 5:55] = True
    img[15:20, 30] = True  # spur of 5 px
    img[5:20, 15] = True  # real branch of 15 px
    pruned = prune_skeleton(img, min_branch_length=8)
    g = skeleton_graph(pruned)
    assert not pruned[15:19, 30].any()
    assert pruned[5:20, 15].all()
    assert g["totals"]["n_branches"] == 3
    assert prune_skeleton(img, min_branch_length=8, iterations=0)[15:19, 30].all()
