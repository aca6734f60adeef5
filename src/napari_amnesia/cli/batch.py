"""``amnesia batch``: one configuration over many recordings, here or on a dask cluster."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

from .common import Formatter, progress

__all__ = ["add_batch_command"]

logger = logging.getLogger("napari_amnesia")


@contextlib.contextmanager
def _client(args: argparse.Namespace):
    """Yield the ``distributed.Client`` that ``--workers``/``--scheduler`` ask for, or None."""
    if args.workers is None and args.scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if args.workers is not None:
        if args.workers < 1:
            raise ValueError(f"--workers should be at least 1, got {args.workers}.")
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            print(f"amnesia batch: {args.workers} local worker process(es); dashboard "
                  f"{client.dashboard_link}", file=sys.stderr)
            yield client
        return
    address = args.scheduler
    try:
        if Path(address).is_file():
            client = Client(scheduler_file=address, timeout="20s")
        elif "://" in address or ":" in address:
            client = Client(address, timeout="20s")
        else:
            raise FileNotFoundError(f"--scheduler {address}: not an address (tcp://host:port) "
                                    "and no such scheduler file.")
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise OSError(f"--scheduler {address}: could not connect ({exc}).") from None
    with client:
        print(f"amnesia batch: scheduler {client.scheduler.address}; dashboard "
              f"{client.dashboard_link}", file=sys.stderr)
        yield client


def _cmd_batch(args: argparse.Namespace) -> int:
    from ..core.batch import iter_run_batch
    from ..core.progress import drive

    with _client(args) as client:
        generator = iter_run_batch(args.config, args.recordings, args.out, client=client,
                                   force=args.force, overwrite=args.overwrite)
        with progress(args) as bar:
            result = drive(generator, bar)
    rows = result.rows
    if any(r["status"] in ("done", "skipped") for r in rows):
        import csv

        from ..report import batch_report

        cells: list[dict] = []
        cells_csv = Path(result.out) / "cells.csv"
        if cells_csv.is_file():
            with open(cells_csv, newline="") as fh:
                cells = list(csv.DictReader(fh))
        batch_report(rows, cells, Path(result.out) / "batch.png", title=str(args.config))
    counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "skipped", "failed")}
    print(f"{len(rows)} recording(s): {counts['done']} done, {counts['skipped']} skipped, "
          f"{counts['failed']} failed → {result.out / 'batch.csv'}")
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
        "components, accepted, median SNR, time per stage), batch.json (configuration, "
        "versions, a hash per recording), cells.csv (every CNMF component) and batch.png "
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
