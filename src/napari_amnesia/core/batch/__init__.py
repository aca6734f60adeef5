"""One configuration over many recordings, here or on a ``dask.distributed`` cluster.

:func:`iter_run_batch` applies a pipeline configuration (as
:func:`napari_amnesia.core.pipeline.load_config` reads it; its ``input:`` is
replaced by each recording) to every recording and writes::

    DIR/
      batch.csv            one row per recording (see BatchResult.COLUMNS)
      batch.json           the configuration, versions, and per recording its hash
      cells.csv            every CNMF component of every recording (when CNMF ran)
      recordings.csv       one row of totals per recording: cells found and accepted,
                           median and mean event rate, amplitude and SNR of the
                           accepted ones, the skeleton's totals (when it ran)
      skeleton_statistics.csv, branches.csv   when the skeleton stage ran: one row
                           per recording as ``amnesia skeleton`` writes, every branch
      <name>/              one results folder per recording, as ``amnesia run`` writes
        batch-recording.json   its hash and row (what a later run compares against)
        cells.csv              its components: snr, event rate, amplitude, accepted

A recording is a movie file, a folder of frames or a glob; its folder is named
after it (``movie.tif`` → ``movie``; ``Animal_1/*.tif`` → ``Animal_1``) and made
unique (``movie``, ``movie-2``...). Its hash covers the configuration's stages and
the input's identity (resolved paths, sizes, modification times): running the same
batch again skips the recordings done with the same hash and redoes the failed or
changed ones (``force=True`` redoes all). A recording that fails (missing, corrupt,
bad shape) gets a ``failed`` row with its error; the others go on. What the stages
warn about a recording (a capped ``K``, an empty skeleton) goes to its row's
``warnings``, wherever it ran (:func:`~.recording.collect_warnings`).

:func:`napari_amnesia.core.batch.cluster.connect` gives the client of a
``LocalCluster`` started for the run, or of a running cluster. With a
``distributed.Client``, each recording is one task
(``client.submit(..., pure=False, retries=2)``): the worker opens the movie from
its path (arrays never go through the scheduler), runs the stages with its own
threads and writes the recording's folder atomically. A worker that dies costs
only its task, which the scheduler runs again elsewhere; a half-written folder is
never left under the final name. The results equal those of a local run: the
stages give the same answer whatever the number of threads.

Examples
--------
>>> from napari_amnesia.core.batch import recording_names
>>> recording_names(["a/movie.tif", "b/movie.tif", "Animal_1/*.tif", "day2/"])
['movie', 'movie-2', 'Animal_1', 'day2']
>>> run_batch("config.yaml", ["m1.tif", "m2.tif"], "study")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import glob
import json
import logging
import os
import re
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import __version__
from ..files import atomic_file, check_destination, jsonable
from ..progress import Progress, drive
from .recording import (  # noqa: F401 - the task and helpers live there
    RECORDING_FILE,
    WARNINGS_SEPARATOR,
    _failed,
    _first_line,
    _run_on_worker,
    _sections,
    _write_csv,
    cell_table,
    input_identity,
    iter_run_recording,
    recording_hash,
    recording_names,
)
from .tables import check_tables, recording_totals, write_tables

__all__ = ["BatchResult", "RecordingWarning", "iter_run_batch", "run_batch", "recording_names",
           "input_identity", "recording_hash", "cell_table", "recording_totals",
           "RECORDING_FILE"]

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What a batch did: one row per recording, and where it wrote.

    Attributes
    ----------
    rows : list of dict
        One per recording, in the order given; keys :attr:`COLUMNS`, then
        ``elapsed_<stage>`` (seconds) for each stage of the configuration,
        ``elapsed`` (seconds for the whole recording, writing included; blank when
        skipped) and ``folder``.
    out : Path
        The batch folder.
    cells : list of dict
        Every CNMF component of the recordings with results, as in ``cells.csv``
        (``recording``, ``component``, ``accepted``, ``snr``, ``event_rate``,
        ``amplitude``).
    totals : list of dict
        One row per recording with results, as in ``recordings.csv``
        (:func:`~napari_amnesia.core.batch.tables.recording_totals`).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    out: Path | None = None
    cells: list[dict[str, Any]] = field(default_factory=list)
    totals: list[dict[str, Any]] = field(default_factory=list)

    #: The first columns of ``batch.csv`` (then ``elapsed_<stage>``, ``elapsed``, ``folder``).
    COLUMNS = ("name", "path", "status", "error", "warnings", "frames", "height", "width",
               "largest_shift", "components", "accepted", "median_snr")

    def table(self) -> list[dict[str, Any]]:
        """Return the rows (one dict per recording, as in ``batch.csv``)."""
        return [dict(row) for row in self.rows]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The rows of the recordings that failed."""
        return [row for row in self.rows if row["status"] == "failed"]


# ----------------------------------------------------------------------- the batch
def _previous(folder: Path) -> dict | None:
    try:
        return json.loads((folder / RECORDING_FILE).read_text())
    except (OSError, ValueError):
        return None


def _clean_parts(out: Path, names: Iterable[str]) -> None:
    """Remove temporary folders a killed worker left (``.<name>.<8 hex>.part``)."""
    for name in names:
        pattern = re.compile(rf"^\.{re.escape(name)}\.[0-9a-f]{{8}}\.part$")
        for child in out.glob(f".{glob.escape(name)}.*.part"):
            if child.is_dir() and pattern.match(child.name):
                import shutil

                shutil.rmtree(child, ignore_errors=True)


def _versions() -> dict[str, str]:
    import dask

    versions = {"napari_amnesia": __version__, "dask": dask.__version__}
    try:
        import distributed

        versions["distributed"] = distributed.__version__
    except ImportError:  # pragma: no cover - a dependency
        pass
    return versions


class _Writer:
    """``batch.csv``, ``batch.json`` and ``cells.csv`` of a batch folder, rewritten as rows end."""

    def __init__(self, out: Path, sections: dict, stages: list[str], rows: list[dict],
                 hashes: list[str]) -> None:
        self.out, self.sections, self.rows, self.hashes = out, sections, rows, hashes
        self.columns = [*BatchResult.COLUMNS, *(f"elapsed_{s}" for s in stages), "elapsed",
                        "folder"]
        self.created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")

    def check(self) -> None:
        for name in ("batch.csv", "batch.json"):
            check_destination(self.out / name, True, folder=False)
        check_tables(self.out)

    def write(self) -> None:
        with atomic_file(self.out / "batch.csv", overwrite=True) as tmp:
            _write_csv(tmp, self.rows, self.columns)
        data = {**_versions(), "created": self.created, "config": self.sections,
                "recordings": [{"name": r["name"], "path": r["path"], "hash": h,
                                "status": r["status"], "error": r.get("error")}
                               for r, h in zip(self.rows, self.hashes, strict=True)]}
        with atomic_file(self.out / "batch.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(jsonable(data), indent=2))


def iter_run_batch(config: Any, recordings: Iterable[Any], out: Any, *, client: Any = None,
                   force: bool = False, overwrite: bool = False
                   ) -> Iterator[Progress]:
    """Run one configuration on many recordings; generator twin of :func:`run_batch`.

    Parameters
    ----------
    config : path or dict
        A pipeline configuration (:func:`napari_amnesia.core.pipeline.load_config`);
        its ``input:`` movie and ``output:`` are ignored (channel/plane are kept).
    recordings : iterable of path
        Movie files, folders of frames or glob patterns; each gets ``out/<name>``.
    out : path
        The batch folder (created if missing; its parent must exist).
    client : distributed.Client, optional
        Run each recording as one task on this cluster. None: here, one after the
        other, with the stages' own local threads.
    force : bool
        Redo every recording, even those done before with the same hash.
    overwrite : bool
        Replace results folders under ``out`` that this package wrote but no batch
        did (folders that are not the package's are never replaced).

    Yields
    ------
    Progress
        Recordings done of N; the message names the current recording (and stage).

    Returns
    -------
    BatchResult
    """
    sections, selection = _sections(config)
    recordings = [os.fspath(r) for r in recordings]
    if not recordings:
        raise ValueError("no recording given: name at least one movie, folder or glob.")
    out = Path(os.path.expanduser(os.fspath(out)))
    if not out.exists():
        check_destination(out, False, folder=True)
        out.mkdir()
    elif not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a folder.")
    names = recording_names(recordings)
    stages = [s for s in sections if s in _stage_names()]
    rows: list[dict] = [{"name": n, "path": p, "status": "pending", "error": None,
                         "folder": os.fspath(out / n)} for n, p in zip(names, recordings,
                                                                       strict=True)]
    hashes = [""] * len(rows)
    writer = _Writer(out, sections, stages, rows, hashes)
    writer.check()
    todo: list[int] = []
    for i, row in enumerate(rows):
        dest = out / row["name"]
        try:
            hashes[i] = recording_hash({**sections, "input": selection},
                                       input_identity(row["path"]))
        except OSError as exc:
            row.update(status="failed", error=_first_line(exc))
            continue
        before = _previous(dest) if dest.is_dir() else None
        if before is not None and not force and before.get("hash") == hashes[i] \
                and before.get("status") == "done":
            row.update({**before.get("row", {}), "status": "skipped"})
            continue
        if dest.exists() and before is None and not overwrite and any(dest.iterdir()):
            row.update(status="failed", error=f"{dest} already exists and no batch wrote "
                       "it; choose another folder or pass overwrite=True.")
            continue
        todo.append(i)
    writer.write()
    total = len(rows)
    done = total - len(todo)
    yield Progress(done, total, f"{len(todo)} recording(s) to run")
    try:
        if client is None:
            for i in todo:
                row = rows[i]
                message = f"{row['name']} ({done + 1}/{total})"
                start = time.perf_counter()
                try:
                    gen = iter_run_recording(sections, selection, row["path"],
                                             out / row["name"], digest=hashes[i],
                                             overwrite=True)
                    result = {**(yield from _relay(gen, done, total, message)),
                              "status": "done"}
                except Exception as exc:  # noqa: BLE001 - one recording's failure
                    logger.info("recording %s failed", row["path"], exc_info=True)
                    result = _failed(exc)
                result.setdefault("elapsed", round(time.perf_counter() - start, 3))
                row.update(result)
                done += 1
                writer.write()
                yield Progress(done, total, f"{row['name']}: {row['status']}")
        else:
            yield from _run_distributed(client, rows, hashes, todo, sections, selection,
                                        out, writer, done)
    finally:
        _clean_parts(out, names)
    cells, totals = write_tables(out, rows)
    writer.write()
    return BatchResult(rows=[{k: r.get(k) for k in writer.columns} for r in rows], out=out,
                       cells=cells, totals=totals)


def _stage_names() -> tuple[str, ...]:
    from ..stages import names

    return names()


def _relay(gen: Any, done: int, total: int, message: str):
    """Re-yield a recording's progress as batch progress (recordings done of N)."""
    try:
        while True:
            step = next(gen)
            if isinstance(step, Progress):
                yield Progress(done, total, f"{message}: {step.message}")
    except StopIteration as stop:
        return stop.value
    finally:
        gen.close()


def _run_distributed(client: Any, rows: list[dict], hashes: list[str], todo: list[int],
                     sections: dict, selection: dict, out: Path, writer: _Writer,
                     done: int):
    """Submit one task per recording; collect them as they end (generator)."""
    import uuid

    total = len(rows)
    futures = {}
    tag = uuid.uuid4().hex[:8]
    topic = f"amnesia-batch-{tag}"
    current: dict[str, str] = {}

    def follow(event: Any) -> None:  # in the client's thread: the stage each worker is at
        message = event[1] if isinstance(event, tuple) else event
        if isinstance(message, dict) and message.get("name"):
            current[message["name"]] = message.get("message", "")

    client.subscribe_topic(topic, follow)
    for i in todo:
        row = rows[i]
        future = client.submit(_run_on_worker, sections, selection, row["path"],
                               os.fspath(out / row["name"]), hashes[i], row["name"], topic,
                               pure=False, retries=2, key=f"amnesia-batch-{row['name']}-{tag}")
        futures[future] = i
    pending = set(futures)
    shown = ""
    try:
        while pending:
            # polled, not distributed.wait: that one needs the client to be dask's default
            finished = {f for f in pending if f.done()}
            if not finished:
                running = "; ".join(f"{n}: {m}" for n, m in list(current.items()))
                if running and running != shown:
                    shown = running
                    yield Progress(done, total, running)
                time.sleep(0.1)
                continue
            pending -= finished
            for future in sorted(finished, key=futures.get):
                i = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - a task that failed after its retries
                    result = _failed(exc)
                rows[i].update(result)
                _show_warnings(rows[i])  # shown on the worker only: show them here too
                current.pop(rows[i]["name"], None)
                done += 1
                writer.write()
                yield Progress(done, total, f"{rows[i]['name']}: {rows[i]['status']}")
    finally:
        left = [f for f in futures if not f.done()]
        if left:
            client.cancel(left)
        try:
            client.unsubscribe_topic(topic)
        except (KeyError, ValueError):  # pragma: no cover - already gone
            pass


class RecordingWarning(UserWarning):
    """A warning a recording of a batch raised on a cluster's worker, shown here."""


def _show_warnings(row: dict) -> None:
    for text in str(row.get("warnings") or "").split(WARNINGS_SEPARATOR):
        if text.strip():
            warnings.warn(f"{row['name']}: {text.strip()}", RecordingWarning, stacklevel=2)


def run_batch(config: Any, recordings: Iterable[Any], out: Any, client: Any = None,
              **kwargs: Any) -> BatchResult:
    """Run one configuration on many recordings to the end; see :func:`iter_run_batch`.

    ``kwargs``: ``force``, ``overwrite`` and ``progress`` (a callback receiving each
    :class:`~napari_amnesia.core.progress.Progress`).
    """
    progress = kwargs.pop("progress", None)
    return drive(iter_run_batch(config, recordings, out, client=client, **kwargs), progress)
