"""The embedding scatter: the clustered elements in 2-D, linked to the viewer.

A matplotlib plot dock (a ``FigureCanvasQTAgg``, as the trace dock), not a napari
Points layer: the embedding's axes are not the image's (a Points layer would share
the movie's world coordinates and its time slider, sit in the layer list among
the image layers, and need its own lasso), while matplotlib gives pick-by-distance
and a lasso (``LassoSelector``) for free, and a plot dock is the napari-matplotlib
precedent. Each point is an element (a skeleton pixel, a branch, or a cluster of
the previous level), coloured like its cluster's label (noise: light grey).

Linking, both ways:

- **scatter → viewer**: a click selects the nearest point (within ``pick_radius``
  screen pixels; a click on empty space clears the selection); a lasso (drag)
  selects the points inside it. The selected elements' pixels are painted in the
  ``<source> · selected elements`` Labels layer (one colour, updated in place) and
  their traces go to the trace dock (one series per element up to
  ``max_series``, else their mean). Selected points get a red ring.
- **viewer → scatter**: selecting a label of the clusters Labels layer (pick tool,
  or ``layer.selected_label = k``) rings that cluster's points in black.

Scriptable: :meth:`EmbeddingWidget.select_at` (what a click does),
:meth:`EmbeddingWidget.select_in` (what a lasso does),
:meth:`EmbeddingWidget.select_elements`, :meth:`EmbeddingWidget.highlight_label`,
and the ``selected`` / ``highlighted`` index arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..layers import layer_name, provenance, show
from ..session import session_for

if TYPE_CHECKING:
    import napari

__all__ = ["EmbeddingWidget"]

logger = logging.getLogger(__name__)

_NOISE = (0.75, 0.75, 0.75, 0.6)
_EMPTY = np.zeros(0, np.intp)


class EmbeddingWidget(QWidget):
    """Scatter of the elements of a clustering in its 2-D embedding (see the module).

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers and trace dock the scatter is linked to.
    """

    #: a click selects the nearest point closer than this, in screen pixels
    pick_radius: float = 10.0
    #: up to this many selected elements, one trace each; above, their mean
    max_series: int = 10

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure
        from matplotlib.widgets import LassoSelector

        self._viewer = viewer
        #: (N, 2) embedding (NaN rows: elements left out, e.g. constant traces), or None
        self.embedding: np.ndarray | None = None
        #: (N,) cluster of each point, 0 = noise
        self.labels: np.ndarray = np.zeros(0, np.int64)
        #: (N, T) trace of each element
        self.traces: np.ndarray | None = None
        #: (n_i, 2) row/column pixels of each element
        self.pixels: list[np.ndarray] = []
        #: display name of each element ("pixel (r, c)", "branch 7"...)
        self.names: list[str] = []
        self.shape: tuple[int, int] | None = None
        self.source: str = ""
        #: label -> RGBA of the clusters (the Labels layer's colours)
        self.colors: dict[int, Any] = {}
        #: indices of the points selected in the scatter (click or lasso)
        self.selected: np.ndarray = _EMPTY
        #: indices of the points of the label selected in the Labels layer
        self.highlighted: np.ndarray = _EMPTY
        self._labels_layer = None
        self._element_weights: np.ndarray | None = None

        self.title = QLabel("Cluster a movie to see its elements here.")
        self.title.setWordWrap(True)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.hide()
        self.figure = Figure(figsize=(4, 4), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(220)
        self.axes = self.figure.add_subplot(111)
        self.axes.set_xticks([])
        self.axes.set_yticks([])
        self._points = self.axes.scatter([], [], s=8)
        self._rings_label = self.axes.scatter([], [], s=40, facecolors="none",
                                              edgecolors="black", linewidths=1.0)
        self._rings_selected = self.axes.scatter([], [], s=60, facecolors="none",
                                                 edgecolors="tab:red", linewidths=1.5)
        # a drag draws a lasso; a click (press and release at one place) is a pick
        self.lasso = LassoSelector(self.axes, onselect=self._on_lasso, useblit=True,
                                   props={"color": "tab:red", "linewidth": 1})
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.message)
        layout.addWidget(self.canvas, stretch=1)
        layout.addStretch(0)

    # ------------------------------------------------------------------ data
    def set_clusters(self, embedding: np.ndarray | None, labels: np.ndarray, *,
                     traces: np.ndarray, pixels: Sequence[np.ndarray],
                     shape: tuple[int, int], source: str, colors: dict | None = None,
                     names: Sequence[str] | None = None, labels_layer=None, title: str = "",
                     message: str = "") -> None:
        """Show the elements of a clustering.

        Parameters
        ----------
        embedding : ndarray, shape (N, 2), or None
            None hides the plot and shows ``message`` instead.
        labels : ndarray, shape (N,)
            Cluster of each element (0 = noise).
        traces : ndarray, shape (N, T)
            Trace of each element (shown for the selected ones).
        pixels : sequence of (n_i, 2) arrays
            Pixels of each element (painted for the selected ones).
        shape : (int, int)
            Frame shape.
        source : str
            Movie layer name (names the highlight layer).
        colors : dict, optional
            ``label -> colour`` (the Labels layer's colours).
        names : sequence of str, optional
            Display name of each element (trace legends).
        labels_layer : napari.layers.Labels, optional
            The clusters layer: selecting one of its labels rings that cluster's points.
        title, message : str
        """
        self._link(labels_layer)
        self.selected = _EMPTY
        self.highlighted = _EMPTY
        self.source = source
        self.shape = tuple(int(s) for s in shape)
        self.labels = np.asarray(labels, np.int64)
        self.traces = None if traces is None else np.asarray(traces, np.float32)
        self.pixels = [np.asarray(p, np.intp).reshape(-1, 2) for p in pixels]
        self._element_weights = np.array([max(1, len(p)) for p in self.pixels], np.float64)
        n = len(self.labels)
        self.names = list(names) if names is not None else [f"element {i}" for i in range(n)]
        self.colors = dict(colors or {})
        self.title.setText(title)
        self._clear_highlight_layer()
        if embedding is None:
            self.embedding = None
            self.message.setText(message or "No embedding to show.")
            self.message.show()
            self.canvas.hide()
            return
        self.embedding = np.asarray(embedding, np.float32).reshape(n, 2)
        self.message.hide()
        self.canvas.show()
        valid = self._valid()
        xy = self.embedding[valid]
        self._points.set_offsets(xy)
        self._points.set_facecolors([self._color(k) for k in self.labels[valid]])
        self._points.set_sizes(np.where(self.labels[valid] > 0, 10.0, 5.0))
        if len(xy):
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            pad = 0.05 * np.maximum(hi - lo, 1e-6)
            self.axes.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
            self.axes.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        self._draw_rings()

    def clear(self, message: str = "") -> None:
        """Forget the clustering shown (the plot is hidden, ``message`` shown)."""
        self._link(None)
        self.embedding = None
        self.labels = np.zeros(0, np.int64)
        self.selected = self.highlighted = _EMPTY
        self.message.setText(message)
        self.message.setVisible(bool(message))
        self.canvas.hide()

    def _link(self, labels_layer) -> None:
        if self._labels_layer is not None:
            try:
                self._labels_layer.events.selected_label.disconnect(self._on_selected_label)
            except (RuntimeError, TypeError, ValueError):  # already gone
                pass
        self._labels_layer = labels_layer
        if labels_layer is not None:
            labels_layer.events.selected_label.connect(self._on_selected_label)

    def _valid(self) -> np.ndarray:
        if self.embedding is None:
            return np.zeros(0, bool)
        return np.isfinite(self.embedding).all(axis=1)

    def _color(self, label: int):
        return self.colors.get(int(label), _NOISE) if label > 0 else _NOISE

    # ------------------------------------------------------- scatter → viewer
    def _on_lasso(self, vertices) -> None:
        verts = np.asarray(vertices, float).reshape(-1, 2)
        if len(verts) == 0:
            return
        screen = self.axes.transData.transform(verts)
        if len(verts) < 3 or np.ptp(screen, axis=0).max() < 3:
            self.select_at(*verts[-1])
        else:
            self.select_in(verts)

    def select_at(self, x: float, y: float) -> np.ndarray:
        """Select the point nearest to (x, y) (data coordinates), as a click does.

        Nothing within ``pick_radius`` screen pixels: the selection is cleared.
        Returns the selected indices.
        """
        if self.embedding is None:
            return _EMPTY
        valid = np.flatnonzero(self._valid())
        if not len(valid):
            return self.select_elements([])
        screen = self.axes.transData.transform(self.embedding[valid])
        target = self.axes.transData.transform([[x, y]])[0]
        distance = np.hypot(*(screen - target).T)
        best = int(np.argmin(distance))
        if distance[best] > self.pick_radius:
            return self.select_elements([])
        return self.select_elements([valid[best]])

    def select_in(self, vertices) -> np.ndarray:
        """Select the points inside the polygon ``vertices`` (data coordinates).

        As a lasso does. Returns the selected indices.
        """
        from matplotlib.path import Path

        if self.embedding is None:
            return _EMPTY
        valid = np.flatnonzero(self._valid())
        inside = Path(np.asarray(vertices, float)).contains_points(self.embedding[valid])
        return self.select_elements(valid[inside])

    def select_elements(self, indices) -> np.ndarray:
        """Select elements by index: paint their pixels, plot their traces, ring them."""
        idx = np.unique(np.asarray(indices, np.intp).ravel())
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self.labels)):
            raise ValueError(f"element indices should be in 0..{len(self.labels) - 1}, "
                             f"got {idx.min()}..{idx.max()}.")
        self.selected = idx
        self._draw_rings()
        self._paint_selection()
        self._plot_selection()
        return idx

    def _paint_selection(self) -> None:
        if self.shape is None:
            return
        if not len(self.selected):
            self._clear_highlight_layer()
            return
        mask = np.zeros(self.shape, np.uint8)
        for i in self.selected:
            pix = self.pixels[i]
            if len(pix):
                mask[pix[:, 0], pix[:, 1]] = 1
        viewer = self._viewer
        active = viewer.layers.selection.active
        show(viewer, [(mask, {
            "name": self.highlight_name, "colormap": {1: "yellow", None: "transparent"},
            "opacity": 0.9, "metadata": provenance("clustering selection", self.source)},
            "labels")])
        if active is not None and active in viewer.layers:
            viewer.layers.selection.active = active  # keep the clusters layer picking

    def _clear_highlight_layer(self) -> None:
        name = self.highlight_name
        layer = next((lay for lay in self._viewer.layers if lay.name == name), None)
        if layer is not None and np.asarray(layer.data).any():
            layer.data = np.zeros_like(np.asarray(layer.data))

    @property
    def highlight_name(self) -> str:
        """Name of the Labels layer painting the selected elements."""
        return layer_name(self.source, "selected elements")

    def _plot_selection(self) -> None:
        from .traces import TraceWidget

        dock = session_for(self._viewer).trace_dock
        if not isinstance(dock, TraceWidget) or self.traces is None or not len(self.selected):
            return
        idx = self.selected
        if len(idx) <= self.max_series:
            series = {self.names[i]: self.traces[i] for i in idx}
            colors = {self.names[i]: self._color(self.labels[i]) for i in idx}
            title = f"{self.source}: {len(idx)} selected element(s)"
        else:
            w = self._element_weights[idx]
            mean = (w[:, None] * self.traces[idx]).sum(axis=0) / w.sum()
            name = f"mean of {len(idx)} elements"
            clusters = np.unique(self.labels[idx])
            series = {name: mean}
            colors = {name: self._color(clusters[0])} if len(clusters) == 1 else {}
            title = f"{self.source}: mean trace of {len(idx)} selected elements"
        try:
            dock.show_series(title, series, colors=colors)
        except RuntimeError:  # the dock was closed
            logger.debug("trace dock closed")

    # ------------------------------------------------------- viewer → scatter
    def _on_selected_label(self, event) -> None:
        self.highlight_label(int(event.source.selected_label))

    def highlight_label(self, label: int) -> np.ndarray:
        """Ring the points of cluster ``label``, as selecting it in the Labels layer does.

        Returns their indices (none for 0 or an unknown label).
        """
        if label > 0 and len(self.labels):
            idx = np.flatnonzero((self.labels == label) & self._valid()) \
                if self.embedding is not None else np.flatnonzero(self.labels == label)
        else:
            idx = _EMPTY
        self.highlighted = idx
        self._draw_rings()
        return idx

    # ------------------------------------------------------------------ plot
    def _draw_rings(self) -> None:
        empty = np.zeros((0, 2))
        if self.embedding is None:
            self._rings_label.set_offsets(empty)
            self._rings_selected.set_offsets(empty)
        else:
            self._rings_label.set_offsets(self.embedding[self.highlighted]
                                          if len(self.highlighted) else empty)
            self._rings_selected.set_offsets(self.embedding[self.selected]
                                             if len(self.selected) else empty)
        self.canvas.draw_idle()
