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
    # the dock shows the layers the result gives, no others of its own
    shown = {layer.name for layer in viewer.layers} - {"rec", "red"}
    assert shown == {kwargs["name"] for _, kwargs, _ in result.to_layers("rec")}
    assert set(traces.series) == {"dy", "dx"}
    np.testing.assert_allclose(traces.series["dy"], result.shifts[:, 0], rtol=1e-6)
    out = traces.export_csv(tmp_path / "shifts.csv")
    assert out.read_text().splitlines()[0] == "frame,dy,dx"
    # the dialog's path: our own CSV is replaced, a user's file is refused in the dock
    assert traces.save_as(out) == out
    mine = tmp_path / "notes.csv"
    mine.write_text("my notes")
    assert traces.save_as(mine) is None
    assert mine.read_text() == "my notes"
    assert traces.title.text().startswith("Not exported:")

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


def test_motion_widget_piecewise_rigid_on_a_small_frame(make_napari_viewer, qtbot):
    # 100 x 100 with the default patches: an all-NaN template and every shift at the
    # search bound before; now the patch grid is fitted and the status says so, and
    # says how many shifts the data did not support
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=60, shape=(100, 100), n_cells=12, max_shift=4.0,
                            nonrigid=True, nonrigid_amplitude=2.0, rng=2)
    movie = movie.astype(np.float32)
    noise = float(np.std(np.diff(movie, axis=0))) / np.sqrt(2)
    movie[30] = float(np.median(movie)) + np.random.default_rng(0).normal(
        0.0, noise, truth.shape)  # a frame without usable structure
    viewer = make_napari_viewer()
    viewer.add_image(movie, name="small")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Motion correction")
    widget.movie.value = viewer.layers["small"]
    widget.pw_rigid.value = True
    widget.run()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=120_000)
    result = widget.result
    template = viewer.layers["small · template"].data
    assert np.isfinite(template).all()
    assert result.shifts_pw.shape[1:3] == (2, 2) and np.isfinite(result.shifts_pw).all()
    keep = np.arange(60) != 30
    assert shift_rmse(result.shifts[keep], truth.shifts[keep]) < 0.2
    assert result.rejected_frames.tolist() == [30]
    assert "1 shift(s) rejected" in widget.status.value
    assert "does not fit frames of 100x100 px" in widget.status.value
