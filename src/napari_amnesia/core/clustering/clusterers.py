"""Clusterers: HDBSCAN, average linkage cut at a correlation or the best silhouette."""

from __future__ import annotations

import numpy as np

from ..parallel import one_thread
from .params import ClusteringParams

__all__: list[str] = []


def _order_labels(raw: np.ndarray) -> np.ndarray:
    """HDBSCAN labels (-1 noise, 0..) → 0 noise, 1..K by decreasing size."""
    out = np.zeros(len(raw), np.int64)
    ids = [k for k in np.unique(raw) if k >= 0]
    keyed = sorted(ids, key=lambda k: (-int(np.sum(raw == k)), int(np.argmax(raw == k))))
    for new, k in enumerate(keyed, start=1):
        out[raw == k] = new
    return out



def _hdbscan(points: np.ndarray, p: ClusteringParams, *, precomputed: bool) -> np.ndarray:
    kwargs = dict(min_cluster_size=p.min_cluster_size, min_samples=p.min_samples,
                  cluster_selection_method=p.cluster_selection_method,
                  allow_single_cluster=bool(p.allow_single_cluster))
    try:
        import hdbscan
    except ImportError:  # scikit-learn's implementation (>= 1.3)
        from sklearn.cluster import HDBSCAN

        model = HDBSCAN(metric="precomputed" if precomputed else "euclidean", **kwargs)
        with one_thread():
            return model.fit_predict(points)
    model = hdbscan.HDBSCAN(metric="precomputed" if precomputed else "euclidean",
                            core_dist_n_jobs=1, **kwargs)
    with one_thread():
        return model.fit_predict(points.astype(np.float64))


def _average_linkage(vectors: np.ndarray, p: ClusteringParams, info: dict) -> np.ndarray:
    """Average-linkage clusters of unit vectors (Euclidean = correlation distance).

    Cut at ``p.min_correlation`` (mean correlation between two clusters), or,
    when it is None, at the number of clusters with the best mean silhouette
    (2 to ``min(N - 1, 200)`` clusters). Clusters smaller than
    ``min_cluster_size`` are noise (-1).
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    n = len(vectors)
    if n > p.precomputed_max_elements:
        raise ValueError(
            f"clusterer='average' needs an N x N distance matrix, and {n} elements is more "
            f"than precomputed_max_elements={p.precomputed_max_elements}; use "
            "clusterer='hdbscan' or raise precomputed_max_elements."
        )
    v = vectors.astype(np.float64)
    with one_thread():
        gram = v @ v.T
    dist = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * np.clip(gram, -1.0, 1.0)))
    np.fill_diagonal(dist, 0.0)
    dist = (dist + dist.T) / 2
    if n < 3:
        raw = np.zeros(n, np.int64)
    else:
        # the mean correlation between two clusters is 1 - (mean squared distance) / 2, so
        # average linkage of squared distances cuts exactly at a mean correlation
        tree = linkage(squareform(dist ** 2, checks=False), "average")
        if p.min_correlation is not None:
            raw = fcluster(tree, 2.0 * (1.0 - p.min_correlation) + 1e-12, "distance")
            info["average_cut"] = f"mean correlation >= {p.min_correlation:g}"
        else:
            raw = _best_silhouette_cut(tree, dist)
            info["average_cut"] = "best silhouette"
        raw = np.asarray(raw, np.int64) - 1
    sizes = np.bincount(raw, minlength=1)
    raw = np.where(sizes[raw] >= p.min_cluster_size, raw, -1)
    return raw


def _best_silhouette_cut(tree: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Return the fcluster labels (1..) of the cut with the largest mean silhouette.

    Ties go to fewer clusters; every element is in one cluster when no cut has a
    positive silhouette.
    """
    from scipy.cluster.hierarchy import fcluster

    n = len(dist)
    best, best_labels = 0.0, np.ones(n, np.int64)
    for k in range(2, min(n - 1, 200) + 1):
        labels = fcluster(tree, k, "maxclust")
        with one_thread():
            score = _mean_silhouette(dist, labels)
        if score > best + 1e-9:
            best, best_labels = score, labels
    return best_labels


def _mean_silhouette(dist: np.ndarray, labels: np.ndarray) -> float:
    """Return the mean silhouette of ``labels`` for precomputed distances.

    An element alone in its cluster scores 0, as in scikit-learn.
    """
    ids, inv = np.unique(labels, return_inverse=True)
    if len(ids) < 2:
        return 0.0
    onehot = np.zeros((len(labels), len(ids)))
    onehot[np.arange(len(labels)), inv] = 1.0
    sizes = onehot.sum(axis=0)
    sums = dist @ onehot                                        # (N, K)
    own = sizes[inv] - 1
    a = np.divide(sums[np.arange(len(labels)), inv], own, out=np.zeros(len(labels)),
                  where=own > 0)
    other = sums / sizes
    other[np.arange(len(labels)), inv] = np.inf
    b = other.min(axis=1)
    s = np.where(own > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())
