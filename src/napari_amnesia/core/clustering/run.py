"""One clustering of elements by their traces (:func:`cluster`, :func:`iter_cluster`)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ... import __version__
from ..parallel import one_thread
from ..progress import Progress, ProgressGenerator, drive
from ..traces import detrend_traces, difference_traces, normalize_traces, trace_snr
from .clusterers import _average_linkage, _hdbscan, _order_labels
from .embedding import _embed, _unit_rows, reduce_traces
from .params import ClusteringParams
from .result import ClusterResult

__all__ = ["cluster", "iter_cluster"]


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
    """Cluster as :func:`cluster` does, as a generator.

    Yields :class:`Progress`, returns the :class:`ClusterResult`.
    """
    p = ClusteringParams.resolve(params, overrides)
    t_start = time.perf_counter()
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
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
            with one_thread():
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
    provenance = {"version": __version__, "created": created,
                  "elapsed_s": time.perf_counter() - t_start, "seed": p.random_state}
    info["n_clusters"] = k
    info["n_noise"] = int(np.sum(labels == 0))
    hierarchy = [*(_hierarchy or []), labels]
    yield Progress(4, steps, "clustering: done")
    return ClusterResult(
        labels=labels, mean_traces=mean_traces, table=table, embedding=embedding,
        coactivity=coactivity, params=p, level=_level, hierarchy=hierarchy,
        element_pixels=pixels, shape=shape, element_ids=ids, info=info,
        provenance=provenance,
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
