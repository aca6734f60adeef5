"""Viewer tests (Xvfb): reader, sample data, summary widget, trace dock, writers."""

import csv

import dask.array as da
import numpy as np
import pytest

from napari_amnesia.core.traces import label_traces

PLUGIN = "napari-amnesia"


def test_reader_opens_movie_lazily(make_napari_viewer, small_movie_file):
    path, movie, _ = small_movie_file
    viewer = make_napari_viewer()
    layers = viewer.open(path, plugin=PLUGIN)
    assert len(layers) == 1
    layer = layers[0]
    assert layer.name == "small movie"
    assert isinstance(layer.data, da.Array)  # lazy, not read
    assert layer.data.shape == movie.shape and not layer.multiscale
    lo, hi = layer.contrast_limits
    assert movie.min() <= lo < hi <= movie.max()
    # napari's dask cache is shared by all threads and not thread-safe (a stage computing
    # in a worker while a frame is sliced failed with a KeyError): our movies skip it
    from napari.utils._dask_utils import _DASK_CACHE

    cached = set(_DASK_CACHE.cache.data)
    viewer.dims.set_current_step(0, 77)
    viewer.dims.set_current_step(0, 78)
    assert set(_DASK_CACHE.cache.data) == cached
    np.testing.assert_array_equal(np.asarray(layer.data[77]), movie[77])
    assert layer.metadata["napari_amnesia"]["stage"] == "movie"


def test_reader_opens_a_folder_of_frames_in_natural_order(make_napari_viewer, tmp_path):
    import tifffile

    folder = tmp_path / "export"
    folder.mkdir()
    for i in range(12):  # image1 ... image12: natural order, not image1, image10, image11...
        tifffile.imwrite(folder / f"image{i + 1}.tif", np.full((8, 10), i, np.uint16))
    viewer = make_napari_viewer()
    [layer] = viewer.open(folder, plugin=PLUGIN)
    assert layer.data.shape == (12, 8, 10)
    np.testing.assert_array_equal(np.asarray(layer.data)[:, 0, 0], np.arange(12))


def test_reader_declines_what_it_cannot_read(tmp_path):
    from napari_amnesia.napari._reader import get_reader

    (tmp_path / "notes.txt").write_text("hello")
    assert get_reader(str(tmp_path / "notes.txt")) is None
    assert get_reader(str(tmp_path / "missing.tif")) is None
    assert get_reader(str(tmp_path / "empty")) is None


def test_sample_data_has_movie_and_ground_truth(make_napari_viewer):
    viewer = make_napari_viewer()
    layers = viewer.open_sample(PLUGIN, "two_photon")
    names = [layer.name for layer in layers]
    assert names[0] == "synthetic 2p"
    assert "synthetic 2p · ground truth ROIs" in names
    movie, rois = layers[0], viewer.layers["synthetic 2p · ground truth ROIs"]
    assert movie.data.ndim == 3 and rois.data.shape == movie.data.shape[1:]
    n_rois = len(np.unique(rois.data)) - 1
    assert n_rois >= 10
    assert list(rois.features["index"]) == sorted(set(np.unique(rois.data)) - {0})


def _summary_widget(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Summary images")
    return widget


def test_summary_widget_adds_named_layers_and_updates_in_place(
    make_napari_viewer, small_movie_file, qtbot
):
    from napari_amnesia.core.summary import summary_images

    path, movie, _ = small_movie_file
    viewer = make_napari_viewer()
    viewer.open(path, plugin=PLUGIN)
    widget = _summary_widget(viewer)
    assert widget.movie.value is viewer.layers["small movie"]
    widget.eight_neighbours.value = False
    widget.gsig.value = 2.0
    widget.run()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=60_000)
    expected = summary_images(movie, eight_neighbours=False, gsig=2.0, bin_size=1000)
    for word, attr in [("mean", "mean"), ("max", "max"), ("correlation", "corr"), ("PNR", "pnr")]:
        layer = viewer.layers[f"small movie · {word}"]
        np.testing.assert_allclose(layer.data, getattr(expected, attr), rtol=1e-4, atol=1e-5)
        assert layer.metadata["napari_amnesia"]["stage"] == "summary"
    n_layers = len(viewer.layers)
    from napari_amnesia.napari.session import session_for

    first = widget.result  # the session's, which alone holds the results
    assert session_for(viewer).result("small movie", "summary") is first
    widget.run()  # again: the same layers are refreshed, not duplicated
    qtbot.waitUntil(lambda: widget.result is not first, timeout=60_000)
    assert len(viewer.layers) == n_layers


def test_summary_widget_cancel_adds_nothing(make_napari_viewer, tmp_path, qtbot):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    movie = da.from_array(rng.normal(size=(4000, 64, 64)).astype(np.float32), chunks=(50, 64, 64))
    viewer.add_image(movie, name="long", contrast_limits=[-3, 3], multiscale=False)
    widget = _summary_widget(viewer)
    worker = widget.run()
    assert worker is not None
    widget.cancel()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=60_000)
    assert widget.result is None
    assert [layer.name for layer in viewer.layers] == ["long"]


def test_trace_dock_pixel_label_frame_and_export(
    make_napari_viewer, small_movie_file, tmp_path, qtbot
):
    path, movie, truth = small_movie_file
    viewer = make_napari_viewer()
    viewer.open(path, plugin=PLUGIN)
    labels = np.asarray(truth.labels(), dtype=np.int32)
    rois = viewer.add_labels(labels, name="rois")
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")
    assert dock.movie_layer is viewer.layers["small movie"]

    dock.show_pixel(10, 20)
    qtbot.waitUntil(lambda: dock.trace is not None, timeout=30_000)
    np.testing.assert_array_equal(dock.trace, movie[:, 10, 20].astype(np.float32))

    dock.trace = None
    rois.selected_label = 2  # what picking a label does
    qtbot.waitUntil(lambda: dock.trace is not None, timeout=30_000)
    _, expected = label_traces(movie, labels, label_ids=[2])
    np.testing.assert_allclose(dock.trace, expected[0], rtol=1e-5)
    assert dock.selection == {"kind": "label", "layer": "rois", "label": 2,
                              "movie": "small movie"}

    # picking the already selected label again with the pick tool still shows its trace
    rows, cols = np.nonzero(labels == 2)
    viewer.layers.selection.active = rois
    rois.mode = "pick"
    dock.trace = None

    class Pick:
        type = "mouse_press"
        position = (0, float(rows[0]), float(cols[0]))

    pick = Pick()
    callback = dock._on_canvas_click(viewer, pick)
    next(callback)
    pick.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(callback)
    qtbot.waitUntil(lambda: dock.trace is not None, timeout=30_000)
    np.testing.assert_allclose(dock.trace, expected[0], rtol=1e-5)
    rois.mode = "pan_zoom"

    viewer.dims.set_current_step(0, 42)
    assert [list(m.get_xdata()) for m in dock.markers] == [[42, 42]]
    dock.jump_to(99)
    assert viewer.dims.current_step[0] == 99
    dock.jump_to(10_000)
    assert viewer.dims.current_step[0] == movie.shape[0] - 1

    # a click on the canvas (press, release, no drag) picks the pixel under the mouse
    class Event:
        type = "mouse_press"
        position = (0, 30.2, 11.8)

    dock.trace = None
    viewer.layers.selection.active = viewer.layers["small movie"]
    event = Event()
    callback = dock._on_canvas_click(viewer, event)
    next(callback)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(callback)
    qtbot.waitUntil(lambda: dock.trace is not None, timeout=30_000)
    assert dock.selection["kind"] == "pixel"
    assert (dock.selection["row"], dock.selection["col"]) == (30, 12)
    np.testing.assert_array_equal(dock.trace, movie[:, 30, 12].astype(np.float32))

    out = dock.export_csv(tmp_path / "trace.csv")
    with open(out) as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["frame", "pixel (30, 12)"]
    assert len(rows) == movie.shape[0] + 1
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], movie[:, 30, 12], rtol=1e-6)
    with pytest.raises(FileExistsError):
        dock.export_csv(out)


def test_trace_dock_draws_the_latest_selection_only(make_napari_viewer, qtbot):
    """An overtaken read that ends never makes the dock forget the read still running."""
    import time

    from napari_amnesia.napari.session import session_for

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((5, 8, 8), np.float32), name="movie")
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")

    def read(seconds, value):  # no step to stop at while it sleeps
        time.sleep(seconds)
        return np.full(5, value)
        yield  # a generator

    dock._compute(read(0.2, 1.0), "first")
    dock._compute(read(1.5, 2.0), "second")  # the first is cancelled, and ends
    qtbot.wait(600)  # the first has finished, the second still reads
    dock._compute(read(0.0, 3.0), "third")  # must cancel the second
    qtbot.waitUntil(lambda: not session_for(viewer).workers, timeout=10_000)
    qtbot.wait(100)
    np.testing.assert_array_equal(dock.trace, np.full(5, 3.0))
    assert dock.title.text() == "third"


def test_trace_dock_draws_a_cnmf_component_on_stacked_axes(make_napari_viewer, somata,
                                                           monkeypatch, qtbot):
    """Raw F, C, spikes and ΔF/F each on their own axis (own y range), frames shared."""
    from conftest import extract_sources

    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    path, _, _ = somata
    viewer = make_napari_viewer()
    _, cnmf, others = extract_sources(viewer, path, docks=["Traces"])
    traces = others["Traces"]
    result = cnmf.result
    k = int(np.argmax(result.snr))
    viewer.layers["somata · ROIs"].selected_label = int(result.label_values[k])
    qtbot.waitUntil(lambda: len(traces.series) == 4, timeout=10_000)
    assert len(traces.axes) == 4
    spans = []
    for ax, values in zip(traces.axes, traces.series.values(), strict=True):
        lo, hi = ax.get_ylim()
        assert lo <= values.min() and values.max() <= hi
        assert hi - lo <= 1.5 * np.ptp(values)  # its own range, not the largest series'
        assert ax.get_shared_x_axes().joined(ax, traces.axes[0])
        spans.append(hi - lo)
    raw, _, _, dff = spans
    assert dff < raw / 5 or raw < dff / 5  # ΔF/F (%) and F differ in scale: not one axis
    viewer.dims.set_current_step(0, 42)
    assert [list(m.get_xdata()) for m in traces.markers] == [[42, 42]] * 4


def _failing_movie(error=ValueError):
    """A lazy movie whose last chunk cannot be read (napari shows the first ones)."""

    def read(block, block_info=None):
        if block_info[None]["chunk-location"][0] == 3:
            raise error("the disk went away\nthe details of the failure")
        return block

    return da.zeros((40, 32, 32), chunks=(10, 32, 32), dtype=np.float32).map_blocks(
        read, dtype=np.float32)


@pytest.mark.parametrize("error", [ValueError, RuntimeError])
def test_a_failed_stage_shows_one_message(make_napari_viewer, qtbot, error):
    from napari.utils.notifications import ErrorNotification, notification_manager

    viewer = make_napari_viewer()
    viewer.add_image(_failing_movie(error), name="bad", contrast_limits=[0, 1],
                     multiscale=False)
    widget = _summary_widget(viewer)
    shown = []
    notification_manager.notification_ready.connect(shown.append)
    try:
        worker = widget.run()
        assert worker is not None
        # a RuntimeError used to be dropped by superqt: the dock stayed "Computing..."
        qtbot.waitUntil(lambda: widget._worker is None, timeout=30_000)
        qtbot.wait(50)
    finally:
        notification_manager.notification_ready.disconnect(shown.append)
    errors = [n for n in shown if isinstance(n, ErrorNotification)]
    assert len(errors) == 1, [n.message for n in shown]
    assert errors[0].message.startswith("summary images failed: the disk went away")
    assert errors[0].exception.__traceback__ is not None  # details: "View traceback"
    assert widget.status.value == "Failed: the disk went away"  # the first line only
    assert widget.run_button.enabled and widget.result is None


SCRIPT = """
import sys, time
import dask.array as da
import numpy as np
import napari
from qtpy.QtWidgets import QApplication

def read(block, block_info=None):
    if block_info[None]["chunk-location"][0] == 3:
        raise ValueError("the disk went away\\nthe details")
    return block

viewer = napari.Viewer()
viewer.add_image(da.zeros((40, 32, 32), chunks=(10, 32, 32), dtype=np.float32).map_blocks(
    read, dtype=np.float32), name="bad", contrast_limits=[0, 1], multiscale=False)
_, w = viewer.window.add_plugin_dock_widget("napari-amnesia", "Summary images")
w.movie.value = viewer.layers["bad"]
w.run()
t0 = time.time()
while not w.status.value.startswith("Failed") and time.time() - t0 < 60:
    QApplication.processEvents()
    time.sleep(0.01)
print("STATUS", w.status.value)
viewer.add_image(da.zeros((4000, 64, 64), chunks=(50, 64, 64), dtype=np.float32),
                 name="long", contrast_limits=[0, 1], multiscale=False)
w.movie.value = viewer.layers["long"]
w.run()  # still running when the script ends
print("END")
"""


def test_a_script_driving_a_dock_does_not_abort(tmp_path):
    """The console recipe as ``python script.py``: no napari event loop, no handler."""
    import os
    import subprocess
    import sys

    script = tmp_path / "drive.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]  # was -6: "Aborted"
    assert "STATUS Failed: the disk went away" in done.stdout
    assert "END" in done.stdout


def test_labels_writer_round_trip(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    labels = np.zeros((30, 40), np.int32)
    labels[5:10, 5:12] = 3
    labels[20:25, 30:38] = 7
    viewer.add_labels(labels, name="my rois")
    out = tmp_path / "rois.tif"
    viewer.layers.save(str(out), plugin=PLUGIN)
    assert out.exists()
    viewer.layers.clear()
    [layer] = viewer.open(out, plugin=PLUGIN)
    assert layer.__class__.__name__ == "Labels"
    assert layer.name == "my rois"
    np.testing.assert_array_equal(layer.data, labels)


def test_bundle_writer_writes_every_layer(make_napari_viewer, tmp_path):
    import json

    import tifffile

    viewer = make_napari_viewer()
    image = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    labels = np.zeros((20, 30), np.int32)
    labels[2:6, 3:9] = 1
    viewer.add_image(image, name="mean")
    viewer.add_labels(labels, name="rois", features={"index": [1], "snr": [4.5]})
    viewer.add_points([[1, 2], [3, 4]], name="spots")
    out = tmp_path / "bundle"
    viewer.layers.selection = set(viewer.layers)
    written = viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    assert written
    index = json.loads((out / "layers.json").read_text())["layers"]
    assert [entry["name"] for entry in index] == ["mean", "rois", "spots"]
    np.testing.assert_array_equal(tifffile.imread(out / index[0]["files"][0]), image)
    np.testing.assert_array_equal(tifffile.imread(out / index[1]["files"][0]), labels)
    assert "snr" in (out / index[1]["files"][1]).read_text()
    # an existing results folder is never merged into
    with pytest.raises(Exception, match="already exists"):
        viewer.layers.save(str(out), selected=True, plugin=PLUGIN)


def test_demo_results_open_in_napari(make_napari_viewer, tmp_path, qtbot):
    """What `amnesia demo --view` shows: movie (lazy), summary images, ROIs, trace dock."""
    from napari_amnesia.cli import main
    from napari_amnesia.napari.viewer import load_results

    out = tmp_path / "demo"
    assert main(["-q", "demo", "--out", str(out), "--frames", "120", "--size", "64"]) == 0
    viewer = make_napari_viewer(show=True)
    layers = load_results(viewer, out)
    names = [layer.name for layer in layers]
    assert names[0] == "movie" and isinstance(layers[0].data, da.Array)
    for word in ("corrected", "mean", "max", "std", "correlation", "PNR", "max correlation",
                 "ground truth ROIs"):
        assert f"movie · {word}" in names
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")
    # traces come from the corrected movie, which the (aligned) true ROIs match
    assert dock.movie_layer is viewer.layers["movie · corrected"]
    assert isinstance(dock.movie_layer.data, da.Array)
    # the canvas really renders (a black screenshot would mean no OpenGL context)
    viewer.layers["movie · mean"].visible = True
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot.ndim == 3 and shot[..., :3].std() > 5
    with pytest.raises(FileNotFoundError, match="not a napari-amnesia results folder"):
        load_results(viewer, tmp_path)
