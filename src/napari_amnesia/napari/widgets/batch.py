"""The "Batch" dock: one pipeline configuration over many recordings.

The dock only collects inputs and shows results; the work is
:func:`napari_amnesia.core.batch.iter_run_batch`, the same as ``amnesia batch``:

- *recordings*: one movie per line (a file, a folder of frames or a quoted glob);
  *add movies* appends the chosen files, *add folder* the recordings of a folder
  (each movie file and each sub-folder of frames in it);
- *configuration*: a pipeline configuration (``amnesia run``; the Curate ROIs dock's
  *Save pipeline config* writes one);
- *output folder*: gets one results folder per recording, ``batch.csv`` and
  ``batch.json``;
- *workers*: 0 runs in this process; N starts a dask ``LocalCluster`` of N worker
  processes for the run and closes it after; or a *scheduler* address
  (``tcp://HOST:8786``) or scheduler file of a running cluster;
- *force*: redo recordings already done with the same configuration and input.

*Run batch* fills the table, one row per recording (name, status, frames,
components found / accepted, largest shift, time, error, the warnings the recording
raised), as recordings finish
(from ``batch.csv``) and at the end (from the batch's result). *Open* — or a
double-click on a row — adds that recording's results folder to the viewer
(:func:`~napari_amnesia.napari.viewer.load_results`). Choosing an output folder that
holds a ``batch.csv`` shows that earlier batch.

From the console::

    w.add_recordings(["a.tif", "b.tif"]); w.config.value = "pipeline.yaml"
    w.out.value = "results"; w.workers.value = 2; w.run()
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import (
    CheckBox,
    Container,
    FileEdit,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
    Table,
    TextEdit,
)
from qtpy.QtWidgets import QStyledItemDelegate

from ...core.progress import Progress
from ._stage import StageWidget

if TYPE_CHECKING:
    import napari

__all__ = ["BatchWidget", "recordings_in", "COLUMNS"]

logger = logging.getLogger(__name__)

#: the columns of the progress table
COLUMNS = ("name", "status", "frames", "components", "largest shift (px)", "time (s)", "error",
           "warnings")
#: the hint under the configuration field
CONFIG_HINT = ("A pipeline configuration (amnesia run): the Curate ROIs dock's "
               "'Save pipeline config' writes one.")
#: How messages of core.batch.cluster name the dock's two fields.
_LABELS = {"scheduler": "scheduler", "workers": "workers"}
_MOVIE_FILTER = "Movies (*.tif *.tiff *.btf *.tf8 *.npy)"


def _movie_suffixes() -> tuple[str, ...]:
    from ...core.io import NPY_SUFFIXES, TIFF_SUFFIXES

    return tuple(TIFF_SUFFIXES) + tuple(NPY_SUFFIXES)


def _is_movie_file(path: Path) -> bool:
    return (path.is_file() and not path.name.startswith(".")
            and path.name.lower().endswith(_movie_suffixes()))


def _is_frame_folder(path: Path) -> bool:
    return (path.is_dir() and not path.name.startswith(".")
            and any(_is_movie_file(child) for child in path.iterdir()))


def recordings_in(folder) -> list[Path]:
    """Return the recordings of ``folder``: its movie files and its sub-folders of frames.

    Parameters
    ----------
    folder : path
        A folder of recordings (``Animal_1/``, ``Animal_2/``, ``session3.tif``...).

    Returns
    -------
    list of Path
        In natural order (``rec2`` before ``rec10``). A folder holding only
        single-frame images (``img1.tif``... ``img800.tif``) is itself one recording,
        a folder of frames: ``[folder]``.
    """
    from ...core.io import natural_sort_key, open_movie

    folder = Path(folder)
    children = sorted(folder.iterdir(), key=natural_sort_key)
    files = [child for child in children if _is_movie_file(child)]
    folders = [child for child in children if _is_frame_folder(child)]
    if len(files) > 1 and not folders:
        try:  # one frame per file: the frames of one recording (only headers are read)
            single = len(open_movie(folder)) == len(files)
        except Exception:  # noqa: BLE001 - not one movie: each file is a recording
            single = False
        if single:
            return [folder]
    return sorted(files + folders, key=natural_sort_key)


def _number(value: Any) -> float | None:
    """``value`` as a float, or None when empty or not a number."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _cells(row: dict) -> list[str]:
    """Return the table cells of one row of ``batch.csv`` / ``BatchResult.rows``."""

    def whole(key: str) -> str:
        number = _number(row.get(key))
        return "" if number is None else str(int(number))

    found, accepted = whole("components"), whole("accepted")
    components = f"{found} / {accepted}" if found and accepted else found
    shift = _number(row.get("largest_shift"))
    # the whole recording's time when the batch gives it, else the sum of its stages'
    total = _number(row.get("elapsed"))
    times = [total] if total is not None else [
        t for t in (_number(v) for k, v in row.items() if str(k).startswith("elapsed_"))
        if t is not None]
    error = str(row.get("error") or "")
    return [str(row.get("name") or ""), str(row.get("status") or ""), whole("frames"),
            components, "" if shift is None else f"{shift:.1f}",
            f"{sum(times):.1f}" if times else "", error.splitlines()[0] if error else "",
            str(row.get("warnings") or "")]


def _names_running(message: str, name: Any) -> bool:
    """Whether a batch's progress ``message`` says recording ``name`` is running.

    A local batch says ``"<name> (2/5): <stage>"``; one on a cluster
    ``"<name>: <stage>; <other>: <stage>"`` (and ``"<name>: done"`` once it ended,
    by which time ``batch.csv`` says so).
    """
    if not message or not name:
        return False
    return message.startswith(f"{name} (") or any(
        part.startswith(f"{name}: ") for part in message.split("; "))


def _same_path(a: Any, b: Any) -> bool:
    try:
        a, b = (Path(os.fspath(p)).expanduser().resolve() for p in (a, b))
        return a == b
    except (OSError, TypeError, ValueError):
        return False


def _read_csv(path: Path) -> list[dict]:
    """Rows of a ``batch.csv`` (an unreadable or half-written file: no rows)."""
    try:
        with open(path, newline="") as stream:
            return list(csv.DictReader(stream))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []


class BatchWidget(StageWidget):
    """Run one pipeline configuration over many recordings and browse their results.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari.

    Attributes
    ----------
    rows : list of dict
        One per recording, in the order given: what the table shows (the columns of
        ``batch.csv``; ``status`` is "pending", "running", "done", "skipped" or
        "failed").
    """

    stage = "batch"
    title = "batch"
    run_text = "Run batch"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer)
        self.rows: list[dict] = []
        self._out: Path | None = None  # the output folder of the rows shown
        self._cancelled = False  # Cancel was pressed during the running batch
        self.add_files = FileEdit(mode="rm", label="add movies", name="add_files",
                                  filter=_MOVIE_FILTER)
        self.add_files.tooltip = "Movie files to add to the recordings, one recording each."
        self.add_folder = FileEdit(mode="d", label="add folder", name="add_folder")
        self.add_folder.tooltip = ("A folder of recordings: each movie file and each "
                                   "sub-folder of frames in it is added as one recording.")
        self.recordings = TextEdit(value="", label="recordings", name="recordings")
        self.recordings.tooltip = ("One recording per line: a movie file, a folder of "
                                   "frames or a quoted glob ('Animal_1/*.tif').")
        self.recordings.native.setMaximumHeight(90)
        self.config = FileEdit(mode="r", label="configuration", name="config",
                               filter="Configuration (*.yaml *.yml *.json)")
        self.config.tooltip = CONFIG_HINT
        self.config_hint = Label(value=CONFIG_HINT, name="config_hint", label=" ")
        self.out = FileEdit(mode="d", label="output folder", name="out")
        self.out.tooltip = ("Gets one results folder per recording, batch.csv and "
                            "batch.json; a batch run again there skips what is done.")
        self.workers = SpinBox(value=0, min=0, max=512, label="workers", name="workers")
        self.workers.tooltip = ("0: run in this process; N: start a dask LocalCluster of N "
                                "worker processes for the run (closed after).")
        self.scheduler = LineEdit(value="", label="scheduler", name="scheduler")
        self.scheduler.tooltip = ("Or run on a dask cluster already running: its scheduler's "
                                  "address (tcp://HOST:8786) or scheduler file; leave "
                                  "workers at 0.")
        self.force = CheckBox(value=False, text="force (redo recordings already done)",
                              name="force")
        self.table = Table(value=self._table_value([]), name="table", label="progress")
        self.table.read_only = True
        # cells as written (magicgui's delegate would show every number with 4 decimals)
        self.table.native.setItemDelegate(QStyledItemDelegate(self.table.native))
        self.table.native.setMinimumHeight(160)
        self.table.native.cellDoubleClicked.connect(lambda row, _col: self.open_row(row))
        self.open_button = PushButton(text="Open")
        self.open_button.tooltip = "Add the results of the selected recording to the viewer."
        self.open_button.changed.connect(lambda *_: self.open_row())
        self.add_files.changed.connect(lambda *_: self._add_files())
        self.add_folder.changed.connect(lambda *_: self._add_folder())
        self.out.changed.connect(lambda *_: self._show_previous())

        def row(*widgets) -> Container:
            return Container(widgets=list(widgets), layout="horizontal", labels=False)

        self.extend([self.add_files, self.add_folder, self.recordings, self.config,
                     self.config_hint, self.out, self.workers, self.scheduler, self.force,
                     row(self.run_button, self.cancel_button), self.table, self.open_button,
                     self.status])

    # ------------------------------------------------------------------ inputs
    def recording_paths(self) -> list[str]:
        """Return the recordings listed, one per non-empty line."""
        return [line.strip() for line in str(self.recordings.value).splitlines()
                if line.strip()]

    def add_recordings(self, paths) -> int:
        """Append ``paths`` to the recordings (those not listed yet); return how many."""
        listed = self.recording_paths()
        new = [os.fspath(p) for p in paths if os.fspath(p) not in listed]
        new = list(dict.fromkeys(new))
        if new:
            self.recordings.value = "\n".join(listed + new)
        return len(new)

    def _add_files(self) -> None:
        paths = [p for p in (self.add_files.value or ()) if str(p) not in ("", ".")]
        if paths:
            n = self.add_recordings(paths)
            self.status.value = f"Added {n} recording(s)."

    def _add_folder(self) -> None:
        if not self.add_folder.line_edit.value:
            return
        folder = Path(self.add_folder.value)
        if not folder.is_dir():
            self.status.value = f"add folder: {folder} is not a folder."
            return
        found = recordings_in(folder)
        if not found:
            self.status.value = (f"add folder: {folder} holds no movie file (.tif, .tiff, "
                                 ".npy) and no sub-folder of frames.")
            return
        n = self.add_recordings(found)
        if found == [folder]:
            self.status.value = f"Added {folder.name} as one recording (a folder of frames)."
        else:
            self.status.value = f"Added {n} recording(s) of {folder}."

    def _inputs(self) -> dict | None:
        """Check the inputs; return the batch's arguments, or None (the status says why)."""
        # absolute paths: the workers of a cluster do not share this process's folder
        recordings = [os.path.abspath(os.path.expanduser(p)) for p in self.recording_paths()]
        if not recordings:
            self.status.value = ("Add recordings first: movie files ('add movies') or a "
                                 "folder of recordings ('add folder').")
            return None
        if not self.config.line_edit.value:
            self.status.value = ("Choose a configuration first. " + CONFIG_HINT)
            return None
        config = Path(self.config.value)
        from ...core.pipeline import load_config

        try:
            load_config(config)
        except (OSError, ValueError) as exc:
            self.status.value = f"configuration: {exc}"
            return None
        if not self.out.line_edit.value:
            self.status.value = "Choose an output folder first."
            return None
        out = Path(os.path.abspath(os.path.expanduser(self.out.value)))
        if out.exists() and not out.is_dir():
            self.status.value = f"output folder: {out} is a file; choose a folder."
            return None
        if not out.parent.is_dir():
            self.status.value = (f"output folder: {out.parent} does not exist; choose a "
                                 "folder in an existing one.")
            return None
        workers = int(self.workers.value) or None  # 0: here
        scheduler = str(self.scheduler.value).strip() or None
        from ...core.batch.cluster import check_cluster

        try:
            check_cluster(scheduler, workers, labels=_LABELS)
        except (OSError, ValueError) as exc:
            self.status.value = str(exc)[:1].upper() + str(exc)[1:]
            return None
        return {"config": config, "recordings": recordings, "out": out, "workers": workers,
                "scheduler": scheduler, "force": bool(self.force.value)}

    # ------------------------------------------------------------------ running
    def run(self):
        """Run the batch (in a worker); return the worker (None when synchronous)."""
        inputs = self._inputs()
        if inputs is None:
            return None
        from ...core.batch import iter_run_batch, recording_names
        from ...core.batch.cluster import where

        config, recordings, out = inputs["config"], inputs["recordings"], inputs["out"]
        force = inputs["force"]

        def make(client) -> Generator:
            return iter_run_batch(config, recordings, out, client=client, force=force)

        self._out = out
        self._cancelled = False
        self._set_rows([{"name": name, "path": path, "status": "pending"}
                        for name, path in zip(recording_names(recordings), recordings,
                                              strict=True)])

        place = where(inputs["scheduler"], inputs["workers"])
        place = "in this process" if place == "here" else f"on {place}"
        worker = self.launch(_on_cluster(make, workers=inputs["workers"],
                                         scheduler=inputs["scheduler"]),
                             source=os.fspath(out),
                             message=f"Running {len(recordings)} recording(s) {place}...",
                             on_result=self._finished)
        if worker is not None:
            worker.yielded.connect(self._on_step)
        return worker

    def _on_step(self, step: Any) -> None:
        """Show a batch's progress: the status line, and the rows of ``batch.csv``."""
        if not isinstance(step, Progress) or self._cancelled:
            return  # a step that arrives after Cancel changes nothing
        if step.total:
            self.status.value = (f"{step.done} of {step.total} recording(s) done"
                                 + (f": {step.message}" if step.message else "."))
        elif step.message:  # the cluster: starting, connected, its dashboard
            self.status.value = step.message
        self._merge(self._csv_rows(), step.message)

    def cancel(self) -> None:
        """Stop the batch at its next step: recordings not finished are marked cancelled.

        Those done keep their results folders and rows in ``batch.csv``; the same batch
        run again goes on from there.
        """
        running = self._worker is not None
        super().cancel()
        self._cancelled = running
        if running:
            self._set_rows([dict(row, status="cancelled")
                            if row.get("status") in ("pending", "running") else row
                            for row in self.rows])

    def _finished(self, result) -> None:
        rows = [dict(row) for row in getattr(result, "rows", [])]
        self._out = Path(getattr(result, "out", self._out))
        self._set_rows(rows)
        counts = {status: sum(r.get("status") == status for r in rows)
                  for status in ("done", "skipped", "failed")}
        warned = sum(bool(r.get("warnings")) for r in rows)
        self.status.value = (f"Batch finished: {counts['done']} done, {counts['skipped']} "
                             f"skipped (already done), {counts['failed']} failed"
                             + (f", {warned} with warnings (see the table)" if warned else "")
                             + f"; {self._out / 'batch.csv'}.")

    # ------------------------------------------------------------------ the table
    @staticmethod
    def _table_value(rows: list[dict]) -> dict:
        return {"data": [_cells(row) for row in rows] or [],
                "index": list(range(1, len(rows) + 1)), "columns": list(COLUMNS)}

    def _set_rows(self, rows: list[dict]) -> None:
        self.rows = rows
        self.table.value = self._table_value(rows)
        self.table.native.resizeColumnsToContents()

    def _csv_rows(self) -> list[dict]:
        if self._out is None or not (self._out / "batch.csv").is_file():
            return []
        return _read_csv(self._out / "batch.csv")

    def _merge(self, written: list[dict], message: str = "") -> None:
        """Show the rows of ``batch.csv`` and mark the recordings ``message`` says run."""
        if len(written) != len(self.rows) or not all(
                _same_path(new.get("path"), row.get("path"))
                for new, row in zip(written, self.rows, strict=True)):
            written = self.rows  # not written yet (or an earlier batch's): the rows shown
        rows = []
        for new, old in zip(written, self.rows, strict=True):
            if new.get("status") == "pending" and old.get("status") == "cancelled":
                new = old  # a step that arrives after Cancel
            elif new.get("status") == "pending" and (
                    old.get("status") == "running" or _names_running(message, new.get("name"))):
                new = dict(new, status="running")
            rows.append(new)
        if rows != self.rows:
            self._set_rows(rows)

    def _show_previous(self) -> None:
        """Show the ``batch.csv`` of the output folder just chosen, if it holds one."""
        if self._worker is not None or not self.out.line_edit.value:
            return
        self._out = Path(self.out.value)
        rows = self._csv_rows()
        if rows:
            self._set_rows(rows)
            self.status.value = (f"{self._out} holds a batch of {len(rows)} recording(s): "
                                 "double-click a row (or Open) to view its results.")

    def open_row(self, index: int | None = None):
        """Add the results folder of row ``index`` (default: the selected one) to the viewer.

        Returns
        -------
        list of napari.layers.Layer or None
            The layers added; None (and a status saying why) when there is nothing to open.
        """
        from ..viewer import load_results

        if index is None:
            selected = self.table.native.selectionModel().selectedRows()
            index = (selected[0].row() if selected
                     else self.table.native.currentRow())
        if index is None or not 0 <= index < len(self.rows):
            self.status.value = "Select a recording in the table first."
            return None
        row = self.rows[index]
        name = row.get("name") or f"row {index + 1}"
        if row.get("status") not in ("done", "skipped"):
            error = row.get("error")
            self.status.value = (f"{name!r} failed: {str(error).splitlines()[0]}"
                                 if row.get("status") == "failed" and error
                                 else f"{name!r} has no results yet ({row.get('status')}).")
            return None
        folder = Path(row.get("folder") or row.get("name") or "")
        if not folder.is_dir() and self._out is not None:  # written from another folder
            folder = self._out / str(row.get("name"))
        try:
            layers = load_results(self._viewer, folder)
        except (OSError, ValueError) as exc:
            self.status.value = f"Could not open {name!r}: {exc}"
            return None
        self.status.value = f"Opened {name!r}: {len(layers)} layer(s) from {folder}."
        return layers


def _on_cluster(make, *, workers: int | None, scheduler: str | None) -> Generator:
    """Run ``make(client)``'s batch in this process, on a new LocalCluster or a running one.

    A generator (run in the dock's worker) around
    :func:`napari_amnesia.core.batch.cluster.connect`, as ``amnesia batch --workers N``
    / ``--scheduler ADDRESS``: the LocalCluster of ``workers`` processes is started
    here and closed when the batch ends, fails or is cancelled.
    """
    from ...core.batch.cluster import connect, describe, where

    if workers or scheduler:
        yield Progress(0, 0, f"Starting {where(scheduler, workers)}..." if workers
                       else f"Connecting to the scheduler {scheduler}...")
    with connect(scheduler, workers, labels=_LABELS) as client:
        if client is not None:
            yield Progress(0, 0, f"Running on {describe(client)}")
        return (yield from make(client))
