"""The result of one clustering level (:class:`ClusterResult`): labels, table, saving."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_folder, jsonable, read_arrays
from ..layers import layer_name, provenance
from .params import ClusteringParams

__all__ = ["ClusterResult"]


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
        Diagnostics of the algorithm: number of elements, constant elements,
        the clusterer and metric used, step timings, the projection's
        substructure/method.
    provenance : dict
        ``version`` (of the package), ``created`` (ISO time, UTC),
        ``elapsed_s`` (seconds the clustering took) and ``seed``
        (``params.random_state``).
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
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        """Number of clusters ``K`` (noise excluded)."""
        return int(self.mean_traces.shape[0])

    @property
    def n_elements(self) -> int:
        """Number of elements ``N`` of this level."""
        return int(len(self.labels))

    def __repr__(self) -> str:
        """Summarize the level, elements, clusters and noise."""
        noise = int(np.sum(self.labels == 0))
        return (f"ClusterResult(level={self.level}, n_elements={self.n_elements}, "
                f"n_clusters={self.n_clusters}, noise={noise})")

    def advice(self) -> str:
        """Which parameter to change for more clusters, in one sentence (for messages).

        Examples
        --------
        >>> import numpy as np
        >>> from napari_amnesia.core.clustering import cluster
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
        """Return the indices of the original (level-1) elements in cluster ``cluster_id``."""
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
        """Return the ``(Y, X)`` int32 image of the clusters.

        Each element's pixels are painted with its cluster, 0 elsewhere (None
        without a pixel mapping).
        """
        if self.element_pixels is None or self.shape is None:
            return None
        image = np.zeros(self.shape, np.int32)
        for pix, lab in zip(self.element_pixels, self.labels, strict=True):
            if lab and len(pix):
                image[pix[:, 0], pix[:, 1]] = lab
        return image

    def features(self):
        """Return the cluster table (``index`` = label value), for a napari Labels layer."""
        return self.table.copy()

    def to_layers(self, source: str, **options: Any) -> list[tuple]:
        """Return the napari layer data of the clusters (no napari import).

        One Labels layer ``"<source> · clusters"`` (``"<source> · clusters level
        <L>"`` above level 1): each element's pixels painted with its cluster, the
        cluster table as ``features``.

        Parameters
        ----------
        source : str
            Name of the movie layer the clustering was computed on.
        **options
            None yet (accepted for the common ``to_layers`` signature).

        Returns
        -------
        list of (data, kwargs, layer_type) tuples

        Raises
        ------
        ValueError
            A clustering without a pixel mapping (traces given without pixels).

        Examples
        --------
        >>> import numpy as np
        >>> from napari_amnesia.core.clustering import cluster
        >>> rng = np.random.default_rng(0)
        >>> traces = np.repeat(rng.standard_normal((2, 100)), 8, axis=0)
        >>> traces += 0.3 * rng.standard_normal(traces.shape)
        >>> pixels = [np.array([[0, i]]) for i in range(16)]
        >>> result = cluster(traces, embedding="none", min_cluster_size=4,
        ...                  pixels=pixels, shape=(1, 16))
        >>> [(kwargs["name"], kind) for _, kwargs, kind in result.to_layers("movie")]
        [('movie · clusters', 'labels')]
        """
        if options:
            raise TypeError(f"unknown option(s) {', '.join(map(repr, options))}.")
        image = self.label_image
        if image is None:
            raise ValueError("this clustering has no pixel mapping; nothing to paint.")
        word = "clusters" if self.level == 1 else f"clusters level {self.level}"
        meta = provenance("clustering", source, self.params.to_dict())
        meta["napari_amnesia"].update({
            "level": int(self.level),
            "substructure": self.info.get("substructure"),
            "method": self.info.get("method"),
            "n_elements": int(self.n_elements),
        })
        return [(np.asarray(image, np.int32), {"name": layer_name(source, word),
                                               "features": self.features(), "opacity": 0.8,
                                               "metadata": meta}, "labels")]

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
                    "provenance": self.provenance, "n_levels": len(self.hierarchy)}
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
            provenance=meta.get("provenance", {}),
        )
