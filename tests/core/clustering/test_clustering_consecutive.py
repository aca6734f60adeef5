"""Consecutive clusterings: pixels -> branches -> groups, the hierarchy kept."""

import numpy as np
from clustering_data import planted
from sklearn.metrics import adjusted_rand_score

from napari_amnesia.core.clustering import (
    ClusteringParams,
    ClusterResult,
    cluster,
    cluster_consecutive,
    load_template,
)
from napari_amnesia.core.projection import project
from napari_amnesia.core.simulate import simulate
from napari_amnesia.core.skeleton import skeletonize


def hierarchy_scene(seed):
    """Return a pixel projection with planted branches inside planted groups.

    Each branch has activity of its own as strong as its group's
    (``branch_noise=1``), so pixels first cluster into branches (mesoscopic) and
    the branches of a group into the group (macroscopic).
    """
    movie, truth = simulate(n_frames=500, shape=(112, 112), n_cells=0, n_neurite_groups=4,
                            branches_per_group=3, motion=False, branch_noise=1.0, rng=seed)
    branch_of_pixel = truth.branch_labels() - 1
    gop = np.concatenate([[-1], truth.branch_groups])[branch_of_pixel + 1]
    proj = project(movie, skeletonize(movie), method="pixel")
    return proj, planted(proj, branch_of_pixel), planted(proj, gop)


#: the consecutive step of the clustering_pixel template: average linkage, clusters
#: merged when their traces correlate >= 0.5 on average
NEXT_LEVEL = ClusteringParams.from_dict(load_template("clustering_pixel")["consecutive"][0])


def test_consecutive_recovers_branches_then_groups(tmp_path):
    """Check that consecutive recovers branches then groups."""
    meso_ari, macro_ari = [], []
    for seed in range(1, 6):
        proj, branch, group = hierarchy_scene(seed)
        known = (branch >= 0) & (group >= 0)
        assert known.mean() > 0.9
        meso = cluster(proj, embedding="tsne", min_cluster_size=10,
                       cluster_selection_method="leaf")
        macro = cluster_consecutive(meso, NEXT_LEVEL)
        assert macro.level == 2 and len(macro.hierarchy) == 2
        assert macro.n_elements == meso.n_clusters
        meso_ari.append(adjusted_rand_score(branch[known], meso.labels[known]))
        macro_ari.append(adjusted_rand_score(group[known], macro.original_labels[known]))
        if seed == 1:
            kept = (meso, macro, proj)
    # pixels -> planted branches, then branches -> planted groups
    assert min(meso_ari) >= 0.8, meso_ari
    assert min(macro_ari) >= 0.8, macro_ari
    meso, macro, proj = kept
    # a macroscopic cluster expands back to the pixels of its original elements
    for c in range(1, macro.n_clusters + 1):
        members = macro.members(c)
        pixels = macro.expand(c)
        want = np.concatenate([proj.pixels[i] for i in members])
        assert sorted(map(tuple, pixels)) == sorted(map(tuple, want))
        assert (macro.label_image[pixels[:, 0], pixels[:, 1]] == c).all()
    # save / load keeps the hierarchy
    macro.save(tmp_path / "macro")
    back = ClusterResult.load(tmp_path / "macro")
    assert back.level == 2
    np.testing.assert_array_equal(back.original_labels, macro.original_labels)
    np.testing.assert_array_equal(back.expand(1), macro.expand(1))
    np.testing.assert_array_equal(back.label_image, macro.label_image)
    assert back.params == macro.params
    assert list(back.table.columns) == list(macro.table.columns)


def test_consecutive_level_keeps_independent_groups_apart(scene):
    # with the default branch_noise, pixels cluster straight into the planted groups; the
    # next level must not pair unrelated groups (HDBSCAN with min_cluster_size=2 did)
    """Check that consecutive level keeps independent groups apart."""
    movie, truth, skeleton, gop = scene
    proj = project(movie, skeleton, method="pixel")
    expected = planted(proj, gop)
    known = expected >= 0
    level1 = cluster(proj, embedding="tsne", min_cluster_size=10, cluster_selection_method="leaf")
    assert adjusted_rand_score(expected[known], level1.labels[known]) >= 0.8
    level2 = cluster_consecutive(level1, NEXT_LEVEL)
    assert level2.info["clusterer"] == "average"
    assert level2.n_clusters == level1.n_clusters
    assert adjusted_rand_score(expected[known], level2.original_labels[known]) >= 0.8

