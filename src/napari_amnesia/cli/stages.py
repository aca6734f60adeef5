"""One ``amnesia`` subcommand per registered stage, generated from the registry.

Every stage of :mod:`napari_amnesia.core.stages` gets ``amnesia NAME MOVIE --out DIR``
with one ``--option`` per field of its parameter dataclass (``--help`` shows the
field's help and units), ``--config FILE`` (the stage's parameters as YAML/JSON, flat
or under a ``NAME:`` key; options typed on the command line win), ``--overwrite``,
``--nan-policy`` and ``--no-report``: :class:`StageCommand`. A stage whose command
needs more — motion's ``--template``, CNMF's ``--motion``, several movies for the
skeleton, a configuration for the activity stages — has a subclass here, found by
stage name in :data:`COMMANDS`; a new stage needs none.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._fields import add_options, describe, overrides
from ..core.stages import STAGES, Stage
from .common import (
    OVERWRITE_HELP,
    Formatter,
    add_movie_selection,
    add_nan_policy,
    add_results_folder,
    open_input,
    params_json,
    progress,
    read_config,
    run_pipeline,
)

__all__ = ["StageCommand", "COMMANDS", "add_stage_commands", "summary_options",
           "summary_params"]


class StageCommand:
    """The command of a stage that reads one movie and writes a results folder."""

    #: other names of the subcommand (kept for earlier spellings)
    aliases: tuple[str, ...] = ()

    def __init__(self, stage: Stage) -> None:
        self.stage = stage

    # -- the parser ----------------------------------------------------------------------
    def setup(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's arguments: movie, results folder, config and parameters."""
        add_movie_selection(parser)
        add_results_folder(parser)
        parser.add_argument("--config", type=Path, default=None,
                            help=f"a YAML or JSON file of {self.stage.name} parameters (flat, "
                            f"or under a '{self.stage.name}:' key); options typed here win")
        parser.add_argument("--no-report", action="store_true", help="skip report pictures")
        add_parameters(parser, self.stage.params_class,
                       f"{self.stage.title} ({self.stage.params_class.__name__})")

    # -- running -------------------------------------------------------------------------
    def config_sections(self, args: argparse.Namespace) -> dict[str, Any]:
        """Read ``--config`` as ``{stage: values}`` (a flat file is this stage's)."""
        if getattr(args, "config", None) is None:
            return {}
        data = read_config(args.config)
        if any(name in data for name in STAGES):
            unknown = sorted(set(data) - set(STAGES))
            if unknown:
                raise ValueError(f"config {args.config}: unknown section(s) {unknown}; "
                                 f"expected stage names ({', '.join(STAGES)}).")
            return {k: dict(v or {}) for k, v in data.items()}
        return {self.stage.name: data}

    def stage_params(self, args: argparse.Namespace, name: str | None = None,
                     sections: dict | None = None) -> Any:
        """Parameters of stage ``name``: defaults, then ``--config``, then typed options."""
        stage = self.stage if name is None else STAGES[name]
        values = dict((sections or {}).get(stage.name, {}))
        cls = stage.params_class
        try:
            return cls.from_dict({**values, **overrides(args, cls)})
        except TypeError as exc:  # an unknown name in the file
            raise ValueError(f"config {args.config}: {exc}") from None

    def stages(self, args: argparse.Namespace) -> tuple[str, ...]:
        """Return the stages the command runs, in order."""
        return (self.stage.name,)

    def params(self, args: argparse.Namespace) -> dict[str, Any]:
        """``{stage: parameters}`` for :meth:`stages`, checked before any work."""
        sections = self.config_sections(args)
        return {name: self.stage_params(args, name, sections) for name in self.stages(args)}

    def run(self, args: argparse.Namespace) -> int:
        """Run the command; return its exit status."""
        params = self.params(args)
        inputs = self.inputs(args)
        movie, info = open_input(args, args.out)
        self.check(params, movie)
        record = run_pipeline(movie, args.out, args=args, stages=self.stages(args),
                              params=params, inputs=inputs, input_info=info,
                              report=not args.no_report, title=str(args.movie))
        print(self.done(args, record))
        return 0

    def inputs(self, args: argparse.Namespace) -> dict[str, Any]:
        """``{stage: {name: value}}``: what the stages take besides parameters (none)."""
        return {}

    def check(self, params: dict[str, Any], movie: Any) -> None:
        """Refuse parameters that do not suit the movie, before any work (none here)."""

    def done(self, args: argparse.Namespace, record: dict) -> str:
        """Return the line printed at the end."""
        stage = record["stages"][self.stage.name]
        return (f"{self.stage.title} of {args.movie} in {stage['elapsed_s']:.1f} s "
                f"→ {args.out}")


def add_parameters(parser: argparse.ArgumentParser, cls: type, title: str) -> None:
    """Add one option per field of ``cls``, except those the command already has.

    A field named like a command option (``nan_policy`` and ``--nan-policy``) is left
    to the command's option, which means the same for the whole run.
    """
    taken = parser._option_string_actions
    add_options(parser, cls, title=title,
                skip=tuple(f.name for f in describe(cls) if f.option in taken))


def summary_options(parser: argparse.ArgumentParser) -> None:
    """Add the summary stage's options (and ``--four-neighbours``, an earlier spelling)."""
    add_parameters(parser, STAGES["summary"].params_class, "summary images")
    parser.add_argument("--four-neighbours", action="store_true",
                        help="local correlation over the 4 pixels of a cross instead of the 8 "
                        "surrounding pixels (the same as --eight-neighbours false)")


def summary_params(args: argparse.Namespace, **defaults: Any) -> Any:
    """Return the summary parameters typed (``defaults`` for the others), checked."""
    cls = STAGES["summary"].params_class
    values = {**defaults, **overrides(args, cls)}
    if getattr(args, "four_neighbours", False):
        values["eight_neighbours"] = False
    if values.get("gsig") == 0:  # the command's spelling of "no filter"
        values["gsig"] = None
    return cls.from_dict(values)


class SummaryCommand(StageCommand):
    """``amnesia summary``: the generic command, with ``--four-neighbours``."""

    def setup(self, parser: argparse.ArgumentParser) -> None:
        """Add the generic arguments and ``--four-neighbours``."""
        super().setup(parser)
        parser.add_argument("--four-neighbours", action="store_true",
                            help="local correlation over the 4 pixels of a cross instead of "
                            "the 8 surrounding pixels (the same as --eight-neighbours false)")

    def params(self, args: argparse.Namespace) -> dict[str, Any]:
        """Return the summary parameters: config, typed options, ``--four-neighbours``."""
        values = self.config_sections(args).get("summary", {})
        return {"summary": summary_params(args, **values)}

    def done(self, args: argparse.Namespace, record: dict) -> str:
        """Say the speed."""
        stage = record["stages"]["summary"]
        return f"summary images of {args.movie} ({stage['frames_per_s']} frames/s) → {args.out}"


class MotionCommand(StageCommand):
    """``amnesia motion``: motion correction, then the summary of the corrected movie."""

    def setup(self, parser: argparse.ArgumentParser) -> None:
        """Add ``--template`` and the summary options to the generic arguments."""
        super().setup(parser)
        parser.add_argument("--template", type=Path, default=None,
                            help="a 2-D TIFF to register to (e.g. from another session or a "
                            "structural channel) instead of a template made from the movie")
        summary_options(parser)

    def stages(self, args: argparse.Namespace) -> tuple[str, ...]:
        """Motion, then summary."""
        return ("motion", "summary")

    def params(self, args: argparse.Namespace) -> dict[str, Any]:
        """Motion parameters (with the ``--template`` image) and summary parameters."""
        sections = self.config_sections(args)
        motion = self.stage_params(args, "motion", sections)
        return {"motion": motion,
                "summary": summary_params(args, **sections.get("summary", {}))}

    def inputs(self, args: argparse.Namespace) -> dict[str, Any]:
        """Read the ``--template`` image, handed to the motion stage."""
        if args.template is None:
            return {}
        import tifffile

        if not args.template.is_file():
            raise FileNotFoundError(f"template {args.template} does not exist.")
        return {"motion": {"template": tifffile.imread(args.template)}}

    def done(self, args: argparse.Namespace, record: dict) -> str:
        """Say the speed, the largest shift and the rejected shifts."""
        stage = record["stages"]["motion"]
        rejected = stage.get("rejected_shifts", 0)
        return (f"motion correction of {args.movie} ({stage['frames_per_s']} frames/s, "
                f"largest shift {stage['max_abs_shift']} px, {rejected} shift(s) rejected as "
                f"not supported by the data) → {args.out}")


class CNMFCommand(StageCommand):
    """``amnesia cnmf``: summary images, then CNMF (motion correction first on request)."""

    def setup(self, parser: argparse.ArgumentParser) -> None:
        """Add ``--motion`` to the generic arguments."""
        super().setup(parser)
        parser.add_argument("--motion", action="store_true",
                            help="correct motion first (default motion parameters, or the "
                            "config's 'motion:' section)")

    def stages(self, args: argparse.Namespace) -> tuple[str, ...]:
        """Summary and CNMF, after motion correction with ``--motion`` or a motion section."""
        motion = args.motion or "motion" in self.config_sections(args)
        return (("motion",) if motion else ()) + ("summary", "cnmf")

    def params(self, args: argparse.Namespace) -> dict[str, Any]:
        """CNMF parameters from the config and options; motion's from its section only."""
        sections = self.config_sections(args)
        out: dict[str, Any] = {"summary": STAGES["summary"].make_params(
            sections.get("summary"))}
        out["cnmf"] = self.stage_params(args, "cnmf", sections)
        if "motion" in self.stages(args):
            out["motion"] = STAGES["motion"].make_params(sections.get("motion"))
        return out

    def check(self, params: dict[str, Any], movie: Any) -> None:
        """Refuse patches or neuron sizes that do not fit the movie, before any work."""
        params["cnmf"].check_shape(movie.shape)

    def done(self, args: argparse.Namespace, record: dict) -> str:
        """Say how many components were found and accepted."""
        stage = record["stages"]["cnmf"]
        return (f"CNMF of {args.movie}: {stage['n_components']} components, "
                f"{stage['n_accepted']} accepted, in {stage['elapsed_s']:.1f} s → {args.out}")


class SkeletonCommand(StageCommand):
    """``amnesia skeleton``: several movies, one row each in a statistics table."""

    def setup(self, parser: argparse.ArgumentParser) -> None:
        """Add MOVIES..., the results folder and the skeleton parameters."""
        parser.add_argument("movies", nargs="+",
                            help="movies (files or folders; each argument is one movie — a "
                            "quoted glob is one movie concatenated in time)")
        parser.add_argument("--out", required=True, type=Path, help="results folder to create")
        parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
        add_nan_policy(parser)
        add_parameters(parser, self.stage.params_class, "skeleton (pyAMNESIA's steps 1-8)")

    def run(self, args: argparse.Namespace) -> int:
        """Skeletonize each movie; a failing movie is reported, the others kept."""
        from ..core.files import atomic_folder, check_destination
        from ..core.io import open_movie
        from ..core.progress import drive
        from ..core.skeleton import iter_skeleton_statistics, write_statistics_csv

        cls = self.stage.params_class
        params = cls(**overrides(args, cls))
        check_destination(args.out, args.overwrite, folder=True, inputs=args.movies)
        missing = [m for m in args.movies
                   if not Path(m).exists() and not any(c in m for c in "*?[")]
        if missing:
            raise FileNotFoundError(f"movie {missing[0]} does not exist.")
        # every movie is opened (and checked for NaN) before anything is written: a file
        # that is not a movie stops here with its own message, and no table is left
        movies = [open_movie(m, nan_policy=args.nan_policy) for m in args.movies]
        inputs = [m if movie.dtype.kind != "f" or args.nan_policy != "fill" else movie
                  for m, movie in zip(args.movies, movies, strict=True)]
        with atomic_folder(args.out, overwrite=args.overwrite, inputs=args.movies) as tmp:
            with progress(args) as bar:
                # a NaN-filled movie is passed as an array: its file name names its row
                # and its folder (movie.skeleton, movie-2.skeleton for a second stem)
                rows = drive(iter_skeleton_statistics(inputs, params, errors="record",
                                                      save_dir=tmp, names=args.movies), bar)
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


class ActivityCommand(StageCommand):
    """``amnesia clustering`` / ``amnesia factorization``: a YAML configuration or template."""

    def setup(self, parser: argparse.ArgumentParser) -> None:
        """Add CONFIG, ``--movie``, the results folder, ``--list`` and ``--show``."""
        parser.add_argument("config", nargs="?", help="YAML file or template name")
        parser.add_argument("--movie", default=None,
                            help="the movie (overrides the configuration's input.movie)")
        parser.add_argument("--out", type=Path, default=None, help="results folder to create")
        parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
        add_nan_policy(parser)
        parser.add_argument("--list", action="store_true", help="list the shipped templates")
        parser.add_argument("--show", action="store_true",
                            help="print the configuration (e.g. a template to copy) and exit")
        cls = self.stage.options_class
        add_parameters(parser, cls, f"{self.stage.name} section of the configuration "
                       f"({cls.__name__}; an option typed here replaces the file's value)")

    def typed(self, args: argparse.Namespace, config: dict) -> dict:
        """Put the options typed into the configuration's section of this stage."""
        values = overrides(args, self.stage.options_class)
        if not values:
            return config
        section = self.stage.name
        if config.get(section) is None:
            present = [s for s in ("clustering", "factorization") if config.get(s) is not None]
            raise ValueError(f"options of the {section} section were given, but the "
                             f"configuration has no {section!r} section"
                             + (f" (it holds {present[0]!r})." if present else "."))
        config[section] = {**dict(config[section] or {}), **values}
        return config

    def run(self, args: argparse.Namespace) -> int:
        """Run the configuration into ``--out`` (atomically)."""
        from ..core.clustering import iter_run_config, list_templates, load_template
        from ..core.files import atomic_folder, check_destination
        from ..core.progress import drive

        if args.list:
            print("\n".join(list_templates()))
            return 0
        if not args.config:
            raise ValueError("give a CONFIG (a YAML file or a template name; see --list).")
        config = self.typed(args, load_template(args.config))
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
            from ..core.io import open_movie

            movie = open_movie(source, nan_policy=args.nan_policy)
        with atomic_folder(out, overwrite=args.overwrite, inputs=[source]) as tmp:
            with progress(args) as bar:
                results = drive(iter_run_config(config, movie, output=tmp), bar)
        if "clusterings" in results:
            sizes = ", ".join(f"level {r.level}: {int(r.labels.max())} clusters"
                              for r in results["clusterings"])
            print(f"clustering ({sizes}) → {out}")
        else:
            print(f"factorization ({len(results['factorization'].temporal)} components) → "
                  f"{out}")
        return 0


class ClusteringCommand(ActivityCommand):
    """``amnesia clustering`` (also ``amnesia cluster``, its earlier name)."""

    aliases = ("cluster",)


#: Stage name → its command class (stages not named here get :class:`StageCommand`).
COMMANDS: dict[str, type[StageCommand]] = {
    "summary": SummaryCommand,
    "motion": MotionCommand,
    "cnmf": CNMFCommand,
    "skeleton": SkeletonCommand,
    "clustering": ClusteringCommand,
    "factorization": ActivityCommand,
}


def add_stage_commands(sub: Any) -> dict[str, StageCommand]:
    """Add one subcommand per registered stage to ``sub``; return ``{command: handler}``."""
    handlers: dict[str, StageCommand] = {}
    for stage in STAGES.values():
        command = COMMANDS.get(stage.name, StageCommand)(stage)
        parser = sub.add_parser(stage.name, help=stage.help, aliases=list(command.aliases),
                                description=stage.description or stage.help,
                                formatter_class=Formatter)
        command.setup(parser)
        for name in (stage.name, *command.aliases):
            handlers[name] = command
    return handlers
