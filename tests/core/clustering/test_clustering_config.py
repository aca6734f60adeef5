"""Templates and the configuration runner."""

import pytest

from napari_amnesia.core.clustering import list_templates, load_template, run_config


def test_templates_and_run_config(scene, tmp_path):
    """Check the shipped templates and run_config."""
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
    """Check that run config keeps levels computed before a failure."""
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

