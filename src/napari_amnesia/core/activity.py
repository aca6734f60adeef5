"""pyAMNESIA's activity stages — coactive clustering and factorization — as one result.

Both stages read a movie through an optional projection on the skeleton (one trace
per pixel of the skeleton, or per branch) and take several sections of a
configuration (``projection``, ``clustering``, ``consecutive`` / ``factorization``;
see :func:`napari_amnesia.core.clustering.run_config`). :func:`iter_activity` runs
them and returns an :class:`ActivityResult`, which saves, loads and gives its napari
layers like every stage's result.

Examples
--------
>>> check_factorization({"factorization": {"method": "pca", "n_components": 3}})
{'factorization': {...}}
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clustering.config import check_clustering, check_factorization
from .files import atomic_folder, jsonable

__all__ = ["ActivityResult", "iter_activity", "activity", "check_clustering",
           "check_factorization", "record"]


@dataclass
class ActivityResult:
    """Clusterings (one per level) or a factorization, with the skeleton and projection used.

    Attributes
    ----------
    params : dict
        The configuration sections that made it.
    clusterings : list of ClusterResult
        One per level (empty for a factorization).
    factorization : FactorizationResult or None
    skeleton : SkeletonResult or None
        The skeleton the projection used (computed or given).
    projection : Projection or None
    failed_level : dict or None
        ``{"level", "error"}`` when a consecutive level failed (earlier ones kept).
    provenance : dict
        Package version, creation time, time taken.
    """

    params: dict[str, Any]
    clusterings: list[Any] = field(default_factory=list)
    factorization: Any = None
    skeleton: Any = None
    projection: Any = None
    failed_level: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def stage(self) -> str:
        """``"clustering"`` or ``"factorization"``."""
        return "factorization" if self.factorization is not None else "clustering"

    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write ``clustering_level<l>/`` or ``factorization/`` and ``activity.json``."""
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            for level in self.clusterings:
                level.save(tmp / f"clustering_level{level.level}")
            if self.factorization is not None:
                self.factorization.save(tmp / "factorization")
            (tmp / "activity.json").write_text(json.dumps(jsonable({
                "params": self.params, "failed_level": self.failed_level,
                "provenance": self.provenance}), indent=2))
        return Path(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> ActivityResult:
        """Read a folder written by :meth:`save` (the skeleton and projection are not kept)."""
        from .clustering import ClusterResult
        from .factorization import FactorizationResult

        folder = Path(folder)
        meta = json.loads((folder / "activity.json").read_text())
        levels = sorted(folder.glob("clustering_level*"),
                        key=lambda p: int(p.name.removeprefix("clustering_level")))
        factorization = (FactorizationResult.load(folder / "factorization")
                         if (folder / "factorization").is_dir() else None)
        return cls(params=meta.get("params", {}),
                   clusterings=[ClusterResult.load(p) for p in levels],
                   factorization=factorization, failed_level=meta.get("failed_level"),
                   provenance=meta.get("provenance", {}))

    def to_layers(self, source: str, **options: Any) -> list[tuple]:
        """Give the napari LayerData of each clustering level, or of the factorization."""
        layers: list[tuple] = []
        for level in self.clusterings:
            layers += level.to_layers(source, **options)
        if self.factorization is not None:
            layers += self.factorization.to_layers(source, **options)
        return layers


def iter_activity(movie: Any, params: dict[str, Any], *, skeleton: Any = None):
    """Run a clustering or a factorization configuration on ``movie``; generator twin.

    ``params`` holds the stage's sections (checked by :func:`check_clustering` or
    :func:`check_factorization`); ``skeleton`` is an earlier skeleton to project on.
    """
    from .clustering import iter_run_config

    config = {k: v for k, v in dict(params).items() if v is not None}
    results = yield from iter_run_config(config, movie, skeleton=skeleton)
    from .. import __version__

    return ActivityResult(
        params=jsonable(config), clusterings=list(results.get("clusterings", [])),
        factorization=results.get("factorization"), skeleton=results.get("skeleton"),
        projection=results.get("projection"), failed_level=results.get("failed_level"),
        provenance={"napari_amnesia": __version__,
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(
                        timespec="seconds")})


def activity(movie: Any, params: dict[str, Any] | None = None, *, skeleton: Any = None,
             **sections: Any) -> ActivityResult:
    """Run a clustering or factorization configuration to the end (see :func:`iter_activity`).

    Sections may be given as a dict or as keywords:
    ``activity(movie, clustering={...}, projection={...})``.
    """
    from .progress import drive

    return drive(iter_activity(movie, {**dict(params or {}), **sections}, skeleton=skeleton))


def record(result: ActivityResult, context: Any) -> dict[str, Any]:
    """Clusters per level, or the number of components, for ``summary.json``."""
    out: dict[str, Any] = {}
    if result.clusterings:
        out["clusters_per_level"] = [int(r.labels.max()) for r in result.clusterings]
    if result.factorization is not None:
        out["n_components"] = int(len(result.factorization.temporal))
    if result.failed_level:
        out["failed_level"] = result.failed_level
    return out
