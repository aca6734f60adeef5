"""``amnesia register``: the same cells across sessions (issue 17).

::

    amnesia register DAY1 DAY2 DAY3 --out tracked/

reads the CNMF results of every session (``amnesia cnmf`` results folders, or suite2p /
CaImAn results imported into the package's folders), aligns them into one common space,
matches their cells all at once (:func:`napari_amnesia.core.multisession.register`) and,
where it finds the sessions' movies, re-extracts the cells that were silent on a day
(:func:`napari_amnesia.core.multisession.reextract_silent`). It writes:

================================  ===========================================================
``tracks.csv``                    one row per track: its footprint (component) index in
                                  each session (-1: not found), sessions holding it,
                                  confidence, centre in the common space
``assignments.csv``               the n_tracks × S matrix alone
``transforms.json``               each session's map into the common space
``aligned_templates.tif``         the templates in the common space (one page per session)
``cross_day.csv``                 track × session: measured, re_extracted, event rate,
                                  amplitude, SNR (with the movies)
``cross_day/traces.npz``          the traces themselves (one array per session)
``tracks.png``                    the tracks on the common template, coloured by how many
                                  sessions hold them, and the confidence histogram
``registration/``                 the whole result, reloadable
                                  (``RegistrationResult.load``)
================================  ===========================================================
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from .common import OVERWRITE_HELP, Formatter, progress

__all__ = ["add_register_command", "tracks_figure"]

logger = logging.getLogger("napari_amnesia")


def tracks_figure(result: Any, *, title: str = ""):
    """Return a matplotlib figure: tracks on the common template, coloured by sessions held.

    The right panel is the histogram of the tracks' confidence.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import BoundaryNorm, ListedColormap

    S = result.n_sessions
    labels = result.labels()
    counts = np.concatenate([[0], result.counts()])
    image = counts[labels].astype(float)
    image[labels == 0] = np.nan
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6),
                                      gridspec_kw={"width_ratios": [1.4, 1]})
    left.imshow(result.template, cmap="gray")
    colours = plt.get_cmap("viridis", S)
    shown = left.imshow(image, cmap=ListedColormap(colours(np.arange(S))),
                        norm=BoundaryNorm(np.arange(0.5, S + 1), S), alpha=0.6,
                        interpolation="nearest")
    bar = fig.colorbar(shown, ax=left, ticks=np.arange(1, S + 1), fraction=0.046)
    bar.set_label("sessions holding the track")
    left.set_title(f"{result.n_tracks} tracks over {S} sessions")
    left.axis("off")
    right.hist(result.confidence, bins=np.linspace(0, 1, 21), color="tab:blue")
    right.set_xlabel("track confidence (probability of one whole cell)")
    right.set_ylabel("tracks")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _cmd_register(args: argparse.Namespace) -> int:
    import csv

    import numpy as np
    import tifffile

    from .._fields import overrides
    from ..core.files import atomic_folder, check_destination
    from ..core.multisession import RegistrationParams, iter_register
    from ..core.progress import drive

    folders = [Path(os.path.expanduser(str(f))) for f in args.results]
    for folder in folders:
        if not folder.exists():
            raise FileNotFoundError(f"{folder}: no such results folder.")
    if args.names is not None and len(args.names) != len(folders):
        raise ValueError(f"--names gives {len(args.names)} names for {len(folders)} results "
                         "folders.")
    if args.movies is not None and len(args.movies) != len(folders):
        raise ValueError(f"--movies gives {len(args.movies)} movies for {len(folders)} "
                         "results folders (one per folder, in the same order).")
    movies_paths: list[Any] = [None] * len(folders)
    if args.movies is not None:
        movies_paths = [None if m.lower() == "none" else Path(m) for m in args.movies]
        for m in movies_paths:
            if m is not None and not m.exists():
                raise FileNotFoundError(f"--movies: {m} does not exist.")
    elif not args.no_reextract:
        from ..core.multisession.opening import find_movie

        movies_paths = [find_movie(f) for f in folders]
    inputs = [*folders, *[m for m in movies_paths if m is not None]]
    check_destination(args.out, args.overwrite, folder=True, inputs=inputs)
    params = RegistrationParams.resolve(None, overrides(args, RegistrationParams))
    with progress(args) as bar:
        result = drive(iter_register([str(f) for f in folders], None, params,
                                     names=args.names), bar)
    cross = None  # (the registration's notes were logged as warnings already)
    if not args.no_reextract and any(m is not None for m in movies_paths):
        from ..core.io import open_movie
        from ..core.multisession import iter_reextract_silent

        movies = [None if m is None else open_movie(m) for m in movies_paths]
        with progress(args) as bar:
            cross = drive(iter_reextract_silent(result, movies,
                                                footprints=[str(f) for f in folders]), bar)
        for note in cross.notes:
            logger.warning("%s", note)
    elif not args.no_reextract:
        logger.warning("no movie found for any session (pass --movies): the silent cells "
                       "were not re-extracted")
    with atomic_folder(args.out, overwrite=args.overwrite, inputs=inputs) as tmp:
        result.save(tmp / "registration")
        result.write_tracks_csv(tmp / "tracks.csv")
        with open(tmp / "assignments.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(result.session_names)
            writer.writerows(result.assignments.tolist())
        (tmp / "transforms.json").write_text(json.dumps(
            {name: t.to_dict() for name, t in zip(result.session_names, result.transforms,
                                                  strict=True)}, indent=1))
        tifffile.imwrite(tmp / "aligned_templates.tif",
                         np.asarray(result.aligned_templates, np.float32),
                         photometric="minisblack")
        if cross is not None:
            cross.write_table(tmp / "cross_day.csv")
            cross.save(tmp / "cross_day")
        fig = tracks_figure(result, title=", ".join(result.session_names))
        fig.savefig(tmp / "tracks.png", dpi=110)
        import matplotlib.pyplot as plt

        plt.close(fig)
    counts = np.bincount(result.counts(), minlength=result.n_sessions + 1)[1:]
    re = "" if cross is None else (f"; {int(cross.re_extracted.sum())} silent measurement(s) "
                                   "re-extracted")
    print(f"{result.n_tracks} tracks over {result.n_sessions} sessions (held by 1..S "
          f"sessions: {counts.tolist()}){re} → {args.out}")
    return 0


def add_register_command(sub: Any) -> dict:
    """Add ``register``; return ``{"register": function}``."""
    from .._fields import add_options
    from ..core.multisession.params import RegistrationParams

    parser = sub.add_parser(
        "register", help="the same cells across sessions: tracks, transforms, cross-day "
        "traces",
        description="Register the cells of several sessions of one field (results folders "
        "of amnesia cnmf, or suite2p/CaImAn results imported into them): every session "
        "aligned into one common space (rigid, rotation and smooth non-rigid; no reference "
        "session), the cells of all sessions matched at once (at most one per session per "
        "track; the order of the folders does not matter), and the cells silent on a day "
        "re-extracted from that day's movie. Writes tracks.csv, assignments.csv, "
        "transforms.json, aligned_templates.tif, cross_day.csv, tracks.png and "
        "registration/ (reloadable) into --out.",
        formatter_class=Formatter)
    parser.add_argument("results", nargs="+", metavar="RESULTS_DIR",
                        help="a session's results folder (with cnmf/result/)")
    parser.add_argument("--out", required=True, type=Path, help="the folder to create")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    parser.add_argument("--names", nargs="+", default=None, metavar="NAME",
                        help="the sessions' names in tables (default: the folders' names)")
    parser.add_argument("--movies", nargs="+", default=None, metavar="MOVIE",
                        help="each session's movie, in the order of the folders ('none' "
                        "skips one), for the re-extraction of silent cells (default: "
                        "motion/corrected.tif of each folder, else the movie its "
                        "summary.json names)")
    parser.add_argument("--no-reextract", action="store_true",
                        help="do not re-extract the silent cells (no movies read)")
    parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars")
    add_options(parser, RegistrationParams, title="registration parameters")
    return {"register": _cmd_register}
