"""Average linkage: the best-silhouette cut, a min_correlation cut, its limits."""

import pytest
from clustering_data import blobs
from sklearn.metrics import adjusted_rand_score

from napari_amnesia.core.clustering import ClusteringParams, cluster


def test_average_linkage_threshold_and_limits():
    """Check the average-linkage cuts (best silhouette, min_correlation) and limits."""
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

