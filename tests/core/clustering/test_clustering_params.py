"""ClusteringParams: every field documented, a dict round trip."""

from napari_amnesia.core.clustering import ClusteringParams


def test_params_metadata():
    """Check that every parameter is documented and round-trips as a dict."""
    info = ClusteringParams.describe()
    assert all(v["help"] for v in info.values())
    assert info["embedding"]["choices"] == ("tsne", "umap", "none")
    assert ClusteringParams.from_dict(ClusteringParams().to_dict()) == ClusteringParams()

