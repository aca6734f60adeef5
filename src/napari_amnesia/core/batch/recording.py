"""One recording of a batch: its name, its identity and hash, its run and its row.

The task a ``distributed`` worker runs for each recording is
:func:`_run_on_worker` (imported by name on the worker).
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import json
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..files import jsonable
from ..progress import Progress, drive

__all__ = ["RECORDING_FILE", "WARNINGS_SEPARATOR", "BATCH_MAX_IN_MEMORY_MB", "recording_names",
           "input_identity", "recording_hash", "cell_table", "collect_warnings",
           "iter_run_recording"]

#: What each recording's results folder holds about the batch (hash, row).
RECORDING_FILE = "batch-recording.json"
_CELL_COLUMNS = ("component", "accepted", "snr", "event_rate", "amplitude")
_GLOB = re.compile(r"[*?\[]")
#: How the warnings of one recording are joined in its row's ``warnings`` column.
WARNINGS_SEPARATOR = " | "
#: Warnings for developers, not about a recording: not collected.
_NOT_COLLECTED = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
#: Errors of the input or the configuration: the recording fails, no retry.
_INPUT_ERRORS = (ValueError, TypeError, KeyError, IndexError, FileNotFoundError,
                 NotADirectoryError, IsADirectoryError, PermissionError)


# ---------------------------------------------------------------------- recordings
def _name_of(path: str) -> str:
    text = os.path.expanduser(os.fspath(path)).rstrip("/\\") or "recording"
    if _GLOB.search(text):
        parts = Path(text).parts
        fixed = [p for p in parts if not _GLOB.search(p)]
        base = fixed[-1] if fixed and len(fixed) < len(parts) else Path(text).stem
        base = re.sub(r"[*?\[\]]", "", base) or "recording"
    else:
        p = Path(text)
        base = p.name if p.is_dir() or not p.suffix else p.name[: -len(p.suffix)]
        if base.lower().endswith((".ome", ".tif")):
            base = base.rsplit(".", 1)[0]
    return re.sub(r"[^\w.+-]", "_", base).strip(".") or "recording"


def recording_names(recordings: Iterable[Any]) -> list[str]:
    """Name each recording's results folder after it, unique (``movie``, ``movie-2``).

    Examples
    --------
    >>> recording_names(["x/run.ome.tif", "y/run.tif", "frames/img*.tif"])
    ['run', 'run-2', 'frames']
    """
    names: list[str] = []
    seen: set[str] = set()
    for path in recordings:
        base = _name_of(os.fspath(path))
        name, k = base, 2
        while name.lower() in seen:
            name, k = f"{base}-{k}", k + 1
        seen.add(name.lower())
        names.append(name)
    return names


def _files_of(path: str) -> list[Path]:
    from ..io import natural_sort_key

    text = os.path.expanduser(os.fspath(path))
    p = Path(text)
    if p.is_dir():
        files = [c for c in p.iterdir() if c.is_file() and not c.name.startswith(".")]
    elif p.exists():
        files = [p]
    elif _GLOB.search(text):
        files = [Path(m) for m in glob.glob(text) if Path(m).is_file()]
        if not files:
            raise FileNotFoundError(f"{text}: the pattern matches no files.")
    else:
        raise FileNotFoundError(f"{p}: no such file or folder.")
    return sorted(files, key=natural_sort_key)


def input_identity(path: Any) -> list[list[Any]]:
    """Return ``[[resolved path, size, mtime_ns], ...]`` of a recording's files.

    Raises
    ------
    FileNotFoundError
        If the recording does not exist (or its glob matches nothing).
    """
    out = []
    for f in _files_of(path):
        stat = f.stat()
        out.append([os.fspath(f.resolve()), int(stat.st_size), int(stat.st_mtime_ns)])
    return out


def recording_hash(sections: dict[str, Any], identity: list) -> str:
    """SHA-256 of a configuration's stages and a recording's identity (hex)."""
    text = json.dumps({"config": jsonable(sections), "input": identity}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


#: ``cnmf.max_in_memory_mb`` of a batch whose configuration does not set it: a
#: recording whose float32 copy is larger is streamed, so a worker's memory does not
#: grow with the recordings' length (a single fit's default, 2048, favours speed).
BATCH_MAX_IN_MEMORY_MB = 512.0


def _given_cnmf(config: Any) -> dict[str, Any]:
    """Return the ``cnmf`` section as the user wrote it (a dict or a YAML file), or {}."""
    import yaml

    if not isinstance(config, dict):
        try:
            config = yaml.safe_load(Path(os.path.expanduser(os.fspath(config))).read_text())
        except (OSError, yaml.YAMLError):
            return {}
    given = config.get("cnmf") if isinstance(config, dict) else None
    return given if isinstance(given, dict) else {}


def _sections(config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return a checked configuration's stage sections (plain data) and channel/plane.

    A ``cnmf`` section that does not set ``max_in_memory_mb`` gets
    :data:`BATCH_MAX_IN_MEMORY_MB`.
    """
    import yaml

    from ..pipeline import dump_config, load_config

    checked = load_config(config)
    raw = yaml.safe_load(dump_config(checked))
    selection = {k: checked["input"][k] for k in ("channel", "plane")
                 if checked["input"].get(k) is not None}
    sections = {k: v for k, v in raw.items() if k not in ("name", "input", "output")}
    if isinstance(sections.get("cnmf"), dict) \
            and "max_in_memory_mb" not in _given_cnmf(config):
        sections["cnmf"]["max_in_memory_mb"] = BATCH_MAX_IN_MEMORY_MB
    return sections, selection


# ------------------------------------------------------------------ one recording
def _largest_shift(motion: Any) -> float:
    shifts = np.asarray(getattr(motion, "shifts", np.zeros((0, 2))), np.float64).reshape(-1, 2)
    return round(float(np.hypot(shifts[:, 0], shifts[:, 1]).max()), 3) if len(shifts) else 0.0


def cell_table(sources: Any, *, threshold: float = 0.2) -> list[dict[str, Any]]:
    """Per-component summary of a CNMF result: accepted, SNR, event rate, amplitude.

    An event is a frame whose deconvolved activity (``spikes``) exceeds
    ``threshold`` times that component's largest; the event rate is their number
    per second (``params.fr``), the amplitude their median size (trace units).

    Returns
    -------
    list of dict
        Keys ``component`` (the label value), ``accepted``, ``snr``,
        ``event_rate``, ``amplitude``.
    """
    spikes = np.asarray(sources.spikes, np.float64)
    K, T = spikes.shape if spikes.ndim == 2 else (0, 0)
    rate = float(getattr(sources.params, "fr", 30.0) or 30.0)
    labels = sources.label_values if sources.label_values is not None else np.arange(K) + 1
    snr = sources.snr if sources.snr is not None else np.full(K, np.nan)
    rows = []
    for k in range(K):
        s = spikes[k]
        peak = float(s.max()) if T else 0.0
        events = s[s > threshold * peak] if peak > 0 else s[:0]
        rows.append({"component": int(labels[k]), "accepted": bool(sources.accepted[k]),
                     "snr": round(float(snr[k]), 4),
                     "event_rate": round(len(events) / (T / rate), 4) if T else 0.0,
                     "amplitude": round(float(np.median(events)), 4) if len(events) else 0.0})
    return rows


def _row(record: dict, results: dict) -> dict[str, Any]:
    shape = record["input"].get("shape", [None, None, None])
    row: dict[str, Any] = {"frames": shape[0], "height": shape[1], "width": shape[2]}
    if "motion" in results:
        row["largest_shift"] = _largest_shift(results["motion"])
    if "cnmf" in results:
        sources = results["cnmf"]
        accepted = np.asarray(sources.accepted, bool)
        row["components"] = int(sources.K)
        row["accepted"] = int(accepted.sum())
        snr = None if sources.snr is None else np.asarray(sources.snr, np.float64)[accepted]
        row["median_snr"] = (round(float(np.nanmedian(snr)), 4)
                             if snr is not None and len(snr) else None)
    for stage, entry in record["stages"].items():
        row[f"elapsed_{stage}"] = entry.get("elapsed_s")
    return row


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})


class _Collect(logging.Handler):
    """Keep the package's log records of level WARNING and above (their text)."""

    def __init__(self, add) -> None:
        super().__init__(logging.WARNING)
        self.add = add

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.add(record.getMessage())
        except Exception:  # noqa: BLE001 - a bad log call must not stop the recording
            self.handleError(record)


_LOCK = threading.Lock()
_ACTIVE: list[Any] = []  # the ``add`` of each collection running in this process
#: the showwarning in force when the first collection started (kept after the last)
_SAVED: list[Any] = [warnings.showwarning]


def _show(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` while collections run: collect, then show as before."""
    if not issubclass(category, _NOT_COLLECTED):
        for add in list(_ACTIVE):
            add(str(message))
    _SAVED[0](message, category, filename, lineno, file, line)


@contextlib.contextmanager
def collect_warnings() -> Iterator[list[str]]:
    """Collect the warnings raised while the block runs, and still show them as before.

    Both kinds the package raises are kept, once each, in order: ``warnings.warn``
    (a stage's warning: a capped ``K``, frames without data...) and log records of
    level WARNING of the ``napari_amnesia`` loggers (an empty skeleton). Warnings
    for developers (deprecations) are not kept. They are shown as they were
    (``amnesia: warning:`` lines, napari notifications, a worker's log): the
    filters in force decide, except that "once per place" starts afresh with each
    block (a recording's warnings are not hidden because the previous one raised
    the same).

    Yields
    ------
    list of str
        The messages, filled as they come.

    Notes
    -----
    ``warnings`` keeps one state per process, shared by its threads: blocks may run
    at once in several threads (a dask worker with several threads runs several
    recordings), each then also collects the others' warnings. Hence one thread
    per worker (``dask worker --nthreads 1``), as ``--workers N`` starts them.
    """
    collected: list[str] = []

    def add(text: str) -> None:
        text = " ".join(str(text).split())
        if text and text not in collected:
            collected.append(text)

    handler = _Collect(add)
    package = logging.getLogger("napari_amnesia")
    with _LOCK:
        if not _ACTIVE:
            _SAVED[:] = [warnings.showwarning]
            warnings.showwarning = _show
        _ACTIVE.append(add)
        # a no-op filter (the fallback action anyway) that resets "once per place"
        warnings.filterwarnings("default", append=True)
    package.addHandler(handler)
    try:
        yield collected
    finally:
        package.removeHandler(handler)
        with _LOCK:
            _ACTIVE.remove(add)
            if not _ACTIVE:
                if warnings.showwarning is _show:  # not replaced meanwhile by another
                    warnings.showwarning = _SAVED[0]


def iter_run_recording(sections: dict, selection: dict, path: str, dest: Any, *,
                       digest: str = "", overwrite: bool = False):
    """Run the configuration on one recording into ``dest``; generator twin.

    The warnings raised meanwhile (:func:`collect_warnings`) go to the row's
    ``warnings`` (joined by :data:`WARNINGS_SEPARATOR`), as well as being shown.

    Returns
    -------
    dict
        The recording's row (without name, path, status and folder).
    """
    from ..pipeline import iter_run_config

    config = {**sections, "input": {"movie": os.fspath(path), **selection}}
    row: dict[str, Any] = {}

    with collect_warnings() as collected:
        def before_commit(folder: Path, record: dict, results: dict) -> None:
            row.update(_row(record, results))
            row["warnings"] = WARNINGS_SEPARATOR.join(collected) or None
            if "cnmf" in results:
                _write_csv(folder / "cells.csv", cell_table(results["cnmf"]),
                           list(_CELL_COLUMNS))
            (folder / RECORDING_FILE).write_text(json.dumps(jsonable(
                {"hash": digest, "path": os.fspath(path), "status": "done", "row": row}),
                indent=2))

        try:
            yield from iter_run_config(config, out=dest, overwrite=overwrite,
                                       before_commit=before_commit)
        except Exception as exc:  # the failed row keeps the warnings raised before
            exc.recording_warnings = WARNINGS_SEPARATOR.join(collected) or None
            raise
    row["warnings"] = WARNINGS_SEPARATOR.join(collected) or None
    return row


def _run_on_worker(sections: dict, selection: dict, path: str, dest: str, digest: str,
                   name: str = "", topic: str = "") -> dict[str, Any]:
    """Task of one recording on a ``distributed`` worker (the worker's threads only).

    Each new stage message is sent to the client as an event of ``topic``.
    """
    import dask
    from threadpoolctl import threadpool_limits

    worker = None
    try:
        from distributed import get_worker

        worker = get_worker()
        threads = int(getattr(getattr(worker, "state", worker), "nthreads", 1) or 1)
    except (ImportError, ValueError):  # not on a worker: run as in a local batch
        threads = None
    last = [""]

    def report(step: Progress) -> None:
        if worker is not None and topic and step.message != last[0]:
            last[0] = step.message
            worker.log_event(topic, {"name": name, "message": step.message})

    start = time.perf_counter()
    options = {"scheduler": "threads"} if threads is None else {
        "scheduler": "threads", "num_workers": threads}
    with dask.config.set(options), threadpool_limits(limits=threads, user_api="blas"):
        try:
            row = drive(iter_run_recording(sections, selection, path, dest, digest=digest,
                                           overwrite=True), report)
        except _INPUT_ERRORS as exc:  # the input's fault: no retry would help
            return _failed(exc)
    return {**row, "status": "done", "elapsed": round(time.perf_counter() - start, 3)}


def _failed(exc: BaseException) -> dict[str, Any]:
    """Return the row of a recording that failed with ``exc`` (its error, its warnings)."""
    return {"status": "failed", "error": _first_line(exc),
            "warnings": getattr(exc, "recording_warnings", None)}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]

