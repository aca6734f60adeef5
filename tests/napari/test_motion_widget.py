"""The Motion correction dock, end to end in a viewer (Xvfb)."""

import dask.array as da
import numpy as np

from napari_amnesia.core.pipeline import shift_rmse

PLUGIN = "napari-amnesia"


def test_motion_widget_corrects_shows_layers_and_applies(make_napari_viewer, tmp_path, qtbot):
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=150, shape=(96, 96), n_cells=12, nonrigid=False,
                            max_shift=4.0, rng=5)
    viewer = make_napari_viewer()
    viewer.add_image(movie, name="rec")
    viewer.add_image(movie.astype(np.float32) * 2, name="red")
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Motion correction")
    widget.movie.value = viewer.layers["rec"]
    # parameters are controls named after MotionParams fields, with the docs as tooltip
    from napari_amnesia.core.motion import MotionParams

    assert widget.max_shifts.value == MotionParams().max_shifts
    assert "displacement" in widget.max_shifts.tooltip
    widget.max_shifts.value = (8, 8)
    widget.pw_rigid.value = False
    assert widget.params().max_shifts == (8, 8)
    widget.run()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=120_000)
    result = widget.result
    assert shift_rmse(result.shifts, truth.shifts) < 0.2
    corrected = viewer.layers["rec · corrected"]
    assert isinstance(corrected.data, da.Array)  # lazy
    for word in ("template", "correlation before", "correlation after"):
        assert f"rec · {word}" in [layer.name for layer in viewer.layers]
    assert set(traces.series) == {"dy", "dx"}
    np.testing.assert_allclose(traces.series["dy"], result.shifts[:, 0], rtol=1e-6)
    out = traces.export_csv(tmp_path / "shifts.csv")
    assert out.read_text().splitlines()[0] == "frame,dy,dx"

    widget.apply_target.value = viewer.layers["red"]
    layer = widget.apply()
    assert layer.name == "red · corrected"
    frame = 70
    np.testing.assert_allclose(np.asarray(layer.data[frame]),
                               2 * np.asarray(corrected.data[frame]), rtol=1e-4, atol=1e-2)


def test_motion_widget_refuses_bad_parameters(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((20, 32, 32), np.float32), name="small")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Motion correction")
    widget.max_shifts.value = (40, 40)  # larger than the frame
    assert widget.run() is None
    assert "max_shifts" in widget.status.value
    assert [layer.name for layer in viewer.layers] == ["small"]
