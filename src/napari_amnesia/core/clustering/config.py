"""YAML configurations: shipped templates and the clustering/factorization runner."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..factorization import FactorizationParams, iter_factorize
from ..files import jsonable
from ..progress import ProgressGenerator, drive
from ..projection import iter_project
from .consecutive import iter_cluster_consecutive
from .params import ClusteringParams
from .run import iter_cluster

__all__ = ["list_templates", "load_template", "template_entries", "iter_run_config",
           "run_config", "check_clustering", "check_factorization"]

logger = logging.getLogger(__name__)


_TEMPLATES = ("clustering_pixel", "clustering_branch", "clustering_active", "factorization_nmf")


def list_templates() -> list[str]:
    """Names of the YAML templates shipped with the package."""
    return list(_TEMPLATES)


def load_template(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """Return a clustering/factorization configuration as a dict.

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


def template_entries(section: str) -> dict[str, tuple[dict[str, Any] | None, dict[str, Any]]]:
    """Return the shipped templates' parameters for one stage, by entry name.

    Parameters
    ----------
    section : {"clustering", "factorization"}
        The configuration section wanted; templates without it are left out.

    Returns
    -------
    dict
        ``entry -> (projection, values)``: the template's ``projection`` section
        (``{}`` when it has none; None for a consecutive step) and the section's
        parameter values. For ``"clustering"``, each consecutive step of a
        template is one more entry, ``"<template> · level <L>"``.

    Examples
    --------
    >>> list(template_entries("factorization"))
    ['factorization_nmf']
    >>> template_entries("clustering")["clustering_pixel · level 2"][0] is None
    True
    """
    if section not in ("clustering", "factorization"):
        raise ValueError(f'section should be "clustering" or "factorization", got {section!r}.')
    entries: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {}
    for name in list_templates():
        try:
            config = load_template(name)
        except (OSError, ValueError) as exc:  # pragma: no cover - shipped files
            logger.warning("template %s: %s", name, exc)
            continue
        if config.get(section) is None:
            continue
        entries[name] = (dict(config.get("projection") or {}), dict(config[section]))
        if section == "clustering":
            for level, step in enumerate(config.get("consecutive") or [], start=2):
                entries[f"{name} · level {level}"] = (None, dict(step or {}))
    return entries


_SECTIONS = {"input", "skeleton", "projection", "clustering", "consecutive",
             "factorization", "output", "name", "description"}


def _check(values: dict[str, Any], sections: tuple[str, ...], main: str) -> dict[str, Any]:
    unknown = sorted(set(values) - set(sections))
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(map(repr, unknown))} of the {main} "
                         f"stage; known: {', '.join(sections)}.")
    out: dict[str, Any] = {}
    if values.get("projection") is not None:
        projection = dict(values["projection"])
        bad = sorted(set(projection) - {"substructure", "method", "chunk_frames"})
        if bad:
            raise TypeError(f"unknown projection parameter(s) {', '.join(map(repr, bad))}.")
        out["projection"] = projection
    if main == "clustering":
        out["clustering"] = ClusteringParams.resolve(values.get("clustering") or {},
                                                     {}).to_dict()
        steps = []
        for level, step in enumerate(values.get("consecutive") or [], start=2):
            try:
                steps.append(ClusteringParams.resolve(step or {}, {}).to_dict())
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"consecutive level {level}: {exc}") from None
        out["consecutive"] = steps
    else:
        out["factorization"] = FactorizationParams.resolve(
            values.get("factorization") or {}, {}).to_dict()
    return out


def check_clustering(values: dict[str, Any]) -> dict[str, Any]:
    """Check the ``projection``, ``clustering`` and ``consecutive`` sections."""
    return _check(values, ("projection", "clustering", "consecutive"), "clustering")


def check_factorization(values: dict[str, Any]) -> dict[str, Any]:
    """Check the ``projection`` and ``factorization`` sections."""
    return _check(values, ("projection", "factorization"), "factorization")


def iter_run_config(config: Mapping[str, Any] | str | os.PathLike, movie: Any = None, *,
                    output: str | os.PathLike | None = None,
                    overwrite: bool = False, skeleton: Any = None
                    ) -> ProgressGenerator[dict[str, Any]]:
    """Run a configuration as :func:`run_config` does, as a generator.

    ``skeleton``: an in-memory SkeletonResult to use instead of ``input.skeleton``
    or a new skeletonization.
    """
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
    # checked before anything is computed, as the pipeline checks the same sections
    sections = {k: config[k] for k in ("projection", "clustering", "consecutive",
                                       "factorization") if config.get(k) is not None}
    checked = check_clustering(sections) if has_clustering else check_factorization(sections)
    steps = [ClusteringParams.from_dict(step) for step in checked.get("consecutive", [])]
    inp = dict(config.get("input") or {})
    if movie is None:
        path = inp.get("movie")
        if not path:
            raise ValueError("no movie: pass movie= or set input.movie in the configuration.")
        from ..io import open_movie  # deferred: the readers' imports

        movie = open_movie(path)
    results: dict[str, Any] = {}
    skeleton_given = skeleton is not None  # saved by whoever made it
    projection_cfg = config.get("projection")
    need_projection = has_clustering or projection_cfg is not None
    if need_projection:
        from ..skeleton import SkeletonResult, iter_skeletonize  # deferred: scikit-image

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
