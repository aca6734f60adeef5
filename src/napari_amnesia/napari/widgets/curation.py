"""The "Curate ROIs" dock: edit a ROI Labels layer, re-extract, save, reproduce.

The dock binds one ROI Labels layer (``w.rois``; the ``<movie> · ROIs`` layer of the
*Source extraction* dock, or any label image) to a
:class:`~napari_amnesia.core.curation.Curation` (``w.editor``), the core edit model
that owns the ROIs, their table, the edit log and the re-extraction. The CNMF result
it starts from is the session's. Each button calls a method of the editor, then
redraws the layer from it:

- **accept / reject** the selected label (keys ``a`` / ``r`` on the layer, or the
  buttons): rejected ROIs stay visible in grey and are restored by accepting them;
- **colour by** ``accepted``, ``snr``, ``r_value``, ``size`` or ``edited``;
- **delete**, **merge** (the labels typed in *labels*, e.g. ``3, 8``; empty: the
  label selected before the current one absorbs the current one), **split** by the
  last line drawn in the *shapes* layer or by **activity** (k-means on the ROI's pixel
  traces), **add shapes as ROIs** (polygons, ellipses, rectangles), **new ROI**
  (a fresh label for napari's brush), **import** an ImageJ zip or a labels TIFF;
- painting and erasing with napari's own Labels tools.

Each pixel edit is written with ``Labels.data_setitem`` inside
``Labels.block_history()``, so it is **one** Ctrl-Z. A change napari makes (a brush
stroke: ``events.paint``; an undo or redo, which refresh the layer: ``events.set_data``)
is handed to the editor (:meth:`~napari_amnesia.core.curation.Curation.update_labels`),
which rebuilds the table (``layer.features``) keeping each label value's decision and
metrics, so a deleted ROI brought back by Ctrl-Z comes back with its decision. The
session's CNMF result is never modified; a new one (the session's ``result_changed``)
restarts the curation, the same fit re-filtered re-decides the undecided ROIs.

*Re-extract* (``w.run()``) fits one component per label of the edited image in a
worker (:meth:`~napari_amnesia.core.curation.Curation.iter_reextract`; *update
footprints* also refines them), so every ROI keeps its label value and the decisions
taken on it. *Save curation* / *Open curation* write and read a folder
(:func:`~napari_amnesia.core.curation.save_curation`), *Export* writes the curated
ROIs in the format chosen in *export as* (:func:`napari_amnesia.core.formats.export`):
the exports folder (labels TIFF, CSV, ImageJ zip of the accepted ROIs), a suite2p
folder, an NWB file (with the *NWB metadata* YAML; in a worker), an ImageJ ROI set or
a labels TIFF. ROIs opened from suite2p or CaImAn results (napari-amnesia's reader)
are curated like the package's own: their result is read into the session. *Copy as
Python* puts on the clipboard (and shows) the script of the session's stages, *Save
pipeline config* writes the configuration ``amnesia run`` replays (both in
:mod:`._pipeline`). Nothing is ever written over an existing file or folder. The
buttons' work lives beside this module: files in :mod:`._curation_files`, shapes in
:mod:`._curation_shapes`, worker edits in
:mod:`._curation_workers`, colours and the info line in :mod:`._curation_display`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
    TextEdit,
    create_widget,
)

from ...core import curation as core
from ...core.cnmf.layers import SERIES_COLORS, component_series
from ..layers import provenance
from ..session import session_for, unproxied
from . import _curation_files, _curation_shapes, _curation_workers, _pipeline
from ._curation_display import COLOR_BY, describe, roi_colormap
from ._curation_files import EXPORT_FORMATS
from ._pipeline import pipeline_stages
from ._stage import StageWidget
from .cnmf import THRESHOLDS

if TYPE_CHECKING:
    import napari

__all__ = ["CurationWidget", "COLOR_BY", "EXPORT_FORMATS", "pipeline_stages"]

logger = logging.getLogger(__name__)

_EMPTY = core.table_from_labels(np.zeros((1, 1), np.int32))


def _parse_labels(text: str) -> list[int]:
    parts = [p for p in str(text).replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"labels should be whole numbers separated by commas, got "
                         f"{text!r}.") from None


class CurationWidget(StageWidget):
    """Curate the ROIs of a Labels layer (see the module documentation).

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari.

    Attributes
    ----------
    layer : napari.layers.Labels or None
        The ROI layer the dock is bound to.
    editor : Curation or None
        The edit model of its ROIs (:class:`~napari_amnesia.core.curation.Curation`).
    """

    stage = "curation"
    run_text = "Re-extract"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer, scrollable=True)
        self.layer = None
        self.editor: core.Curation | None = None
        self._source_result = None  # the session's CNMF result the curation started from
        self._selected: list[int] = []  # the last two labels selected (merge)
        self._busy = False  # the dock is writing to the layer: its events are ours
        self._binding = False
        self._painted = False

        self.rois = create_widget(annotation="napari.layers.Labels", label="ROIs")
        self.rois.tooltip = "The ROI Labels layer to curate (e.g. '<movie> · ROIs')."
        self.movie = create_widget(annotation="napari.layers.Image", label="movie")
        self.movie.tooltip = ("The (T, Y, X) movie of these ROIs: re-extraction and the "
                              "split by activity read it.")
        self.info = Label(value="Select a ROI (pick mode, or click its row).")
        self.color_by = ComboBox(choices=list(COLOR_BY), value="accepted", label="colour by")
        self.color_by.tooltip = ("Colour the ROIs by their decision, a quality metric or "
                                 "whether they were edited; rejected ROIs stay grey.")
        self.labels = LineEdit(value="", label="labels")
        self.labels.tooltip = ("Labels the buttons act on, e.g. '3, 8' (cleared after use). "
                               "Empty: the selected label; merge: the label selected before "
                               "it absorbs it.")
        self.accept_button = self._button("Accept (a)", self.accept)
        self.reject_button = self._button("Reject (r)", self.reject)
        self.delete_button = self._button("Delete", self.delete)
        self.merge_button = self._button("Merge", self.merge)
        self.shapes = create_widget(annotation="napari.layers.Shapes | None", label="shapes",
                                    options={"nullable": True, "value": None})
        self.shapes.tooltip = ("A Shapes layer: lines split ROIs, polygons / ellipses / "
                               "rectangles become new ROIs. 'Draw shapes' makes one.")
        self.draw_button = self._button("Draw shapes", self.draw_shapes)
        self.split_line_button = self._button("Split by line", self.split_by_line)
        self.k = SpinBox(value=2, min=2, max=10, label="k")
        self.k.tooltip = "Number of parts of a split by activity (k-means)."
        self.split_activity_button = self._button("Split by activity", self.split_by_activity)
        self.add_shapes_button = self._button("Add shapes as ROIs", self.add_shapes)
        self.new_roi_button = self._button("New ROI (brush)", self.new_roi)
        self.import_path = FileEdit(mode="r", label="import", name="import_path",
                                    filter="ROIs (*.zip *.roi *.tif *.tiff)")
        self.import_path.tooltip = ("An ImageJ ROI set (.zip/.roi) or a labels TIFF: its ROIs "
                                    "are added with fresh labels.")
        self.import_button = self._button("Import ROIs", self.import_rois)
        self.update_footprints = CheckBox(value=False, text="update footprints")
        self.update_footprints.tooltip = (
            "Re-extract: unchecked, each ROI's footprint stays its drawn mask (or its "
            "previous footprint if untouched) and only traces, spikes and metrics are "
            "fitted; checked, a seeded CNMF also refines each footprint inside its ROI.")
        self.folder = FileEdit(mode="d", label="folder", name="folder")
        self.folder.tooltip = "A new folder to save the curation or the exports into."
        self.save_button = self._button("Save curation", self.save)
        self.open_button = self._button("Open curation", self.open)
        self.export_button = self._button("Export", self.export)
        self.export_format = ComboBox(choices=EXPORT_FORMATS, value="csv", label="export as",
                                      name="export_format")
        self.export_format.tooltip = (
            "What Export writes into 'folder': the exports folder (labels TIFF, CSV, "
            "ImageJ zip of the accepted ROIs), a suite2p folder (plane0/, every ROI, "
            "iscell from the decisions), an NWB file, an ImageJ ROI set or a labels TIFF.")
        self.nwb_metadata = FileEdit(mode="r", label="NWB metadata", name="nwb_metadata",
                                     filter="YAML (*.yaml *.yml)")
        self.nwb_metadata.tooltip = ("The session's metadata for NWB (amnesia export "
                                     "--metadata-template writes the YAML to fill).")
        self.nwb_metadata.visible = False
        self.export_format.changed.connect(
            lambda value: setattr(self.nwb_metadata, "visible", value == "nwb"))
        self.config_path = FileEdit(mode="w", label="config", name="config_path",
                                    filter="YAML (*.yaml *.yml)")
        self.config_path.tooltip = "A new .yaml file for 'amnesia run'."
        self.copy_button = self._button("Copy as Python", self.copy_python)
        self.config_button = self._button("Save pipeline config", self.save_config)
        self.script = TextEdit(value="", label="script")
        self.script.read_only = True

        def row(*widgets) -> Container:
            return Container(widgets=list(widgets), layout="horizontal", labels=False)

        self.rois.changed.connect(lambda *_: None if self._binding else self.bind())
        self.color_by.changed.connect(lambda *_: self._write())
        self.extend([
            self.rois, self.movie, self.info, self.color_by, self.labels,
            row(self.accept_button, self.reject_button, self.delete_button, self.merge_button),
            self.shapes, row(self.draw_button, self.split_line_button),
            row(self.k, self.split_activity_button),
            row(self.add_shapes_button, self.new_roi_button),
            self.import_path, self.import_button,
            self.update_footprints, row(self.run_button, self.cancel_button),
            self.folder, row(self.save_button, self.open_button),
            row(self.export_format, self.export_button), self.nwb_metadata,
            self.config_path, row(self.copy_button, self.config_button), self.script,
            self.status])
        if self.rois.value is not None:
            self.bind()
        session_for(viewer).result_changed.connect(self._on_result_changed)

    @staticmethod
    def _button(text: str, action) -> PushButton:
        button = PushButton(text=text)
        button.changed.connect(lambda *_: action())
        return button

    # ------------------------------------------------------------------ the editor
    @property
    def source(self) -> str | None:
        """The name of the movie the ROIs belong to."""
        return None if self.editor is None else self.editor.source

    @property
    def curated(self):
        """The last extraction of these ROIs (the CNMF result, then each re-extraction)."""
        return None if self.editor is None else self.editor.result

    @property
    def log(self) -> list[dict]:
        """The edits, in order (the editor's log)."""
        return [] if self.editor is None else self.editor.log

    @property
    def saved_to(self) -> Path | None:
        """The folder the curation was last saved to (or opened from)."""
        return None if self.editor is None else self.editor.saved_to

    @property
    def _table(self) -> dict[str, np.ndarray]:
        return _EMPTY if self.editor is None else self.editor.table

    @property
    def table(self) -> dict[str, np.ndarray]:
        """The ROI table of the labels present (what ``layer.features`` holds)."""
        return {c: a.copy() for c, a in self._table.items()}

    @property
    def decisions(self) -> dict[int, bool]:
        """The user's decisions ``{label: accepted}`` of the ROIs present."""
        return core.decisions(self._table)

    def row(self, label: int) -> dict[str, Any] | None:
        """Return the table row of ``label`` as a dict (None if it is not in the image)."""
        return None if self.editor is None else self.editor.row(label)

    def _session_result(self, source: str | None, stage: str):
        return None if source is None else session_for(self._viewer).result(source, stage)

    # ------------------------------------------------------------------ binding
    def bind(self, layer=None, *, state: core.Curation | None = None):
        """Curate ``layer`` (default: the one chosen in *ROIs*); return it.

        The CNMF result of the layer's movie is taken from the session (a
        re-extraction of these ROIs if there is one); ``state`` (a loaded
        :class:`~napari_amnesia.core.curation.Curation`) restores a saved curation.
        """
        layer = unproxied(self.rois.value if layer is None else layer)
        if layer is not None and getattr(layer, "ndim", 2) != 2:
            # e.g. the Sessions dock's (session, y, x) tracks: not one ROI image
            self.status.value = (f"'{layer.name}' has {layer.ndim} axes: the ROIs to curate "
                                 "are a (Y, X) Labels layer.")
            return None
        self._unbind()
        if layer is not None and self.rois.value is not layer:
            self._binding = True
            try:
                self.rois.reset_choices()
                self.rois.value = layer
            finally:
                self._binding = False
        if layer is None:
            return None
        _curation_files.adopt_imported(self, layer)  # suite2p / CaImAn ROIs: their result
        self.layer = layer
        info = layer.metadata.get("napari_amnesia", {})
        source = info.get("source") or (state.source if state else None)
        data = np.asarray(layer.data)
        self._source_result = self._session_result(source, "cnmf")
        if state is not None:
            self.editor = core.Curation.start(
                data, state.result, previous=state.table, original=state.original,
                extracted=state.extracted, log=state.log, source=source,
                pipeline=state.pipeline)
        else:
            present = set(np.unique(data[data > 0]).tolist())
            curated = None
            for candidate in (self._session_result(source, "curation"), self._source_result):
                if candidate is not None and present <= set(candidate.label_values.tolist()):
                    curated = candidate
                    break
            if curated is None:
                curated = self._source_result
            previous = None
            features = layer.features
            if "decided" in features and "index" in features and len(features):
                previous = {c: np.asarray(features[c]) for c in features.columns
                            if c in core.COLUMNS}  # a curation in progress: keep it
            self.editor = core.Curation.start(data, curated, previous=previous, source=source)
        if self.movie.value is None or (source and self.movie.value.name != source):
            movie = next((lay for lay in self._viewer.layers if lay.name == source), None)
            if movie is not None and movie.ndim == 3:
                self.movie.value = movie
        for event, handler in self._handlers():
            getattr(layer.events, event).connect(handler)
        layer.bind_key("a", self._key_accept, overwrite=True)
        layer.bind_key("r", self._key_reject, overwrite=True)
        self._claim()
        self._write()
        n = len(self._table["index"])
        what = "no extraction yet" if self.curated is None else \
            f"{int(self._table['accepted'].sum())} accepted"
        self.status.value = f"Curating {layer.name!r}: {n} ROIs ({what})."
        return layer

    def _claim(self) -> None:
        """Mark the layer as curated and plot its ROIs' traces from this dock's extraction.

        The Source extraction dock then leaves the layer's table and colours alone.
        """
        layer = self.layer
        meta = dict(layer.metadata)
        entry = dict(meta.get("napari_amnesia", {}) or provenance(
            "curation", self.source or layer.name)["napari_amnesia"])
        if not entry.get("curated"):
            entry["curated"] = True
            meta["napari_amnesia"] = entry
            self._busy = True
            try:
                layer.metadata = meta
            finally:
                self._busy = False
        session_for(self._viewer).label_series[layer] = self.component_series

    def _handlers(self):
        return (("paint", self._on_paint), ("set_data", self._on_set_data),
                ("data", self._on_data_replaced), ("selected_label", self._on_selected),
                ("visible", self._on_set_data))

    def _unbind(self) -> None:
        from napari.utils.key_bindings import coerce_keybinding

        layer = self.layer
        if layer is None:
            return
        for event, handler in self._handlers():
            getattr(layer.events, event).disconnect(handler)
        for key, func in (("a", self._key_accept), ("r", self._key_reject)):
            try:
                if layer.keymap.get(coerce_keybinding(key)) == func:
                    layer.bind_key(key, None)
            except (KeyError, TypeError, ValueError):  # pragma: no cover - napari API
                pass
        self.layer = None

    # ------------------------------------------------------------------ drawing
    def sync(self, *, action: str | None = None, force: bool = False) -> bool:
        """Hand the layer's image to the editor if it changed; return whether it did.

        ``action`` names a change made outside the dock (a brush stroke, an undo), which
        the editor then writes in the edit log. ``force`` redraws the table anyway.
        """
        if self.layer is None or self.editor is None:
            return False
        changed = self.editor.update_labels(np.asarray(self.layer.data), action=action)
        if changed or force:
            if force and not changed:
                self.editor.refresh()
            self._write()
        return changed

    def _write(self) -> None:
        """Show the editor's table as the layer's features and colours."""
        layer = self.layer
        if layer is None or self.editor is None:
            return
        table = self.editor.table
        self._busy = True
        try:
            layer.features = {c: table[c] for c in core.COLUMNS}
            layer.colormap = roi_colormap(table, self.color_by.value)
        finally:
            self._busy = False
        self._show_info()

    def _show_info(self) -> None:
        label = int(self.layer.selected_label) if self.layer is not None else 0
        self.info.value = describe(label, self.row(label) if label else None)

    # ------------------------------------------------------------------ events
    def _on_paint(self, event=None) -> None:
        # a new undo step of napari (brush stroke, eraser, fill, paint()): napari emits
        # events.paint when it records the step, before the pixels of a stroke are
        # written (Labels._save_history), so the image is read once the event loop
        # turns: the one timer this dock needs
        if self._busy:
            return
        from qtpy.QtCore import QTimer

        self._painted = True
        QTimer.singleShot(0, self._after_paint)

    def _after_paint(self) -> None:
        if self._painted:
            self._painted = False
            self.sync(action="paint")

    def _on_set_data(self, event=None) -> None:
        # the layer was refreshed: an undo or redo (or a paint, just announced)
        if not self._busy and self.sync(action="paint" if self._painted else "undo/redo"):
            self._painted = False

    def _on_data_replaced(self, event=None) -> None:
        # the image was replaced (the Source extraction dock shows its result again;
        # whether that result is a new fit, the session's result_changed tells)
        if not self._busy:
            self.sync(action="replace")

    def _on_result_changed(self, source: str, stage: str, result) -> None:
        """Restart the curation on a new CNMF fit of its movie; follow a re-filtered one."""
        if stage != "cnmf" or self.layer is None or source != self.source:
            return
        old = self._source_result
        if result is not None and result is not old and not _same_fit(result, old):
            # a new extraction: start again from it (the re-extraction is obsolete)
            session_for(self._viewer).remove_result(source, "curation")
            self.bind(self.layer)
            self.status.value = "A new extraction replaced the ROIs; curation restarted."
            return
        if result is not None and result is not old:
            self._refiltered(result)
        # the same fit shown again: the curation goes on (on its image)
        self._claim()
        self.sync(action="replace", force=True)

    def _refiltered(self, new) -> None:
        """Re-decide the undecided ROIs: the same fit was re-filtered with new thresholds."""
        old, self._source_result = self._source_result, new
        if self.editor.result is old:
            self.editor.refilter(result=new)
        else:
            self.editor.refilter({name: getattr(new.params, name) for name in THRESHOLDS})

    def _on_selected(self, event=None) -> None:
        label = int(self.layer.selected_label) if self.layer is not None else 0
        if label and (not self._selected or self._selected[-1] != label):
            self._selected = (self._selected + [label])[-2:]
        self._show_info()

    def _key_accept(self, layer=None) -> None:
        self.accept(only_selected=True)

    def _key_reject(self, layer=None) -> None:
        self.reject(only_selected=True)

    # ------------------------------------------------------------------ edits
    def _targets(self, *, minimum: int = 1, only_selected: bool = False) -> list[int] | None:
        text = "" if only_selected else self.labels.value.strip()
        try:
            values = _parse_labels(text) if text else []
        except ValueError as exc:
            self.status.value = str(exc)
            return None
        if not values and self.layer is not None and self.layer.selected_label:
            values = [int(self.layer.selected_label)]
            if minimum > 1 and len(self._selected) == 2 and self._selected[-1] == values[0]:
                values = [self._selected[0], values[0]]
        if len(values) < minimum:
            self.status.value = ("Select a ROI first." if minimum == 1 else
                                 "Type the labels to merge (e.g. '3, 8'), or select one ROI "
                                 "then the ROI to merge into it.")
            return None
        return values

    def _ready(self) -> bool:
        if self.layer is None:
            self.status.value = "Choose a ROI Labels layer first."
            return False
        self.sync(action="paint")  # catch up with anything napari did
        return True

    def _draw(self) -> None:
        """Write the pixels where the editor's ROIs differ from the layer as ONE undo step."""
        layer = self.layer
        old = np.asarray(layer.data)
        image = self.editor.labels
        changed = np.nonzero(image != old)
        if changed[0].size:
            self._busy = True
            try:
                with layer.block_history():
                    layer.data_setitem(changed, np.asarray(image[changed], dtype=old.dtype))
            finally:
                self._busy = False
        self._write()

    def _do(self, edit, *args, **kwargs):
        """Call ``edit`` (a method of the editor), then redraw; None and a status if refused."""
        try:
            out = edit(*args, **kwargs)
        except ValueError as exc:
            self.status.value = str(exc)
            return None
        self._draw()
        return out

    def _decide(self, accepted: bool, only_selected: bool) -> list[int] | None:
        if not self._ready() or (values := self._targets(only_selected=only_selected)) is None:
            return None
        edit = self.editor.accept if accepted else self.editor.reject
        if self._do(edit, values) is None:
            return None
        if not only_selected:
            self.labels.value = ""
        self.status.value = f"{'accept' if accepted else 'reject'}ed ROI(s) " \
            f"{', '.join(map(str, values))}."
        return values

    def accept(self, *, only_selected: bool = False):
        """Accept the ROIs in *labels* (or the selected one); return their labels.

        A rejected ROI is restored this way.
        """
        return self._decide(True, only_selected)

    def reject(self, *, only_selected: bool = False):
        """Reject the ROIs in *labels* (or the selected one); they stay, in grey."""
        return self._decide(False, only_selected)

    def delete(self):
        """Delete the ROIs in *labels* (or the selected one): one undo step."""
        if not self._ready() or (values := self._targets()) is None:
            return None
        if self._do(self.editor.delete, values) is None:
            return None
        self.labels.value = ""
        self.status.value = f"Deleted ROI(s) {', '.join(map(str, values))} (Ctrl-Z undoes)."
        return values

    def merge(self):
        """Merge the ROIs in *labels* into the first one (empty: the last two selected)."""
        if not self._ready() or (values := self._targets(minimum=2)) is None:
            return None
        if self._do(self.editor.merge, values) is None:
            return None
        self.labels.value = ""
        self._selected = [values[0]]
        self.layer.selected_label = values[0]
        self.status.value = f"Merged {', '.join(map(str, values[1:]))} into {values[0]}."
        return values[0]

    def split_by_line(self):
        """Split a ROI along the last line (or path) of the shapes layer; return the new label.

        The ROI is the selected one if the line cuts it, else the one the line crosses.
        """
        return _curation_shapes.split_by_line(self)

    def split_by_activity(self):
        """Split the selected ROI into ``k`` parts by k-means on its pixels' traces.

        Runs in a worker (it reads the ROI's box of the movie); returns the worker
        (None when run synchronously or refused).
        """
        return _curation_workers.split_by_activity(self)

    def draw_shapes(self):
        """Add (or select) the ``<movie> · ROI shapes`` layer, in polygon mode; return it."""
        return _curation_shapes.draw_shapes(self)

    def add_shapes(self):
        """Add the polygons, ellipses and rectangles of the shapes layer as new ROIs.

        All of them in one undo step; the shapes used are removed from their layer.
        Returns the new labels.
        """
        return _curation_shapes.add_shapes(self)

    def new_roi(self):
        """Select a fresh label and napari's brush, to paint a new ROI; return the label."""
        if not self._ready():
            return None
        value = self.editor.new_label()
        self.layer.selected_label = value
        self._viewer.layers.selection.active = self.layer
        self.layer.mode = "paint"
        self.status.value = f"Paint ROI {value} with the brush (erase with the eraser)."
        return value

    def import_rois(self, path=None):
        """Add the ROIs of an ImageJ zip/.roi or a labels TIFF with fresh labels."""
        return _curation_files.import_rois(self, path)

    # ------------------------------------------------------------------ re-extract
    def run(self):
        """Re-extract one component per ROI in a worker; return the worker (or None)."""
        return _curation_workers.reextract(self)

    def component_series(self, label: int):
        """Return ``(title, series, colours)`` of ROI ``label`` for the trace dock (or None)."""
        r = self.row(label)
        if r is None or self.curated is None or r["component"] < 0 or r["stale"]:
            return None
        k = int(r["component"])
        if k >= self.curated.K or int(self.curated.label_values[k]) != int(label):
            return None
        series = component_series(self.curated, k)
        state = "accepted" if r["accepted"] else "rejected"
        title = f"{self.source}: ROI {label} ({state}, SNR {r['snr']:.1f})"
        return title, series, {name: SERIES_COLORS[name] for name in series}

    # ------------------------------------------------------------------ files
    def state(self) -> core.Curation:
        """Return the editor, up to date with the layer and with the session's pipeline."""
        return _curation_files.state(self)

    def save(self, folder=None):
        """Save the curation into a new folder; return its path (None if refused)."""
        return _curation_files.save(self, folder)

    def open(self, folder=None):
        """Open a saved curation: its ROIs as ``<movie> · ROIs``; return the layer."""
        return _curation_files.open_curation(self, folder)

    def export(self, folder=None, *, format: str | None = None,  # noqa: A002
               metadata=None):
        """Export the curated ROIs into a new ``folder`` in ``format`` (*export as*).

        ``format`` is one of :data:`EXPORT_FORMATS` (default: the dock's choice);
        ``metadata`` the NWB metadata YAML (default: *NWB metadata*). Returns what was
        written (None if refused; NWB runs in a worker: None until it is written).
        """
        return _curation_files.export(self, folder, format=format, metadata=metadata)

    # ------------------------------------------------------------------ reproduce
    def pipeline_config(self) -> dict:
        """Return the configuration of the session (:func:`._pipeline.pipeline_config`)."""
        return _pipeline.pipeline_config(self._viewer, self.source)

    def python_script(self) -> str:
        """Return the Python of the session's stages, then of this curation once saved."""
        return _pipeline.python_script(self._viewer, self.source, self.editor)

    def copy_python(self):
        """Put the session's Python on the clipboard and show it; return the text."""
        return _pipeline.copy_python(self)

    def save_config(self, path=None):
        """Write the session's pipeline configuration (``amnesia run``); return its path."""
        return _pipeline.save_config_of(self, path)


def _same_fit(a, b) -> bool:
    """Whether two results are one fit (e.g. re-filtered with other thresholds)."""
    if a is None or b is None or a.K != b.K or a.n_frames != b.n_frames:
        return False
    return bool(np.array_equal(a.label_values, b.label_values)
                and (a.traces is b.traces or np.array_equal(a.traces, b.traces)))
