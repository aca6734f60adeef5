"""What every ``amnesia`` subcommand shares: options, opening the input, running stages."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["Formatter", "OVERWRITE_HELP", "add_nan_policy", "add_movie_selection",
           "add_results_folder", "progress", "read_config", "run_pipeline", "open_input",
           "params_json"]

OVERWRITE_HELP = ("replace the results folder if it exists, only once the new one is "
                  "complete, and only if napari-amnesia wrote it (its .napari-amnesia.json "
                  "lists every file in it; a folder holding anything else, or the input "
                  "movie, is never replaced)")


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, descriptions kept as written."""


def add_nan_policy(parser: argparse.ArgumentParser) -> None:
    """Add ``--nan-policy {raise,fill}``."""
    parser.add_argument("--nan-policy", choices=["raise", "fill"], default="raise",
                        help="what to do with NaN or infinite pixels of a float movie (every "
                        "frame is checked before any work): raise = stop with an error naming "
                        "the frames; fill = replace them by each pixel's mean over its other "
                        "frames, with one warning")


def add_movie_selection(parser: argparse.ArgumentParser, *, nan_policy: bool = True) -> None:
    """Add the MOVIE argument, ``--channel``, ``--plane`` (and ``--nan-policy``)."""
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
        add_nan_policy(parser)


def add_results_folder(parser: argparse.ArgumentParser) -> None:
    """Add ``--out DIR`` (required) and ``--overwrite``."""
    parser.add_argument("--out", required=True, type=Path, help="results folder to create")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def progress(args: argparse.Namespace):
    """Return a tqdm progress callback (silent with ``--quiet``)."""
    from ..core.progress import tqdm_callback

    return tqdm_callback(disable=True if args.quiet else None)


def read_config(path: Path) -> dict:
    """Read a YAML or JSON parameter file as a dict (a clear error when it is not one)."""
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


def open_input(args: argparse.Namespace, out: Path | None) -> tuple[Any, dict]:
    """Check the destination, then open the command's movie lazily; return it and its info."""
    from ..core.files import check_destination
    from ..core.io import movie_info, open_movie

    if out is not None:
        check_destination(out, args.overwrite, folder=True, inputs=[args.movie])
    movie = open_movie(args.movie, channel=args.channel, plane=args.plane,
                       nan_policy=args.nan_policy)
    return movie, movie_info(args.movie, channel=args.channel, plane=args.plane)


def params_json(params: Any) -> str:
    """Write a parameter dataclass as indented JSON."""
    return json.dumps(params.to_dict(), indent=2, default=str)


def run_pipeline(movie: Any, out: Path, *, args: argparse.Namespace, stages: tuple,
                 params: dict, input_info: dict, inputs: dict | None = None,
                 truth: Any = None, truth_labels: Any = None,
                 extra: dict | None = None, report: bool = True, title: str = "",
                 add_files: Any = None) -> dict:
    """Run pipeline stages with progress bars; draw the report pictures before commit."""
    from ..core.pipeline import iter_run
    from ..core.progress import drive

    def before_commit(folder: Path, record: dict, results: dict) -> None:
        if add_files is not None:
            add_files(folder, results)
        if not report:
            return
        from ..report import motion_report, summary_report

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
            from ..report import cnmf_report

            summary = results.get("summary")
            cnmf_report(results["cnmf"], folder / "cnmf.png",
                        image=None if summary is None else summary.corr,
                        truth_labels=results.get("truth_labels", truth_labels)
                        if truth is not None else None,
                        title=title, scores=record["stages"]["cnmf"].get("truth"))
            record["cnmf_report"] = "cnmf.png"
        if "skeleton" in results:
            from ..report import skeleton_report

            skeleton_report(results["skeleton"], folder / "skeleton.png", title=title,
                            truth=record["stages"]["skeleton"].get("truth"))
            record["skeleton_report"] = "skeleton.png"

    generator = iter_run(movie, out, stages=stages, params=params, inputs=inputs,
                         input_info=input_info,
                         truth_labels=truth_labels, truth=truth, extra=extra,
                         before_commit=before_commit, overwrite=args.overwrite)
    with progress(args) as bar:
        return drive(generator, bar)
