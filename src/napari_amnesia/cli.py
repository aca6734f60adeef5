"""The ``amnesia`` command.

::

    amnesia info MOVIE                     what a movie file/folder holds
    amnesia summary MOVIE --out DIR        summary images of a movie → results folder
    amnesia motion MOVIE --out DIR         motion correction (+ summary) → results folder
    amnesia apply-shifts DIR MOVIE --out F shifts found on one movie applied to another
    amnesia skeleton MOVIES... --out DIR   skeleton and branch statistics, one row per movie
    amnesia cluster CONFIG --out DIR       coactive clustering / factorization (YAML)
    amnesia demo [--out DIR] [--view]      the whole pipeline on the built-in synthetic sample

Every subcommand shows progress bars on long work (``--quiet`` hides them), exits
with status 0 on success, 1 with one clear ``amnesia: error: ...`` line on bad input
(``--verbose`` adds the traceback), 2 on a usage error, 130 when interrupted. Errors
and warnings of the library are shown in the command's words: a parameter is named by
its option (``--gsig``, not ``CNMFParams.gSig``).

``--overwrite`` replaces only what napari-amnesia wrote (a results folder holds a
``.napari-amnesia.json`` manifest of its files); a folder without that mark, holding
a file the package did not write, or holding the input movie is never replaced.
Commands that read movies take ``--nan-policy {raise,fill}`` (default ``raise``):
every frame of a float movie is checked for NaN before any work.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
import warnings
from pathlib import Path

from . import __version__
from ._fields import add_options, overrides

__all__ = ["main", "build_parser"]

logger = logging.getLogger("napari_amnesia")


_OVERWRITE_HELP = ("replace the results folder if it exists, only once the new one is "
                   "complete, and only if napari-amnesia wrote it (its .napari-amnesia.json "
                   "lists every file in it; a folder holding anything else, or the input "
                   "movie, is never replaced)")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _add_nan_policy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nan-policy", choices=["raise", "fill"], default="raise",
                        help="what to do with NaN or infinite pixels of a float movie (every "
                        "frame is checked before any work): raise = stop with an error naming "
                        "the frames; fill = replace them by each pixel's mean over its other "
                        "frames, with one warning")


def _add_movie_selection(parser: argparse.ArgumentParser, *, nan_policy: bool = True) -> None:
    parser.add_argument(
        "movie",
        help="a multi-page TIFF/BigTIFF/OME-TIFF, a .npy file, a folder of TIFFs, "
        "or a quoted glob such as 'day1/*.tif' (files are concatenated in time, natural order)",
    )
    parser.add_argument("--channel", type=int, default=None,
                        help="channel index, for files with a channel axis (C)")
    parser.add_argument("--plane", type=int, default=None,
                        help="plane (Z) index, for files with a plane axis besides time")
    if nan_policy:
        _add_nan_policy(parser)


def _add_summary_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("summary images")
    group.add_argument("--four-neighbours", action="store_true",
                       help="local correlation over the 4 pixels of a cross instead of the 8 "
                       "surrounding pixels (CaImAn's eight_neighbours=False)")
    group.add_argument("--gsig", type=float, default=None,
                       help="Gaussian width in pixels (about a neuron's radius) of the spatial "
                       "filter used for PNR and its correlation image, for one-photon data "
                       "(CaImAn's gSig); 0 or unset = no filter (demo: 3 for --mode one_photon)")
    group.add_argument("--bin-size", type=int, default=1000,
                       help="frames per time bin of the max-correlation image")


def _summary_params(args, *, default_gsig: float | None = None) -> dict:
    if args.gsig is None:
        args.gsig = default_gsig or 0.0
    if args.gsig < 0:
        raise ValueError(f"--gsig must be >= 0, got {args.gsig}.")
    if args.bin_size < 2:
        raise ValueError(f"--bin-size must be >= 2, got {args.bin_size}.")
    return {
        "eight_neighbours": not args.four_neighbours,
        "gsig": args.gsig or None,
        "bin_size": args.bin_size,
    }


def _add_results_folder(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="results folder to create")
    parser.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``amnesia`` (documents every option)."""
    parser = argparse.ArgumentParser(
        prog="amnesia",
        description="napari-amnesia: calcium-imaging analysis from the command line. "
        "Results folders open in napari (napari DIR/summary/*.tif, or amnesia demo --view).",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"napari-amnesia {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log each step, and show the full traceback of an error")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    info = sub.add_parser("info", help="describe a movie (shape, dtype, format, axes)",
                          description="Describe a movie from its headers. Integer movies "
                          "are not read (a few sampled frames aside); a float movie is read "
                          "once, frame by frame, to count frames holding NaN. Prints JSON "
                          "with --json.",
                          formatter_class=_Formatter)
    _add_movie_selection(info, nan_policy=False)
    info.add_argument("--json", action="store_true", help="print JSON instead of text")

    summary = sub.add_parser("summary", help="summary images of a movie into a results folder",
                             description="Compute mean, max, std, local correlation, PNR, "
                             "correlation-PNR and max-correlation images in one streaming pass "
                             "and write them as TIFFs with summary.json and report.png.",
                             formatter_class=_Formatter)
    _add_movie_selection(summary)
    _add_results_folder(summary)
    summary.add_argument("--no-report", action="store_true", help="skip report.png")
    _add_summary_options(summary)

    from .core.motion import MotionParams

    motion = sub.add_parser("motion", help="motion correction into a results folder",
                            description="Rigid or piecewise-rigid motion correction "
                            "(NoRMCorre's method, CaImAn's parameter names), then the summary "
                            "images of the corrected movie. Writes motion/corrected.tif, "
                            "motion/shifts.csv, the template and metrics, summary/*.tif, "
                            "summary.json, report.png and motion.png.",
                            formatter_class=_Formatter)
    _add_movie_selection(motion)
    _add_results_folder(motion)
    motion.add_argument("--template", type=Path, default=None,
                        help="a 2-D TIFF to register to (e.g. from another session or a "
                        "structural channel) instead of a template made from the movie")
    motion.add_argument("--no-report", action="store_true", help="skip the report pictures")
    add_options(motion, MotionParams, title="motion correction (CaImAn's names)")
    _add_summary_options(motion)

    from .core.cnmf import CNMFParams

    cnmf = sub.add_parser("cnmf", help="CNMF source extraction into a results folder",
                          description="Source extraction by CNMF with patches (CaImAn's "
                          "method and parameter names), component evaluation, OASIS "
                          "deconvolution and ΔF/F. Writes summary/*.tif, cnmf/result/ "
                          "(reloadable), cnmf/exports/ (labels.tif, components.csv, "
                          "traces/raw_traces/spikes/dff CSV, ImageJ rois.zip), summary.json "
                          "and report pictures. Parameters come from the defaults, then "
                          "--config, then the options typed.",
                          formatter_class=_Formatter)
    _add_movie_selection(cnmf)
    _add_results_folder(cnmf)
    cnmf.add_argument("--config", type=Path, default=None,
                      help="a YAML or JSON file of CNMF parameters (flat, or under a 'cnmf:' "
                      "key; a 'motion:' key runs motion correction first with those "
                      "parameters)")
    cnmf.add_argument("--motion", action="store_true",
                      help="correct motion first (default motion parameters, or the "
                      "config's 'motion:' section)")
    cnmf.add_argument("--no-report", action="store_true", help="skip the report pictures")
    add_options(cnmf, CNMFParams, title="source extraction (CaImAn's names)")

    run = sub.add_parser("run", help="replay a pipeline configuration (YAML) headless",
                         description="Run the stages a configuration names (motion, summary, "
                         "cnmf, skeleton, clustering or factorization), in that order, on its "
                         "input movie, into a results folder that also holds the "
                         "configuration (config.yaml). A configuration saved from napari "
                         "replays the same result here.",
                         formatter_class=_Formatter)
    run.add_argument("config", type=Path, help="the configuration file (YAML or JSON)")
    run.add_argument("--out", type=Path, default=None,
                     help="results folder (default: the configuration's 'output:')")
    run.add_argument("--movie", type=Path, default=None,
                     help="run on this movie instead of the configuration's 'input:'")
    run.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    _add_nan_policy(run)
    run.add_argument("--script", action="store_true",
                     help="print the Python calls that reproduce the run, and run nothing")
    run.add_argument("--no-report", action="store_true", help="skip the report pictures")

    apply = sub.add_parser("apply-shifts", help="apply saved shifts to another movie",
                           description="Apply the shifts of a motion-correction results folder "
                           "(found on, e.g., a structural channel) to another movie of the same "
                           "length and frame size, and save the corrected movie as a TIFF.",
                           formatter_class=_Formatter)
    apply.add_argument("shifts", type=Path,
                       help="a results folder of `amnesia motion` (or its motion/ sub-folder)")
    _add_movie_selection(apply)
    apply.add_argument("--out", required=True, type=Path, help="corrected movie to write (.tif)")
    apply.add_argument("--overwrite", action="store_true",
                       help="replace --out if it exists and napari-amnesia wrote it")
    apply.add_argument("--border-nan", default=None, choices=["nan", "copy", "min", "zero"],
                       help="what fills the pixels shifted in from outside the frame "
                       "(default: as in the saved parameters)")

    from .core.skeleton import SkeletonParams

    skeleton = sub.add_parser("skeleton", help="skeleton and branch statistics of movies",
                              description="pyAMNESIA's morphology: the skeleton of the neurites "
                              "of each movie, its branch table and totals. Writes one row per "
                              "movie to DIR/skeleton_statistics.csv (to follow the morphology "
                              "across days) and each movie's result to DIR/<name>.skeleton/.",
                              formatter_class=_Formatter)
    skeleton.add_argument("movies", nargs="+",
                          help="movies (files or folders; each argument is one movie — a "
                          "quoted glob is one movie concatenated in time)")
    skeleton.add_argument("--out", required=True, type=Path, help="results folder to create")
    skeleton.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    _add_nan_policy(skeleton)
    add_options(skeleton, SkeletonParams, title="skeleton (pyAMNESIA's steps 1-8)")

    cluster = sub.add_parser("cluster", help="coactive clustering or factorization from a "
                             "YAML configuration",
                             description="pyAMNESIA's activity modules from a YAML configuration "
                             "(sections input, skeleton, projection, clustering, consecutive, "
                             "factorization): clusters of coactive pixels or branches, "
                             "consecutive clusterings, or NMF/PCA/ICA. CONFIG is a file or one "
                             "of the shipped templates: clustering_pixel, clustering_branch, "
                             "clustering_active, factorization_nmf (amnesia cluster --list).",
                             formatter_class=_Formatter)
    cluster.add_argument("config", nargs="?", help="YAML file or template name")
    cluster.add_argument("--movie", default=None,
                         help="the movie (overrides the configuration's input.movie)")
    cluster.add_argument("--out", type=Path, default=None, help="results folder to create")
    cluster.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    _add_nan_policy(cluster)
    cluster.add_argument("--list", action="store_true", help="list the shipped templates")
    cluster.add_argument("--show", action="store_true",
                         help="print the configuration (e.g. a template to copy) and exit")

    demo = sub.add_parser("demo", help="run the pipeline on the built-in synthetic sample",
                          description="Simulate a calcium-imaging movie with known ground truth "
                          "(no download), save it, open it lazily, run every stage and write a "
                          "results folder: movie.tif, ground_truth/, summary/*.tif, summary.json "
                          "and report.png (scores against the ground truth included).",
                          formatter_class=_Formatter)
    demo.add_argument("--out", type=Path, default=Path("amnesia-demo"),
                      help="results folder to create")
    demo.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    demo.add_argument("--view", action="store_true",
                      help="open the results in napari afterwards (needs a display and napari)")
    demo.add_argument("--mode", choices=["two_photon", "one_photon"], default="two_photon",
                      help="kind of recording to simulate")
    demo.add_argument("--frames", type=int, default=1000, help="number of frames")
    demo.add_argument("--size", type=int, default=256, help="frame height and width in pixels")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the simulation")
    demo.add_argument("--no-motion", action="store_true", help="skip motion correction")
    demo.add_argument("--no-skeleton", action="store_true", help="skip the skeleton stage")
    demo.add_argument("--no-cnmf", action="store_true", help="skip CNMF source extraction")
    add_options(demo, MotionParams, title="motion correction (CaImAn's names; the demo "
                "defaults to --pw-rigid true when the patches fit in the frame)")
    _add_summary_options(demo)
    _plain_help(parser)
    return parser


#: reST markup that has no place in ``--help``: roles, literals, citations, links.
_REST = [
    (re.compile(r"\s*\[\w+\]_"), ""),                                # citations [1]_
    (re.compile(r":\w+(?::\w+)?:`~?(?:[^`<]*<)?([^`>]+)>?`"),
     lambda m: m.group(1).rsplit(".", 1)[-1] if "~" in m.group(0) else m.group(1)),  # roles
    (re.compile(r"``([^`]+)``"), r"\1"),                              # literals
    (re.compile(r"`([^`<]+?)\s*<[^>]+>`__?"), r"\1"),                 # links
    (re.compile(r"`([^`]+)`_{0,2}"), r"\1"),                          # interpreted text
]


def plain_text(text: str) -> str:
    """``text`` without reST markup (for ``--help``, which is not rendered)."""
    for pattern, replacement in _REST:
        text = pattern.sub(replacement, text)
    return text


def _plain_help(parser: argparse.ArgumentParser) -> None:
    """Strip reST markup from every help text and description of ``parser``."""
    if parser.description:
        parser.description = plain_text(parser.description)
    for action in parser._actions:
        if action.help and action.help is not argparse.SUPPRESS:
            action.help = plain_text(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.help:
                    choice.help = plain_text(choice.help)
            for sub in action.choices.values():
                _plain_help(sub)


def _progress(args):
    from .core.progress import tqdm_callback

    return tqdm_callback(disable=True if args.quiet else None)


def _nan_frames(args, info: dict) -> dict:
    """``nan_frames`` (how many) and ``first_nan_frames`` of a movie (float: read whole)."""
    if not info["dtype"].startswith("float"):  # integer pixels cannot be NaN: nothing read
        return {"nan_frames": 0, "first_nan_frames": []}
    from .core.io import iter_find_nan_frames, open_movie
    from .core.progress import drive

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sampled-frames warning: the full count follows
        movie = open_movie(args.movie, channel=args.channel, plane=args.plane)
    with _progress(args) as bar:
        frames = drive(iter_find_nan_frames(movie), bar)["frames"]
    return {"nan_frames": int(len(frames)), "first_nan_frames": [int(t) for t in frames[:10]]}


def _cmd_info(args) -> int:
    from .core.io import movie_info

    info = movie_info(args.movie, channel=args.channel, plane=args.plane)
    info.update(_nan_frames(args, info))
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return 0


def _run_pipeline(movie, out, *, args, stages, params, input_info, truth=None,
                  truth_labels=None, extra=None, report=True, title="", add_files=None):
    """Run pipeline stages with progress bars; draw the report pictures before commit."""
    from .core.pipeline import iter_run
    from .core.progress import drive

    def before_commit(folder: Path, record: dict, results: dict) -> None:
        if add_files is not None:
            add_files(folder, results)
        if not report:
            return
        from .report import motion_report, summary_report

        if "summary" in results:
            scores = record["stages"]["summary"].get("roi_auc")
            summary_report(results["summary"], folder / "report.png",
                           truth_labels=results.get("truth_labels", truth_labels),
                           title=title, scores=scores)
            record["report"] = "report.png"
        if "motion" in results:
            motion_report(results["motion"], folder / "motion.png",
                          truth_shifts=getattr(truth, "shifts", None), title=title)
            record["motion_report"] = "motion.png"
        if "cnmf" in results:
            from .report import cnmf_report

            summary = results.get("summary")
            cnmf_report(results["cnmf"], folder / "cnmf.png",
                        image=None if summary is None else summary.corr,
                        truth_labels=results.get("truth_labels", truth_labels)
                        if truth is not None else None,
                        title=title, scores=record["stages"]["cnmf"].get("truth"))
            record["cnmf_report"] = "cnmf.png"
        if "skeleton" in results:
            from .report import skeleton_report

            skeleton_report(results["skeleton"], folder / "skeleton.png", title=title,
                            truth=record["stages"]["skeleton"].get("truth"))
            record["skeleton_report"] = "skeleton.png"

    generator = iter_run(movie, out, stages=stages, params=params, input_info=input_info,
                         truth_labels=truth_labels, truth=truth, extra=extra,
                         before_commit=before_commit, overwrite=args.overwrite)
    with _progress(args) as bar:
        return drive(generator, bar)


def _motion_params(args, **defaults) -> dict:
    from .core.motion import MotionParams

    params = {**defaults, **overrides(args, MotionParams)}
    MotionParams(**params)  # validate now: a bad value is refused before any work
    return params


def _cmd_summary(args) -> int:
    from .core.files import check_destination
    from .core.io import movie_info, open_movie

    params = _summary_params(args)
    check_destination(args.out, args.overwrite, folder=True, inputs=[args.movie])
    movie = open_movie(args.movie, channel=args.channel, plane=args.plane,
                       nan_policy=args.nan_policy)
    info = movie_info(args.movie, channel=args.channel, plane=args.plane)
    record = _run_pipeline(movie, args.out, args=args, stages=("summary",),
                           params={"summary": params}, input_info=info,
                           report=not args.no_report, title=str(args.movie))
    stage = record["stages"]["summary"]
    print(f"summary images of {args.movie} ({stage['frames_per_s']} frames/s) → {args.out}")
    return 0


def _cmd_motion(args) -> int:
    from .core.files import check_destination
    from .core.io import movie_info, open_movie

    summary_params = _summary_params(args)
    motion_params = _motion_params(args)
    check_destination(args.out, args.overwrite, folder=True, inputs=[args.movie])
    if args.template is not None:
        import tifffile

        if not args.template.is_file():
            raise FileNotFoundError(f"template {args.template} does not exist.")
        motion_params["template"] = tifffile.imread(args.template)
    movie = open_movie(args.movie, channel=args.channel, plane=args.plane,
                       nan_policy=args.nan_policy)
    info = movie_info(args.movie, channel=args.channel, plane=args.plane)
    record = _run_pipeline(movie, args.out, args=args, stages=("motion", "summary"),
                           params={"motion": motion_params, "summary": summary_params},
                           input_info=info, report=not args.no_report, title=str(args.movie))
    stage = record["stages"]["motion"]
    rejected = stage.get("rejected_shifts", 0)
    print(f"motion correction of {args.movie} ({stage['frames_per_s']} frames/s, largest "
          f"shift {stage['max_abs_shift']} px, {rejected} shift(s) rejected as not supported "
          f"by the data) → {args.out}")
    return 0


def _read_config(path: Path) -> dict:
    """A YAML or JSON parameter file as a dict (a clear error when it is not one)."""
    import yaml

    if not path.is_file():
        raise FileNotFoundError(f"config {path} does not exist.")
    try:
        data = yaml.safe_load(path.read_text())  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise ValueError(f"config {path} is not valid YAML or JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config {path} should hold parameter names and values, got a "
                         f"{type(data).__name__}.")
    return data


def _cmd_cnmf(args) -> int:
    from .core.cnmf import CNMFParams
    from .core.files import check_destination
    from .core.io import movie_info, open_movie

    config = _read_config(args.config) if args.config else {}
    motion_config = config.pop("motion", None)
    cnmf_config = config.pop("cnmf", None)
    if cnmf_config is None:
        cnmf_config = config
    elif config:
        raise ValueError(f"config {args.config}: unknown section(s) {sorted(config)}; "
                         f"expected 'cnmf' and 'motion'.")
    try:
        params = CNMFParams.from_dict({**dict(cnmf_config or {}),
                                       **overrides(args, CNMFParams)})
    except TypeError as exc:  # an unknown parameter name in the file
        raise ValueError(f"config {args.config}: {exc}") from None
    stages: tuple[str, ...] = ("summary", "cnmf")
    stage_params = {"cnmf": params.to_dict(), "summary": {}}
    if args.motion or motion_config:
        from .core.motion import MotionParams

        stage_params["motion"] = MotionParams.from_dict(dict(motion_config or {})).to_dict()
        stages = ("motion", *stages)
    check_destination(args.out, args.overwrite, folder=True, inputs=[args.movie])
    movie = open_movie(args.movie, channel=args.channel, plane=args.plane,
                       nan_policy=args.nan_policy)
    info = movie_info(args.movie, channel=args.channel, plane=args.plane)
    params.check_shape(movie.shape)
    record = _run_pipeline(movie, args.out, args=args, stages=stages, params=stage_params,
                           input_info=info, report=not args.no_report, title=str(args.movie))
    stage = record["stages"]["cnmf"]
    print(f"CNMF of {args.movie}: {stage['n_components']} components, {stage['n_accepted']} "
          f"accepted, in {stage['elapsed_s']:.1f} s → {args.out}")
    return 0


def _cmd_run(args) -> int:
    from .core.files import check_destination
    from .core.io import movie_info, open_movie
    from .core.pipeline import dump_config, load_config, python_script

    config = load_config(args.config)
    if args.movie is not None:
        config["input"] = {"movie": str(args.movie)}
    if args.script:
        print(python_script(config), end="")
        return 0
    out = args.out or (Path(config["output"]) if config["output"] else None)
    if out is None:
        raise ValueError("give --out DIR (or set output: in the configuration).")
    if not config["input"].get("movie"):
        raise ValueError("give --movie PATH (or set input: in the configuration).")
    inp = config["input"]
    check_destination(out, args.overwrite, folder=True, inputs=[inp["movie"]])
    selection = {k: inp[k] for k in ("channel", "plane") if inp.get(k) is not None}
    movie = open_movie(inp["movie"], **selection, nan_policy=args.nan_policy)
    info = movie_info(inp["movie"], **selection)

    def write_config(folder: Path, results: dict) -> None:
        (folder / "config.yaml").write_text(dump_config(config))

    record = _run_pipeline(movie, out, args=args, stages=tuple(config["stages"]),
                           params=config["stages"], input_info=info,
                           report=not args.no_report, title=str(args.config),
                           add_files=write_config)
    done = ", ".join(f"{name} ({stage.get('elapsed_s', 0):.1f} s)"
                     for name, stage in record["stages"].items())
    print(f"{args.config}: {done} → {out}")
    return 0


def _cmd_apply_shifts(args) -> int:
    from .core.files import check_destination
    from .core.io import iter_save_movie, open_movie
    from .core.motion import MotionResult
    from .core.progress import drive

    folder = args.shifts / "motion" if (args.shifts / "motion").is_dir() else args.shifts
    if not folder.is_dir():
        raise FileNotFoundError(f"{args.shifts} is not a motion-correction results folder.")
    result = MotionResult.load(folder)
    check_destination(args.out, args.overwrite, folder=False, inputs=[args.movie])
    movie = open_movie(args.movie, channel=args.channel, plane=args.plane,
                       nan_policy=args.nan_policy)
    extra = {"border_nan": args.border_nan} if args.border_nan else {}
    corrected = result.apply(movie, **extra)
    with _progress(args) as bar:
        drive(iter_save_movie(corrected, args.out, overwrite=args.overwrite), bar)
    print(f"{args.movie} corrected with the shifts of {folder} → {args.out}")
    return 0


def _cmd_skeleton(args) -> int:
    from .core.files import atomic_folder, check_destination
    from .core.io import open_movie
    from .core.progress import drive
    from .core.skeleton import SkeletonParams, iter_skeleton_statistics, write_statistics_csv

    params = SkeletonParams(**overrides(args, SkeletonParams))
    check_destination(args.out, args.overwrite, folder=True, inputs=args.movies)
    missing = [m for m in args.movies if not Path(m).exists() and not any(c in m for c in "*?[")]
    if missing:
        raise FileNotFoundError(f"movie {missing[0]} does not exist.")
    # every movie is opened (and checked for NaN) before anything is written: a file
    # that is not a movie stops here with its own message, and no table is left
    movies = [open_movie(m, nan_policy=args.nan_policy) for m in args.movies]
    inputs = [m if movie.dtype.kind != "f" or args.nan_policy != "fill" else movie
              for m, movie in zip(args.movies, movies, strict=True)]
    with atomic_folder(args.out, overwrite=args.overwrite, inputs=args.movies) as tmp:
        with _progress(args) as bar:
            rows = drive(iter_skeleton_statistics(inputs, params, errors="record",
                                                  save_dir=tmp), bar)
        for i, (row, name) in enumerate(zip(rows, args.movies, strict=True)):
            row["path"] = name  # a filled movie is passed as an array: its name back
            saved, wanted = tmp / f"array_{i}.skeleton", tmp / f"{Path(name).stem}.skeleton"
            if inputs[i] is not name and saved.is_dir() and not wanted.exists():
                saved.rename(wanted)
        if all(row.get("error") for row in rows):
            raise RuntimeError("; ".join(f"{r['path']}: {r['error']}" for r in rows))
        write_statistics_csv(rows, tmp / "skeleton_statistics.csv")
        (tmp / "params.json").write_text(params_json(params))
    failed = [r for r in rows if r.get("error")]
    for row in failed:
        print(f"amnesia: error: {row['path']}: {row['error']}", file=sys.stderr)
    done = len(rows) - len(failed)
    print(f"skeleton statistics of {done} movie(s) → {args.out / 'skeleton_statistics.csv'}")
    return 1 if failed else 0


def _cmd_cluster(args) -> int:
    from .core.clustering import iter_run_config, list_templates, load_template
    from .core.files import atomic_folder, check_destination
    from .core.progress import drive

    if args.list:
        print("\n".join(list_templates()))
        return 0
    if not args.config:
        raise ValueError("give a CONFIG (a YAML file or a template name; see --list).")
    config = load_template(args.config)
    if args.show:
        import yaml

        print(yaml.safe_dump(config, sort_keys=False))
        return 0
    out = args.out or (Path(config["output"]) if config.get("output") else None)
    if out is None:
        raise ValueError("give --out DIR (or set output: in the configuration).")
    config["output"] = None
    source = args.movie or (config.get("input") or {}).get("movie")
    check_destination(out, args.overwrite, folder=True, inputs=[source])
    movie = None
    if source:
        from .core.io import open_movie

        movie = open_movie(source, nan_policy=args.nan_policy)
    with atomic_folder(out, overwrite=args.overwrite, inputs=[source]) as tmp:
        with _progress(args) as bar:
            results = drive(iter_run_config(config, movie, output=tmp), bar)
    if "clusterings" in results:
        sizes = ", ".join(f"level {r.level}: {int(r.labels.max())} clusters"
                          for r in results["clusterings"])
        print(f"clustering ({sizes}) → {out}")
    else:
        print(f"factorization ({len(results['factorization'].temporal)} components) → {out}")
    return 0


def params_json(params) -> str:
    return json.dumps(params.to_dict(), indent=2, default=str)


def _demo_cnmf_params(args, truth) -> dict:
    """CNMF settings of the demo: the seed notebook's, sized to the simulated cells."""
    low, high = (truth.params or {}).get("cell_radius", (4.0, 7.0))
    g = max(2, int(round(0.4 * (low + high))))  # CaImAn's gSig: about a cell's radius
    return {"gSig": (g, g), "rf": 15 if args.size >= 64 else None, "stride": 10, "K": 6,
            "fr": float(getattr(truth, "frame_rate", 30.0)), "p": 1, "gnb": 2,
            "merge_thr": 0.85}


def _cmd_demo(args) -> int:
    import tempfile

    import numpy as np

    from .core.io import open_movie
    from .core.simulate import simulate

    params = _summary_params(args, default_gsig=3.0 if args.mode == "one_photon" else None)
    from .core.motion import MotionParams

    # piecewise rigid by default, when the default patches fit in the frame
    patch = max(a + b for a, b in zip(MotionParams().strides, MotionParams().overlaps,
                                      strict=True))
    motion_params = _motion_params(args, pw_rigid=args.size >= patch)
    stages = (() if args.no_motion else ("motion",)) + ("summary",) + (
        () if args.no_cnmf else ("cnmf",)) + (() if args.no_skeleton else ("skeleton",))
    if args.frames < 10:
        raise ValueError(f"--frames must be at least 10, got {args.frames}.")
    if args.size < 32:
        raise ValueError(f"--size must be at least 32 pixels, got {args.size}.")
    out = Path(args.out)
    from .core.files import check_destination

    check_destination(out, args.overwrite, folder=True)
    logger.info("simulating %s movie %dx%dx%d", args.mode, args.frames, args.size, args.size)
    movie, truth = simulate(n_frames=args.frames, shape=(args.size, args.size), mode=args.mode,
                            rng=args.seed)
    labels = np.asarray(truth.labels(), dtype=np.int32)
    # the movie goes to disk and is reopened lazily, as a user's recording would be
    staging = Path(tempfile.mkdtemp(prefix=".amnesia-demo-", dir=out.parent))
    try:
        movie_path = staging / "movie.tif"
        with _progress(args) as bar:
            from .core.io import iter_save_movie
            from .core.progress import drive

            drive(iter_save_movie(movie, movie_path, frame_rate=truth.frame_rate), bar)
        lazy = open_movie(movie_path)
        del movie

        def extras(folder: Path, results: dict) -> None:
            """Files of the demo beside the pipeline's: the movie and its ground truth."""
            import shutil

            import tifffile

            shutil.move(str(movie_path), folder / "movie.tif")
            gt = folder / "ground_truth"
            gt.mkdir()
            tifffile.imwrite(gt / "rois.tif", labels.astype(np.uint16), compression="zlib")
            np.save(gt / "traces.npy", np.asarray(truth.traces, dtype=np.float32))
            np.save(gt / "spikes.npy", np.asarray(truth.spikes, dtype=np.float32))
            np.save(gt / "shifts.npy", np.asarray(truth.shifts, dtype=np.float32))
            # the summary images are of the corrected movie, aligned to the motion template
            # rather than to the simulation's reference: the true ROIs moved there too
            aligned = results.get("truth_labels")
            if aligned is not None and not np.array_equal(aligned, labels):
                tifffile.imwrite(gt / "rois_aligned.tif", aligned.astype(np.uint16),
                                 compression="zlib")
            if callable(getattr(truth, "branch_labels", None)):
                tifffile.imwrite(gt / "branches.tif",
                                 np.asarray(truth.branch_labels()).astype(np.uint16),
                                 compression="zlib")

        record = _run_pipeline(
            lazy, out, args=args, stages=stages,
            params={"motion": motion_params, "summary": params,
                    "cnmf": _demo_cnmf_params(args, truth)},
            input_info={"source": "napari_amnesia.core.simulate", "path": "movie.tif",
                        "mode": args.mode, "seed": args.seed},
            truth=truth, truth_labels=labels, extra={"ground_truth": truth.to_dict()},
            title=f"napari-amnesia demo: synthetic {args.mode.replace('_', '-')} movie "
            f"{args.frames}×{args.size}×{args.size}",
            report=True, add_files=extras,
        )
    finally:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    stage = record["stages"]["summary"]
    auc = stage.get("roi_auc", {})
    nan = float("nan")
    print(f"demo results in {out}/ : movie.tif, ground_truth/, "
          f"{'' if args.no_motion else 'motion/, motion.png, '}summary/*.tif, summary.json, "
          f"report.png{'' if args.no_cnmf else ', cnmf/, cnmf.png'}"
          f"{'' if args.no_skeleton else ', skeleton/, skeleton.png'}")
    if not args.no_skeleton:
        totals = record["stages"]["skeleton"]["totals"]
        truth_graph = record["stages"]["skeleton"].get("truth", {})
        print(f"skeleton: {totals['n_branches']} branches, {totals['n_junctions']} junctions, "
              f"length {totals['total_length']:.0f} px (planted neurites: "
              f"{truth_graph.get('n_segments', '?')} branches, "
              f"{truth_graph.get('neurite_length', float('nan')):.0f} px; junction F1 "
              f"{truth_graph.get('junction_f1', float('nan')):.2f})")
    if not args.no_cnmf:
        found = record["stages"]["cnmf"]
        sc = found.get("truth", {})
        print(f"CNMF: {found['n_accepted']} of {found['n_components']} components accepted in "
              f"{found['elapsed_s']:.1f} s; against the {sc.get('n_true', '?')} planted cells: "
              f"F1 {sc.get('f1', nan):.3f} ({sc.get('neurite_components', 0)} neurite "
              f"components not scored), median trace r "
              f"{sc.get('median_trace_r') or nan:.3f}, spike r "
              f"{sc.get('median_spike_r') or nan:.3f}")
    if not args.no_motion:
        moved = record["stages"]["motion"]
        print(f"motion correction: {moved['frames_per_s']} frames/s; rigid shift error "
              f"{moved.get('rigid_shift_rmse_px', float('nan')):.3f} px RMS against the truth")
    print(f"summary images: {stage['frames_per_s']} frames/s; ROI AUC of the correlation image "
          f"{auc.get('corr', nan):.3f}, of the mean image {auc.get('mean', nan):.3f}")
    if args.view:
        _view(out)
    return 0


def _view(out: Path) -> None:
    """Open a results folder in napari, or say plainly why it cannot be done."""
    import importlib.util
    import os

    if importlib.util.find_spec("napari") is None:
        raise RuntimeError(f"--view needs napari (pip install 'napari-amnesia[all]'); "
                           f"the results are in {out}.")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RuntimeError(f"--view needs a display (none found: DISPLAY is not set); "
                           f"the results are in {out}.")
    from .napari.viewer import view_results

    view_results(out)


def _option_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """``{library name: --option}`` for every option of ``parser`` (a subcommand's).

    Options generated from a parameter dataclass have the dest ``param_<name>``
    (``param_gSig`` → ``--gsig``); the others their own dest (``channel``).
    """
    names: dict[str, str] = {}
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or action.dest in {"help", "version"}:
            continue
        dest = action.dest[len("param_"):] if action.dest.startswith("param_") else action.dest
        names[dest] = longs[0]
        names.setdefault(longs[0][2:].replace("-", "_"), longs[0])
    return names


def in_cli_words(message: str, names: dict[str, str]) -> str:
    """A library message with its parameter names spelled as the command's options.

    ``CNMFParams.gSig should be positive`` → ``--gsig should be positive``;
    ``got channel=3`` → ``got --channel 3``; ``pass overwrite=True`` → ``pass
    --overwrite``; ``nan_policy='fill'`` → ``--nan-policy fill``. A bare name is
    translated only when it cannot be an English word (``min_SNR``, ``gSig``).
    """
    if not names:
        return message
    alternatives = "|".join(sorted(map(re.escape, names), key=len, reverse=True))

    def assigned(m: re.Match) -> str:
        option, value = names[m.group(1)], m.group(2)
        end = "." if value.endswith(".") and not value.endswith("..") else ""
        value = value[: len(value) - len(end)].strip("'\"")
        return (option if value == "True" else f"{option} {value}") + end

    message = re.sub(rf"\b(?:[A-Z]\w*Params\.)({alternatives})\b",
                     lambda m: names[m.group(1)], message)
    message = re.sub(rf"(?<![\w./\\-])({alternatives})=('[^']*'|\"[^\"]*\"|[^\s,;)]+)",
                     assigned, message)
    message = re.sub(rf"(?:``|`|'|\")({alternatives})(?:``|`|'|\")",
                     lambda m: names[m.group(1)], message)
    technical = [n for n in names if "_" in n or any(c.isupper() for c in n[1:])]
    if technical:
        pattern = "|".join(sorted(map(re.escape, technical), key=len, reverse=True))
        # not inside a path: no letter, dot, dash or slash before; no slash or ".x" after
        message = re.sub(rf"(?<![\w./\\-])({pattern})\b(?![=(/\\\w]|\.\w)",
                         lambda m: names[m.group(1)],
                         message)
    return message


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(command, parser)
    return parser


@contextlib.contextmanager
def _warnings_as_lines(names: dict[str, str]):
    """Show each warning of the library once, as one ``amnesia: warning:`` line."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"amnesia: warning: {in_cli_words(str(message), names)}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield


class _LogLines(logging.Handler):
    """The library's warnings and errors as ``amnesia: warning:`` lines in the
    command's words (``min_shift_support=3`` → ``--min-shift-support 3``)."""

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__(logging.WARNING)
        self.names = names

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad log call must not stop the command
            self.handleError(record)
            return
        level = "error" if record.levelno >= logging.ERROR else "warning"
        print(f"amnesia: {level}: {in_cli_words(text, self.names)}", file=sys.stderr)


@contextlib.contextmanager
def _log_as_lines(names: dict[str, str], verbose: bool):
    """Without ``--verbose``, the package's log records of level WARNING and above
    are printed as plain lines (no logger names); with it, everything from INFO, as
    a developer wants it."""
    package = logging.getLogger("napari_amnesia")
    if verbose:
        logging.basicConfig(level=logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")
        yield
        return
    handler = _LogLines(names)
    saved = (package.level, package.propagate)
    package.addHandler(handler)
    package.setLevel(logging.WARNING)
    package.propagate = False
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(saved[0])
        package.propagate = saved[1]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``amnesia`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"info": _cmd_info, "summary": _cmd_summary, "motion": _cmd_motion,
                "apply-shifts": _cmd_apply_shifts, "skeleton": _cmd_skeleton,
                "cluster": _cmd_cluster, "cnmf": _cmd_cnmf, "run": _cmd_run,
                "demo": _cmd_demo}
    names = _option_names(_subparser(parser, args.command))
    try:
        with _log_as_lines(names, args.verbose), _warnings_as_lines(names):
            return commands[args.command](args)
    except KeyboardInterrupt:
        print("amnesia: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except (OSError, ValueError, RuntimeError, ImportError) as exc:
        if args.verbose:
            logger.exception("amnesia %s failed", args.command)
        message = str(exc) or type(exc).__name__
        print(f"amnesia: error: {in_cli_words(message, names)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
