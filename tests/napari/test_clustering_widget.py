"""The Coactive clustering dock and its embedding scatter, end to end in a viewer (Xvfb)."""

from pathlib import Path

import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent
from sklearn.metrics import adjusted_rand_score

from napari_amnesia.napari.session import session_for

PLUGIN = "napari-amnesia"


@pytest.fixture(scope="module")
def neurites(tmp_path_factory):
    """The core test's scene (4 planted coactive groups of 3 branches) saved as a TIFF."""
    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=500, shape=(112, 112), n_cells=0, n_neurite_groups=4,
                            branches_per_group=3, motion=False, rng=1)
    path = tmp_path_factory.mktemp("clustering") / "neurites.tif"
    save_movie(movie, path)
    group_of_pixel = np.concatenate([[-1], truth.branch_groups])[truth.branch_labels()]
    return path, movie, truth, group_of_pixel


def planted(projection, group_of_pixel):
    """Planted group of each element: majority of its pixels (-1: on no branch)."""
    from napari_amnesia.core.metrics import majority_labels

    return majority_labels(projection.pixels, group_of_pixel)[0]


def open_and_skeletonize(viewer, path):
    [layer] = viewer.open(path, plugin=PLUGIN)
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")
    _, skeleton = viewer.window.add_plugin_dock_widget(PLUGIN, "Skeleton")
    skeleton.movie.value = layer
    skeleton.run()  # synchronous (NAPARI_AMNESIA_SYNC)
    assert session_for(viewer).result(layer.name, "skeleton") is not None
    return layer, traces


def mouse(canvas, axes, name, x, y):
    """Send a matplotlib mouse event at data coordinates (x, y), as Qt would."""
    px, py = axes.transData.transform((x, y))
    event = MouseEvent(name, canvas, px, py, button=1)
    canvas.callbacks.process(name, event)


def test_clustering_layers_traces_scatter_and_consecutive(make_napari_viewer, neurites,
                                                          monkeypatch):
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    path, movie, truth, gop = neurites
    viewer = make_napari_viewer()
    layer, traces = open_and_skeletonize(viewer, path)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Coactive clustering")
    assert widget.movie.value is layer
    # every ClusteringParams field is a control named after it, its help as tooltip
    assert "neighbours" in widget.perplexity.tooltip
    widget.template.value = "clustering_pixel"
    assert widget.cluster_selection_method.value == "leaf"
    assert (widget.substructure.value, widget.method.value) == ("skeleton", "pixel")
    assert widget.params().min_cluster_size == 10

    widget.run()
    [result] = widget.levels
    assert widget.result is result
    assert session_for(viewer).result("neurites", "clustering") is result
    clusters = viewer.layers["neurites · clusters"]
    np.testing.assert_array_equal(clusters.data, result.label_image)
    table = clusters.features
    k = result.n_clusters
    assert k >= 3 and list(table["index"]) == list(range(1, k + 1))
    assert list(table["n_elements"]) == list(np.bincount(result.labels, minlength=k + 1)[1:])
    assert list(table["area"]) == [int((clusters.data == c).sum()) for c in range(1, k + 1)]
    assert (table["level"] == 1).all() and (table["snr"] > 0).all()
    assert clusters.metadata["napari_amnesia"]["stage"] == "clustering"
    assert clusters.metadata["napari_amnesia"]["params"]["perplexity"] == 30
    proj = widget.projection
    expected = planted(proj, gop)
    known = expected >= 0
    assert adjusted_rand_score(expected[known], result.labels[known]) >= 0.8  # the core's
    # the mean traces, one series per cluster, coloured like the labels
    assert list(traces.series) == [f"cluster {c}" for c in range(1, k + 1)]
    np.testing.assert_allclose(traces.series["cluster 2"], result.mean_traces[1])
    np.testing.assert_allclose(traces.series_colors["cluster 2"], clusters.get_color(2))

    # the scatter: a lasso around cluster 2's points selects them (real matplotlib events)
    scatter = widget.embedding_view
    assert not scatter.canvas.isHidden()
    assert len(scatter.labels) == proj.n_elements
    members = np.flatnonzero(result.labels == 2)
    xy = result.embedding[members]
    centre = xy.mean(axis=0)
    radius = np.linalg.norm(xy - centre, axis=1).max() * 1.05
    angles = np.linspace(0, 2 * np.pi, 40)
    ring = centre + radius * np.column_stack([np.cos(angles), np.sin(angles)])
    mouse(scatter.canvas, scatter.axes, "button_press_event", *ring[0])
    for x, y in ring[1:]:
        mouse(scatter.canvas, scatter.axes, "motion_notify_event", x, y)
    mouse(scatter.canvas, scatter.axes, "button_release_event", *ring[-1])
    selected = scatter.selected
    assert set(members) <= set(selected)
    assert np.mean(result.labels[selected] == 2) > 0.9
    highlight = viewer.layers["neurites · selected elements"]
    want = np.zeros(proj.shape, bool)
    for i in selected:
        want[tuple(proj.pixels[i].T)] = True
    np.testing.assert_array_equal(highlight.data > 0, want)
    [name] = traces.series
    assert name == f"mean of {len(selected)} elements"
    np.testing.assert_allclose(traces.series[name], proj.traces[selected].mean(axis=0),
                               rtol=1e-5)
    assert viewer.layers.selection.active is not highlight

    # a click on one point selects that element: its pixel, its trace
    i = int(members[0])
    mouse(scatter.canvas, scatter.axes, "button_press_event", *result.embedding[i])
    mouse(scatter.canvas, scatter.axes, "button_release_event", *result.embedding[i])
    assert list(scatter.selected) == [i]
    np.testing.assert_array_equal(np.argwhere(highlight.data), proj.pixels[i])
    [name] = traces.series
    np.testing.assert_allclose(traces.series[name], proj.traces[i])
    # a click on empty space clears the selection
    far = result.embedding[np.isfinite(result.embedding).all(1)].max(axis=0) + 1e3
    scatter.select_at(*far)
    assert len(scatter.selected) == 0 and not highlight.data.any()

    # selecting a label in the Labels layer rings its points in the scatter
    clusters.selected_label = 3
    np.testing.assert_array_equal(scatter.highlighted, np.flatnonzero(result.labels == 3))

    # consecutive clustering: one click, level 2 kept next to level 1
    widget.template.value = "clustering_pixel · level 2"
    assert widget.embedding.value == "none" and widget.keep_unclustered.value
    assert widget.consecutive_button.enabled
    widget.consecutive_button.native.click()
    assert len(widget.levels) == 2
    macro = widget.levels[1]
    assert macro.level == 2 and len(macro.hierarchy) == 2 and macro.n_elements == k
    level2 = viewer.layers["neurites · clusters level 2"]
    assert (level2.features["level"] == 2).all()
    assert list(level2.features["n_original_elements"]) == [
        int(np.sum(macro.original_labels == c)) for c in range(1, macro.n_clusters + 1)]
    np.testing.assert_array_equal(level2.data, macro.label_image)
    assert "neurites · clusters" in [lay.name for lay in viewer.layers]
    assert adjusted_rand_score(expected[known], macro.original_labels[known]) >= 0.8
    # no level-2 embedding: the level-1 points, coloured by their level-2 cluster
    assert not scatter.canvas.isHidden() and "level-2" in scatter.title.text()
    np.testing.assert_array_equal(scatter.labels, macro.original_labels)
    level2.selected_label = 2  # (1 is a new layer's selected label: no event)
    np.testing.assert_array_equal(scatter.highlighted,
                                  np.flatnonzero(macro.original_labels == 2))

    # a new level 1 replaces the levels above it; the projection is reused; closed docks
    # (the scatter, the traces) come back with the new result
    viewer.window.remove_dock_widget(scatter)
    viewer.window.remove_dock_widget(traces)
    widget.template.value = "clustering_pixel"
    widget.run()
    assert len(widget.levels) == 1 and widget.projection is proj
    assert "neurites · clusters level 2" not in [lay.name for lay in viewer.layers]
    assert widget.embedding_view is scatter and scatter.parent() is not None
    new_traces = session_for(viewer).trace_dock
    assert new_traces is not traces and new_traces.parent() is not None
    assert len(new_traces.series) == widget.levels[0].n_clusters


def test_clustering_refuses_bad_input_cancels_and_hides_empty_embedding(
        make_napari_viewer, neurites, monkeypatch, qtbot):
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    path, *_ = neurites
    viewer = make_napari_viewer()
    [layer] = viewer.open(path, plugin=PLUGIN)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Coactive clustering")
    # no skeleton yet
    assert widget.run() is None
    assert "No skeleton of 'neurites'" in widget.status.value
    assert widget.run_consecutive() is None and "Cluster first" in widget.status.value
    widget.perplexity.value = -1.0
    assert widget.run() is None and "perplexity" in widget.status.value
    widget.perplexity.value = 30.0
    assert [lay.name for lay in viewer.layers] == ["neurites"]

    _, skeleton = viewer.window.add_plugin_dock_widget(PLUGIN, "Skeleton")
    skeleton.run()
    # fewer elements than min_cluster_size
    widget.method.value = "branch"
    widget.min_cluster_size.value = 500
    assert widget.run() is None
    assert "fewer than min_cluster_size=500" in widget.status.value
    assert not any("clusters" in lay.name for lay in viewer.layers)

    # embedding "none": clusters, but the scatter is hidden with a message
    widget.template.value = "clustering_branch"
    widget.embedding.value = "none"
    widget.run()
    assert widget.levels[0].embedding is None
    scatter = widget.embedding_view
    assert scatter.canvas.isHidden() and "embedding='none'" in scatter.message.text()
    assert len(scatter.select_at(0.0, 0.0)) == 0
    n_layers = len(viewer.layers)
    first = widget.levels[0]

    # cancel: nothing added, the previous result kept
    monkeypatch.delenv("NAPARI_AMNESIA_SYNC")
    widget.method.value = "pixel"
    widget.template.value = "clustering_pixel"
    worker = widget.run()
    assert worker is not None and not widget.run_button.enabled
    assert not widget.consecutive_button.enabled
    widget.cancel()
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=30_000)
    assert widget.status.value == "Cancelled."
    assert len(widget.levels) == 1 and widget.levels[0] is first
    assert len(viewer.layers) == n_layers
    assert widget.consecutive_button.enabled


ALLEN = (Path(__file__).parents[2].parent / "shared" / "data"
         / "allen2p_100x100x100.tif")


@pytest.mark.skipif(not ALLEN.is_file(), reason=f"no real movie {ALLEN}")
def test_real_crop_levels_kept_and_consecutive_enabled_only_with_clusters(
        make_napari_viewer, monkeypatch):
    # the allen2p crop: 202 skeleton pixels over 100 frames. With the defaults no
    # cluster reaches min_cluster_size=10: the status says what to change; with that
    # change level 1 has clusters; a failing level 2 keeps level 1 (results and layer)
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    viewer = make_napari_viewer()
    layer, _ = open_and_skeletonize(viewer, ALLEN)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Coactive clustering")
    assert not widget.consecutive_button.enabled          # nothing computed yet
    widget.run()
    [first] = widget.levels
    if first.n_clusters < 2:
        assert "min_cluster_size (now 10, e.g. 5)" in widget.status.value
        assert not widget.consecutive_button.enabled       # nothing to cluster
        assert widget.run_consecutive() is None
        assert "nothing to cluster" in widget.status.value
        assert "min_cluster_size (now 10, e.g. 5)" in widget.status.value
        widget.min_cluster_size.value = 5                  # the advice, followed
        widget.run()
    [first] = widget.levels
    assert first.n_clusters >= 2, widget.status.value
    clusters = viewer.layers[f"{layer.name} · clusters"]
    assert clusters.data.max() == first.n_clusters
    assert widget.consecutive_button.enabled
    # level 2 fails in the worker: level 1 is kept, the status says which level and why
    widget.template.value = "clustering_pixel · level 2"
    widget.difference_lag.value = 99
    widget.consecutive_button.native.click()
    assert widget.levels == [first]
    assert viewer.layers[f"{layer.name} · clusters"] is clusters
    assert "level 2 not computed, level(s) 1 kept" in widget.status.value
    assert "difference_lag=99" in widget.status.value
    assert widget.consecutive_button.enabled
    # with the template's own level 2, it works and sits next to level 1
    widget.difference_lag.value = 3
    widget.consecutive_button.native.click()
    assert [r.level for r in widget.levels] == [1, 2]
    assert f"{layer.name} · clusters level 2" in [lay.name for lay in viewer.layers]
    assert widget.consecutive_button.enabled == (widget.levels[-1].n_clusters >= 2)
