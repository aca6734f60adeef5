"""The Skeleton dock, end to end in a viewer (Xvfb)."""

import numpy as np

from napari_amnesia.core.traces import label_traces

PLUGIN = "napari-amnesia"


def test_skeleton_widget_layers_preview_and_branch_trace(make_napari_viewer, qtbot):
    """Run the dock: its layers, a preview and the trace of a selected branch."""
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=60, shape=(128, 128), n_cells=0, n_neurite_groups=1,
                            motion=False, rng=11)
    viewer = make_napari_viewer()
    viewer.add_image(movie, name="neurites")
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Skeleton")
    assert widget.movie.value is viewer.layers["neurites"]
    # every parameter is a control named after it, with its explanation as tooltip
    assert "Step 5" in widget.threshold_offset.tooltip
    widget.min_branch_length.value = 5.0
    assert widget.params().min_branch_length == 5.0
    widget.run()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=120_000)
    result = widget.result
    names = [layer.name for layer in viewer.layers]
    for word in ("structure", "skeleton", "branches", "junctions"):
        assert f"neurites · {word}" in names
    skeleton = viewer.layers["neurites · skeleton"]
    np.testing.assert_array_equal(skeleton.data, result.branch_labels)
    table = skeleton.features
    assert list(table["index"]) == list(result.branches["branch_id"])
    assert result.totals["n_branches"] >= 2
    assert "branches" in widget.status.value

    widget.preview.value = "equalized"
    preview = widget.show_preview()
    assert preview.name == "neurites · skeleton equalized"

    # selecting a branch label plots that branch's mean trace
    branch = int(result.branches["branch_id"].iloc[1])  # not the default selected label 1
    skeleton.selected_label = branch
    qtbot.waitUntil(lambda: traces.trace is not None, timeout=30_000)
    _, expected = label_traces(movie, result.branch_labels, label_ids=[branch])
    np.testing.assert_allclose(traces.trace, expected[0], rtol=1e-5)


def test_skeleton_widget_refuses_bad_parameters(make_napari_viewer):
    """Refuse to run with an invalid parameter, naming it."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((5, 32, 32), np.float32), name="blank")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Skeleton")
    widget.threshold_block_size.value = 20  # must be odd
    assert widget.run() is None
    assert "threshold_block_size" in widget.status.value
