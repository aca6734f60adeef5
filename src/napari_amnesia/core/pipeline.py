"""The pipeline entry point: run stages on a movie and write a results folder.

``amnesia demo``, ``amnesia summary`` and (later) ``amnesia run CONFIG`` all go
through :func:`iter_run`. Each stage is a function registered in :data:`STAGES`
that receives a :class:`RunContext`, yields :class:`Progress`, writes its files
into its own sub-folder and returns a JSON-able record; the records are collected
in ``summary.json``. The whole folder is written under a temporary name and moved
into place at the end, so a failed or cancelled run leaves nothing half-written and
replaces nothing.

Results folder::

    DIR/
      summary.json          input, parameters, timings, files and scores of every stage
      summary/mean.tif ...  the summary images (float32 TIFFs)
      (later stages add their own sub-folders)
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ._files import atomic_folder, jsonable
from ._progress import Progress, drive

__all__ = ["RunContext", "STAGES", "SUMMARY_FILES", "iter_run", "run", "register_stage"]

logger = logging.getLogger(__name__)

#: Summary image attribute → file name (without ``.tif``) in the results folder.
SUMMARY_FILES = {
    "mean": "mean",
    "max": "max",
    "std": "std",
    "corr": "correlation",
    "pnr": "pnr",
    "corr_pnr": "correlation_pnr",
    "max_corr": "max_correlation",
}


@dataclass
class RunContext:
    """What a stage sees: the movie, its folder, its parameters, earlier results."""

    movie: Any
    folder: Path
    params: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    truth_labels: np.ndarray | None = None
    #: the simulation's GroundTruth when the input is synthetic (stages score themselves)
    truth: Any = None

    def stage_folder(self, name: str) -> Path:
        path = self.folder / name
        path.mkdir(exist_ok=True)
        return path


StageFunction = Callable[[RunContext], Generator[Progress, None, dict]]
#: Stage name → stage function, in the order a full pipeline runs them.
STAGES: dict[str, StageFunction] = {}


def register_stage(name: str):
    """Decorator adding a stage function to :data:`STAGES`."""

    def decorate(function: StageFunction) -> StageFunction:
        STAGES[name] = function
        return function

    return decorate


def _write_float_tiff(path: Path, image: np.ndarray) -> None:
    import tifffile

    tifffile.imwrite(path, np.asarray(image, dtype=np.float32))


def shift_rmse(estimated: np.ndarray, true: np.ndarray) -> float:
    """RMS error (pixels) of estimated shifts, up to the constant offset of the template.

    The template is not the simulation's reference frame, so estimated and true
    shifts differ by a constant (the template's own displacement); it is removed by
    centring both series before comparing.
    """
    estimated = np.asarray(estimated, np.float64)
    true = np.asarray(true, np.float64)
    error = (estimated - estimated.mean(axis=0)) - (true - true.mean(axis=0))
    return float(np.sqrt(np.mean(np.sum(error**2, axis=-1))))


@register_stage("motion")
def _motion_stage(ctx: RunContext):
    """Motion correction: shifts, template, metrics and the corrected movie (TIFF).

    Later stages read the corrected movie from ``motion/corrected.tif``.
    """
    from .io import open_movie
    from .motion import iter_correct

    start = time.perf_counter()
    result = yield from iter_correct(ctx.movie, **ctx.params)
    folder = ctx.folder / "motion"
    yield from result.iter_save(folder, corrected=True)
    elapsed = time.perf_counter() - start
    ctx.results["motion"] = result
    ctx.movie = open_movie(folder / "corrected.tif")
    record: dict[str, Any] = {
        "params": jsonable(result.params.to_dict() if hasattr(result.params, "to_dict")
                           else result.params),
        "elapsed_s": round(elapsed, 3),
        "frames_per_s": round(len(result.shifts) / elapsed, 1) if elapsed > 0 else None,
        "files": sorted(f"motion/{p.name}" for p in folder.iterdir()),
        "max_abs_shift": [round(float(v), 3) for v in np.abs(result.shifts).max(axis=0)],
    }
    metrics = getattr(result, "metrics", {}) or {}
    for key in ("crispness_mean_before", "crispness_mean_after", "crispness_corr_before",
                "crispness_corr_after", "mean_correlation_before", "mean_correlation_after"):
        if key in metrics:
            record[key] = round(float(metrics[key]), 4)
    if ctx.truth is not None and getattr(ctx.truth, "shifts", None) is not None:
        record["rigid_shift_rmse_px"] = round(shift_rmse(result.shifts, ctx.truth.shifts), 4)
        # the corrected movie is aligned to the template, which sits at the mean offset
        # of the true shifts minus the estimated ones: move the true ROIs there too
        offset = np.mean(np.asarray(ctx.truth.shifts) - np.asarray(result.shifts), axis=0)
        record["template_offset_px"] = [round(float(v), 3) for v in offset]
        ctx.results["template_offset"] = offset
        if ctx.truth_labels is not None:
            from scipy import ndimage

            ctx.truth_labels = ndimage.shift(ctx.truth_labels, offset, order=0, mode="constant")
    return record


@register_stage("skeleton")
def _skeleton_stage(ctx: RunContext):
    """pyAMNESIA's skeleton of the neurites: branch table, totals, projection-ready labels."""
    from .metrics import match_points
    from .skeleton import iter_skeletonize

    start = time.perf_counter()
    result = yield from iter_skeletonize(ctx.movie, **ctx.params)
    elapsed = time.perf_counter() - start
    ctx.results["skeleton"] = result
    result.save(ctx.folder / "skeleton")
    record: dict[str, Any] = {
        "params": jsonable(result.params.to_dict()),
        "elapsed_s": round(elapsed, 3),
        "totals": jsonable(result.totals),
        "files": sorted(f"skeleton/{p.name}" for p in (ctx.folder / "skeleton").iterdir()),
    }
    graph = getattr(ctx.truth, "branch_graph", None) if ctx.truth is not None else None
    if graph is not None and len(getattr(ctx.truth, "branch_paths", [])):
        # planted neurites, moved like the true ROIs to the motion template if any
        offset = np.asarray(ctx.results.get("template_offset", (0.0, 0.0)))
        true_length = float(sum(
            np.sum(np.hypot(*np.diff(np.asarray(p, float), axis=0).T))
            for p in ctx.truth.branch_paths))
        junctions = np.asarray(graph.get("junctions", np.zeros((0, 2))), float).reshape(-1, 2)
        match = match_points(result.junctions, junctions + offset, max_distance=3.0)
        record["truth"] = {
            "n_segments": int(graph.get("n_segments", len(ctx.truth.branch_paths))),
            "n_junctions": int(len(junctions)),
            "neurite_length": round(true_length, 1),
            "junction_f1": round(match["f1"], 3),
            "note": "the simulated somata are part of the image's skeleton too; the planted "
                    "graph covers the neurites only",
        }
    return record


@register_stage("summary")
def _summary_stage(ctx: RunContext):
    from .metrics import roi_auc
    from .summary import iter_summary_images

    start = time.perf_counter()
    summary = yield from iter_summary_images(ctx.movie, **ctx.params)
    elapsed = time.perf_counter() - start
    ctx.results["summary"] = summary
    folder = ctx.stage_folder("summary")
    files = {}
    for attr, stem in SUMMARY_FILES.items():
        image = getattr(summary, attr, None)
        if image is None:
            continue
        _write_float_tiff(folder / f"{stem}.tif", image)
        files[attr] = f"summary/{stem}.tif"
    record: dict[str, Any] = {
        "params": jsonable(getattr(summary, "params", ctx.params)),
        "elapsed_s": round(elapsed, 3),
        "frames_per_s": round(ctx.movie.shape[0] / elapsed, 1) if elapsed > 0 else None,
        "files": files,
    }
    if ctx.truth_labels is not None and ctx.truth_labels.any():
        record["roi_auc"] = {
            attr: round(roi_auc(getattr(summary, attr), ctx.truth_labels), 4)
            for attr in ("mean", "max", "std", "corr", "pnr", "corr_pnr", "max_corr")
            if getattr(summary, attr, None) is not None
        }
    return record


def iter_run(
    movie,
    out,
    *,
    stages: tuple[str, ...] = ("summary",),
    params: dict | None = None,
    input_info: dict | None = None,
    truth_labels: np.ndarray | None = None,
    truth: Any = None,
    extra: dict | None = None,
    before_commit: Callable[[Path, dict, dict], Any] | None = None,
    overwrite: bool = False,
):
    """Run ``stages`` on ``movie`` and write the results folder ``out``.

    Parameters
    ----------
    movie : array-like, shape (T, Y, X)
        Usually the lazy movie of :func:`napari_amnesia.core.io.open_movie`.
    out : path
        The results folder. Refused if it exists and is not empty, unless
        ``overwrite`` (then replaced only once the new folder is complete).
    stages : tuple of str
        Names from :data:`STAGES`, run in this order.
    params : dict, optional
        ``{stage: {parameter: value}}`` keyword arguments for each stage.
    input_info : dict, optional
        Description of the input recorded in ``summary.json`` (path, format...).
    truth_labels : ndarray, optional
        Ground-truth ROI labels (simulated data): stages score themselves against it.
    truth : GroundTruth, optional
        The whole ground truth of a simulated movie (known shifts, traces...).
    extra : dict, optional
        More JSON-able entries for ``summary.json`` (e.g. the ground truth).
    before_commit : callable, optional
        ``f(folder, record, results)`` called with the temporary folder, the record
        and the in-memory results of each stage before the folder is moved into
        place, to add files (the command line draws its report picture here).
    overwrite : bool
        Replace an existing non-empty ``out``.

    Yields
    ------
    Progress

    Returns
    -------
    record : dict
        What was written to ``summary.json``; ``record["results"]`` is not written
        but holds the in-memory results of each stage.
    """
    params = dict(params or {})
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; known stages are {sorted(STAGES)}.")
    if getattr(movie, "ndim", None) != 3:
        raise ValueError(f"movie must be (T, Y, X), got shape {getattr(movie, 'shape', None)}.")
    record: dict[str, Any] = {
        "napari_amnesia": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "input": dict(input_info or {}),
        "stages": {},
    }
    record["input"].setdefault("shape", [int(n) for n in movie.shape])
    record["input"].setdefault("dtype", str(movie.dtype))
    record.update(extra or {})
    results: dict[str, Any] = {}
    with atomic_folder(out, overwrite=overwrite) as folder:
        for name in stages:
            ctx = RunContext(
                movie=movie,
                folder=folder,
                params=dict(params.get(name, {})),
                results=results,
                truth_labels=truth_labels,
                truth=truth,
            )
            logger.info("stage %s", name)
            record["stages"][name] = yield from STAGES[name](ctx)
            # a stage may hand on a new movie (motion: the corrected one, aligned to its
            # template, and the true ROIs moved to that template)
            movie, truth_labels = ctx.movie, ctx.truth_labels
        if truth_labels is not None:
            results["truth_labels"] = truth_labels  # as aligned by the stages
        if before_commit is not None:
            before_commit(folder, record, results)
        (folder / "summary.json").write_text(json.dumps(jsonable(record), indent=2))
    record["results"] = results
    return record


def run(movie, out, **kwargs) -> dict:
    """Run the pipeline to the end; see :func:`iter_run`."""
    return drive(iter_run(movie, out, **kwargs))
