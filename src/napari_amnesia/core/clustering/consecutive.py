"""Consecutive clusterings: the clusters of a level become the elements of the next."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..progress import ProgressGenerator, drive
from .params import ClusteringParams
from .result import ClusterResult
from .run import iter_cluster

__all__ = ["cluster_consecutive", "iter_cluster_consecutive"]


def iter_cluster_consecutive(
    previous: ClusterResult,
    params: ClusteringParams | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> ProgressGenerator[ClusterResult]:
    """Cluster clusters as :func:`cluster_consecutive` does, as a generator."""
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
