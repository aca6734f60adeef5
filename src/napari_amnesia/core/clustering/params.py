"""Parameters of a coactivity clustering (:class:`ClusteringParams`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..params import StageParams

__all__ = ["ClusteringParams"]


def _p(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class ClusteringParams(StageParams):
    """Parameters of a coactivity clustering (one frozen, validated object).

    Every field carries ``metadata["help"]`` (widget tooltip, CLI help) and,
    for choices, ``metadata["choices"]``; ``metadata["pyamnesia"]`` names the
    pyAMNESIA parameter it corresponds to, when there is one.
    """

    #: what a user sets for their data (the dock's main section): plain label, units
    ESSENTIALS = {
        "normalization": ("trace normalization", ""), "embedding": ("embedding", ""),
        "clusterer": ("clustering method", ""),
        "min_cluster_size": ("smallest cluster", "elements"),
        "min_correlation": ("merge above correlation", ""),
    }

    normalization: str = _p(
        "zscore", "Normalization of each element's trace before comparing them: 'none', "
        "'zscore' (subtract the mean, divide by the standard deviation) or 'dff' (ΔF/F "
        "with a low-percentile baseline). Correlations do not depend on it except through "
        "ΔF/F's division; it changes the mean traces of the clusters.",
        choices=("none", "zscore", "dff"), pyamnesia="element_normalization_method",
    )
    dff_percentile: float = _p(
        10.0, "Percentile of each trace taken as its baseline F0 for 'dff' normalization "
        "(0-100).", pyamnesia="",
    )
    detrend_degree: int = _p(
        2, "Degree of the polynomial trend (photobleaching, slow drift) removed from each "
        "normalized trace before comparing traces; 0 = none. A trend shared by all "
        "elements would otherwise make unrelated elements look correlated. The mean "
        "traces of the clusters are not detrended.",
    )
    difference_lag: int = _p(
        0, "Compare the changes of the traces over this many frames, x[t + lag] - x[t], "
        "instead of the traces themselves; 0 = the traces. Slow calcium decays make "
        "independent activity correlate by chance over a short recording (0.3-0.4 in 500 "
        "frames); their changes do not, so coactive and independent groups stay far apart "
        "(the consecutive level of the clustering_pixel template uses 3).",
    )
    similarity: str = _p(
        "pearson", "How coactivity between two traces is measured: 'pearson' correlation or "
        "'spearman' rank correlation (robust to a few large transients). The distance is "
        "sqrt(2 (1 - r)).", choices=("pearson", "spearman"), pyamnesia="tsne_metric",
    )
    pca_components: int | None = _p(
        50, "Number of principal components the traces are reduced to before the "
        "embedding (denoises them and speeds everything up); empty/0 = no reduction.",
        pyamnesia="nb_pca_components",
    )
    embedding: str = _p(
        "tsne", "2-D embedding the clusters are found in: 'tsne', 'umap' (needs the "
        "umap-learn package) or 'none' (HDBSCAN directly on the correlation distance).",
        choices=("tsne", "umap", "none"), pyamnesia="",
    )
    tsne_backend: str = _p(
        "auto", "t-SNE implementation: 'sklearn' (Barnes-Hut), 'opentsne' (FFT-accelerated, "
        "much faster for thousands of elements; needs openTSNE) or 'auto' (openTSNE above "
        "2,000 elements when installed, else scikit-learn).",
        choices=("auto", "sklearn", "opentsne"),
    )
    perplexity: float = _p(
        30.0, "t-SNE perplexity, about the number of neighbours each element keeps close: "
        "high (30-50) to gather dozens of pixels per cluster, low (5-10) for a few "
        "branches. Capped at (N - 1) / 3.", pyamnesia="tsne_perplexity",
    )
    early_exaggeration: float = _p(
        12.0, "t-SNE early exaggeration: larger values separate natural clusters more.",
        pyamnesia="",
    )
    n_iter: int = _p(
        750, "t-SNE optimization iterations (after the 250 of early exaggeration).",
        pyamnesia="",
    )
    umap_neighbors: int = _p(
        15, "UMAP number of neighbours (embedding='umap' only).",
    )
    umap_min_dist: float = _p(
        0.0, "UMAP minimum distance between embedded points (0 packs clusters tightly, "
        "which suits HDBSCAN).",
    )
    clusterer: str = _p(
        "auto", "How clusters are formed: 'hdbscan' (pyAMNESIA's: HDBSCAN on the embedding, "
        "or on the correlation distance with embedding='none'), 'average' (average-linkage "
        "tree of the correlation distance, cut where the mean correlation between two "
        "clusters falls below min_correlation, or, when that is empty, at the cut with the "
        "best silhouette; robust for a few dozen elements, where a t-SNE embedding is "
        "unreliable and single-linkage HDBSCAN chains groups through one mixed element; "
        "the embedding is still computed, for display) or 'auto' ('average' for a branch "
        "projection, else 'hdbscan').", choices=("auto", "hdbscan", "average"),
    )
    min_correlation: float | None = _p(
        None, "clusterer='average': two clusters are merged while the mean correlation "
        "between their elements is at least this (-1 to 1); empty = automatic (the cut of "
        "the tree with the best mean silhouette).",
    )
    min_cluster_size: int = _p(
        10, "HDBSCAN: smallest number of elements a cluster may have (>= 2). Groups "
        "smaller than this are noise.", pyamnesia="hdbscan_min_cluster_size",
    )
    min_samples: int | None = _p(
        None, "HDBSCAN: how conservative the clustering is; more elements become noise as "
        "it grows (empty = min_cluster_size).", pyamnesia="hdbscan_min_samples",
    )
    cluster_selection_method: str = _p(
        "eom", "HDBSCAN: 'eom' (excess of mass, a few large clusters) or 'leaf' (the "
        "finest, most homogeneous clusters).", choices=("eom", "leaf"),
        pyamnesia="hdbscan_cluster_selection_method",
    )
    allow_single_cluster: bool = _p(
        False, "HDBSCAN: allow the result to be one single cluster (useful at the last "
        "consecutive level, when all remaining elements may be coactive).",
    )
    keep_unclustered: bool = _p(
        False, "Consecutive levels (2 and up): an element HDBSCAN leaves as noise becomes a "
        "cluster of its own, so a mesoscopic cluster coactive with no other stays a "
        "macroscopic cluster instead of being lost (HDBSCAN never makes one-element "
        "clusters). No effect at level 1.",
    )
    precomputed_max_elements: int = _p(
        4000, "embedding='none': up to this many elements HDBSCAN gets the full N x N "
        "correlation-distance matrix; above, it computes the same distances from the "
        "reduced traces (memory linear in N).",
    )
    random_state: int = _p(
        0, "Seed of the randomized PCA and the embedding: the same seed gives the same "
        "clusters.",
    )

    def __post_init__(self) -> None:
        """Check the choices and the ranges of the fields."""
        self._check_choices()
        integer, number = self._check_integer, self._check_number
        integer("pca_components", 0, optional=True)
        integer("min_cluster_size", 2)
        integer("min_samples", 1, optional=True)
        integer("n_iter", 50)
        integer("umap_neighbors", 2)
        integer("precomputed_max_elements", 0)
        integer("detrend_degree", 0)
        integer("difference_lag", 0)
        self._check_bool("keep_unclustered")
        self._check_bool("allow_single_cluster")
        integer("random_state", 0)
        number("dff_percentile", 0.0, 100.0)
        number("perplexity", 0.0, strict=True)
        number("early_exaggeration", 1.0)
        number("umap_min_dist", 0.0)
        number("min_correlation", -1.0, 1.0, optional=True)
