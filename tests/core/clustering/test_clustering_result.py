"""ClusterResult: advice, layers, provenance."""

import numpy as np
import pytest
from clustering_data import blobs

from napari_amnesia import __version__
from napari_amnesia.core.clustering import ClusterResult, cluster, cluster_consecutive


def test_advice_names_the_parameter():
    """Check that advice names the parameter."""
    traces, _ = blobs()
    hdb = cluster(traces, embedding="none", min_cluster_size=40)
    assert hdb.advice() == "lower min_cluster_size (now 40, e.g. 20) or min_samples"
    average = cluster(traces, clusterer="average", embedding="none", min_correlation=0.5,
                      min_cluster_size=2)
    assert average.advice() == "lower min_correlation (now 0.5, e.g. 0.4)"
    with pytest.raises(ValueError, match="level 1 found 0 cluster.*min_cluster_size "
                                         r"\(now 40, e.g. 20\)"):
        cluster_consecutive(hdb, min_cluster_size=2)


def test_to_layers_names_types_and_metadata():
    """Check the names, types and metadata of to_layers."""
    traces, truth = blobs(n_groups=2, per_group=8)
    pixels = [np.array([[i // 4, i % 4]]) for i in range(len(traces))]
    result = cluster(traces, embedding="none", min_cluster_size=4, pixels=pixels, shape=(4, 4))
    [(data, kwargs, kind)] = result.to_layers("movie")
    assert kind == "labels" and data.dtype == np.int32
    np.testing.assert_array_equal(data, result.label_image)
    assert kwargs["name"] == "movie · clusters" and kwargs["opacity"] == 0.8
    assert list(kwargs["features"]["index"]) == list(range(1, result.n_clusters + 1))
    meta = kwargs["metadata"]["napari_amnesia"]
    assert meta["stage"] == "clustering" and meta["source"] == "movie"
    assert meta["level"] == 1 and meta["n_elements"] == len(traces)
    assert meta["params"] == result.params.to_dict()
    level2 = cluster_consecutive(result, embedding="none", min_cluster_size=2,
                                 allow_single_cluster=True)
    assert level2.to_layers("movie")[0][1]["name"] == "movie · clusters level 2"
    with pytest.raises(ValueError, match="no pixel mapping"):
        cluster(traces, embedding="none", min_cluster_size=4).to_layers("movie")
    with pytest.raises(TypeError, match="'colour'"):
        result.to_layers("movie", colour="red")


def test_provenance_round_trip(tmp_path):
    """Check the provenance and its save/load round trip."""
    traces, _ = blobs()
    result = cluster(traces, embedding="none", min_cluster_size=5, random_state=7)
    prov = result.provenance
    assert prov["version"] == __version__ and prov["seed"] == 7
    assert prov["elapsed_s"] >= 0 and "T" in prov["created"]
    assert "version" not in result.info and "seconds" not in result.info
    back = ClusterResult.load(result.save(tmp_path / "clusters"))
    assert back.provenance == prov
