"""The result of the skeleton stage: :class:`SkeletonResult`, its folder and its layers."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_folder, jsonable, read_arrays
from ..layers import layer_name, provenance
from .graph import _empty_branches
from .params import SkeletonParams

__all__ = ["SkeletonResult", "PREVIEWS"]

#: The intermediate images a result keeps, in pipeline order (:meth:`SkeletonResult.preview_layer`).
PREVIEWS = ("summary", "normalized", "equalized", "smoothed", "threshold", "binary", "mask",
            "raw_skeleton")


@dataclass
class SkeletonResult:
    """The skeleton of a movie or image, its branch graph and intermediate images.

    Attributes
    ----------
    mask : ndarray of bool, shape (Y, X)
        Binary structure (step 5), pyAMNESIA's "active" pixels.
    skeleton : ndarray of bool, shape (Y, X)
        Cleaned skeleton (step 7).
    branch_labels : ndarray of int32, shape (Y, X)
        0 = background, else the ``branch_id`` of the skeleton pixel. A junction
        pixel, shared by several branches, takes the smallest of their ids;
        pixels of contracted junction clusters take the id of the nearest
        labelled pixel. So the labels partition the skeleton.
    branches : pandas.DataFrame
        One row per branch: ``branch_id`` (1..N, the label value),
        ``skeleton_id`` (connected piece, 1..C), ``length`` (pixels along the
        path, diagonal steps count sqrt 2), ``type`` (one of
        :data:`BRANCH_TYPES` values), ``euclidean_length`` (between the two
        ends), ``tortuosity`` (length / euclidean length; NaN for a cycle),
        ``mean_intensity`` (mean of the summary image along the path),
        ``n_pixels``, ``src_row``, ``src_col``, ``dst_row``, ``dst_col``.
    totals : dict
        ``n_branches``, ``n_junctions``, ``n_endpoints``, ``n_components``,
        ``n_cycles``, ``total_length``, ``mean_branch_length``,
        ``skeleton_pixels``, ``mask_area``, ``n_somata`` and the count per branch type.
    junctions : ndarray of float, shape (J, 2)
        Row, column of each junction (centroid of its pixels).
    endpoints : ndarray of float, shape (E, 2)
        Row, column of each free end.
    paths : list of ndarray
        ``(n_i, 2)`` row/column pixel path of each branch, in ``branch_id``
        order, junction pixels included (for a napari Shapes "path" layer).
    intermediates : dict of ndarray
        ``summary`` (step 2), ``normalized``, ``equalized`` (3), ``smoothed``
        (4), ``threshold`` (local threshold image), ``binary`` (raw
        thresholding), ``mask`` (5), ``raw_skeleton`` (6).
    params : SkeletonParams
    info : dict
        Diagnostics: ``"warnings"``, messages about the result (an empty
        skeleton names the parameters to change).
    somata : ndarray of int32, shape (Y, X)
        Soma labels (0 = none; step 6, ``soma_radius``). ``totals["n_somata"]``
        counts them. A soma is one node of the skeleton: the branches that leave
        it start at its centre.
    provenance : dict
        How the result was made: package ``"version"``, ``"created"`` (ISO
        time), ``"elapsed_s"`` (seconds), ``"timings"`` (seconds per step),
        ``"input_shape"`` and ``"n_frames"`` (0 for a 2-D image). No randomness
        is used, so there is no seed.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_amnesia.core.skeleton import skeletonize
    >>> image = np.zeros((40, 40), np.float32)
    >>> image[20, 5:35] = image[5:20, 20] = 1.0  # a T
    >>> result = skeletonize(image, objects_min_size=5, soma_radius=0)
    >>> result.totals["n_branches"], result.totals["n_junctions"]
    (3, 1)
    >>> [(kwargs["name"], kind) for _, kwargs, kind in result.to_layers("T")]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('T · structure', 'image'), ('T · skeleton', 'labels'), ('T · branches', 'shapes'),
     ('T · junctions', 'points')]
    """

    mask: np.ndarray
    skeleton: np.ndarray
    branch_labels: np.ndarray
    branches: Any
    totals: dict[str, Any]
    junctions: np.ndarray
    endpoints: np.ndarray
    paths: list[np.ndarray]
    intermediates: dict[str, np.ndarray]
    params: SkeletonParams
    info: dict[str, Any] = field(default_factory=dict)
    somata: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Give a result without somata an empty soma label image."""
        if self.somata is None:
            self.somata = np.zeros(np.shape(self.mask), np.int32)

    @property
    def shape(self) -> tuple[int, int]:
        """Frame shape ``(Y, X)``."""
        return tuple(self.mask.shape)

    @property
    def summary(self) -> np.ndarray:
        """The summary image (step 2)."""
        return self.intermediates["summary"]

    def features(self):
        """Return the branch table with an ``index`` column = label value.

        This is napari Labels ``features``: row ``i`` describes label
        ``branches.branch_id[i]``.
        """
        table = self.branches.copy()
        table.insert(0, "index", table["branch_id"].to_numpy())
        return table

    def to_layers(self, source: str, **options: Any) -> list[tuple]:
        """Return napari layer data: structure, skeleton labels, branch paths, junctions.

        Parameters
        ----------
        source : str
            Name of the layer the skeleton was computed from; the layers are named
            ``"<source> · structure"``, ``"· skeleton"``, ``"· branches"`` and
            ``"· junctions"``.
        **options
            None is used yet; unknown names raise ``TypeError``.

        Returns
        -------
        list of tuple
            ``(data, kwargs, layer_type)`` tuples: the binary structure as a
            hidden Image, the branch labels as Labels with :meth:`features`, the
            branch paths as hidden Shapes (left out when no branch has two
            points) and the junctions as Points.
        """
        if options:
            raise TypeError(f"SkeletonResult.to_layers got unknown options {sorted(options)}.")
        meta = provenance("skeleton", source, self.params.to_dict())
        layers = [
            (np.asarray(self.mask, np.uint8), {"name": layer_name(source, "structure"),
                                               "colormap": "gray", "opacity": 0.5,
                                               "contrast_limits": [0, 1], "visible": False,
                                               "metadata": meta}, "image"),
            (np.asarray(self.branch_labels, np.int32), {"name": layer_name(source, "skeleton"),
                                                        "features": self.features(),
                                                        "metadata": meta}, "labels"),
        ]
        paths = [np.asarray(p, float) for p in self.paths if len(p) >= 2]
        if paths:
            layers.append((paths, {"name": layer_name(source, "branches"), "shape_type": "path",
                                   "edge_color": "cyan", "edge_width": 0.5, "visible": False,
                                   "metadata": meta}, "shapes"))
        junctions = np.asarray(self.junctions, float).reshape(-1, 2)
        layers.append((junctions, {"name": layer_name(source, "junctions"), "size": 4,
                                   "face_color": "red", "metadata": meta}, "points"))
        return layers

    def preview_layer(self, source: str, which: str) -> tuple:
        """Return the layer data of one intermediate image, to check a step's parameters.

        Parameters
        ----------
        source : str
            Name of the layer the skeleton was computed from.
        which : str
            One of :data:`PREVIEWS` (the keys of :attr:`intermediates`).

        Returns
        -------
        tuple
            ``(image, kwargs, "image")``, named ``"<source> · skeleton <which>"``.

        Raises
        ------
        KeyError
            When this result has no such intermediate image.
        """
        image = (self.intermediates or {}).get(which)
        if image is None:
            raise KeyError(f"No {which!r} image in this result.")
        return (np.asarray(image, np.float32), {
            "name": layer_name(source, f"skeleton {which}"), "colormap": "gray",
            "metadata": provenance("skeleton", source, self.params.to_dict())}, "image")

    def __repr__(self) -> str:
        """Summarize the shape and the totals."""
        t = self.totals
        return (
            f"SkeletonResult(shape={self.shape}, n_branches={t['n_branches']}, "
            f"n_junctions={t['n_junctions']}, n_endpoints={t['n_endpoints']}, "
            f"total_length={t['total_length']:.1f}, n_components={t['n_components']})"
        )

    # ---- saving
    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the result to a folder, atomically.

        Layout: ``arrays.npz`` (mask, skeleton, branch_labels, junctions,
        endpoints, the intermediates as ``intermediate_<name>``, the paths
        concatenated as ``path_points`` with ``path_offsets``),
        ``branches.csv``, ``totals.json``, ``params.json``, ``info.json``
        (:attr:`info` with :attr:`provenance` under ``"provenance"``).
        """
        folder = Path(folder)
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            offsets = np.cumsum([0] + [len(p) for p in self.paths]).astype(np.int64)
            points = (np.concatenate(self.paths).astype(np.int32) if self.paths
                      else np.zeros((0, 2), np.int32))
            arrays = {
                "mask": self.mask, "skeleton": self.skeleton,
                "branch_labels": self.branch_labels, "junctions": self.junctions,
                "endpoints": self.endpoints, "path_points": points, "path_offsets": offsets,
                "somata": self.somata,
            }
            arrays.update({f"intermediate_{k}": v for k, v in self.intermediates.items()})
            np.savez_compressed(tmp / "arrays.npz", **arrays)
            self.branches.to_csv(tmp / "branches.csv", index=False)
            (tmp / "totals.json").write_text(json.dumps(jsonable(self.totals), indent=2))
            (tmp / "params.json").write_text(json.dumps(self.params.to_dict(), indent=2))
            info = {**self.info, "provenance": self.provenance}
            (tmp / "info.json").write_text(json.dumps(jsonable(info), indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> SkeletonResult:
        """Read a folder written by :meth:`save`."""
        import pandas as pd

        folder = Path(folder)
        arrays = read_arrays(folder, "skeleton")
        offsets = arrays.pop("path_offsets")
        points = arrays.pop("path_points").astype(np.intp)
        paths = [points[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
        inter = {k[len("intermediate_"):]: arrays.pop(k) for k in list(arrays)
                 if k.startswith("intermediate_")}
        info = json.loads((folder / "info.json").read_text())
        if "provenance" in info:
            prov = info.pop("provenance")
        else:  # saved before provenance had its own key: it was mixed into info
            prov = {k: info.pop(k) for k in list(info) if k != "warnings"}
            if "elapsed" in prov:
                prov["elapsed_s"] = prov.pop("elapsed")
        branches = pd.read_csv(folder / "branches.csv")
        if branches.empty:
            branches = _empty_branches()
        return cls(
            mask=arrays["mask"], skeleton=arrays["skeleton"],
            branch_labels=arrays["branch_labels"], branches=branches,
            totals=json.loads((folder / "totals.json").read_text()),
            junctions=arrays["junctions"], endpoints=arrays["endpoints"], paths=paths,
            intermediates=inter,
            params=SkeletonParams.from_dict(json.loads((folder / "params.json").read_text())),
            info=info, somata=arrays.get("somata"), provenance=prov,
        )

