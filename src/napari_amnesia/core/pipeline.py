"""The pipeline entry point: run stages on a movie and write a results folder.

``amnesia demo``, ``amnesia <stage>`` and ``amnesia run CONFIG`` all go through
:func:`iter_run`. The stages are those of the registry
(:mod:`napari_amnesia.core.stages`): each one runs on the movie (yielding
:class:`~napari_amnesia.core.progress.Progress`), writes its result into its own
sub-folder (the stage's name) and adds a JSON-able record — parameters, time, files
and its own counts or scores — to ``summary.json``. The whole folder is written under
a temporary name and moved into place at the end, so a failed or cancelled run
leaves nothing half-written and replaces nothing.

Results folder::

    DIR/
      summary.json          input, parameters, timings, files and scores of every stage
      summary/mean.tif ...  the summary images (float32 TIFFs)
      motion/ cnmf/ ...     one sub-folder per stage that ran, named after it
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .files import atomic_folder, jsonable
from .progress import drive
from .scoring import score_sources, shift_rmse
from .stages import STAGES, Context, as_jsonable, get, names

__all__ = ["RunContext", "STAGES", "iter_run", "run", "PIPELINE_ORDER",
           "load_config", "dump_config", "iter_run_config", "run_config", "write_config",
           "python_script", "score_sources", "shift_rmse", "one_photon_motion"]

logger = logging.getLogger(__name__)

#: What a stage sees (an alias of :class:`napari_amnesia.core.stages.Context`).
RunContext = Context


def iter_run(
    movie,
    out,
    *,
    stages: tuple[str, ...] = ("summary",),
    params: dict | None = None,
    inputs: dict | None = None,
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
        Names of registered stages (:func:`napari_amnesia.core.stages.names`), run in
        this order; a stage that hands on a movie (motion) feeds the later ones.
    params : dict, optional
        ``{stage: parameters}`` (a dict or the stage's parameter dataclass) for each
        stage; a missing one takes its defaults.
    inputs : dict, optional
        ``{stage: {name: value}}``: what a stage takes besides its parameters (the
        motion stage's ``template`` image).
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
    stages = tuple(stages)
    for name in stages:
        get(name)  # an unknown name stops here, before any work
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
        context = Context(folder=folder, results=results, truth=truth,
                          truth_labels=truth_labels, movie=movie, inputs=dict(inputs or {}))
        for name in stages:
            stage = get(name)
            logger.info("stage %s", name)
            start = time.perf_counter()
            result = yield from stage.iter_run(context.movie, params.get(name), context)
            elapsed = time.perf_counter() - start
            results[name] = result
            where = folder / stage.sub_folder
            yield from stage.iter_write(result, where, context)
            # every file the stage wrote (the ownership manifests aside)
            files = sorted(p.relative_to(folder).as_posix() for p in where.rglob("*")
                           if p.is_file() and p.name != ".napari-amnesia.json")
            record["stages"][name] = {
                "params": as_jsonable(getattr(result, "params", None) or params.get(name)),
                "elapsed_s": round(elapsed, 3),
                "files": files,
                **jsonable(stage.describe(result, context)),
            }
        if context.truth_labels is not None:
            results["truth_labels"] = context.truth_labels  # as aligned by the stages
        if before_commit is not None:
            before_commit(folder, record, results)
        (folder / "summary.json").write_text(json.dumps(jsonable(record), indent=2))
    record["results"] = results
    return record


def run(movie, out, **kwargs) -> dict:
    """Run the pipeline to the end; see :func:`iter_run`."""
    return drive(iter_run(movie, out, **kwargs))


# ------------------------------------------------------------------------------ configs
#: The order stages run in when a configuration names several (the registry's).
PIPELINE_ORDER = names()
_GENERAL_KEYS = ("name", "input", "output")


def _section_owner() -> dict[str, str]:
    """Map each configuration section to the first stage reading it."""
    owner: dict[str, str] = {}
    for stage in STAGES.values():
        for section in stage.sections:
            owner.setdefault(section, stage.name)
    return owner


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
        projection: {substructure: skeleton, method: branch}   # these three: the
        clustering: {min_cluster_size: 2}                       # clustering stage
        consecutive: []                                         # (or factorization:)

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
    known = set(_GENERAL_KEYS) | set(_section_owner())
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"{source}: unknown section(s) {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(sorted(known))}.")
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
    stages: dict[str, Any] = {}
    for stage in STAGES.values():
        if len(stage.sections) == 1:
            if stage.name not in config:
                continue
            values = config[stage.name] or {}
        else:
            # a stage reading several sections runs when its own section is there
            if config.get(stage.name) is None:
                continue
            values = {k: config[k] for k in stage.sections if config.get(k) is not None}
        if not isinstance(values, dict):
            raise ValueError(f"{source}, section {stage.name!r}: expected parameter names "
                             f"and values, got {values!r}.")
        try:
            stages[stage.name] = stage.check(values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}, section {stage.name!r}: {exc}") from None
    for section in {s for name in stages for s in get(name).sections}:
        readers = [name for name in stages if section in get(name).sections]
        if len(readers) > 1:
            raise ValueError(f"{source}: the stages {' and '.join(map(repr, readers))} both "
                             f"read the section {section!r}; a configuration runs exactly "
                             f"one of them.")
    if not stages:
        raise ValueError(f"{source}: no stage to run; add at least one of the sections "
                         f"{', '.join(names())}.")
    one_photon_motion(stages)
    return {"name": config.get("name"), "input": inp, "output": config.get("output"),
            "stages": {s: stages[s] for s in names() if s in stages}}


def one_photon_motion(stages: dict[str, Any]) -> None:
    """Give the motion stage CNMF-E's high-pass when the cnmf section is one-photon.

    A one-photon movie is registered on its spatially high-passed frames
    (``gSig_filt``, CaImAn's setting for CNMF-E data): when ``stages["cnmf"]`` has
    ``mode: one_photon`` and ``stages["motion"]`` leaves ``gSig_filt`` unset, it
    becomes the cells' radius (the largest of ``gSig``). ``load_config`` and
    ``amnesia run --mode`` apply it, so a configuration behaves the same whichever
    way the mode was chosen; an explicit ``gSig_filt`` is kept.
    """
    cnmf, motion = stages.get("cnmf"), stages.get("motion")
    if cnmf is None or motion is None or (motion or {}).get("gSig_filt") is not None:
        return
    from .cnmf.params import CNMFParams

    params = CNMFParams.from_dict(cnmf or {})
    if not params.one_photon:
        return
    gsig = float(max(np.atleast_1d(np.asarray(params.gSig, float))))
    stages["motion"] = {**(motion or {}), "gSig_filt": gsig}


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


def _sections(stages: dict[str, Any]) -> dict[str, Any]:
    """Stage parameters back to configuration sections (multi-section stages split)."""
    out: dict[str, Any] = {}
    for name, values in stages.items():
        stage = get(name)
        values = as_jsonable(values)
        if len(stage.sections) > 1:
            out.update(values)
        else:
            out[name] = values
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
    """Write the Python calls that reproduce a configuration's run ("Copy as Python").

    Each stage's lines come from the registry (:attr:`Stage.python
    <napari_amnesia.core.stages.Stage>`). The script uses the core functions only (no
    napari), so it runs headless and in the napari console alike.
    """
    if not (isinstance(config, dict) and "stages" in config):
        config = load_config(config)
    inp = config["input"]
    selection = {k: inp[k] for k in ("channel", "plane") if inp.get(k) is not None}
    lines = [f'"""{config.get("name") or "napari-amnesia pipeline"}: generated by '
             f'napari-amnesia {__version__}."""',
             "from napari_amnesia.core.io import open_movie", "",
             f"movie = {_call('open_movie', repr(inp.get('movie', 'movie.tif')), selection)}"]
    done: list[str] = []
    for name, values in config["stages"].items():
        lines += ["", get(name).script(as_jsonable(values), done)]
        done.append(name)
    return "\n".join(lines) + "\n"
