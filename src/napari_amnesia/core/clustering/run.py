"""pyAMNESIA's clustering of coactive elements, and consecutive clusterings.

pyAMNESIA's second module [1]_ groups *elements* (skeleton pixels, branches,
active pixels: see :mod:`napari_amnesia.core.projection`) whose traces are
coactive. This is a re-implementation from its documentation ("Clustering"
overview, "Consecutive clusterings", configuration templates), not a copy of
its code. The pipeline, with each step's parameter in
:class:`ClusteringParams`:

1. **Normalization** of each element's trace (``normalization``): none,
   z-score, or ΔF/F with a low-percentile baseline; then the polynomial trend
   of each trace (photobleaching, drift: ``detrend_degree``) is removed, since
   a trend shared by every element makes unrelated elements correlate.
   With ``difference_lag``, the changes of the traces over that many frames
   are compared instead (a prewhitening: see :func:`difference_traces`).
2. **Similarity** (``similarity``): Pearson correlation, or Spearman's rank
   correlation (Pearson on the ranks of each trace in time).
3. **PCA reduction** (``pca_components``): each trace is centred and scaled to
   unit norm, then projected on the leading right singular vectors of the
   ``(N, T)`` matrix (a randomized truncated SVD, no centring across
   elements) and scaled to unit norm again. For centred unit vectors the
   Euclidean distance is ``d = sqrt(2 (1 - r))`` — the *correlation (chord)
   distance* — and the cosine of the reduced vectors is exactly the
   correlation of the PCA-denoised traces. So every later step works on
   correlation distances without an ``N x N`` matrix in memory.
4. **Embedding** in 2-D (``embedding``): t-SNE [2]_ (``tsne_backend``:
   scikit-learn's Barnes-Hut, or openTSNE's FFT-accelerated t-SNE when
   installed, much faster above a few thousand elements), UMAP (optional
   ``umap-learn``), or none.
5. **HDBSCAN** [3]_ (``min_cluster_size``, ``min_samples``,
   ``cluster_selection_method``) on the embedding, or, with
   ``embedding="none"``, directly on the correlation distance ``d``: a
   precomputed ``N x N`` distance matrix up to ``precomputed_max_elements``
   elements, the same distances from the reduced vectors above that (so
   memory stays linear in ``N``).
   Or (``clusterer="average"``, the default for a branch projection) an
   average-linkage tree of the correlation distance, cut at ``min_correlation``
   or at the cut with the best mean silhouette: with a few dozen elements a
   t-SNE embedding is unreliable and single-linkage HDBSCAN chains two groups
   through one element whose trace mixes them (a skeleton branch that runs over
   two touching neurites); the mean correlation between clusters does not.

Labels: noise is 0 and is never a cluster; clusters are numbered ``1..K`` by
decreasing size (ties: by their first element), so results are reproducible
with ``random_state``. Elements whose trace is constant (no correlation is
defined) are noise, and the result's ``info["constant_elements"]`` lists
them.

**Consecutive clusterings** (pyAMNESIA's "micro → meso → macroscopic"):
:func:`cluster_consecutive` clusters the mean traces of the clusters of a
result. The new result keeps the whole hierarchy (:attr:`ClusterResult.hierarchy`),
so a macroscopic cluster expands back to its original elements
(:meth:`ClusterResult.members`) and pixels (:meth:`ClusterResult.expand`).

References
----------
.. [1] pyAMNESIA documentation, "Clustering" and "Consecutive clusterings",
   https://pyamnesia.readthedocs.io/en/latest/overview_clustering.html,
   https://pyamnesia.readthedocs.io/en/latest/misc_robustness.html
.. [2] L. van der Maaten and G. Hinton, "Visualizing data using t-SNE",
   JMLR 9 (2008); P. G. Poličar, M. Stražar, B. Zupan, "openTSNE", J. Stat.
   Softw. 109 (2024).
.. [3] R. J. G. B. Campello, D. Moulavi, J. Sander, "Density-based clustering
   based on hierarchical density estimates", PAKDD 2013; L. McInnes, J. Healy,
   S. Astels, "hdbscan", JOSS 2 (2017).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_folder, jsonable, read_arrays
from .params import StageParams
from .progress import Progress, ProgressGenerator, drive

__all__ = [
    "ClusteringParams",
    "ClusterResult",
    "cluster",
    "iter_cluster",
    "cluster_consecutive",
    "iter_cluster_consecutive",
    "normalize_traces",
    "detrend_traces",
    "difference_traces",
    "reduce_traces",
    "trace_snr",
    "load_template",
    "list_templates",
    "run_config",
    "iter_run_config",
]

logger = logging.getLogger(__name__)


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



# --------------------------------------------------------------------------- building blocks
def normalize_traces(traces: np.ndarray, method: str = "zscore", *,
                     percentile: float = 10.0) -> np.ndarray:
    """Normalize each row of ``traces`` ``(N, T)``: ``"none"``, ``"zscore"`` or ``"dff"``.

    Constant rows become zeros under z-score; ΔF/F divides by the
    ``percentile``-th value of each row (rows whose baseline is not > 0 raise,
    naming the first such row).
    """
    x = np.asarray(traces, np.float32)
    if method == "none":
        return x.copy()
    if method == "zscore":
        mean = x.mean(axis=1, keepdims=True)
        sd = x.std(axis=1, keepdims=True)
        return np.divide(x - mean, sd, out=np.zeros_like(x), where=sd > 0)
    if method == "dff":
        f0 = np.percentile(x, percentile, axis=1, keepdims=True).astype(np.float32)
        bad = np.flatnonzero(~(f0[:, 0] > 0))
        if bad.size:
            raise ValueError(
                f"normalization='dff' needs a positive baseline, but element {int(bad[0])} "
                f"has F0 = {float(f0[bad[0], 0]):g} ({bad.size} element(s) in all); use "
                "'zscore' or 'none' for traces with offsets removed."
            )
        return (x - f0) / f0
    raise ValueError(f'method should be one of "none", "zscore", "dff", got {method!r}.')


def detrend_traces(traces: np.ndarray, degree: int = 2) -> np.ndarray:
    """Subtract from each row its least-squares polynomial of ``degree`` in time
    (0: returned unchanged). One ``(T, degree + 1)`` basis for all rows."""
    x = np.asarray(traces, np.float32)
    if degree <= 0:
        return x
    t = np.linspace(-1.0, 1.0, x.shape[1])
    basis = np.polynomial.legendre.legvander(t, degree)  # well conditioned
    q, _ = np.linalg.qr(basis)
    q = q.astype(np.float32)
    with _one_thread():
        return x - (x @ q) @ q.T


def difference_traces(traces: np.ndarray, lag: int = 0) -> np.ndarray:
    """Changes of each row over ``lag`` frames, ``x[:, lag:] - x[:, :-lag]``.

    The correlation of changes is that of the traces with their slow
    autocorrelation removed (a prewhitening): over a few hundred frames, two
    independent calcium traces with slow decays correlate by chance at
    0.3-0.4, their changes at about 0.1.

    Parameters
    ----------
    traces : array_like, shape (N, T)
    lag : int
        Frames between the two values of a change; 0 returns the traces.

    Returns
    -------
    ndarray of float32, shape (N, T - lag)

    Examples
    --------
    >>> difference_traces(np.array([[0.0, 1.0, 3.0, 6.0]]), 2)
    array([[3., 5.]], dtype=float32)
    """
    x = np.asarray(traces, np.float32)
    if lag <= 0:
        return x
    return x[:, lag:] - x[:, :-lag]


def _one_thread() -> Any:
    """Context in which BLAS and OpenMP run on one thread.

    What decides the clusters (the PCA, the correlation distances, the t-SNE
    gradient) is computed inside it: a multi-threaded BLAS or OpenMP reduction
    adds in an order that depends on the number of threads, and the last-bit
    differences grow, through t-SNE and the tree cuts, into different clusters
    (the same movie gave other labels with 1 and 2 BLAS threads). One thread
    makes the result the same on every machine; it costs little here (a
    truncated SVD and products of ``(N, 50)`` matrices).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre each row and scale it to unit norm; returns (rows, constant mask)."""
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", x, x))
    constant = ~(norm > 1e-6 * max(1.0, float(np.abs(x).max(initial=0.0))))
    x = np.divide(x, norm[:, None], out=np.zeros_like(x), where=~constant[:, None])
    return x, constant


def reduce_traces(traces: np.ndarray, *, similarity: str = "pearson",
                  n_components: int | None = 50, random_state: int = 0) -> tuple[
                      np.ndarray, np.ndarray]:
    """Unit vectors whose Euclidean distance is the correlation distance of the traces.

    Parameters
    ----------
    traces : ndarray, shape (N, T)
    similarity : {"pearson", "spearman"}
    n_components : int or None
        PCA (truncated SVD) rank; None or 0 keeps all T dimensions.
    random_state : int

    Returns
    -------
    vectors : ndarray of float32, shape (N, D)
        Unit-norm rows; ``||v_i - v_j|| = sqrt(2 (1 - r_ij))`` where ``r_ij`` is
        the correlation of the (PCA-denoised) traces i and j.
    constant : ndarray of bool, shape (N,)
        Rows with a constant trace (zero vectors in ``vectors``).
    """
    x = np.asarray(traces, np.float32)
    if similarity == "spearman":
        from scipy.stats import rankdata

        x = rankdata(x, axis=1).astype(np.float32)
    elif similarity != "pearson":
        raise ValueError(f'similarity should be "pearson" or "spearman", got {similarity!r}.')
    x, constant = _unit_rows(x)
    n, t = x.shape
    if n_components and n_components < min(n, t):
        from sklearn.utils.extmath import randomized_svd

        with _one_thread():   # the same components with any number of BLAS threads
            _, _, vt = randomized_svd(x, n_components, n_iter=4, random_state=random_state)
            x = x @ vt.T.astype(np.float32)
        norm = np.linalg.norm(x, axis=1)
        constant = constant | ~(norm > 1e-6)
        x = np.divide(x, norm[:, None], out=np.zeros_like(x), where=~constant[:, None])
    return np.ascontiguousarray(x, np.float32), constant


def trace_snr(traces: np.ndarray) -> np.ndarray:
    """Signal-to-noise ratio of each row: (max - median) / noise SD.

    The noise SD is estimated robustly from the frame-to-frame differences
    (median absolute deviation of ``diff`` / (0.6745 sqrt 2)), so slow calcium
    transients do not count as noise. Infinite for a noiseless non-constant
    trace, 0 for a constant one.
    """
    x = np.atleast_2d(np.asarray(traces, np.float64))
    if x.shape[1] < 3:
        return np.zeros(len(x))
    d = np.diff(x, axis=1)
    noise = np.median(np.abs(d - np.median(d, axis=1, keepdims=True)), axis=1)
    noise = noise / (0.6745 * np.sqrt(2))
    signal = x.max(axis=1) - np.median(x, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(noise > 0, signal / noise, np.where(signal > 0, np.inf, 0.0))
    return snr


# --------------------------------------------------------------------------- result
@dataclass
class ClusterResult:
    """Clusters of coactive elements (one level of a possibly consecutive clustering).

    Attributes
    ----------
    labels : ndarray of int64, shape (N,)
        Cluster of each element of this level, ``1..K``; 0 = noise.
    mean_traces : ndarray of float32, shape (K, T)
        Mean trace of each cluster over its pixels (elements weighted by their
        number of pixels when known), from the traces as given (not normalized).
    table : pandas.DataFrame
        One row per cluster: ``index`` (= label value, for napari ``features``),
        ``n_elements``, ``n_original_elements``, ``area`` (pixels), ``snr`` (of
        the mean trace, see :func:`trace_snr`), ``level``.
    embedding : ndarray of float32, shape (N, 2) or None
        2-D coordinates of the elements (None when ``embedding="none"``).
    coactivity : ndarray of float32, shape (K, K)
        Pearson correlation between the clusters' mean traces.
    params : ClusteringParams
    level : int
        1 for a clustering of the input elements (pixels or branches), 2 for a
        clustering of level-1 clusters, etc.
    hierarchy : list of ndarray
        ``hierarchy[l]`` = labels given at level ``l + 1`` to the elements of
        that level; ``hierarchy[-1] is labels``. The elements of level
        ``l + 2`` are the clusters ``1..K`` of level ``l + 1``.
    element_pixels : list of ndarray or None
        ``(n_i, 2)`` row/column pixels of each element of this level (for
        level > 1: the union of the pixels of the previous level's cluster).
    shape : (int, int) or None
        Frame shape ``(Y, X)`` when pixels are known.
    element_ids : ndarray, shape (N,)
        Identity of the elements of this level (projection ids at level 1,
        previous cluster labels at higher levels).
    info : dict
        Provenance: timings, number of elements, constant elements, package
        version, the projection's substructure/method.
    """

    labels: np.ndarray
    mean_traces: np.ndarray
    table: Any
    embedding: np.ndarray | None
    coactivity: np.ndarray
    params: ClusteringParams
    level: int = 1
    hierarchy: list[np.ndarray] = field(default_factory=list)
    element_pixels: list[np.ndarray] | None = None
    shape: tuple[int, int] | None = None
    element_ids: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        """Number of clusters ``K`` (noise excluded)."""
        return int(self.mean_traces.shape[0])

    @property
    def n_elements(self) -> int:
        """Number of elements ``N`` of this level."""
        return int(len(self.labels))

    def __repr__(self) -> str:
        noise = int(np.sum(self.labels == 0))
        return (f"ClusterResult(level={self.level}, n_elements={self.n_elements}, "
                f"n_clusters={self.n_clusters}, noise={noise})")

    def advice(self) -> str:
        """Which parameter to change for more clusters, in one sentence (for messages).

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> result = cluster(rng.standard_normal((30, 100)), embedding="none")
        >>> result.advice()
        'lower min_cluster_size (now 10, e.g. 5) or min_samples'
        """
        p = self.params
        smaller = max(2, p.min_cluster_size // 2)
        choices = ([f"min_cluster_size (now {p.min_cluster_size}, e.g. {smaller})"]
                   if p.min_cluster_size > 2 else [])
        if self.info.get("clusterer") == "average":
            if p.min_correlation is not None:
                lower = max(-1.0, round(p.min_correlation - 0.1, 2))
                choices.append(f"min_correlation (now {p.min_correlation:g}, e.g. "
                               f"{lower:g})")
        else:
            choices.append("min_samples")
        if not choices:
            return "give more elements (a longer movie, more skeleton pixels)"
        return "lower " + " or ".join(choices)

    @property
    def original_labels(self) -> np.ndarray:
        """Cluster (at this level) of each *original* element (level-1 element)."""
        out = np.asarray(self.hierarchy[0], np.int64)
        for step in self.hierarchy[1:]:
            lut = np.concatenate([[0], np.asarray(step, np.int64)])
            out = lut[out]
        return out

    def members(self, cluster_id: int) -> np.ndarray:
        """Indices of the original (level-1) elements in cluster ``cluster_id``."""
        self._check_id(cluster_id)
        return np.flatnonzero(self.original_labels == cluster_id)

    def expand(self, cluster_id: int) -> np.ndarray:
        """Row/column ``(n, 2)`` pixels of cluster ``cluster_id``, through all levels."""
        self._check_id(cluster_id)
        if self.element_pixels is None:
            raise ValueError("this clustering has no pixel mapping (traces were given "
                             "without pixels=).")
        parts = [self.element_pixels[i] for i in np.flatnonzero(self.labels == cluster_id)]
        return (np.concatenate(parts).astype(np.intp) if parts
                else np.zeros((0, 2), np.intp))

    def _check_id(self, cluster_id: int) -> None:
        if not (isinstance(cluster_id, (int, np.integer)) and 1 <= cluster_id <= self.n_clusters):
            raise ValueError(
                f"cluster_id should be an integer in 1..{self.n_clusters}, got {cluster_id!r}."
            )

    @property
    def label_image(self) -> np.ndarray | None:
        """``(Y, X)`` int32 image: each element's pixels painted with its cluster, 0
        elsewhere (None without a pixel mapping)."""
        if self.element_pixels is None or self.shape is None:
            return None
        image = np.zeros(self.shape, np.int32)
        for pix, lab in zip(self.element_pixels, self.labels, strict=True):
            if lab and len(pix):
                image[pix[:, 0], pix[:, 1]] = lab
        return image

    def features(self):
        """The cluster table (``index`` = label value), for a napari Labels layer."""
        return self.table.copy()

    # ---- saving
    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the result to a folder, atomically.

        Layout: ``arrays.npz`` (labels, mean_traces, coactivity, embedding if any,
        label_image if any, element_ids, ``hierarchy_<l>``, element pixels
        concatenated as ``pixel_points`` + ``pixel_offsets``), ``clusters.csv``
        (the table), ``params.json``, ``info.json`` (with level and shape).
        """
        folder = Path(folder)
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            arrays: dict[str, np.ndarray] = {
                "labels": self.labels, "mean_traces": self.mean_traces,
                "coactivity": self.coactivity,
            }
            if self.element_ids is not None:
                arrays["element_ids"] = np.asarray(self.element_ids)
            if self.embedding is not None:
                arrays["embedding"] = self.embedding
            for i, h in enumerate(self.hierarchy):
                arrays[f"hierarchy_{i}"] = np.asarray(h)
            if self.element_pixels is not None:
                arrays["pixel_offsets"] = np.cumsum(
                    [0] + [len(p) for p in self.element_pixels]).astype(np.int64)
                arrays["pixel_points"] = (
                    np.concatenate(self.element_pixels).astype(np.int32)
                    if self.element_pixels else np.zeros((0, 2), np.int32))
                image = self.label_image
                if image is not None:
                    arrays["label_image"] = image
            np.savez_compressed(tmp / "arrays.npz", **arrays)
            self.table.to_csv(tmp / "clusters.csv", index=False)
            (tmp / "params.json").write_text(json.dumps(self.params.to_dict(), indent=2))
            meta = {"level": self.level, "shape": self.shape, "info": self.info,
                    "n_levels": len(self.hierarchy)}
            (tmp / "info.json").write_text(json.dumps(jsonable(meta), indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> ClusterResult:
        """Read a folder written by :meth:`save`."""
        import pandas as pd

        folder = Path(folder)
        arrays = read_arrays(folder, "clustering")
        meta = json.loads((folder / "info.json").read_text())
        pixels = None
        if "pixel_offsets" in arrays:
            off = arrays["pixel_offsets"]
            pts = arrays["pixel_points"].astype(np.intp)
            pixels = [pts[a:b] for a, b in zip(off[:-1], off[1:], strict=True)]
        table = pd.read_csv(folder / "clusters.csv")
        return cls(
            labels=arrays["labels"], mean_traces=arrays["mean_traces"], table=table,
            embedding=arrays.get("embedding"), coactivity=arrays["coactivity"],
            params=ClusteringParams.from_dict(json.loads((folder / "params.json").read_text())),
            level=int(meta["level"]),
            hierarchy=[arrays[f"hierarchy_{i}"] for i in range(int(meta["n_levels"]))],
            element_pixels=pixels,
            shape=tuple(meta["shape"]) if meta.get("shape") else None,
            element_ids=arrays.get("element_ids"), info=meta.get("info", {}),
        )


# --------------------------------------------------------------------------- core
def _inputs(data: Any, pixels: Any, shape: Any) -> tuple[np.ndarray, list | None, Any,
                                                          np.ndarray, dict]:
    """(traces, pixels, shape, element_ids, info) from a Projection or an array."""
    extra: dict[str, Any] = {}
    if hasattr(data, "traces") and hasattr(data, "pixels"):
        if pixels is not None or shape is not None:
            raise ValueError("pixels= and shape= are taken from the Projection; do not pass "
                             "them with one.")
        extra = {"substructure": getattr(data, "substructure", None),
                 "method": getattr(data, "method", None)}
        traces, pixels, shape = data.traces, list(data.pixels), tuple(data.shape)
        ids = np.asarray(data.element_ids)
    else:
        traces = data
        ids = None
    traces = np.asarray(traces)
    if traces.ndim != 2:
        raise ValueError(
            f"cluster needs traces of shape (N elements, T frames), got an array of shape "
            f"{traces.shape}."
        )
    if not np.issubdtype(traces.dtype, np.number) or np.iscomplexobj(traces):
        raise ValueError(f"cluster needs real-valued traces, got dtype {traces.dtype}.")
    n, t = traces.shape
    if t < 3:
        raise ValueError(f"cluster needs traces of at least 3 frames, got {t}.")
    bad = ~np.isfinite(traces).all(axis=1)
    if bad.any():
        raise ValueError(
            f"the traces have NaN or infinite values ({int(bad.sum())} element(s), first: "
            f"element {int(np.flatnonzero(bad)[0])}); fill or drop them first."
        )
    if pixels is not None:
        pixels = [np.asarray(p, np.intp).reshape(-1, 2) for p in pixels]
        if len(pixels) != n:
            raise ValueError(f"pixels should list one (n_i, 2) array per element ({n}), got "
                             f"{len(pixels)}.")
        if shape is None:
            raise ValueError("shape= (Y, X) is needed with pixels=.")
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2:
            raise ValueError(f"shape should be (Y, X), got {shape}.")
        for p in pixels:
            if len(p) and (p.min() < 0 or (p >= np.array(shape)).any()):
                raise ValueError(f"pixels fall outside the frame shape {shape}.")
    elif shape is not None:
        shape = tuple(int(s) for s in shape)
    if ids is None:
        ids = np.arange(n, dtype=np.int64)
    return traces.astype(np.float32, copy=False), pixels, shape, ids, extra


def _order_labels(raw: np.ndarray) -> np.ndarray:
    """HDBSCAN labels (-1 noise, 0..) → 0 noise, 1..K by decreasing size."""
    out = np.zeros(len(raw), np.int64)
    ids = [k for k in np.unique(raw) if k >= 0]
    keyed = sorted(ids, key=lambda k: (-int(np.sum(raw == k)), int(np.argmax(raw == k))))
    for new, k in enumerate(keyed, start=1):
        out[raw == k] = new
    return out


def _embed(vectors: np.ndarray, p: ClusteringParams, info: dict) -> np.ndarray:
    n = len(vectors)
    perplexity = min(p.perplexity, max(1.0, (n - 1) / 3.0))
    if perplexity != p.perplexity:
        logger.info("perplexity %.3g capped at %.3g for %d elements", p.perplexity,
                    perplexity, n)
    info["perplexity_used"] = float(perplexity)
    if p.embedding == "umap":
        try:
            import umap
        except ImportError as exc:
            raise ImportError(
                "embedding='umap' needs the umap-learn package: pip install "
                "'napari-amnesia[umap]' (or umap-learn), or choose embedding='tsne'."
            ) from exc
        reducer = umap.UMAP(n_components=2, n_neighbors=min(p.umap_neighbors, n - 1),
                            min_dist=p.umap_min_dist, metric="euclidean",
                            random_state=p.random_state)
        return reducer.fit_transform(vectors).astype(np.float32)
    backend = p.tsne_backend
    if backend == "auto" and n <= 2000:
        backend = "sklearn"   # openTSNE's start-up costs more than it saves on few points
    if backend in ("auto", "opentsne"):
        try:
            import openTSNE
        except ImportError as exc:
            if backend == "opentsne":
                raise ImportError("tsne_backend='opentsne' needs the openTSNE package: pip "
                                  "install openTSNE, or choose tsne_backend='sklearn'.") from exc
            backend = "sklearn"
        else:
            backend = "opentsne"
    info["tsne_backend_used"] = backend
    if backend == "opentsne":
        tsne = openTSNE.TSNE(
            n_components=2, perplexity=perplexity, metric="euclidean",
            early_exaggeration=p.early_exaggeration, n_iter=p.n_iter,
            initialization="pca", random_state=p.random_state,
            n_jobs=1,   # its gradient sums depend on n_jobs (measured: 60 units apart)
            negative_gradient_method="fft" if n > 1000 else "bh", verbose=False,
        )
        with _one_thread():
            return np.asarray(tsne.fit(vectors), np.float32)
    from sklearn.manifold import TSNE

    tsne = TSNE(n_components=2, perplexity=perplexity,
                early_exaggeration=p.early_exaggeration, max_iter=p.n_iter + 250,
                init="pca", learning_rate="auto", random_state=p.random_state,
                metric="euclidean")
    # one thread: the Barnes-Hut gradient sums its normalization over OpenMP threads
    # (an order that depends on their number), and the OpenMP gradient spins for
    # seconds per iteration on a busy machine (measured: 19 points, 37 s with 2 busy
    # cores vs 0.09 s with one thread); above 2,000 points 'auto' uses openTSNE
    with _one_thread():
        return tsne.fit_transform(vectors).astype(np.float32)


def _hdbscan(points: np.ndarray, p: ClusteringParams, *, precomputed: bool) -> np.ndarray:
    kwargs = dict(min_cluster_size=p.min_cluster_size, min_samples=p.min_samples,
                  cluster_selection_method=p.cluster_selection_method,
                  allow_single_cluster=bool(p.allow_single_cluster))
    try:
        import hdbscan
    except ImportError:  # scikit-learn's implementation (>= 1.3)
        from sklearn.cluster import HDBSCAN

        model = HDBSCAN(metric="precomputed" if precomputed else "euclidean", **kwargs)
        with _one_thread():
            return model.fit_predict(points)
    model = hdbscan.HDBSCAN(metric="precomputed" if precomputed else "euclidean",
                            core_dist_n_jobs=1, **kwargs)
    with _one_thread():
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
    with _one_thread():
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
    """fcluster labels (1..) of the cut with the largest mean silhouette (ties: fewer
    clusters); every element in one cluster when no cut has a positive silhouette."""
    from scipy.cluster.hierarchy import fcluster

    n = len(dist)
    best, best_labels = 0.0, np.ones(n, np.int64)
    for k in range(2, min(n - 1, 200) + 1):
        labels = fcluster(tree, k, "maxclust")
        with _one_thread():
            score = _mean_silhouette(dist, labels)
        if score > best + 1e-9:
            best, best_labels = score, labels
    return best_labels


def _mean_silhouette(dist: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (precomputed distances; an element alone in its cluster scores 0,
    as in scikit-learn)."""
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


def _weighted_means(traces: np.ndarray, labels: np.ndarray, k: int,
                    weights: np.ndarray) -> np.ndarray:
    out = np.zeros((k, traces.shape[1]), np.float32)
    for c in range(1, k + 1):
        idx = labels == c
        w = weights[idx]
        out[c - 1] = (w[:, None] * traces[idx]).sum(axis=0) / w.sum()
    return out


def _correlation(x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return np.zeros((0, 0), np.float32)
    u, constant = _unit_rows(np.asarray(x, np.float64))
    c = u @ u.T
    c[np.diag_indices_from(c)] = np.where(constant, np.nan, 1.0)
    return c.astype(np.float32)


def iter_cluster(
    projection_or_traces: Any,
    params: ClusteringParams | Mapping[str, Any] | None = None,
    *,
    pixels: Sequence[np.ndarray] | None = None,
    shape: tuple[int, int] | None = None,
    weights: np.ndarray | None = None,
    _hierarchy: list[np.ndarray] | None = None,
    _level: int = 1,
    _n_original: np.ndarray | None = None,
    **overrides: Any,
) -> ProgressGenerator[ClusterResult]:
    """Generator twin of :func:`cluster` (yields :class:`Progress`, returns the result)."""
    p = ClusteringParams.resolve(params, overrides)
    t_start = time.perf_counter()
    traces, pixels, shape, ids, extra = _inputs(projection_or_traces, pixels, shape)
    n = len(traces)
    if n < p.min_cluster_size:
        raise ValueError(
            f"cannot find clusters of at least min_cluster_size={p.min_cluster_size} "
            f"elements among {n} element(s); lower min_cluster_size or give more elements."
        )
    steps = 4
    info: dict[str, Any] = {"n_elements": n, "n_frames": int(traces.shape[1]), **extra}
    yield Progress(0, steps, "clustering: normalizing")
    normalized = normalize_traces(traces, p.normalization, percentile=p.dff_percentile)
    normalized = detrend_traces(normalized, p.detrend_degree)
    if p.difference_lag and traces.shape[1] - p.difference_lag < 3:
        raise ValueError(
            f"difference_lag={p.difference_lag} leaves fewer than 3 changes in traces of "
            f"{traces.shape[1]} frames; lower difference_lag."
        )
    normalized = difference_traces(normalized, p.difference_lag)
    vectors, constant = reduce_traces(normalized, similarity=p.similarity,
                                      n_components=p.pca_components,
                                      random_state=p.random_state)
    info["constant_elements"] = np.flatnonzero(constant).tolist()
    active = np.flatnonzero(~constant)
    if len(active) < p.min_cluster_size:
        raise ValueError(
            f"only {len(active)} of {n} element(s) have a non-constant trace; at least "
            f"min_cluster_size={p.min_cluster_size} are needed to find a cluster."
        )
    info["dimensions"] = int(vectors.shape[1])
    clusterer = p.clusterer
    if clusterer == "auto":
        clusterer = "average" if extra.get("method") == "branch" else "hdbscan"
    info["clusterer"] = clusterer
    yield Progress(1, steps, "clustering: embedding")
    t0 = time.perf_counter()
    embedding = None
    raw = np.full(n, -1, np.int64)
    if clusterer == "average":
        if p.embedding != "none":   # for display only
            emb = _embed(vectors[active], p, info)
            embedding = np.full((n, 2), np.nan, np.float32)
            embedding[active] = emb
        info["embedding_seconds"] = time.perf_counter() - t0
        yield Progress(2, steps, "clustering: average linkage")
        t0 = time.perf_counter()
        raw[active] = _average_linkage(vectors[active], p, info)
        info["hdbscan_metric"] = "average linkage of the correlation distance"
    elif p.embedding == "none":
        info["embedding_seconds"] = 0.0
        yield Progress(2, steps, "clustering: HDBSCAN")
        t0 = time.perf_counter()
        v = vectors[active].astype(np.float64)
        if len(active) <= p.precomputed_max_elements:
            with _one_thread():
                gram = np.clip(v @ v.T, -1.0, 1.0)
            dist = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * gram))
            np.fill_diagonal(dist, 0.0)
            raw[active] = _hdbscan(dist, p, precomputed=True)
            info["hdbscan_metric"] = "precomputed correlation distance"
        else:
            raw[active] = _hdbscan(v, p, precomputed=False)
            info["hdbscan_metric"] = "euclidean on unit vectors (= correlation distance)"
    else:
        emb = _embed(vectors[active], p, info)
        embedding = np.full((n, 2), np.nan, np.float32)
        embedding[active] = emb
        info["embedding_seconds"] = time.perf_counter() - t0
        yield Progress(2, steps, "clustering: HDBSCAN")
        t0 = time.perf_counter()
        raw[active] = _hdbscan(emb, p, precomputed=False)
        info["hdbscan_metric"] = "euclidean on the embedding"
    info["hdbscan_seconds"] = time.perf_counter() - t0
    if p.keep_unclustered and _level > 1:
        alone = np.flatnonzero((raw < 0) & ~constant)
        raw[alone] = raw.max(initial=-1) + 1 + np.arange(len(alone))
    labels = _order_labels(raw)
    k = int(labels.max(initial=0))
    yield Progress(3, steps, "clustering: cluster traces")
    if weights is None:
        weights = (np.array([max(1, len(q)) for q in pixels], np.float64) if pixels
                   is not None else np.ones(n))
    weights = np.asarray(weights, np.float64)
    mean_traces = _weighted_means(traces, labels, k, weights)
    coactivity = _correlation(mean_traces)
    import pandas as pd

    if _n_original is None:
        _n_original = np.ones(n, np.int64)
    table = pd.DataFrame({
        "index": np.arange(1, k + 1, dtype=np.int64),
        "n_elements": np.bincount(labels, minlength=k + 1)[1:].astype(np.int64),
        "n_original_elements": np.bincount(labels, weights=_n_original,
                                           minlength=k + 1)[1:].astype(np.int64),
        "area": (np.bincount(labels, weights=[len(q) for q in pixels], minlength=k + 1)[1:]
                 .astype(np.int64) if pixels is not None else np.zeros(k, np.int64)),
        "snr": trace_snr(mean_traces) if k else np.zeros(0),
        "level": np.full(k, _level, np.int64),
    })
    try:
        from importlib.metadata import version

        info["version"] = version("napari-amnesia")
    except Exception:  # noqa: BLE001 - not installed (source checkout)
        info["version"] = None
    info["seconds"] = time.perf_counter() - t_start
    info["n_clusters"] = k
    info["n_noise"] = int(np.sum(labels == 0))
    hierarchy = [*(_hierarchy or []), labels]
    yield Progress(4, steps, "clustering: done")
    return ClusterResult(
        labels=labels, mean_traces=mean_traces, table=table, embedding=embedding,
        coactivity=coactivity, params=p, level=_level, hierarchy=hierarchy,
        element_pixels=pixels, shape=shape, element_ids=ids, info=info,
    )


def cluster(
    projection_or_traces: Any,
    params: ClusteringParams | Mapping[str, Any] | None = None,
    *,
    pixels: Sequence[np.ndarray] | None = None,
    shape: tuple[int, int] | None = None,
    **overrides: Any,
) -> ClusterResult:
    """Cluster coactive elements (pixels, branches) by their traces.

    pyAMNESIA's clustering [1]_: normalization, PCA, correlation distance,
    2-D embedding (t-SNE/UMAP) and HDBSCAN — see the module documentation.

    Parameters
    ----------
    projection_or_traces : Projection or array_like, shape (N, T)
        A :class:`~napari_amnesia.core.projection.Projection`, or any traces
        (one row per element).
    params : ClusteringParams or dict, optional
        Parameters (defaults: :class:`ClusteringParams`).
    pixels : sequence of (n_i, 2) arrays, optional
        Row/column pixels of each element, with raw ``traces`` (needed for
        :attr:`ClusterResult.label_image` and :meth:`ClusterResult.expand`).
    shape : (int, int), optional
        Frame shape, with ``pixels``.
    **overrides
        Parameters to change, e.g. ``cluster(proj, min_cluster_size=5)``;
        unknown names raise ``TypeError``.

    Returns
    -------
    ClusterResult

    Raises
    ------
    ValueError
        Traces that are not 2-D, NaN/infinite values, fewer (non-constant)
        elements than ``min_cluster_size``, a bad parameter value (named).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sources = rng.standard_normal((2, 200))
    >>> traces = np.repeat(sources, 20, axis=0) + 0.3 * rng.standard_normal((40, 200))
    >>> result = cluster(traces, embedding="none", min_cluster_size=5)
    >>> result.n_clusters, sorted(set(result.labels.tolist()))
    (2, [1, 2])
    """
    return drive(iter_cluster(projection_or_traces, params, pixels=pixels, shape=shape,
                              **overrides))


def iter_cluster_consecutive(
    previous: ClusterResult,
    params: ClusteringParams | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> ProgressGenerator[ClusterResult]:
    """Generator twin of :func:`cluster_consecutive`."""
    if not isinstance(previous, ClusterResult):
        raise TypeError(f"previous should be a ClusterResult, got {type(previous).__name__}.")
    if params is None and not overrides:
        params = previous.params
    p = ClusteringParams.resolve(params, overrides)
    if previous.n_clusters < 2:
        raise ValueError(
            f"level {previous.level} found {previous.n_clusters} cluster(s) among its "
            f"{previous.n_elements} elements: nothing to group at level "
            f"{previous.level + 1}; for more clusters at level {previous.level}, "
            f"{previous.advice()}."
        )
    if previous.n_clusters < p.min_cluster_size:
        raise ValueError(
            f"the level-{previous.level} result has {previous.n_clusters} cluster(s), fewer "
            f"than min_cluster_size={p.min_cluster_size}: nothing to group at the next "
            "level; lower min_cluster_size (2 groups pairs of clusters)."
        )
    pixels = None
    if previous.element_pixels is not None:
        pixels = [previous.expand(c) for c in range(1, previous.n_clusters + 1)]
    weights = np.asarray(previous.table["area"], np.float64) if pixels is not None else \
        np.asarray(previous.table["n_original_elements"], np.float64)
    result = yield from iter_cluster(
        previous.mean_traces, p, pixels=pixels, shape=previous.shape, weights=weights,
        _hierarchy=list(previous.hierarchy), _level=previous.level + 1,
        _n_original=np.asarray(previous.table["n_original_elements"], np.int64),
    )
    result.element_ids = np.arange(1, previous.n_clusters + 1, dtype=np.int64)
    result.info["previous"] = {"level": previous.level, "n_clusters": previous.n_clusters}
    for key in ("substructure", "method"):
        if key in previous.info:
            result.info[key] = previous.info[key]
    return result


def cluster_consecutive(
    previous: ClusterResult,
    params: ClusteringParams | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> ClusterResult:
    """Cluster the clusters of ``previous``: their mean traces are the new elements.

    pyAMNESIA's consecutive clusterings [1]_ (pixels → mesoscopic →
    macroscopic). The result's ``level`` is one more than ``previous.level``,
    its ``hierarchy`` extends that of ``previous``, and its clusters expand back
    to the original elements (:meth:`ClusterResult.members`) and pixels
    (:meth:`ClusterResult.expand`); noise of a level stays noise.

    Parameters
    ----------
    previous : ClusterResult
    params : ClusteringParams or dict, optional
        Default: the parameters of ``previous`` (with ``overrides`` applied to
        the defaults when given). Fewer elements usually call for a smaller
        ``min_cluster_size`` and ``perplexity``, or ``embedding="none"``.
    **overrides
        Parameters to change.
    """
    return drive(iter_cluster_consecutive(previous, params, **overrides))


# --------------------------------------------------------------------------- YAML configs
_TEMPLATES = ("clustering_pixel", "clustering_branch", "clustering_active", "factorization_nmf")


def list_templates() -> list[str]:
    """Names of the YAML templates shipped with the package."""
    return list(_TEMPLATES)


def load_template(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """A clustering/factorization configuration as a dict.

    Parameters
    ----------
    name_or_path : str or path
        One of :func:`list_templates` (pyAMNESIA's four: ``"clustering_pixel"``,
        ``"clustering_branch"``, ``"clustering_active"``,
        ``"factorization_nmf"``; a ``.yaml`` suffix is accepted), or the path of
        a YAML file.
    """
    import yaml

    text = None
    name = str(name_or_path)
    stem = name[:-5] if name.endswith(".yaml") else name
    if stem in _TEMPLATES and not Path(name).exists():
        from importlib.resources import files

        text = (files("napari_amnesia") / "templates" / f"{stem}.yaml").read_text()
        source = f"template {stem!r}"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{name!r} is neither a template ({', '.join(_TEMPLATES)}) nor a YAML file."
            )
        text = path.read_text()
        source = str(path)
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{source} should hold a mapping of sections, got "
                         f"{type(config).__name__}.")
    return config


_SECTIONS = {"input", "skeleton", "projection", "clustering", "consecutive",
             "factorization", "output", "name", "description"}


def iter_run_config(config: Mapping[str, Any] | str | os.PathLike, movie: Any = None, *,
                    output: str | os.PathLike | None = None,
                    overwrite: bool = False, skeleton: Any = None
                    ) -> ProgressGenerator[dict[str, Any]]:
    """Generator twin of :func:`run_config` (``skeleton``: an in-memory SkeletonResult
    to use instead of ``input.skeleton`` or a new skeletonization)."""
    if not isinstance(config, Mapping):
        config = load_template(config)
    config = dict(config)
    unknown = sorted(set(config) - _SECTIONS)
    if unknown:
        raise ValueError(f"unknown configuration section(s) {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(sorted(_SECTIONS))}.")
    has_clustering = config.get("clustering") is not None
    has_factorization = config.get("factorization") is not None
    if has_clustering == has_factorization:
        raise ValueError("a configuration needs exactly one of the sections 'clustering' "
                         "and 'factorization'.")
    steps = []   # checked before anything is computed
    if has_clustering:
        ClusteringParams.resolve(config["clustering"] or {}, {})
        for level, step in enumerate(config.get("consecutive") or [], start=2):
            try:
                steps.append(ClusteringParams.resolve(step or {}, {}))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"consecutive level {level}: {exc}") from exc
    inp = dict(config.get("input") or {})
    if movie is None:
        path = inp.get("movie")
        if not path:
            raise ValueError("no movie: pass movie= or set input.movie in the configuration.")
        from .io import open_movie

        movie = open_movie(path)
    results: dict[str, Any] = {}
    skeleton_given = skeleton is not None  # saved by whoever made it
    projection_cfg = config.get("projection")
    need_projection = has_clustering or projection_cfg is not None
    if need_projection:
        from .projection import iter_project
        from .skeleton import SkeletonResult, iter_skeletonize

        skeleton_path = inp.get("skeleton")
        if skeleton is not None:
            pass  # given by the caller (the pipeline's skeleton stage)
        elif skeleton_path:
            skeleton = SkeletonResult.load(skeleton_path)
        else:
            skeleton = yield from iter_skeletonize(movie, config.get("skeleton") or {})
        results["skeleton"] = skeleton
        projection_cfg = dict(projection_cfg or {})
        results["projection"] = yield from iter_project(movie, skeleton, **projection_cfg)
    if has_clustering:
        first = yield from iter_cluster(results["projection"], config["clustering"] or {})
        levels = [first]
        for level, step in enumerate(steps, start=2):
            try:
                levels.append((yield from iter_cluster_consecutive(levels[-1], step)))
            except (ValueError, ImportError) as exc:
                # the levels already computed are results: keep (and save) them
                kept = ", ".join(str(r.level) for r in levels)
                results["failed_level"] = {"level": level, "error": str(exc)}
                logger.warning("clustering level %d failed, level(s) %s kept: %s", level,
                               kept, exc)
                break
        results["clusterings"] = levels
    else:
        from .factorization import iter_factorize

        source = results.get("projection", movie)
        results["factorization"] = yield from iter_factorize(source,
                                                             config["factorization"] or {})
    output = output if output is not None else config.get("output")
    if output:
        output = Path(output)
        output.mkdir(parents=True, exist_ok=True)
        if "clusterings" in results:
            for result in results["clusterings"]:
                result.save(output / f"clustering_level{result.level}", overwrite=overwrite)
        if "factorization" in results:
            results["factorization"].save(output / "factorization", overwrite=overwrite)
        if "skeleton" in results and not inp.get("skeleton") and not skeleton_given:
            results["skeleton"].save(output / "skeleton", overwrite=overwrite)
        (output / "config.json").write_text(json.dumps(jsonable(config), indent=2))
        results["output"] = output
    return results


def run_config(config: Mapping[str, Any] | str | os.PathLike, movie: Any = None, *,
               output: str | os.PathLike | None = None, overwrite: bool = False,
               skeleton: Any = None) -> dict[str, Any]:
    """Run a clustering or factorization configuration (a YAML template or a dict).

    Sections (see the shipped templates, :func:`load_template`):
    ``input`` (``movie``: path opened lazily when ``movie`` is not given;
    ``skeleton``: a saved skeleton folder, else the skeleton is computed with
    the ``skeleton`` section's :class:`~napari_amnesia.core.skeleton.SkeletonParams`),
    ``projection`` (``substructure``, ``method``; for a factorization, absent
    or null = the raw movie), ``clustering`` (:class:`ClusteringParams`),
    ``consecutive`` (a list, one :class:`ClusteringParams` dict per further
    level), ``factorization``
    (:class:`~napari_amnesia.core.factorization.FactorizationParams`),
    ``output`` (folder, optional).

    Returns
    -------
    dict
        ``"skeleton"``, ``"projection"`` (when used), ``"clusterings"`` (list of
        :class:`ClusterResult`, one per level) or ``"factorization"``, and
        ``"output"`` (the folder) when results were saved: ``skeleton/``,
        ``clustering_level<l>/`` or ``factorization/``, ``config.json``.
        When a consecutive level fails (e.g. level 1 found fewer than 2
        clusters), the levels already computed are kept (and saved), the later
        ones are not run, and ``"failed_level"`` is ``{"level": l, "error":
        message}`` (also logged as a warning). A failure at level 1 raises.
    """
    return drive(iter_run_config(config, movie, output=output, overwrite=overwrite,
                                 skeleton=skeleton))
