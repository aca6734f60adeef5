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
from .files import atomic_folder, jsonable
from .progress import Progress, drive

__all__ = ["RunContext", "STAGES", "SUMMARY_FILES", "iter_run", "run", "register_stage",
           "PIPELINE_ORDER", "load_config", "dump_config", "iter_run_config", "run_config",
           "write_config", "python_script"]

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
        "rejected_shifts": len(result.rejected_frames),
        "messages": result.messages,
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

            from .simulate import label_footprints

            footprints = getattr(ctx.truth, "footprints", None)
            if footprints is not None and np.array_equal(ctx.truth_labels,
                                                         ctx.truth.labels()):
                # the planted footprints moved by the sub-pixel offset, then labelled
                # as GroundTruth.labels does (a nearest-pixel shift of the label image
                # would misplace every outline by up to half a pixel)
                moved = np.stack([ndimage.shift(f, offset, order=1, mode="constant")
                                  for f in np.asarray(footprints, np.float32)])
                ctx.truth_labels = label_footprints(moved)
            else:
                ctx.truth_labels = ndimage.shift(ctx.truth_labels, offset, order=0,
                                                 mode="constant")
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


def score_sources(result: Any, truth: Any, offset: Any = (0.0, 0.0)) -> dict:
    """Accepted components of a CNMF result against the planted cells.

    Footprints are matched one to one (:func:`~.metrics.match_components`: IoU >= 0.3
    or centroids < 4 px apart); for matched pairs, the Pearson correlation of the
    calcium trace with the true calcium and of the deconvolved activity with the true
    spikes. ``offset`` moves the true footprints first (the motion template's).

    Planted neurites are real sources too, but the somata are what is scored: an
    unmatched component with most of its footprint weight on planted neurite pixels
    is counted in ``neurite_components`` and left out of the precision (neither a
    hit nor a false positive).
    """
    from scipy import ndimage

    from .metrics import match_components

    true = np.asarray(truth.footprints, np.float32)
    if np.any(np.abs(np.asarray(offset, float)) > 1e-3):
        true = np.stack([ndimage.shift(f, offset, order=1, mode="constant") for f in true])
    chosen = np.flatnonzero(result.accepted)
    match = match_components(result.footprint_images(chosen), true)

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        a, b = a - a.mean(), b - b.mean()
        d = np.sqrt((a * a).sum() * (b * b).sum())
        return float((a * b).sum() / d) if d > 0 else float("nan")

    pairs = match["pairs"]
    r_c = [corr(result.traces[chosen[i]], truth.traces[j]) for i, j in pairs]
    r_s = [corr(result.spikes[chosen[i]], truth.spikes[j]) for i, j in pairs]
    n_neurite = 0
    branches = getattr(truth, "branch_footprints", None)
    if branches is not None and len(branches) and len(chosen):
        neurite = np.asarray(branches).max(axis=0)
        if np.any(np.abs(np.asarray(offset, float)) > 1e-3):
            neurite = ndimage.shift(neurite, offset, order=1, mode="constant")
        neurite = (neurite > 0.2 * neurite.max()).ravel()
        unmatched = np.setdiff1d(np.arange(len(chosen)), pairs[:, 0])
        A = result.footprints[:, chosen[unmatched]]
        on = np.asarray(A[neurite].sum(axis=0)).ravel()
        total = np.asarray(A.sum(axis=0)).ravel()
        n_neurite = int(np.count_nonzero(on > 0.5 * np.maximum(total, 1e-30)))
    matched = int(match["matched"])
    scored = len(chosen) - n_neurite
    precision = matched / scored if scored else float(matched == 0)
    recall = match["recall"]
    f1 = 2 * precision * recall / (precision + recall) if matched else 0.0
    return {"n_true": int(len(true)), "n_accepted": int(len(chosen)),
            "neurite_components": n_neurite,
            "matched": matched, "precision": round(precision, 4),
            "recall": round(recall, 4), "f1": round(f1, 4),
            "median_trace_r": round(float(np.nanmedian(r_c)), 4) if r_c else None,
            "median_spike_r": round(float(np.nanmedian(r_s)), 4) if r_s else None}


@register_stage("cnmf")
def _cnmf_stage(ctx: RunContext):
    """CNMF source extraction, evaluation and ΔF/F; the result folder and the exports.

    Writes ``cnmf/result/`` (:meth:`SourceResult.save`, reloadable) and
    ``cnmf/exports/`` (labels TIFF, traces / ΔF/F / spikes CSV, ImageJ ROI zip).
    """
    from .cnmf import iter_fit
    from .cnmf.export import export

    start = time.perf_counter()
    result = yield from iter_fit(ctx.movie, **ctx.params)
    elapsed = time.perf_counter() - start
    ctx.results["cnmf"] = result
    folder = ctx.stage_folder("cnmf")
    result.save(folder / "result")
    export(result, folder / "exports")
    record: dict[str, Any] = {
        "params": jsonable(result.params.to_dict()),
        "elapsed_s": round(elapsed, 3),
        "n_components": int(result.K),
        "n_accepted": int(np.count_nonzero(result.accepted)),
        "files": ["cnmf/result/", *sorted(f"cnmf/exports/{p.name}"
                                          for p in (folder / "exports").iterdir())],
        "timings": jsonable(result.info.get("timings", {})),
    }
    if ctx.truth is not None and getattr(ctx.truth, "footprints", None) is not None:
        offset = ctx.results.get("template_offset", (0.0, 0.0))
        record["truth"] = score_sources(result, ctx.truth, offset)
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


@register_stage("activity")
def _activity_stage(ctx: RunContext):
    """pyAMNESIA's activity analyses on the skeleton: clustering or factorization.

    ``ctx.params`` holds the sections of a clustering configuration
    (``projection``, ``clustering``, ``consecutive``, ``factorization``; see
    :func:`napari_amnesia.core.clustering.run_config`). The skeleton of an earlier
    ``skeleton`` stage is used when there is one.
    """
    from .clustering import iter_run_config

    config = {k: v for k, v in ctx.params.items() if k in ACTIVITY_SECTIONS}
    start = time.perf_counter()
    results = yield from iter_run_config(config, ctx.movie, output=ctx.folder / "activity",
                                         skeleton=ctx.results.get("skeleton"))
    ctx.results["activity"] = results
    record: dict[str, Any] = {"params": jsonable(config),
                              "elapsed_s": round(time.perf_counter() - start, 3)}
    if "clusterings" in results:
        record["clusters_per_level"] = [int(r.labels.max()) for r in results["clusterings"]]
    if "factorization" in results:
        record["n_components"] = int(len(results["factorization"].temporal))
    record["files"] = sorted(f"activity/{p.name}" for p in (ctx.folder / "activity").iterdir())
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


# ------------------------------------------------------------------------------ configs
#: The order stages run in when a configuration names several.
PIPELINE_ORDER = ("motion", "summary", "cnmf", "skeleton", "activity")
#: Sections of a configuration that belong to the ``activity`` stage.
ACTIVITY_SECTIONS = ("projection", "clustering", "consecutive", "factorization")
_CONFIG_KEYS = {"name", "input", "output", "motion", "summary", "cnmf", "skeleton",
                *ACTIVITY_SECTIONS}


def _stage_params_class(stage: str):
    if stage == "motion":
        from .motion import MotionParams

        return MotionParams
    if stage == "cnmf":
        from .cnmf import CNMFParams

        return CNMFParams
    if stage == "skeleton":
        from .skeleton import SkeletonParams

        return SkeletonParams
    return None


def load_config(config: Any) -> dict[str, Any]:
    """Read and check a pipeline configuration (a YAML/JSON path or a mapping).

    A configuration names the input movie, the output folder and one section per
    stage to run (a missing section = the stage does not run; an empty one = its
    defaults)::

        input: movie.tif          # or {movie: movie.tif, channel: 0, plane: 0}
        output: results/
        motion: {pw_rigid: true}
        summary: {}
        cnmf: {rf: 15, stride: 10, K: 6, gSig: [4, 4]}
        skeleton: {}
        projection: {substructure: skeleton, method: branch}   # these four: the
        clustering: {min_cluster_size: 2}                       # activity stage
        consecutive: []

    Stage parameters are checked here (a wrong name or value is refused before any
    work), so a long run does not fail at its last stage.

    Returns
    -------
    dict
        ``{"name", "input": {"movie", "channel", "plane"}, "output", "stages":
        {stage: params}}`` with the stages in :data:`PIPELINE_ORDER`.
    """
    import yaml

    source = "configuration"
    if not isinstance(config, dict):
        path = Path(os.path.expanduser(os.fspath(config)))
        if not path.is_file():
            raise FileNotFoundError(f"configuration {path} does not exist.")
        try:
            config = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"configuration {path} is not valid YAML or JSON: {exc}") from None
        if not isinstance(config, dict):
            raise ValueError(f"configuration {path} should be a mapping of sections.")
        source = f"configuration {path}"
        base = path.parent
    else:
        base = None
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise ValueError(f"{source}: unknown section(s) {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(sorted(_CONFIG_KEYS))}.")
    inp = config.get("input")
    if isinstance(inp, (str, os.PathLike)):
        inp = {"movie": os.fspath(inp)}
    inp = dict(inp or {})
    bad = sorted(set(inp) - {"movie", "channel", "plane", "skeleton"})
    if bad:
        raise ValueError(f"{source}: unknown input key(s) {bad}; known: movie, channel, "
                         f"plane.")
    if inp.get("movie") and base is not None and not Path(inp["movie"]).is_absolute():
        inp["movie"] = os.fspath(base.resolve() / inp["movie"])  # relative to the config
    stages: dict[str, dict] = {}
    for stage in ("motion", "summary", "cnmf", "skeleton"):
        if stage not in config:
            continue
        values = dict(config[stage] or {})
        cls = _stage_params_class(stage)
        if cls is not None:
            try:
                values = cls.from_dict(values).to_dict()
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{source}, section {stage!r}: {exc}") from None
        stages[stage] = values
    activity = {k: config[k] for k in ACTIVITY_SECTIONS if config.get(k) is not None}
    if activity:
        if ("clustering" in activity) == ("factorization" in activity):
            raise ValueError(f"{source}: the activity stage needs exactly one of the "
                             f"sections 'clustering' and 'factorization'.")
        stages["activity"] = activity
    if not stages:
        raise ValueError(f"{source}: no stage to run; add at least one of the sections "
                         f"{', '.join(PIPELINE_ORDER[:-1])}, clustering, factorization.")
    return {"name": config.get("name"), "input": inp, "output": config.get("output"),
            "stages": {s: stages[s] for s in PIPELINE_ORDER if s in stages}}


def iter_run_config(config: Any, *, movie: Any = None, out: Any = None,
                    overwrite: bool = False, **kwargs: Any):
    """Run a pipeline configuration (see :func:`load_config`); generator twin.

    ``movie`` (an array) replaces the configuration's input; ``out`` its output.
    The configuration itself is written into the results folder as
    ``config.yaml``, so a results folder always says how to make it again.
    """
    config = load_config(config)
    out = out if out is not None else config["output"]
    if not out:
        raise ValueError("no output folder: set 'output:' in the configuration or pass one.")
    info = dict(kwargs.pop("input_info", None) or {})
    if movie is None:
        from .io import movie_info, open_movie

        inp = config["input"]
        if not inp.get("movie"):
            raise ValueError("no input movie: set 'input:' in the configuration or pass one.")
        selection = {k: inp[k] for k in ("channel", "plane") if inp.get(k) is not None}
        movie = open_movie(inp["movie"], **selection)
        info = {**movie_info(inp["movie"], **selection), **info}
    user_commit = kwargs.pop("before_commit", None)

    def before_commit(folder: Path, record: dict, results: dict) -> None:
        (folder / "config.yaml").write_text(dump_config(config))
        if user_commit is not None:
            user_commit(folder, record, results)

    return (yield from iter_run(movie, out, stages=tuple(config["stages"]),
                                params=config["stages"], input_info=info,
                                before_commit=before_commit, overwrite=overwrite, **kwargs))


def run_config(config: Any, **kwargs: Any) -> dict:
    """Run a pipeline configuration to the end; see :func:`iter_run_config`."""
    return drive(iter_run_config(config, **kwargs))


def dump_config(config: dict) -> str:
    """YAML text of a configuration (as :func:`load_config` returns it), output left out."""
    import yaml

    config = load_config(config) if "stages" not in config else config
    return yaml.safe_dump(jsonable({"name": config.get("name"), "input": config["input"],
                                    "output": None, **_sections(config["stages"])}),
                          sort_keys=False)


def _sections(stages: dict[str, dict]) -> dict[str, Any]:
    """Stage parameters back to configuration sections (activity split again)."""
    out: dict[str, Any] = {}
    for stage, values in stages.items():
        if stage == "activity":
            out.update(values)
        else:
            out[stage] = values
    return out


def write_config(path: Any, *, movie: Any, stages: dict[str, dict], output: Any = None,
                 name: str | None = None, overwrite: bool = False) -> Path:
    """Write a configuration that :func:`run_config` (``amnesia run``) replays.

    ``stages`` maps stage names (:data:`PIPELINE_ORDER`) to their parameters, e.g.
    ``{"motion": result.params.to_dict(), "cnmf": sources.params.to_dict()}``; the
    activity stage takes the clustering sections. Checked with :func:`load_config`
    before anything is written.
    """
    import yaml

    from .files import atomic_file

    config = {"name": name, "input": {"movie": os.fspath(movie)} if movie else {},
              "output": None if output is None else os.fspath(output),
              **_sections(dict(stages))}
    load_config(jsonable(config))  # refuse a configuration that would not replay
    path = Path(path)
    with atomic_file(path, overwrite=overwrite) as tmp:
        tmp.write_text(yaml.safe_dump(jsonable(config), sort_keys=False))
    return path


def _call(function: str, first: str, values: dict) -> str:
    args = [first] + [f"{k}={v!r}" for k, v in values.items()]
    text = f"{function}({', '.join(args)})"
    if len(text) <= 88:
        return text
    inner = ",\n    ".join(args)
    return f"{function}(\n    {inner},\n)"


def python_script(config: Any) -> str:
    """The Python calls that reproduce a configuration's run (napari's "Copy as Python").

    The script uses the core functions only (no napari), so it runs headless and in
    the napari console alike.
    """
    if not (isinstance(config, dict) and "stages" in config):
        config = load_config(config)
    inp = config["input"]
    selection = {k: inp[k] for k in ("channel", "plane") if inp.get(k) is not None}
    lines = [f'"""{config.get("name") or "napari-amnesia pipeline"}: generated by '
             f'napari-amnesia {__version__}."""',
             "from napari_amnesia.core.io import open_movie", "",
             f"movie = {_call('open_movie', repr(inp.get('movie', 'movie.tif')), selection)}"]
    stages = config["stages"]
    if "motion" in stages:
        lines += ["", "from napari_amnesia.core import motion",
                  f"motion_result = {_call('motion.correct', 'movie', stages['motion'])}",
                  "movie = motion_result.corrected  # lazy: later stages read it chunk by chunk"]
    if "summary" in stages:
        lines += ["", "from napari_amnesia.core.summary import summary_images",
                  f"summary = {_call('summary_images', 'movie', stages['summary'])}"]
    if "cnmf" in stages:
        lines += ["", "from napari_amnesia.core import cnmf",
                  f"sources = {_call('cnmf.fit', 'movie', stages['cnmf'])}",
                  "accepted = sources.select(sources.accepted)"]
    if "skeleton" in stages:
        lines += ["", "from napari_amnesia.core.skeleton import skeletonize",
                  f"skeleton = {_call('skeletonize', 'movie', stages['skeleton'])}"]
    if "activity" in stages:
        lines += ["", "from napari_amnesia.core.clustering import run_config",
                  f"activity = run_config({stages['activity']!r}, movie"
                  + (", skeleton=skeleton)" if "skeleton" in stages else ")")]
    return "\n".join(lines) + "\n"
