"""The "Coactive clustering" dock widget (pyAMNESIA's clustering module).

Input: the skeleton of the chosen movie layer, computed by the *Skeleton* dock
and kept in the viewer's session, projected (``substructure``: skeleton or
active pixels; ``method``: one element per pixel or per branch, see
:mod:`napari_amnesia.core.projection`). The projection is kept in the session
too, and reused while the skeleton and the choices stay the same.

One control per :class:`~napari_amnesia.core.clustering.ClusteringParams` field,
named after it, with its explanation as tooltip; *template* loads the values of a
shipped configuration (``clustering_pixel``, ``clustering_branch``,
``clustering_active``; the ``· level 2`` entries load a template's consecutive
step). *Cluster* runs the projection and
:func:`~napari_amnesia.core.clustering.iter_cluster` in a worker (progress,
*Cancel*); *Cluster the clusters* runs
:func:`~napari_amnesia.core.clustering.iter_cluster_consecutive` on the last
level with the parameters in the controls (the hierarchy is kept); it is enabled
only when the last level has at least 2 clusters. When a level finds no cluster,
or a next level fails, the status names the parameter to change and the levels
already computed stay (results and layers). Each level shows:

- ``<movie> · clusters`` (level 1) or ``<movie> · clusters level <L>``: a Labels
  layer, one label per cluster, with the cluster table as ``features``
  (``index`` = label, ``n_elements``, ``n_original_elements``, ``area``, ``snr``,
  ``level``); a new level-1 run removes the layers of the higher levels it
  replaces;
- the clusters' mean traces in the trace dock, one series per cluster in the
  colour of its label;
- the elements in the *Cluster embedding* dock (:mod:`.embedding`), linked to
  the viewer. A level clustered without an embedding (``embedding="none"``) is
  shown on the level-1 embedding, each element coloured by its cluster at that
  level.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, PushButton, create_widget

from ...core.clustering import ClusteringParams, template_entries
from ...core.projection import iter_current_projection
from ..layers import show
from ..session import session_for
from ._controls import controls_for, set_controls, values_of
from ._stage import NO_TEMPLATE, StageWidget, session_projection
from .traces import docked, trace_dock

if TYPE_CHECKING:
    import napari

__all__ = ["ClusteringWidget"]

logger = logging.getLogger(__name__)

class ClusteringWidget(StageWidget):
    """Clusters of coactive skeleton pixels, active pixels or branches.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari.

    Attributes
    ----------
    levels : list of ClusterResult
        The levels of the current clustering (``levels[0]``: level 1).
    projection : Projection or None
        The projection level 1 was computed on.
    """

    stage = "clustering"
    run_text = "Cluster"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer, scrollable=True)
        self.levels: list = []
        self.projection = None
        self._source: str | None = None
        self._embedding_view = None
        self._templates = template_entries("clustering")
        self.movie = create_widget(annotation="napari.layers.Image", label="movie")
        self.movie.tooltip = ("The (T, Y, X) movie whose skeleton (Skeleton dock) gives the "
                              "elements to cluster.")
        self.substructure = ComboBox(name="substructure", label="substructure",
                                     choices=["skeleton", "active"], value="skeleton")
        self.substructure.tooltip = (
            "Elements taken from the 'skeleton' pixels, or the 'active' pixels of the binary "
            "structure before skeletonization (for flickering or low-resolution movies, where "
            "the skeleton breaks).")
        self.method = ComboBox(name="method", label="method", choices=["pixel", "branch"],
                               value="pixel")
        self.method.tooltip = ("One element per 'pixel' (mesoscopic clusters of dozens of "
                               "pixels) or per 'branch' (its mean trace: a few coactive "
                               "branches per cluster).")
        self.template = ComboBox(name="template", label="template",
                                 choices=[NO_TEMPLATE, *self._templates], value=NO_TEMPLATE)
        self.template.tooltip = (
            "Load the values of a shipped configuration (amnesia cluster --show NAME) into the "
            "controls below; '· level 2' loads the template's consecutive step, for 'Cluster "
            "the clusters'.")
        self.template.changed.connect(self.load_template)
        # one control per ClusteringParams field: w.min_cluster_size, w.perplexity...
        self.parameters = controls_for(ClusteringParams)
        self.consecutive_button = PushButton(text="Cluster the clusters", enabled=False)
        self.consecutive_button.tooltip = (
            "Consecutive clustering: the mean traces of the last level's clusters become the "
            "elements, clustered with the parameters above (fewer elements: a small "
            "min_cluster_size, embedding 'none'; see the '· level 2' templates).")
        self.consecutive_button.changed.connect(self.run_consecutive)
        self.extend([self.movie, self.substructure, self.method, self.template,
                     *self.parameters, self.run_button, self.cancel_button,
                     self.consecutive_button, self.status])

    # ------------------------------------------------------------ parameters
    def params(self) -> ClusteringParams:
        """Return the :class:`ClusteringParams` the controls hold (ValueError if invalid)."""
        return ClusteringParams(**values_of(self.parameters, ClusteringParams))

    def load_template(self, name: str | None = None) -> None:
        """Load a template entry's values into the controls (and its projection choices)."""
        name = self.template.value if name is None else name
        if name == NO_TEMPLATE or name is None:
            return
        projection, values = self._templates[name]
        try:
            params = ClusteringParams.from_dict(values)
        except (TypeError, ValueError) as exc:
            self.status.value = f"Template {name!r}: {exc}"
            return
        set_controls(self.parameters, params.to_dict())
        if projection:
            self.substructure.value = projection.get("substructure", self.substructure.value)
            self.method.value = projection.get("method", self.method.value)
        if self.template.value != name:
            self.template.value = name
        self.status.value = f"Loaded template {name!r}."

    # ------------------------------------------------------------------- run
    def run(self):
        """Project and cluster the chosen movie's skeleton; return the worker (or None)."""
        from ...core.clustering import iter_cluster

        layer = self.chosen_movie()
        if layer is None:
            return None
        source = layer.name
        substructure, method = self.substructure.value, self.method.value
        try:
            params = self.params()
        except (TypeError, ValueError) as exc:
            self.status.value = f"Invalid parameter: {exc}"
            return None
        try:
            skeleton, projection, n = session_projection(self._viewer, source, layer.data,
                                                         substructure, method)
        except ValueError as exc:
            self.status.value = str(exc)
            return None
        if n < params.min_cluster_size:
            self.status.value = (
                f"Only {n} {substructure} {method}(s) in the skeleton of {source!r}, fewer "
                f"than min_cluster_size={params.min_cluster_size}: lower min_cluster_size"
                + (", or cluster pixels instead of branches." if method == "branch" else
                   ", or cluster the active pixels." if substructure == "skeleton" else "."))
            return None
        movie = layer.data
        found: dict[str, Any] = {}

        def generator():
            proj = yield from iter_current_projection(movie, skeleton, substructure=substructure,
                                                      method=method, previous=projection)
            found["projection"] = proj
            return (yield from iter_cluster(proj, params))

        def on_result(result) -> None:
            self.projection = found["projection"]
            session_for(self._viewer).set_result(source, "projection", self.projection)
            self._remove_higher_levels(source)
            self.levels = [result]
            self._source = source
            self._show(result, source)

        return self.launch(generator(), source=source, on_result=on_result,
                           message=f"Clustering the {substructure} {method}s of {source!r}...")

    def run_consecutive(self):
        """Cluster the clusters of the last level; return the worker (or None)."""
        from ...core.clustering import iter_cluster_consecutive

        if not self.levels or self._source is None:
            self.status.value = "Cluster first: 'Cluster the clusters' groups a result's clusters."
            return None
        previous = self.levels[-1]
        try:
            params = self.params()
        except (TypeError, ValueError) as exc:
            self.status.value = f"Invalid parameter: {exc}"
            return None
        if previous.n_clusters < 2:
            self.status.value = (
                f"Level {previous.level} has {previous.n_clusters} cluster(s): nothing to "
                f"cluster. For more clusters, {previous.advice()}, and Cluster again.")
            return None
        if previous.n_clusters < params.min_cluster_size:
            self.status.value = (
                f"Level {previous.level} has {previous.n_clusters} cluster(s), fewer than "
                f"min_cluster_size={params.min_cluster_size}: lower min_cluster_size (2 groups "
                "pairs of clusters), e.g. with a '· level 2' template.")
            return None
        source = self._source

        def on_result(result) -> None:
            if not self.levels or self.levels[-1] is not previous:  # replaced meanwhile
                return
            self.levels.append(result)
            self._show(result, source)

        kept = ", ".join(str(r.level) for r in self.levels)  # read here, not in the worker

        def generator():
            try:
                return (yield from iter_cluster_consecutive(previous, params))
            except (ValueError, ImportError) as exc:
                raise ValueError(f"level {previous.level + 1} not computed, level(s) "
                                 f"{kept} kept: {exc}") from exc

        return self.launch(generator(), source=source, on_result=on_result,
                           message=f"Clustering the {previous.n_clusters} level-"
                                   f"{previous.level} clusters of {source!r}...")

    def launch(self, generator, **kwargs):
        """As :meth:`StageWidget.launch`, also disabling *Cluster the clusters* meanwhile."""
        self.consecutive_button.enabled = False
        worker = super().launch(generator, **kwargs)
        if worker is None:
            self._enable_consecutive()
        else:
            worker.finished.connect(self._enable_consecutive)
        return worker

    def _enable_consecutive(self) -> None:
        """*Cluster the clusters* is enabled when the last level has clusters to group."""
        self.consecutive_button.enabled = (bool(self.levels) and self._worker is None
                                           and self.levels[-1].n_clusters >= 2)

    # ---------------------------------------------------------------- layers
    def _remove_higher_levels(self, source: str) -> None:
        self._remove_levels(source, lambda level: level > 1)

    def _remove_levels(self, source: str, which) -> None:
        """Remove the cluster layers of ``source`` whose level satisfies ``which``."""
        viewer = self._viewer
        for layer in list(viewer.layers):
            meta = layer.metadata.get("napari_amnesia", {}) if isinstance(
                layer.metadata, dict) else {}
            if (meta.get("stage") == "clustering" and meta.get("source") == source
                    and which(int(meta.get("level", 1)))):
                viewer.layers.remove(layer)

    def _show(self, result, source: str) -> None:
        """Labels layer, mean traces and embedding of one level."""
        k = result.n_clusters
        if k == 0:
            self.status.value = (f"No cluster at level {result.level}: all "
                                 f"{result.n_elements} elements are noise; "
                                 f"{result.advice()}.")
            self._remove_levels(source, lambda level: level == result.level)  # stale
            self._update_scatter(result, source, None, {})
            return
        [labels] = show(self._viewer, result.to_layers(source))
        colors = {c: tuple(float(v) for v in labels.get_color(c)) for c in range(1, k + 1)}
        self._plot_means(result, source, colors)
        self._update_scatter(result, source, labels, colors)
        noise = int(np.sum(result.labels == 0))
        self.status.value = (f"Level {result.level}: {k} cluster(s) of {result.n_elements} "
                             f"elements, {noise} noise."
                             + (f" One cluster: nothing to cluster further ({result.advice()} "
                                "for more)." if k == 1 else ""))

    def _plot_means(self, result, source: str, colors: dict) -> None:
        try:
            dock = trace_dock(self._viewer)
            names = [f"cluster {c}" for c in range(1, result.n_clusters + 1)]
            dock.show_series(
                f"{source}: mean traces of the {result.n_clusters} level-{result.level} "
                "clusters", dict(zip(names, result.mean_traces, strict=True)),
                colors={n: colors[c] for c, n in enumerate(names, start=1)})
        except RuntimeError as exc:  # the dock was closed
            logger.debug("trace dock unavailable: %s", exc)

    @property
    def embedding_view(self):
        """The *Cluster embedding* dock (:class:`~.embedding.EmbeddingWidget`).

        Opened on first use.
        """
        from .embedding import EmbeddingWidget

        view = self._embedding_view
        if view is not None and docked(view):
            return view
        try:
            alive = view is not None and view.isHidden() in (True, False)
        except RuntimeError:  # Qt deleted it
            alive = False
        if not alive:
            view = self._embedding_view = EmbeddingWidget(self._viewer)
        # (re)dock it: closing its dock unparents it, the next result shows it again
        self._viewer.window.add_dock_widget(view, name="Cluster embedding", area="right",
                                            add_vertical_stretch=False)
        return view

    def _update_scatter(self, result, source: str, labels_layer, colors: dict) -> None:
        first = self.levels[0] if self.levels else result
        proj = self.projection
        if result.embedding is not None or first.embedding is None:
            level = result
            if result.level == 1 or len(self.levels) < result.level:
                traces = proj.traces if proj is not None else None
                names = self._element_names(result)
            else:
                traces = self.levels[result.level - 2].mean_traces
                names = [f"level-{result.level - 1} cluster {c}"
                         for c in range(1, result.n_elements + 1)]
            embedding, point_labels, pixels = level.embedding, level.labels, \
                level.element_pixels
            title = (f"{source}: the {level.n_elements} level-{level.level} elements in "
                     f"{level.params.embedding}")
        else:  # shown on the level-1 embedding
            embedding, point_labels, pixels = first.embedding, result.original_labels, \
                first.element_pixels
            traces = proj.traces if proj is not None else None
            names = self._element_names(first)
            title = (f"{source}: the {first.n_elements} level-1 elements, coloured by their "
                     f"level-{result.level} cluster")
        self.embedding_view.set_clusters(
            embedding, point_labels, traces=traces, pixels=pixels or [], shape=result.shape,
            source=source, colors=colors, names=names, labels_layer=labels_layer,
            title=title,
            message=("No embedding: embedding='none' clusters on the correlation distance "
                     "directly. Choose 'tsne' or 'umap' to see the elements in 2-D."))

    def _element_names(self, result) -> list[str]:
        proj = self.projection
        if proj is None or proj.n_elements != result.n_elements:
            return [f"element {i}" for i in range(result.n_elements)]
        if proj.method == "branch":
            return [f"branch {int(b)}" for b in proj.element_ids]
        return [f"pixel ({int(p[0, 0])}, {int(p[0, 1])})" if len(p) == 1 else f"element {i}"
                for i, p in enumerate(proj.pixels)]
