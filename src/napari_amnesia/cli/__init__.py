"""The ``amnesia`` command.

::

    amnesia info MOVIE                     what a movie file/folder holds
    amnesia summary MOVIE --out DIR        summary images of a movie → results folder
    amnesia motion MOVIE --out DIR         motion correction (+ summary) → results folder
    amnesia cnmf MOVIE --out DIR           CNMF source extraction (+ summary) → results folder
    amnesia skeleton MOVIES... --out DIR   skeleton and branch statistics, one row per movie
    amnesia clustering CONFIG --out DIR    coactive clustering (YAML; also `amnesia cluster`)
    amnesia factorization CONFIG --out DIR NMF / PCA / ICA (YAML)
    amnesia run CONFIG [--out DIR]         the stages a configuration names, headless
    amnesia batch CONFIG RECORDING... --out DIR   a configuration over many recordings
                                           (--workers N / --scheduler ADDRESS: dask cluster)
    amnesia apply-shifts DIR MOVIE --out F shifts found on one movie applied to another
    amnesia export DIR --format F --out P  results as nwb, suite2p, imagej, csv or labels
    amnesia import SRC --out DIR           suite2p plane / CaImAn .hdf5 → CNMF result folder
    amnesia register DIR... --out OUT      the same cells across sessions: tracks, transforms,
                                           cross-day traces of silent cells too
    amnesia demo [--out DIR] [--view]      the whole pipeline on the built-in synthetic sample

The stage subcommands are generated from the stage registry
(:mod:`napari_amnesia.core.stages`, see :mod:`.stages`): one per stage, named after
it, with one ``--option`` per field of its parameter dataclass.

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
import logging
import sys

from .. import __version__
from .batch import add_batch_command
from .commands import add_commands
from .exchange import add_exchange_commands
from .register import add_register_command
from .stages import add_stage_commands
from .words import in_cli_words, log_as_lines, option_names, plain_help, plain_text, subparser
from .words import warnings_as_lines as _warnings

__all__ = ["main", "build_parser", "in_cli_words", "plain_text"]

logger = logging.getLogger("napari_amnesia")


def _build() -> tuple[argparse.ArgumentParser, dict]:
    from .common import Formatter

    parser = argparse.ArgumentParser(
        prog="amnesia",
        description="napari-amnesia: calcium-imaging analysis from the command line. "
        "Results folders open in napari (napari DIR/summary/*.tif, or amnesia demo --view).",
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"napari-amnesia {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log each step, and show the full traceback of an error")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    handlers: dict = {}
    commands = add_commands(sub)
    commands.update(add_batch_command(sub))
    commands.update(add_register_command(sub))
    commands.update(add_exchange_commands(sub))
    handlers.update({name: stage.run for name, stage in add_stage_commands(sub).items()})
    handlers.update(commands)
    # the subcommands in the order a user meets them: info first, then the stages
    order = ["info", *[n for n in sub.choices if n not in commands], "run", "batch",
             "apply-shifts", "export", "import", "demo"]
    sub._choices_actions.sort(key=lambda a: order.index(a.dest) if a.dest in order else 99)
    plain_help(parser)
    return parser, handlers


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``amnesia`` (documents every option)."""
    return _build()[0]


def main(argv: list[str] | None = None) -> int:
    """Run the ``amnesia`` command; return the exit status."""
    parser, handlers = _build()
    args = parser.parse_args(argv)
    names = option_names(subparser(parser, args.command))
    try:
        with log_as_lines(names, args.verbose), _warnings(names):
            return handlers[args.command](args)
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
