"""``amnesia batch``: one configuration over many recordings, here or on a dask cluster."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .common import Formatter, progress

__all__ = ["add_batch_command"]

logger = logging.getLogger("napari_amnesia")


#: How messages of core.batch.cluster name the two choices here.
_LABELS = {"scheduler": "--scheduler", "workers": "--workers"}


def _cmd_batch(args: argparse.Namespace) -> int:
    from ..core.batch import iter_run_batch
    from ..core.batch.cluster import connect, describe
    from ..core.progress import drive

    with connect(args.scheduler, args.workers, labels=_LABELS) as client:
        if client is not None:
            print(f"amnesia batch: {describe(client)}", file=sys.stderr)
        generator = iter_run_batch(args.config, args.recordings, args.out, client=client,
                                   force=args.force, overwrite=args.overwrite)
        with progress(args) as bar:
            result = drive(generator, bar)
    rows = result.rows
    if any(r["status"] in ("done", "skipped") for r in rows):
        from ..report import batch_report

        batch_report(rows, result.cells, Path(result.out) / "batch.png",
                     totals=result.totals, title=str(args.config))
    counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "skipped", "failed")}
    warned = sum(bool(r.get("warnings")) for r in rows)
    print(f"{len(rows)} recording(s): {counts['done']} done, {counts['skipped']} skipped, "
          f"{counts['failed']} failed" + (f", {warned} with warnings (batch.csv's warnings "
                                           "column)" if warned else "")
          + f" → {result.out / 'batch.csv'}")
    for row in result.failed:
        print(f"amnesia: error: {row['name']} ({row['path']}): {row['error']}",
              file=sys.stderr)
    return 1 if result.failed else 0


def add_batch_command(sub) -> dict:
    """Add ``batch``; return ``{"batch": function}``."""
    batch = sub.add_parser(
        "batch", help="one configuration over many recordings (here or on a dask cluster)",
        description="Run the stages of a configuration (as for `amnesia run`; its input: is "
        "replaced) on every RECORDING: one results folder per recording under --out, named "
        "after it, plus batch.csv (one row per recording: status, frames, largest shift, "
        "components, accepted, median SNR, time per stage, the warnings it raised), batch.json "
        "(configuration, versions, a hash per recording), cells.csv (every CNMF component), "
        "recordings.csv (per recording: cells found and accepted, median and mean event "
        "rate, amplitude and SNR of the accepted ones, skeleton totals), "
        "skeleton_statistics.csv and branches.csv (with a skeleton section) and batch.png "
        "(components, event rates and SNR per recording). Running the "
        "same command again skips the recordings done with the same configuration and "
        "input, and redoes failed or changed ones. A failed recording does not stop the "
        "others; the exit status is 1 if any failed. --workers N runs the recordings on a "
        "local dask cluster of N processes, --scheduler on an existing one (each worker "
        "reads the movies from their paths: they must see the same files).",
        formatter_class=Formatter)
    batch.add_argument("config", type=Path, help="the configuration file (YAML or JSON)")
    batch.add_argument("recordings", nargs="+", metavar="RECORDING",
                       help="a movie file, a folder of frames or a quoted glob ('A1/*.tif')")
    batch.add_argument("--out", required=True, type=Path,
                       help="the batch folder (created if missing)")
    where = batch.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="start a local dask cluster of N worker processes (one thread "
                       "each) for the run (default: run here, one recording after the other)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on an existing dask cluster: its address (tcp://host:8786) "
                       "or its scheduler file")
    batch.add_argument("--force", action="store_true",
                       help="redo every recording, even those done with the same "
                       "configuration and input")
    batch.add_argument("--overwrite", action="store_true",
                       help="replace results folders under --out that napari-amnesia wrote "
                       "outside a batch (folders it did not write are never replaced)")
    batch.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="no progress bar")
    return {"batch": _cmd_batch}
