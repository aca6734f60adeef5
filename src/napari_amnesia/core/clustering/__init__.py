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

The package, by what each module does:

- :mod:`.params`: :class:`ClusteringParams`;
- :mod:`napari_amnesia.core.traces`: the trace preprocessing shared with the
  factorization (:func:`normalize_traces`, :func:`detrend_traces`,
  :func:`difference_traces`, :func:`trace_snr`);
- :mod:`.embedding`: PCA reduction (:func:`reduce_traces`), t-SNE and UMAP;
- :mod:`.clusterers`: HDBSCAN, average linkage, the best-silhouette cut;
- :mod:`.result`: :class:`ClusterResult` (table, hierarchy, saving, layers);
- :mod:`.run`: one clustering (:func:`cluster`, :func:`iter_cluster`);
- :mod:`.consecutive`: :func:`cluster_consecutive`;
- :mod:`.config`: YAML templates and the configuration runner
  (:func:`load_template`, :func:`run_config`).

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

from ..traces import detrend_traces, difference_traces, normalize_traces, trace_snr
from .config import (
    iter_run_config,
    list_templates,
    load_template,
    run_config,
    template_entries,
)
from .consecutive import cluster_consecutive, iter_cluster_consecutive
from .embedding import reduce_traces
from .params import ClusteringParams
from .result import ClusterResult
from .run import cluster, iter_cluster

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
    "template_entries",
    "run_config",
    "iter_run_config",
]
