"""The Factorization dock, end to end in a viewer (Xvfb)."""

import numpy as np
import pytest

from napari_amnesia.napari.session import session_for

PLUGIN = "napari-amnesia"


@pytest.fixture(scope="module")
def neurites(tmp_path_factory):
    """The core test's scene (3 planted coactive groups) saved as a TIFF."""
    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=1000, shape=(112, 112), n_cells=0, n_neurite_groups=3,
                            branches_per_group=3, motion=False, rng=2)
    path = tmp_path_factory.mktemp("factorization") / "groups.tif"
    save_movie(movie, path)
    return path, movie, truth


def tiles(layer, shape=(112, 112)):
    """The maps of a components mosaic, from the tile corners in its metadata."""
    corners = [c["tile"] for c in layer.metadata["napari_amnesia"]["components"]]
    return np.stack([layer.data[r:r + shape[0], c:c + shape[1]] for r, c in corners])


def test_components_shown_at_every_frame(make_napari_viewer, neurites, monkeypatch):
    # a (K, Y, X) stack shared its first axis with the movie's time and went black once
    # the time slider passed K; the maps must look the same at the first and last frame
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    path, movie, truth = neurites
    viewer = make_napari_viewer(show=True)   # a shown window renders its canvas
    [layer] = viewer.open(path, plugin=PLUGIN)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Factorization")
    widget.method.value = "pca"
    widget.n_components.value = 4
    widget.min_skewness.value = "none"
    widget.run()
    components = viewer.layers["groups · components"]
    components.visible = True
    layer.visible = False
    viewer.reset_view()
    shots = []
    for frame in (0, movie.shape[0] - 1):
        viewer.dims.set_current_step(0, frame)
        assert viewer.dims.current_step[0] == frame
        shots.append(viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int))
    first, last = shots
    bright = first.sum(axis=2) > 60
    assert bright.mean() > 0.01                  # the maps are drawn at frame 0 ...
    assert (last.sum(axis=2) > 60).mean() > 0.9 * bright.mean()   # ... and at the last
    assert np.abs(first - last).mean() < 1.0


def best_spatial_match(truth, spatial):
    """For each planted group, the best correlation of its map with a component."""
    g = truth.n_groups
    f = truth.group_maps().reshape(g, -1)
    f = f - f.mean(1, keepdims=True)
    s = spatial.reshape(len(spatial), -1)
    s = s - s.mean(1, keepdims=True)
    c = (f / np.linalg.norm(f, axis=1, keepdims=True)) @ \
        (s / np.linalg.norm(s, axis=1, keepdims=True)).T
    return c.max(1)


def test_factorization_widget_components_traces_and_projection(make_napari_viewer, neurites,
                                                               monkeypatch):
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    path, movie, truth = neurites
    viewer = make_napari_viewer()
    [layer] = viewer.open(path, plugin=PLUGIN)
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Factorization")
    assert widget.movie.value is layer
    # every FactorizationParams field is a control named after it, its help as tooltip
    assert "skewness" in widget.min_skewness.tooltip
    widget.template.value = "factorization_nmf"
    assert widget.method.value == "nmf" and widget.input.value == "movie"
    widget.method.value = "ica"
    widget.n_components.value = 6
    widget.run()
    result = widget.result
    k = result.n_components
    assert k >= truth.n_groups
    components = viewer.layers["groups · components"]
    meta = components.metadata["napari_amnesia"]
    # one 2-D mosaic, component i at its tile, beside the movie (not over it)
    assert components.ndim == 2 and components.visible
    np.testing.assert_array_equal(tiles(components), result.spatial)
    assert components.translate[1] >= 112
    assert best_spatial_match(truth, result.spatial).min() >= 0.8  # the core test's
    assert meta["stage"] == "factorization" and meta["params"]["method"] == "ica"
    assert [c["skewness"] for c in meta["components"]] == pytest.approx(
        result.skewness.tolist())
    assert len(meta["components"]) == k and "explained_variance" in meta["components"][0]
    assert len(traces.series) == k
    np.testing.assert_allclose(list(traces.series.values())[0], result.temporal[0])
    assert "ICA" in widget.status.value

    # the traces of the skeleton branches, the skeleton from the session
    widget.input.value = "skeleton branches"
    assert widget.run() is None and "No skeleton of 'groups'" in widget.status.value
    _, skeleton = viewer.window.add_plugin_dock_widget(PLUGIN, "Skeleton")
    skeleton.run()
    widget.method.value = "pca"
    widget.n_components.value = 3
    widget.min_skewness.value = "none"
    widget.run()
    branches = session_for(viewer).result("groups", "projection")
    assert branches is not None and branches.method == "branch"
    assert widget.result.weights.shape == (3, branches.n_elements)
    assert viewer.layers["groups · components"] is components  # updated in place
    assert tiles(components).shape == (3, 112, 112)
    assert (tiles(components)[:, branches.labels == 0] == 0).all()
    assert len(traces.series) == 3


def test_factorization_refuses_bad_input_and_cancels(make_napari_viewer, neurites,
                                                     monkeypatch, qtbot):
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    path, *_ = neurites
    viewer = make_napari_viewer()
    [layer] = viewer.open(path, plugin=PLUGIN)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Factorization")
    widget.method.value = "nmf"
    widget.normalization.value = "zscore"  # NMF needs non-negative data
    assert widget.run() is None and "normalization" in widget.status.value
    widget.normalization.value = "none"
    # too many components: refused by the core, reported, nothing added
    widget.n_components.value = 100_000
    widget.run()
    assert "n_components=100000" in widget.status.value
    assert [lay.name for lay in viewer.layers] == ["groups"]

    # cancel: nothing added
    monkeypatch.delenv("NAPARI_AMNESIA_SYNC")
    widget.n_components.value = 4
    worker = widget.run()
    assert worker is not None and not widget.run_button.enabled
    widget.cancel()
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=30_000)
    assert widget.status.value == "Cancelled."
    assert [lay.name for lay in viewer.layers] == ["groups"]
