"""The "Sessions" dock: the same cells across days (issue 17).

The dock only collects inputs and shows results; the work is the core's
(:mod:`napari_amnesia.core.multisession`), the same as ``amnesia register``:

- *sessions*: one CNMF results folder per line, in the order of the days (*add
  session* appends a folder chosen in a dialog; delete a line to remove a session);
- the registration's parameters (:class:`~napari_amnesia.core.multisession.
  RegistrationParams`: the essential ones, the others under "Advanced settings") and
  *re-extract silent cells* (where each session's movie is found next to its results);
- *Register* runs :func:`~napari_amnesia.core.multisession.opening.iter_open_sessions`
  in a worker (progress bar, *Cancel* stops it and adds nothing) and shows:

  - ``sessions · aligned templates``: the templates in the common space, ONE Image
    ``(session, y, x)`` — step the session slider to flip between days;
  - ``sessions · tracks``: ONE Labels ``(session, y, x)``: in each session the
    footprints it holds, carried into the common space, each with its track's label
    (track + 1) — a cell keeps its label across sessions; ``features``: ``index``,
    ``track``, ``n_sessions``, ``confidence``, ``edited``;
  - ``sessions · re-extracted`` (with a re-extraction): the tracks measured by
    re-extraction in a session where they were silent, outlined in their label's
    colour;
  - ``sessions · common template`` (hidden).

- the *tracks* table (a row per track: its footprint in each session, -1 where not
  found, sessions holding it, confidence, edited); clicking a row selects the track;
- picking a label of the tracks layer (or a row) selects the track: the trace dock
  plots its traces across days, one axis per session (the re-extracted ones in grey);
- *Split* moves the track's footprints of the session shown and the later ones into a
  new track; *Merge* puts *other track* into *track*; *Reassign* moves the track's
  footprint of the session shown into *other track* (-1: a new track of its own);
  *Undo* / *Redo* (also Ctrl-Z / Ctrl-Shift-Z on the tracks layer). Each edit is the
  core's (:class:`~napari_amnesia.core.multisession.editing.TrackEditor`), and the
  table, the labels and the layer's features follow;
- *Save* writes the edited registration (tracks renumbered in position order,
  ``tracks.csv``, the edit log) into *save to*, atomically; an existing folder is
  replaced only with *overwrite* and only if this package wrote it. *Open* reads a
  saved registration back for editing.

From the console::

    w.add_sessions(["day1", "day2", "day3"]); w.run()
    w.editor.merge(4, 17); w.refresh(); w.save("tracked")
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    PushButton,
    SpinBox,
    Table,
    TextEdit,
)
from qtpy.QtWidgets import QStyledItemDelegate

from ...core.multisession.params import RegistrationParams
from ..layers import layer_name, show
from ..session import session_for, unproxied
from ._controls import controls_for, values_of
from ._stage import StageWidget

if TYPE_CHECKING:
    import napari

__all__ = ["SessionsWidget", "SOURCE", "RE_EXTRACTED_COLOR"]

logger = logging.getLogger(__name__)

#: the source name of the dock's layers (``"sessions · tracks"``...)
SOURCE = "sessions"
#: the colour of a re-extracted trace in the trace dock
RE_EXTRACTED_COLOR = "0.55"


class SessionsWidget(StageWidget):
    """Register sessions, show their tracks, edit them (see the module documentation).

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari.

    Attributes
    ----------
    editor : TrackEditor or None
        The tracks being edited (also in the viewer's session under
        ``("sessions", "multisession")``).
    """

    stage = "multisession"
    title = "multi-session registration"
    run_text = "Register"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer)
        self._updating = False  # the dock itself is changing the selection
        self.add_folder = FileEdit(mode="d", label="add session", name="add_folder")
        self.add_folder.tooltip = ("A session's results folder (amnesia cnmf's output, or "
                                   "imported suite2p/CaImAn results): added to the list.")
        self.sessions = TextEdit(value="", label="sessions", name="sessions")
        self.sessions.tooltip = ("One results folder per line, in the order of the days; "
                                 "delete a line to remove a session.")
        self.sessions.native.setMaximumHeight(80)
        self.params = controls_for(RegistrationParams)
        self.reextract = CheckBox(value=True, text="re-extract silent cells", name="reextract")
        self.reextract.tooltip = ("Measure each track in the sessions where it was not "
                                  "found, from the session's movie (motion/corrected.tif "
                                  "or the input named in summary.json).")
        self.table = Table(value={"data": [], "index": [], "columns": []}, name="table",
                           label="tracks")
        self.table.read_only = True
        self.table.native.setItemDelegate(QStyledItemDelegate(self.table.native))
        self.table.native.setMinimumHeight(140)
        self.table.native.setMaximumHeight(220)
        self.table.native.cellClicked.connect(lambda row, _col: self._row_clicked(row))
        self.track = SpinBox(value=0, min=0, max=10**6, label="track", name="track")
        self.track.tooltip = ("The track to edit (its label is track + 1): pick a label of "
                              "the tracks layer or click its row.")
        self.session = ComboBox(choices=self._session_choices, label="session",
                                name="session")
        self.session.tooltip = ("The session Split and Reassign act on; follows the "
                                "session slider.")
        self.other = SpinBox(value=-1, min=-1, max=10**6, label="other track", name="other")
        self.other.tooltip = ("Merge: the track put into 'track'. Reassign: the track that "
                              "gets the footprint (-1: a new track of its own).")
        self.split_button = self._button("Split", self.split,
                                         "Move the track's footprints of this session and "
                                         "the later ones into a new track.")
        self.merge_button = self._button("Merge", self.merge,
                                         "Put 'other track' into 'track'.")
        self.reassign_button = self._button("Reassign", self.reassign,
                                            "Move the track's footprint of this session "
                                            "into 'other track' (-1: a new track).")
        self.undo_button = self._button("Undo", self.undo, "Undo the last edit (Ctrl-Z).")
        self.redo_button = self._button("Redo", self.redo, "Redo (Ctrl-Shift-Z).")
        self.save_to = FileEdit(mode="d", label="save to", name="save_to")
        self.save_to.tooltip = "A new folder for the edited registration."
        self.overwrite = CheckBox(value=False, text="overwrite", name="overwrite")
        self.overwrite.tooltip = ("Replace the folder if this package wrote it (never a "
                                  "folder of yours).")
        self.save_button = self._button("Save", self.save, "Write the edited registration.")
        self.open_from = FileEdit(mode="d", label="open", name="open_from")
        self.open_from.tooltip = "A saved registration folder, to edit it again."
        self.open_button = self._button("Open", self.open, "Read a saved registration.")
        self.add_folder.changed.connect(lambda *_: self._add_folder())
        viewer.dims.events.current_step.connect(self._follow_session)
        self.track.changed.connect(self._track_changed)

        def row(*widgets) -> Container:
            return Container(widgets=list(widgets), layout="horizontal", labels=False)

        self.extend([self.add_folder, self.sessions, *self.params, self.reextract,
                     row(self.run_button, self.cancel_button), self.status, self.table,
                     self.track, self.session, self.other,
                     row(self.split_button, self.merge_button, self.reassign_button),
                     row(self.undo_button, self.redo_button),
                     self.save_to, row(self.overwrite, self.save_button),
                     self.open_from, self.open_button])
        # a long status wraps within the dock rather than setting its width
        self.status.native.setMinimumWidth(120)
        self._enable()

    @staticmethod
    def _button(text: str, action, tooltip: str) -> PushButton:
        button = PushButton(text=text)
        button.tooltip = tooltip
        button.changed.connect(lambda *_: action())
        return button

    # ------------------------------------------------------------------ inputs
    @property
    def editor(self):
        """The track editor shown (the session's), or None."""
        return self.result

    def session_paths(self) -> list[str]:
        """Return the results folders listed, one per non-empty line."""
        return [line.strip() for line in str(self.sessions.value).splitlines()
                if line.strip()]

    def add_sessions(self, paths) -> int:
        """Append ``paths`` to the sessions (those not listed yet); return how many."""
        listed = self.session_paths()
        new = list(dict.fromkeys(os.fspath(p) for p in paths if os.fspath(p) not in listed))
        if new:
            self.sessions.value = "\n".join(listed + new)
        return len(new)

    def remove_session(self, path) -> bool:
        """Remove ``path`` from the sessions; return whether it was listed."""
        listed = self.session_paths()
        if os.fspath(path) not in listed:
            return False
        listed.remove(os.fspath(path))
        self.sessions.value = "\n".join(listed)
        return True

    def _add_folder(self) -> None:
        if not self.add_folder.line_edit.value:
            return
        folder = Path(self.add_folder.value)
        if not folder.is_dir():
            self.status.value = f"add session: {folder} is not a folder."
            return
        if self.add_sessions([folder]):
            self.status.value = f"Added {folder.name} ({len(self.session_paths())} sessions)."

    # ------------------------------------------------------------------ running
    def run(self):
        """Register the sessions listed (in a worker); return the worker (None if synchronous)."""
        from ...core.multisession.opening import iter_open_sessions

        folders = self.session_paths()
        if len(folders) < 2:
            self.status.value = ("Add at least two sessions' results folders first ('add "
                                 "session').")
            return None
        missing = [f for f in folders if not Path(os.path.expanduser(f)).is_dir()]
        if missing:
            self.status.value = f"sessions: {missing[0]} is not a folder."
            return None
        try:
            params = RegistrationParams(**values_of(self.params, RegistrationParams))
        except (TypeError, ValueError) as exc:
            self.status.value = f"Invalid parameter: {exc}"
            return None
        generator = iter_open_sessions(folders, params, reextract=self.reextract.value)
        return self.launch(generator, source=SOURCE, message="Registering...",
                           on_result=self._show)

    def open(self, folder=None):
        """Read a saved registration (``folder`` or *open*) for editing; return the worker."""
        from ...core.multisession.opening import open_registration
        from ...core.progress import Progress

        path = folder if folder is not None else (
            self.open_from.value if self.open_from.line_edit.value else None)
        if path is None:
            self.status.value = "Choose a saved registration folder in 'open' first."
            return None

        def generator():
            yield Progress(0, 1, "reading the registration")
            return open_registration(path)

        return self.launch(generator(), source=SOURCE, message=f"Opening {Path(path).name}...",
                           on_result=self._show)

    def _session_choices(self, _widget=None) -> list[str]:
        editor = self.editor
        return [] if editor is None else editor.session_names

    def _show(self, editor) -> None:
        self.session.reset_choices()
        layers = show(self._viewer, editor.to_layers(SOURCE))
        if editor.cross is None:
            self._remove(layer_name(SOURCE, "re-extracted"))
        tracks = unproxied(self.tracks_layer(layers))
        tracks.mode = "pick"
        series = session_for(self._viewer).label_series
        for layer in layers:  # a label of either Labels layer is a track: its traces
            if layer.name in (layer_name(SOURCE, "tracks"), layer_name(SOURCE, "re-extracted")):
                series[unproxied(layer)] = self.track_series
        tracks.events.selected_label.disconnect(self._on_selected_label)
        tracks.events.selected_label.connect(self._on_selected_label)
        tracks.bind_key("Control-Z", lambda _layer: self.undo(), overwrite=True)
        tracks.bind_key("Control-Shift-Z", lambda _layer: self.redo(), overwrite=True)
        self._viewer.layers.selection.active = tracks
        self._viewer.dims.set_current_step(0, 0)
        self._fill_table(editor)
        counts = np.bincount(editor.counts(), minlength=editor.n_sessions + 1)[1:]
        extra = ""
        if editor.cross is not None:
            extra = f"; {int(editor.re_extracted().sum())} silent track-days re-extracted"
        notes = " ".join(f"Note: {n}." for n in editor.result.notes)
        self.status.value = (f"{editor.n_tracks} tracks over {editor.n_sessions} sessions "
                             f"(in 1..{editor.n_sessions} sessions: {counts.tolist()})"
                             f"{extra}. {notes}").strip()
        self._enable(editor)

    def _remove(self, name: str) -> None:
        layer = next((lay for lay in self._viewer.layers if lay.name == name), None)
        if layer is not None:
            self._viewer.layers.remove(layer)

    def tracks_layer(self, layers=None):
        """Return the ``sessions · tracks`` Labels layer (None if not shown)."""
        name = layer_name(SOURCE, "tracks")
        pool = layers if layers is not None else self._viewer.layers
        return next((layer for layer in pool if layer.name == name), None)

    # ------------------------------------------------------------------ views
    def _fill_table(self, editor) -> None:
        table = editor.table()
        names = ["track", *editor.session_names, "n_sessions", "confidence", "edited"]
        rows = [[_cell(table[c][i]) for c in names] for i in range(len(table["track"]))]
        self.table.value = {"data": rows, "index": list(range(1, len(rows) + 1)),
                            "columns": names}
        self.table.native.resizeColumnsToContents()

    def table_rows(self) -> dict[str, list]:
        """Return the table shown, as ``{column: [cells]}`` (what the tracks table holds)."""
        native = self.table.native
        out = {}
        for j in range(native.columnCount()):
            name = native.horizontalHeaderItem(j).text()
            out[name] = [native.item(i, j).text() for i in range(native.rowCount())]
        return out

    def refresh(self) -> None:
        """Redraw the layers and the table from the editor (after an edit)."""
        editor = self.editor
        if editor is None:
            return
        tracks = self.tracks_layer()
        if tracks is None:  # the layer was closed: show everything again
            self._show(editor)
            return
        new = editor.session_labels()
        if new.shape == tracks.data.shape:
            changed = np.nonzero(new != np.asarray(tracks.data))
            if changed[0].size:
                with tracks.block_history():  # one step, written where it changed
                    tracks.data_setitem(changed, new[changed])
        else:  # pragma: no cover - the layer's data was replaced by hand
            tracks.data = new
        tracks.features = editor.features()
        outlines = next((lay for lay in self._viewer.layers
                         if lay.name == layer_name(SOURCE, "re-extracted")), None)
        if outlines is not None and editor.cross is not None:
            outlines.data = editor.re_extracted_labels()  # a view, not an edit
        self._fill_table(editor)
        self._enable(editor)

    def _enable(self, editor=None) -> None:
        ready = editor is not None
        for button in (self.split_button, self.merge_button, self.reassign_button,
                       self.save_button):
            button.enabled = ready
        self.undo_button.enabled = ready and editor.can_undo
        self.redo_button.enabled = ready and editor.can_redo

    # ------------------------------------------------------------------ selection
    def _row_clicked(self, row: int) -> None:
        item = self.table.native.item(row, 0)
        if item is not None:
            self.select(int(item.text()))

    def select(self, track: int) -> None:
        """Select ``track``: the tracks layer's label, the *track* field, the traces."""
        tracks = self.tracks_layer()
        self._updating = True
        try:
            self.track.value = int(track)
        finally:
            self._updating = False
        if tracks is not None:
            if tracks.selected_label == int(track) + 1:
                self._on_selected_label(None)  # selected already: plot it again
            else:
                tracks.selected_label = int(track) + 1

    def _track_changed(self, value) -> None:
        if not self._updating:
            self.select(int(value))

    def _on_selected_label(self, event) -> None:
        from .traces import trace_dock

        tracks = self.tracks_layer()
        label = int(tracks.selected_label) if tracks is not None else 0
        if label <= 0 or self.editor is None:
            return
        self._updating = True
        try:
            self.track.value = label - 1
        finally:
            self._updating = False
        try:
            dock = trace_dock(self._viewer)
        except RuntimeError as exc:  # pragma: no cover - the dock was closed
            logger.debug("trace dock unavailable: %s", exc)
            return
        dock.show_label(tracks, label)

    def _follow_session(self, event=None) -> None:
        tracks = self.tracks_layer()
        names = list(self.session.choices)
        if tracks is None or not names or tracks.ndim != 3:
            return
        step = int(self._viewer.dims.current_step[0])
        if 0 <= step < len(names):
            self.session.value = names[step]

    def track_series(self, label: int) -> tuple[str, dict, dict] | None:
        """``(title, {session: trace}, colours)`` of the track drawn with ``label``."""
        editor = self.editor
        if editor is None or label <= 0 or label > editor.n_rows:
            return None
        t = int(label) - 1
        if not editor.counts()[t]:
            return None
        series, flagged = editor.track_series(t)
        if not series:
            return None
        title = (f"track {t}: {int(editor.counts()[t])} of {editor.n_sessions} sessions, "
                 f"confidence {editor.confidence[t]:.2f}"
                 + (", edited" if editor.edited[t] else "")
                 + (f"; {len(flagged)} re-extracted (grey)" if flagged else ""))
        return title, series, {name: RE_EXTRACTED_COLOR for name in flagged}

    # ------------------------------------------------------------------ edits
    def _edit(self, action, *args) -> Any:
        editor = self.editor
        if editor is None:
            self.status.value = "Register sessions first."
            return None
        try:
            out = action(*args)
        except ValueError as exc:
            self.status.value = f"Not done: {exc}"
            return None
        self.refresh()
        return out

    def _session_index(self) -> int:
        names = list(self.session.choices)
        return names.index(self.session.value) if self.session.value in names else 0

    def split(self):
        """Split *track*: its footprints of *session* and later ones go to a new track."""
        editor = self.editor
        if editor is None:
            self.status.value = "Register sessions first."
            return None
        t, s = int(self.track.value), self._session_index()
        later = [x for x in range(s, editor.n_sessions)
                 if t < editor.n_rows and editor.assignments[t, x] >= 0]
        if not later:
            later = [s]  # the core says why
        new = self._edit(editor.split, t, later)
        if new is not None:
            moved = ", ".join(editor.session_names[x] for x in later)
            self.status.value = f"Track {t} split: {moved} now in track {new} (Undo reverts)."
        return new

    def merge(self):
        """Merge *other track* into *track*; return the track (None: refused)."""
        t, o = int(self.track.value), int(self.other.value)
        if o < 0:
            self.status.value = "Choose the track to merge in 'other track'."
            return None
        done = self._edit(getattr(self.editor, "merge", None), t, o)
        if done is not None:
            self.status.value = f"Track {o} merged into track {t} (Undo reverts)."
        return done

    def reassign(self):
        """Move *track*'s footprint of *session* into *other track* (-1: a new track)."""
        editor = self.editor
        if editor is None:
            self.status.value = "Register sessions first."
            return None
        t, s = int(self.track.value), self._session_index()
        name = editor.session_names[s]
        if not 0 <= t < editor.n_rows or editor.assignments[t, s] < 0:
            self.status.value = f"Not done: track {t} holds no footprint in {name}."
            return None
        k = int(editor.assignments[t, s])
        o = int(self.other.value)
        done = self._edit(editor.reassign, s, k, None if o < 0 else o)
        if done is not None:
            self.status.value = (f"Footprint {k} of {name} moved from track {t} to track "
                                 f"{done} (Undo reverts).")
        return done

    def undo(self) -> bool:
        """Undo the last edit; return whether there was one."""
        editor = self.editor
        if editor is None or not editor.undo():
            self.status.value = "Nothing to undo."
            return False
        self.refresh()
        self.status.value = "Undone."
        return True

    def redo(self) -> bool:
        """Redo the last edit undone; return whether there was one."""
        editor = self.editor
        if editor is None or not editor.redo():
            self.status.value = "Nothing to redo."
            return False
        self.refresh()
        self.status.value = "Redone."
        return True

    # ------------------------------------------------------------------ saving
    def save(self, folder=None, *, overwrite: bool | None = None) -> Path | None:
        """Write the edited registration to ``folder`` (or *save to*); return its path."""
        from ...core.files import OutputExistsError

        editor = self.editor
        if editor is None:
            self.status.value = "Register sessions first."
            return None
        path = folder if folder is not None else (
            self.save_to.value if self.save_to.line_edit.value else None)
        if path is None:
            self.status.value = "Choose a new folder in 'save to' first."
            return None
        overwrite = bool(self.overwrite.value) if overwrite is None else overwrite
        result = editor.to_result()
        try:
            out = result.save(path, overwrite=overwrite)
        except OutputExistsError as exc:
            self.status.value = (f"Not saved: {exc}" if overwrite else
                                 f"Not saved: {path} already exists; choose a new folder, "
                                 "or check 'overwrite' to replace a registration this "
                                 "package wrote.")
            return None
        except (OSError, ValueError) as exc:
            self.status.value = f"Not saved: {exc}"
            return None
        self.status.value = (f"Saved {result.n_tracks} tracks to {out} (tracks.csv; tracks "
                             "numbered again in position order).")
        return out


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else f"{float(value):.2f}"
    return str(int(value)) if isinstance(value, (int, np.integer)) else str(value)
