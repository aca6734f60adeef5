"""The subcommands that are not stages: ``info``, ``apply-shifts``, ``run`` and ``demo``."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

from .._fields import add_options, overrides
from ..core.stages import STAGES
from .common import (
    OVERWRITE_HELP,
    Formatter,
    add_movie_selection,
    add_nan_policy,
    progress,
    run_pipeline,
)
from .stages import summary_options, summary_params

__all__ = ["add_commands"]

logger = logging.getLogger("napari_amnesia")


def _nan_frames(args, info: dict) -> dict:
    """``nan_frames`` (how many) and ``first_nan_frames`` of a movie (float: read whole)."""
    if not info["dtype"].startswith("float"):  # integer pixels cannot be NaN: nothing read
        return {"nan_frames": 0, "first_nan_frames": []}
    from ..core.io import iter_find_nan_frames, open_movie
    from ..core.progress import drive

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sampled-frames warning: the full count follows
        movie = open_movie(args.movie, channel=args.channel, plane=args.plane)
    with progress(args) as bar:
        frames = drive(iter_find_nan_frames(movie), bar)["frames"]
    return {"nan_frames": int(len(frames)), "first_nan_frames": [int(t) for t in frames[:10]]}


def _cmd_info(args) -> int:
    from ..core.io import movie_info

    info = movie_info(args.movie, channel=args.channel, plane=args.plane)
    info.update(_nan_frames(args, info))
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return 0


def _cmd_apply_shifts(args) -> int:
    from ..core.files import check_destination
    from ..core.io import iter_save_movie, open_movie
    from ..core.motion import MotionResult
    from ..core.progress import drive

    folder = args.shifts / "motion" if (args.shifts / "motion").is_dir() else args.shifts
    if not folder.is_dir():
        raise FileNotFoundError(f"{args.shifts} is not a motion-correction results folder.")
    result = MotionResult.load(folder)
    check_destination(args.out, args.overwrite, folder=False, inputs=[args.movie])
    movie = open_movie(args.movie, channel=args.channel, plane=args.plane,
                       nan_policy=args.nan_policy)
    extra = {"border_nan": args.border_nan} if args.border_nan else {}
    corrected = result.apply(movie, **extra)
    with progress(args) as bar:
        drive(iter_save_movie(corrected, args.out, overwrite=args.overwrite), bar)
    print(f"{args.movie} corrected with the shifts of {folder} → {args.out}")
    return 0


def _set_mode(config: dict, mode: str) -> None:
    """Apply ``amnesia run --mode`` to a loaded configuration.

    The CNMF section gets the mode (its preset fills what the configuration leaves at
    the defaults); for one-photon movies the motion stage gets the high-pass at the
    cells' scale (``gSig_filt``), unless the configuration sets it.
    """
    from ..core.pipeline import one_photon_motion

    stages = config["stages"]
    if "cnmf" not in stages:
        raise ValueError("--mode sets the cnmf section's mode: this configuration has no "
                         "cnmf: section.")
    from ..core.cnmf.params import CNMFParams

    stages["cnmf"] = CNMFParams.from_dict(stages["cnmf"] or {}).replace(mode=mode).to_dict()
    one_photon_motion(stages)


def _cmd_run(args) -> int:
    from ..core.files import check_destination
    from ..core.io import movie_info, open_movie
    from ..core.pipeline import dump_config, load_config, python_script

    config = load_config(args.config)
    if args.movie is not None:
        config["input"] = {"movie": str(args.movie)}
    if args.mode is not None:
        _set_mode(config, args.mode)
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

    record = run_pipeline(movie, out, args=args, stages=tuple(config["stages"]),
                           params=config["stages"], input_info=info,
                           report=not args.no_report, title=str(args.config),
                           add_files=write_config)
    done = ", ".join(f"{name} ({stage.get('elapsed_s', 0):.1f} s)"
                     for name, stage in record["stages"].items())
    print(f"{args.config}: {done} → {out}")
    return 0


#: gSig of the one-photon demo: the simulator's standard miniscope preset (somata of
#: semi-axes 5-8 px) as docs/cnmfe.md and benchmarks/bench_cnmfe.py fit it
ONE_PHOTON_GSIG = 4


def _demo_cnmf_params(args, truth) -> dict:
    """CNMF settings of the demo: the seed notebook's, sized to the simulated cells.

    A one-photon demo runs CNMF-E (``mode="one_photon"``: corr/PNR seeds, ring
    background) with the preset's settings and the miniscope cells' gSig.
    """
    if args.mode == "one_photon":
        return {"mode": "one_photon", "gSig": (ONE_PHOTON_GSIG, ONE_PHOTON_GSIG),
                "fr": float(getattr(truth, "frame_rate", 20.0))}
    low, high = (truth.params or {}).get("cell_radius", (4.0, 7.0))
    g = max(2, int(round(0.4 * (low + high))))  # CaImAn's gSig: about a cell's radius
    return {"gSig": (g, g), "rf": 15 if args.size >= 64 else None, "stride": 10, "K": 6,
            "fr": float(getattr(truth, "frame_rate", 30.0)), "p": 1, "gnb": 2,
            "merge_thr": 0.85}


def _cmd_demo(args) -> int:
    import tempfile

    import numpy as np

    from ..core.io import open_movie
    from ..core.simulate import simulate

    # one-photon: the summary's corr/PNR images with CNMF-E's filter, as the fit seeds from
    params = summary_params(args, **({"gsig": float(ONE_PHOTON_GSIG)}
                                     if args.mode == "one_photon" else {}))
    from ..core.motion import MotionParams

    # piecewise rigid by default, when the default patches fit in the frame
    patch = max(a + b for a, b in zip(MotionParams().strides, MotionParams().overlaps,
                                      strict=True))
    # one-photon: motion is estimated on the high-passed movie (CaImAn's gSig_filt)
    filt = {"gSig_filt": float(ONE_PHOTON_GSIG)} if args.mode == "one_photon" else {}
    motion_params = MotionParams.from_dict({"pw_rigid": args.size >= patch, **filt,
                                            **overrides(args, MotionParams)})
    stages = (() if args.no_motion else ("motion",)) + ("summary",) + (
        () if args.no_cnmf else ("cnmf",)) + (() if args.no_skeleton else ("skeleton",))
    if args.frames < 10:
        raise ValueError(f"--frames must be at least 10, got {args.frames}.")
    if args.size < 32:
        raise ValueError(f"--size must be at least 32 pixels, got {args.size}.")
    out = Path(args.out)
    from ..core.files import check_destination

    check_destination(out, args.overwrite, folder=True)
    logger.info("simulating %s movie %dx%dx%d", args.mode, args.frames, args.size, args.size)
    if args.mode == "one_photon":  # the documented miniscope scene, at the demo's size
        from ..core.simulate import one_photon_params

        cells = max(4, int(round(150 * args.size ** 2 / 256 ** 2)))  # the preset's density
        movie, truth = simulate(one_photon_params(
            "standard", n_frames=args.frames, shape=(args.size, args.size), n_cells=cells,
            rng=args.seed, motion=not args.no_motion))
    else:
        movie, truth = simulate(n_frames=args.frames, shape=(args.size, args.size),
                                mode=args.mode, rng=args.seed)
    labels = np.asarray(truth.labels(), dtype=np.int32)
    # the movie goes to disk and is reopened lazily, as a user's recording would be
    staging = Path(tempfile.mkdtemp(prefix=".amnesia-demo-", dir=out.parent))
    try:
        movie_path = staging / "movie.tif"
        with progress(args) as bar:
            from ..core.io import iter_save_movie
            from ..core.progress import drive

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

        record = run_pipeline(
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
        planted = (f" (planted neurites: {truth_graph['n_segments']} branches, "
                   f"{truth_graph.get('neurite_length', float('nan')):.0f} px; junction F1 "
                   f"{truth_graph.get('junction_f1', float('nan')):.2f})"
                   if truth_graph.get("n_segments") else " (no neurites planted)")
        print(f"skeleton: {totals['n_branches']} branches, {totals['n_junctions']} junctions, "
              f"length {totals['total_length']:.0f} px{planted}")
    if not args.no_cnmf:
        found = record["stages"]["cnmf"]
        sc = found.get("truth", {})
        print(f"CNMF: {found['n_accepted']} of {found['n_components']} components accepted in "
              f"{found['elapsed_s']:.1f} s; against the {sc.get('n_true', '?')} planted cells: "
              f"F1 {sc.get('f1', nan):.3f} ({_not_scored(sc)} not scored), median trace r "
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
    from ..napari.viewer import view_results

    view_results(out)




def add_commands(sub) -> dict:
    """Add ``info``, ``run``, ``apply-shifts`` and ``demo``; return ``{command: function}``."""
    info = sub.add_parser("info", help="describe a movie (shape, dtype, format, axes)",
                          description="Describe a movie from its headers. Integer movies "
                          "are not read (a few sampled frames aside); a float movie is read "
                          "once, frame by frame, to count frames holding NaN. Prints JSON "
                          "with --json.",
                          formatter_class=Formatter)
    add_movie_selection(info, nan_policy=False)
    info.add_argument("--json", action="store_true", help="print JSON instead of text")

    run = sub.add_parser("run", help="replay a pipeline configuration (YAML) headless",
                         description="Run the stages a configuration names ("
                         + ", ".join(STAGES) + "), in that order, on its input movie, into a "
                         "results folder that also holds the configuration (config.yaml). A "
                         "configuration saved from napari replays the same result here.",
                         formatter_class=Formatter)
    run.add_argument("config", type=Path, help="the configuration file (YAML or JSON)")
    run.add_argument("--out", type=Path, default=None,
                     help="results folder (default: the configuration's 'output:')")
    run.add_argument("--movie", type=Path, default=None,
                     help="run on this movie instead of the configuration's 'input:'")
    run.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    add_nan_policy(run)
    run.add_argument("--script", action="store_true",
                     help="print the Python calls that reproduce the run, and run nothing")
    run.add_argument("--no-report", action="store_true", help="skip the report pictures")
    run.add_argument("--mode", choices=["two_photon", "one_photon"], default=None,
                     help="the CNMF section's mode: one_photon runs CNMF-E (corr/PNR seeds, "
                     "ring background; its preset fills what the configuration leaves at the "
                     "defaults) and high-passes the motion stage at the cells' scale "
                     "(gSig_filt); saved in the results' config.yaml")

    apply = sub.add_parser("apply-shifts", help="apply saved shifts to another movie",
                           description="Apply the shifts of a motion-correction results folder "
                           "(found on, e.g., a structural channel) to another movie of the same "
                           "length and frame size, and save the corrected movie as a TIFF.",
                           formatter_class=Formatter)
    apply.add_argument("shifts", type=Path,
                       help="a results folder of `amnesia motion` (or its motion/ sub-folder)")
    add_movie_selection(apply)
    apply.add_argument("--out", required=True, type=Path, help="corrected movie to write (.tif)")
    apply.add_argument("--overwrite", action="store_true",
                       help="replace --out if it exists and napari-amnesia wrote it")
    apply.add_argument("--border-nan", default=None, choices=["nan", "copy", "min", "zero"],
                       help="what fills the pixels shifted in from outside the frame "
                       "(default: as in the saved parameters)")

    demo = sub.add_parser("demo", help="run the pipeline on the built-in synthetic sample",
                          description="Simulate a calcium-imaging movie with known ground truth "
                          "(no download), save it, open it lazily, run every stage and write a "
                          "results folder: movie.tif, ground_truth/, summary/*.tif, summary.json "
                          "and report.png (scores against the ground truth included).",
                          formatter_class=Formatter)
    demo.add_argument("--out", type=Path, default=Path("amnesia-demo"),
                      help="results folder to create")
    demo.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
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
    add_options(demo, STAGES["motion"].params_class,
                title="motion correction (CaImAn's names; the demo defaults to --pw-rigid true "
                "when the patches fit in the frame)")
    summary_options(demo)
    return {"info": _cmd_info, "run": _cmd_run, "apply-shifts": _cmd_apply_shifts,
            "demo": _cmd_demo}


def _not_scored(score: dict) -> str:
    """'3 neurite components', or out-of-focus cells' detections in a one-photon scene."""
    parts = [f"{score.get('neurite_components', 0)} neurite components"]
    if score.get("out_of_focus_components"):
        parts.append(f"{score['out_of_focus_components']} detections of out-of-focus cells")
    return " and ".join(parts)
