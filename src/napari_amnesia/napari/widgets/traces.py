"""The trace dock: the fluorescence of the pixel or label under selection.

- Click on the canvas: the trace of the clicked pixel of the chosen movie.
- Select a label of a Labels layer (pick it, or set ``selected_label``): the mean
  trace of that label's pixels.
- Series of different units (a component's raw F, spikes and ΔF/F) are drawn on
  vertically stacked axes that share the frame axis, each with its own y range
  (see :meth:`TraceWidget.show_series`).
- A vertical line marks the current frame on every axis; clicking on the plot
  jumps the viewer to the clicked frame. The plot grows with its dock.
- "Export CSV" writes the frame numbers and the trace.

Everything is also scriptable: ``show_pixel``, ``show_label``, ``trace``,
``export_csv``. Traces are read in a worker (a long lazy movie stays responsive).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ...core.files import atomic_file
from ...core.traces import iter_label_traces, pixel_trace
from .._workers import first_line, start
from ..session import session_for, unproxied
from ._stage import narrow_choices

if TYPE_CHECKING:
    import napari

__all__ = ["TraceWidget", "MAX_STACKED"]

logger = logging.getLogger(__name__)

#: Up to this many series get an axis each (stacked, sharing the frame axis, each
#: with its own y range); more series share one axis with a legend.
MAX_STACKED = 4
#: Smallest height of the plot, in pixels (it grows with its dock).
MIN_PLOT_HEIGHT = 200


def _pixel_generator(movie, row, col):
    from ...core.progress import Progress

    yield Progress(0, 1, "pixel trace")
    trace = pixel_trace(movie, row, col)
    yield Progress(1, 1, "pixel trace")
    return trace


class TraceWidget(QWidget):
    """Plot of the trace under selection, following the current frame.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self._viewer = viewer
        self._worker = None
        self._request = 0  # counts the selections: only the latest one is drawn
        self._watched: set = set()
        #: The trace shown, float32 (T,), or None.
        self.trace: np.ndarray | None = None
        #: Other series shown instead of a trace (e.g. motion shifts): ``{label: (T,)}``.
        self.series: dict[str, np.ndarray] = {}
        #: Colours of some series (``{label: colour}``), see :meth:`show_series`.
        self.series_colors: dict = {}
        #: The axes drawn, top to bottom: ``{axis name: [series names]}``.
        self.panels: dict[str, list[str]] = {}
        #: What the trace is of: ``{"kind": "pixel", "row", "col"}`` or ``{"kind": "label", ...}``.
        self.selection: dict | None = None

        self.movie = ComboBox(label="movie", choices=self._movie_choices)
        self.movie.tooltip = "The movie whose traces are plotted."
        narrow_choices(self.movie.native)  # a long layer name does not widen the dock
        self.figure = Figure(figsize=(4, 2.5), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(MIN_PLOT_HEIGHT)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        # an expanding dock: napari adds no stretch below it, the plot takes the room
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        #: The axes, top to bottom (they share the frame axis).
        self.axes: list = []
        #: The current-frame line of each axis.
        self.markers: list = []
        self.title = QLabel("Click a pixel, or select a label.")
        self.title.setWordWrap(True)
        self.export_button = QPushButton("Export CSV")
        self.export_button.clicked.connect(self._export_dialog)

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("movie"))
        top.addWidget(self.movie.native, 1)
        top.addWidget(self.export_button)  # one row: the plot keeps the height
        layout.addLayout(top)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, 1)
        self.draw()

        self.canvas.mpl_connect("button_press_event", self._on_plot_click)
        viewer.dims.events.current_step.connect(self._update_marker)
        viewer.layers.events.inserted.connect(self._on_layers_changed)
        viewer.layers.events.removed.connect(self._on_layers_changed)
        viewer.mouse_drag_callbacks.append(self._on_canvas_click)
        self._on_layers_changed()
        session_for(viewer).trace_dock = self

    # ------------------------------------------------------------------ layers
    def _movie_choices(self, _widget=None):
        from napari.layers import Image

        return [(layer.name, layer) for layer in self._viewer.layers
                if isinstance(layer, Image) and layer.ndim == 3 and not layer.rgb]

    def _on_layers_changed(self, event=None) -> None:
        from napari.layers import Labels

        self.movie.reset_choices()
        for layer in self._viewer.layers:
            if isinstance(layer, Labels) and id(layer) not in self._watched:
                self._watched.add(id(layer))
                layer.events.selected_label.connect(self._on_selected_label)

    @property
    def movie_layer(self):
        """The Image layer traces are read from (None if there is no movie)."""
        return self.movie.value

    # -------------------------------------------------------------- selection
    def _on_canvas_click(self, viewer, event):
        # a click without drag on the canvas selects a pixel of the movie
        layer = self.movie_layer
        if layer is None or event.type != "mouse_press":
            return
        position = layer.world_to_data(event.position)
        dragged = False
        yield
        while event.type == "mouse_move":
            dragged = True
            yield
        if dragged:  # a pan or a paint stroke, not a pick
            return
        row, col = (int(round(v)) for v in position[-2:])
        if 0 <= row < layer.data.shape[1] and 0 <= col < layer.data.shape[2]:
            active = viewer.layers.selection.active
            from napari.layers import Labels

            if isinstance(active, Labels) and active.mode == "pick":
                # picking a label: its trace, even when it was already the selected one
                value = active.get_value(event.position, world=True)
                if value:
                    self.show_label(active, int(value))
                return
            self.show_pixel(row, col)

    def _on_selected_label(self, event) -> None:
        layer = event.source
        self.show_label(layer, int(layer.selected_label))

    def show_pixel(self, row: int, col: int):
        """Plot the trace of pixel (row, col) of the movie; return the worker (or None)."""
        layer = self.movie_layer
        if layer is None:
            return None
        self.selection = {"kind": "pixel", "row": int(row), "col": int(col), "movie": layer.name}
        return self._compute(_pixel_generator(layer.data, int(row), int(col)),
                             f"{layer.name}: pixel ({row}, {col})")

    def show_label(self, labels_layer, label: int):
        """Plot the trace of ``label`` in ``labels_layer``; return the worker (or None).

        When a stage registered what its labels stand for
        (``Session.label_series[layer]``), its series are plotted; otherwise the mean
        trace of the label's pixels is read from the movie.
        """
        if label == 0:
            return None
        provider = session_for(self._viewer).label_series.get(unproxied(labels_layer))
        if provider is not None:
            shown = provider(int(label))
            if shown is not None:
                if self._worker is not None:  # a pixel read still running: drop it
                    self._worker.quit()
                title, series, colors = shown
                self.show_series(title, series, colors=colors)
                self.selection = {"kind": "label", "layer": labels_layer.name,
                                  "label": int(label), "series": list(series)}
                return None
        layer = self.movie_layer
        if layer is None:
            return None
        data = np.asarray(labels_layer.data)
        if data.shape != tuple(layer.data.shape[1:]):
            self.title.setText(
                f"{labels_layer.name!r} ({data.shape}) does not match the movie frame "
                f"{tuple(layer.data.shape[1:])}."
            )
            return None
        if not (data == label).any():
            self.title.setText(f"Label {label} of {labels_layer.name!r} has no pixel.")
            return None
        self.selection = {"kind": "label", "layer": labels_layer.name, "label": int(label),
                          "movie": layer.name}

        def generator():
            ids, traces = yield from iter_label_traces(layer.data, data, label_ids=[label])
            return traces[0]

        return self._compute(generator(), f"{layer.name}: {labels_layer.name} label {label}")

    def show_series(self, title: str, series: dict, *, colors: dict | None = None,
                    panels: dict | None = None) -> None:
        """Plot named series over frames (e.g. ``{"dy": ..., "dx": ...}`` shifts).

        Parameters
        ----------
        title : str
        series : dict
            ``{name: (T,) values}``.
        colors : dict, optional
            Matplotlib colours of some series (e.g. each cluster's mean trace in the
            colour of its label); the others get the default colour cycle.
        panels : dict, optional
            ``{series name: axis name}``: the series given one axis name share that
            axis (e.g. a raw and a denoised trace in the same units). By default
            each series has its own axis, with its own y range, when there are at
            most ``MAX_STACKED`` series (a component's raw F, spikes and ΔF/F);
            more series share one axis, with a legend for up to 12.
        """
        self._request += 1  # a pixel or label read still running is not drawn over it
        self.trace = None
        self.selection = {"kind": "series", "title": title}
        self.series = {str(k): np.asarray(v, dtype=np.float32) for k, v in series.items()}
        self.series_colors = {str(k): v for k, v in (colors or {}).items()
                              if str(k) in self.series}
        self.panels = {}
        for name in self.series:
            if panels is not None:
                axis = str(panels.get(name, name))
            else:
                axis = name if len(self.series) <= MAX_STACKED else ""
            self.panels.setdefault(axis, []).append(name)
        self.title.setText(title)
        self.draw()

    def _compute(self, generator, title: str):
        if self._worker is not None:
            self._worker.quit()
        self._request += 1
        request = self._request  # a read overtaken by a newer selection is ignored
        self.title.setText(f"{title} (reading...)")

        def returned(trace) -> None:
            if request != self._request:
                return
            self.series = {}
            self.series_colors = {}
            self.panels = {}
            self.trace = np.asarray(trace, dtype=np.float32)
            self.title.setText(title)
            self.draw()

        def failed(exc) -> None:
            if request == self._request:
                self.title.setText(f"{title}: not read ({first_line(exc)})")

        def finished() -> None:
            if request == self._request:
                self._worker = None

        worker = start(generator, on_returned=returned, on_error=failed, on_finished=finished,
                       description="trace", session=session_for(self._viewer))
        if request == self._request:  # (a synchronous run has already finished)
            self._worker = worker
        return worker

    # ------------------------------------------------------------------- plot
    def draw(self) -> None:
        """Redraw the axes, their series and the current-frame markers."""
        self.figure.clear()
        if self.trace is not None:
            panels = {"fluorescence": [None]}
        else:
            panels = self.panels or {"": list(self.series)}
        grid = self.figure.subplots(len(panels), 1, sharex=True, squeeze=False)
        self.axes = list(grid[:, 0])
        for ax, (axis, names) in zip(self.axes, panels.items(), strict=True):
            ax.tick_params(labelsize=7)
            for name in names:
                if name is None:
                    values, color, label = self.trace, "tab:blue", "fluorescence"
                else:
                    values, color = self.series[name], self.series_colors.get(name)
                    label = name
                ax.plot(np.arange(len(values)), values, lw=0.8, color=color, label=label)
            if len(names) > 1 and len(names) <= 12:
                ax.legend(fontsize=7, loc="upper right")
            elif axis:
                ax.set_title(axis, fontsize=8, loc="left", pad=2)
        self.axes[-1].set_xlabel("frame", fontsize=8)
        self.markers = [ax.axvline(0, color="tab:red", lw=1) for ax in self.axes]
        self._update_marker()

    def _update_marker(self, event=None) -> None:
        frame = self._viewer.dims.current_step[0] if self._viewer.dims.ndim else 0
        for marker in self.markers:
            marker.set_xdata([frame, frame])
        self.canvas.draw_idle()

    @property
    def current_frame(self) -> int:
        """The frame the viewer shows (the red line)."""
        return int(self._viewer.dims.current_step[0])

    def _on_plot_click(self, event) -> None:
        if event.inaxes in self.axes and event.xdata is not None:
            self.jump_to(int(round(event.xdata)))

    def jump_to(self, frame: int) -> None:
        """Show ``frame`` in the viewer (what a click on the plot does)."""
        n = self._viewer.dims.nsteps[0]
        self._viewer.dims.set_current_step(0, int(np.clip(frame, 0, n - 1)))

    # ----------------------------------------------------------------- export
    def export_csv(self, path, *, overwrite: bool = False) -> Path:
        """Write ``frame,<trace>`` rows (or one column per series) to a CSV file."""
        sel = self.selection or {}
        if self.trace is not None:
            if sel.get("kind") == "label":
                columns = {f"{sel['layer']} label {sel['label']}": self.trace}
            else:
                columns = {f"pixel ({sel.get('row')}, {sel.get('col')})": self.trace}
        elif self.series:
            columns = self.series
        else:
            raise ValueError("no trace to export: click a pixel or select a label first.")
        path = Path(path)
        names = list(columns)
        with atomic_file(path, overwrite=overwrite) as tmp, tmp.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["frame", *names])
            n = max(len(v) for v in columns.values())
            for t in range(n):
                writer.writerow([t, *(float(columns[k][t]) for k in names)])
        return path

    def _export_dialog(self) -> None:
        if self.trace is None and not self.series:
            self.title.setText("Nothing to export yet.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export trace", "trace.csv", "CSV (*.csv)")
        if path:
            self.save_as(path)

    def save_as(self, path) -> Path | None:
        """Export to ``path`` as the dialog does.

        Replaces a CSV this package wrote (the dialog asked first), never a file of
        the user's; a refusal or a write error is said in the dock's title, not
        raised from a Qt slot.
        """
        try:
            out = self.export_csv(path, overwrite=True)
        except (OSError, ValueError) as exc:
            self.title.setText(f"Not exported: {exc}")
            return None
        return out


def trace_dock(viewer):
    """Return the viewer's trace dock, opened (*Plugins ▸ napari-amnesia ▸ Traces*) if missing."""
    dock = session_for(viewer).trace_dock
    if isinstance(dock, TraceWidget) and docked(dock):
        return dock
    _, dock = viewer.window.add_plugin_dock_widget("napari-amnesia", "Traces")
    return dock


def docked(widget) -> bool:
    """Tell whether ``widget`` is still in a dock (closing a dock unparents it)."""
    try:
        return widget.parent() is not None
    except RuntimeError:  # Qt deleted it
        return False
