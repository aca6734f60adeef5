"""Coactive clustering: planted neurite groups are recovered; bad input is refused."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from napari_amnesia.core.clustering import (
    ClusteringParams,
    ClusterResult,
    cluster,
    cluster_consecutive,
    iter_cluster,
    list_templates,
    load_template,
    run_config,
)
from napari_amnesia.core.metrics import majority_labels
from napari_amnesia.core.progress import Progress
from napari_amnesia.core.projection import project
from napari_amnesia.core.simulate import simulate
from napari_amnesia.core.skeleton import skeletonize


@pytest.fixture(scope="module")
def scene():
    movie, truth = simulate(n_frames=500, shape=(112, 112), n_cells=0, n_neurite_groups=4,
                            branches_per_group=3, motion=False, rng=1)
    skeleton = skeletonize(movie)
    group_of_pixel = np.concatenate([[-1], truth.branch_groups])[truth.branch_labels()]
    return movie, truth, skeleton, group_of_pixel


def planted(projection, group_of_pixel):
    """Planted group of each element: majority of its pixels (-1: on no branch)."""
    return majority_labels(projection.pixels, group_of_pixel)[0]


def blobs(n_groups=3, per_group=15, n_frames=200, seed=0):
    rng = np.random.default_rng(seed)
    sources = rng.standard_normal((n_groups, n_frames))
    truth = np.repeat(np.arange(n_groups), per_group)
    traces = sources[truth] + 0.4 * rng.standard_normal((len(truth), n_frames))
    return traces.astype(np.float32), truth


@pytest.mark.parametrize("backend", ["sklearn", "opentsne"])
def test_skeleton_pixels_recover_groups(scene, backend):
    # the threshold is for the documented pixel pipeline (t-SNE + HDBSCAN);
    # HDBSCAN straight on the 50-D correlation distance is benchmarked, not asserted
    pytest.importorskip("openTSNE") if backend == "opentsne" else None
    embedding = "tsne"
    movie, truth, skeleton, gop = scene
    proj = project(movie, skeleton, method="pixel")
    expected = planted(proj, gop)
    known = expected >= 0
    assert known.mean() > 0.9
    result = cluster(proj, embedding=embedding, min_cluster_size=10,
                     cluster_selection_method="leaf", tsne_backend=backend)
    ari = adjusted_rand_score(expected[known], result.labels[known])
    assert ari >= 0.8, ari
    image = result.label_image
    assert image.shape == proj.shape
    i = int(np.flatnonzero(result.labels)[0])
    r, c = proj.pixels[i][0]
    assert image[r, c] == result.labels[i]
    assert image[proj.labels == 0].max() == 0
    assert result.mean_traces.shape == (result.n_clusters, movie.shape[0])
    assert result.coactivity.shape == (result.n_clusters,) * 2
    if embedding == "none":
        assert result.embedding is None
    else:
        assert result.embedding.shape == (proj.n_elements, 2)


def branch_scene(seed):
    movie, truth = simulate(n_frames=500, shape=(112, 112), n_cells=0, n_neurite_groups=4,
                            branches_per_group=3, motion=False, rng=seed)
    gop = np.concatenate([[-1], truth.branch_groups])[truth.branch_labels()]
    proj = project(movie, skeletonize(movie), method="branch")
    expected, purity = majority_labels(proj.pixels, gop)
    return proj, expected, purity


def noise_apart(labels):
    """Noise (0) elements as clusters of their own: noise claims no coactivity."""
    out = labels.copy()
    noise = out == 0
    out[noise] = out.max(initial=0) + 1 + np.arange(noise.sum())
    return out


def test_branches_recover_groups_over_seeds():
    # default branch settings (the template: clusterer 'auto' = average linkage for
    # branches). A skeleton branch can run over two planted groups where neurites touch;
    # its trace is a mixture and the majority "truth" is a coin toss, so the strict
    # bound is on the unambiguous branches (>= 75 % of the pixels in one group)
    params = ClusteringParams.from_dict(load_template("clustering_branch")["clustering"])
    every, clear = [], []
    for seed in range(1, 6):
        proj, expected, purity = branch_scene(seed)
        known = expected >= 0
        unambiguous = known & (purity >= 0.75)
        result = cluster(proj, params)
        assert result.info["clusterer"] == "average"
        labels = noise_apart(result.labels)
        every.append(adjusted_rand_score(expected[known], labels[known]))
        clear.append(adjusted_rand_score(expected[unambiguous], labels[unambiguous]))
        if seed == 1:   # no t-SNE: the same clusters (the embedding is only displayed)
            flat = cluster(proj, params.replace(embedding="none"))
            np.testing.assert_array_equal(flat.labels, result.labels)
            assert flat.embedding is None and result.embedding.shape == (proj.n_elements, 2)
    assert every[0] >= 0.9, every            # seed 1: the former single-scene check
    assert np.median(every) >= 0.9, every
    assert np.median(clear) >= 0.9 and min(clear) >= 0.8, clear


def test_average_linkage_threshold_and_limits():
    traces, truth = blobs(n_groups=3, per_group=6)
    auto = cluster(traces, clusterer="average", min_cluster_size=2, embedding="none")
    assert adjusted_rand_score(truth, auto.labels) == 1.0
    assert auto.info["average_cut"] == "best silhouette"
    # min_correlation: above every within-group mean correlation, nothing is merged
    none = cluster(traces, clusterer="average", min_cluster_size=2, embedding="none",
                   min_correlation=0.99)
    assert none.n_clusters == 0 and (none.labels == 0).all()
    cut = cluster(traces, clusterer="average", min_cluster_size=2, embedding="none",
                  min_correlation=0.5)
    assert adjusted_rand_score(truth, cut.labels) == 1.0
    assert cluster(traces, min_cluster_size=2, embedding="none").info["clusterer"] == "hdbscan"
    with pytest.raises(ValueError, match="precomputed_max_elements=10"):
        cluster(traces, clusterer="average", min_cluster_size=2, precomputed_max_elements=10)
    with pytest.raises(ValueError, match="min_correlation"):
        ClusteringParams(min_correlation=1.5)


def hierarchy_scene(seed):
    """Pixels -> branches -> groups: each branch has activity of its own as strong as
    its group's (``branch_noise=1``), so pixels first cluster into branches
    (mesoscopic) and the branches of a group into the group (macroscopic)."""
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


def test_traces_without_pixels_and_reproducible():
    traces, truth = blobs()
    a = cluster(traces, min_cluster_size=5, perplexity=10, random_state=3)
    b = cluster(traces, min_cluster_size=5, perplexity=10, random_state=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.embedding, b.embedding)
    assert adjusted_rand_score(truth, a.labels) > 0.95
    assert a.label_image is None
    assert sorted(set(a.labels.tolist())) == [1, 2, 3]      # 1..K, no noise here
    assert list(a.table["n_elements"]) == sorted(a.table["n_elements"], reverse=True)
    assert (a.table["snr"] > 0).all()
    s = cluster(traces, similarity="spearman", normalization="dff" if traces.min() > 0
                else "none", embedding="none", min_cluster_size=5)
    assert adjusted_rand_score(truth, s.labels) > 0.95


def test_noise_is_zero_and_constant_traces():
    traces, truth = blobs(n_groups=2, per_group=12)
    rng = np.random.default_rng(5)
    noise = rng.standard_normal((6, traces.shape[1])).astype(np.float32)
    constant = np.full((2, traces.shape[1]), 3.0, np.float32)
    result = cluster(np.vstack([traces, noise, constant]), embedding="none", min_cluster_size=5)
    assert (result.labels[-2:] == 0).all()
    assert result.info["constant_elements"] == [len(traces) + 6, len(traces) + 7]
    assert adjusted_rand_score(truth, result.labels[:len(truth)]) > 0.95
    assert result.n_clusters == 2


def test_progress_protocol():
    traces, _ = blobs()
    gen = iter_cluster(traces, embedding="none", min_cluster_size=5)
    steps = []
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as stop:
        result = stop.value
    assert all(isinstance(s, Progress) for s in steps) and len(steps) >= 3
    assert steps[-1].done == steps[-1].total
    assert isinstance(result, ClusterResult)


def test_bad_inputs():
    traces, _ = blobs()
    with pytest.raises(ValueError, match="shape"):
        cluster(traces[0])
    bad = traces.copy()
    bad[3, 7] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cluster(bad)
    with pytest.raises(ValueError, match="min_cluster_size=10 .* among 4"):
        cluster(traces[:4])
    with pytest.raises(ValueError, match="non-constant"):
        cluster(np.ones((20, 50)), min_cluster_size=5)
    with pytest.raises(ValueError, match="'kmeans'"):
        cluster(traces, embedding="kmeans")
    with pytest.raises(ValueError, match="min_cluster_size.*1"):
        ClusteringParams(min_cluster_size=1)
    with pytest.raises(ValueError, match="perplexity"):
        ClusteringParams(perplexity=-3)
    with pytest.raises(TypeError, match="'perplexitty'"):
        cluster(traces, perplexitty=5)
    with pytest.raises(ValueError, match="one .n_i, 2. array per element"):
        cluster(traces, pixels=[np.zeros((1, 2))], shape=(8, 8))
    with pytest.raises(ValueError, match="F0"):
        cluster(traces, normalization="dff")
    with pytest.raises(ValueError, match="difference_lag=198 leaves fewer than 3"):
        cluster(traces, difference_lag=198)
    single = cluster(traces, embedding="none", min_cluster_size=40)
    with pytest.raises(ValueError, match="nothing to group at level 2"):
        cluster_consecutive(single, min_cluster_size=2)


def test_params_metadata():
    info = ClusteringParams.describe()
    assert all(v["help"] for v in info.values())
    assert info["embedding"]["choices"] == ("tsne", "umap", "none")
    assert ClusteringParams.from_dict(ClusteringParams().to_dict()) == ClusteringParams()


def test_templates_and_run_config(scene, tmp_path):
    movie, truth, skeleton, gop = scene
    assert set(list_templates()) == {"clustering_pixel", "clustering_branch",
                                     "clustering_active", "factorization_nmf"}
    for name in list_templates():
        config = load_template(name)
        assert "input" in config
    skeleton.save(tmp_path / "skeleton")
    config = load_template("clustering_branch")
    config["input"] = {"skeleton": str(tmp_path / "skeleton")}
    results = run_config(config, movie, output=tmp_path / "out")
    assert results["clusterings"][0].n_clusters >= 2
    assert (tmp_path / "out" / "clustering_level1" / "arrays.npz").exists()
    with pytest.raises(ValueError, match="no movie"):
        run_config(load_template("clustering_pixel") | {"input": {}})
    with pytest.raises(ValueError, match="'clusterring'"):
        run_config({"clusterring": {}}, movie)
    path = tmp_path / "c.yaml"
    path.write_text("factorization: {method: ica, n_components: 4}\n")
    out = run_config(path, movie[:, :48, :48])
    assert out["factorization"].spatial.shape[1:] == (48, 48)


def test_run_config_keeps_levels_computed_before_a_failure(scene, tmp_path, caplog):
    # level 1 finds no cluster (min_cluster_size larger than any group), so level 2 has
    # nothing to group: level 1 is kept and saved, and the failure names the parameter
    movie, truth, skeleton, gop = scene
    config = load_template("clustering_pixel")
    config["clustering"] = config["clustering"] | {"min_cluster_size": 300}
    with caplog.at_level("WARNING", logger="napari_amnesia.core.clustering"):
        results = run_config(config, movie, skeleton=skeleton, output=tmp_path / "out")
    [level1] = results["clusterings"]
    assert level1.level == 1 and level1.n_clusters == 0
    failed = results["failed_level"]
    assert failed["level"] == 2
    assert "level 1 found 0 cluster(s)" in failed["error"]
    assert "min_cluster_size (now 300, e.g. 150)" in failed["error"]
    assert "level 2 failed" in caplog.text
    assert (tmp_path / "out" / "clustering_level1" / "arrays.npz").exists()
    assert not (tmp_path / "out" / "clustering_level2").exists()
    # a bad consecutive step is refused before anything is computed
    config["consecutive"] = [{"min_cluster_sise": 2}]
    with pytest.raises(TypeError, match="consecutive level 2: .*'min_cluster_sise'"):
        run_config(config, movie[:5], skeleton=skeleton)


def test_advice_names_the_parameter():
    traces, _ = blobs()
    hdb = cluster(traces, embedding="none", min_cluster_size=40)
    assert hdb.advice() == "lower min_cluster_size (now 40, e.g. 20) or min_samples"
    average = cluster(traces, clusterer="average", embedding="none", min_correlation=0.5,
                      min_cluster_size=2)
    assert average.advice() == "lower min_correlation (now 0.5, e.g. 0.4)"
    with pytest.raises(ValueError, match="level 1 found 0 cluster.*min_cluster_size "
                                         r"\(now 40, e.g. 20\)"):
        cluster_consecutive(hdb, min_cluster_size=2)
