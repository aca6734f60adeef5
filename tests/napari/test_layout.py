"""Every dock of the plugin open at once fits a desktop or a laptop screen (Xvfb).

Geometry is measured on the Qt main window (``viewer.window._qt_window``): napari
has no public way to read the window frame, and tests may use it.
"""

import numpy as np
import pytest
import yaml

from napari_amnesia.napari.viewer import open_docks, raise_dock

PLUGIN = "napari-amnesia"


def _dock_names() -> list[str]:
    from importlib.resources import files

    manifest = yaml.safe_load((files("napari_amnesia") / "napari.yaml").read_text())
    return [w["display_name"] for w in manifest["contributions"]["widgets"]]


def _open_every_dock(viewer, qtbot, size):
    window = viewer.window._qt_window
    window.resize(*size)
    # real layer names are long: they must not widen the docks
    name = "mouse2p_optinist_2000x128x128 · corrected · reconstruction"
    viewer.add_image(np.zeros((20, 64, 64), np.float32), name=name)
    viewer.add_labels(np.zeros((64, 64), np.int32), name=f"{name} · ROIs")
    # one after the other, as a script does (no event processed in between)
    docks = open_docks(viewer)
    assert list(docks) == _dock_names()
    window.resize(*size)  # what a user does: the window is maximised on their screen
    qtbot.wait(200)
    return window, docks


def _tuple_edits(widget):
    from magicgui.widgets import Container, TupleEdit

    if isinstance(widget, TupleEdit):
        yield widget
    elif isinstance(widget, Container):
        for child in widget:
            yield from _tuple_edits(child)


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768)])
def test_every_dock_open_fits_the_screen(make_napari_viewer, qtbot, size):
    viewer = make_napari_viewer(show=True)
    window, docks = _open_every_dock(viewer, qtbot, size)
    assert docks["Coactive clustering"].embedding_view is not None  # its scatter dock too
    window.resize(*size)
    qtbot.wait(200)
    frame = window.frameGeometry()
    assert frame.width() <= size[0] and frame.height() <= size[1], (
        f"window {frame.width()}x{frame.height()} on a {size[0]}x{size[1]} screen")
    # the image keeps most of the room: the docks are no wider than their contents need
    canvas = window.centralWidget().width()
    assert canvas >= 0.4 * size[0], f"the image has {canvas} px of {size[0]}"
    plot = docks["Traces"].canvas.height()
    assert plot >= (200 if size[1] >= 1080 else 150), f"trace plot {plot} px high"
    # the stage docks share one tabbed area (one in front), the trace dock its own
    stages = [dock for name, dock in docks.items() if name != "Traces"]
    in_front = [dock for dock in stages if not dock.native.visibleRegion().isEmpty()]
    assert len(in_front) == 1
    assert not docks["Traces"].visibleRegion().isEmpty()


def test_no_field_or_status_is_clipped(make_napari_viewer, qtbot):
    from qtpy.QtCore import QPoint

    viewer = make_napari_viewer(show=True)
    _, docks = _open_every_dock(viewer, qtbot, (1920, 1080))
    n_pairs = 0
    for name, dock in docks.items():
        if name == "Traces":
            continue
        raise_dock(dock)  # bring its tab to the front
        for toggle in [w for w in dock if w.name == "advanced"]:
            toggle.value = True  # open its advanced section
        qtbot.wait(50)
        viewport = dock.native.viewport()
        for edit in _tuple_edits(dock):
            for part in edit:
                right = part.native.mapTo(viewport, QPoint(part.native.width(), 0)).x()
                assert part.native.isVisible() and part.native.width() >= 40, (
                    f"{name}: {edit.name} field {part.native.width()} px")
                assert right <= viewport.width(), f"{name}: {edit.name} clipped"
                n_pairs += 1
        # the rows are packed at the top, not spread over a tall dock
        inner = dock.native.widget()
        bottom = dock.status.native.mapTo(inner, QPoint(0, dock.status.native.height())).y()
        assert bottom <= inner.sizeHint().height() + 10, f"{name}: rows spread to {bottom} px"
        dock.status.value = "a long message that must wrap instead of widening the dock " * 5
        qtbot.wait(50)
        for label in [w for w in dock if type(w).__name__ == "Label"]:
            assert label.native.wordWrap(), f"{name}: {label.name!r} does not wrap"
        status = dock.status.native
        right = status.mapTo(viewport, QPoint(status.width(), 0)).x()
        assert status.wordWrap() and right <= viewport.width(), f"{name}: status clipped"
        assert status.height() > status.fontMetrics().height()  # on several lines
    assert n_pairs >= 10  # max_shifts, strides, gSig, noise_range... all checked


def test_trace_plot_grows_with_its_dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1920, 1080)
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")
    qtbot.wait(100)
    dock = traces.parent()
    dock.setFloating(True)
    dock.resize(500, 400)
    qtbot.wait(100)
    small = traces.canvas.height()
    dock.resize(500, 900)
    qtbot.wait(100)
    assert small >= 200
    assert traces.canvas.height() >= small + 400


def test_docks_show_essentials_and_keep_every_name(make_napari_viewer, qtbot):
    from napari_amnesia._fields import describe
    from napari_amnesia.core.cnmf.params import CNMFParams

    viewer = make_napari_viewer(show=True)
    _, cnmf = viewer.window.add_plugin_dock_widget(PLUGIN, "Source extraction")
    _, motion = viewer.window.add_plugin_dock_widget(PLUGIN, "Motion correction")
    qtbot.wait(50)
    raise_dock(cnmf)
    qtbot.wait(50)
    shown = {w.name for w in cnmf if w.visible}
    for name in ("gSig", "K", "rf", "stride", "fr", "decay_time", "merge_thr", "min_SNR",
                 "rval_thr"):
        assert name in shown
    assert cnmf.gSig.label == "neuron radius (px)" and cnmf.K.label == "neurons per patch"
    assert "gSig" in cnmf.gSig.tooltip  # the console name, for the console and configs
    hidden = [f.name for f in describe(CNMFParams) if not f.essential]
    assert len(hidden) > 20 and not any(getattr(cnmf, n).visible for n in hidden)
    cnmf.advanced.value = True  # the collapsed section opens
    assert all(getattr(cnmf, n).visible for n in hidden)
    cnmf.advanced.value = False
    # every parameter keeps its name, shown or not
    cnmf.gSig.value = (3, 3)
    cnmf.nIter.value = 7
    motion.max_shifts.value = (12, 12)
    assert cnmf.params().gSig == (3.0, 3.0) and cnmf.params().nIter == 7
    assert motion.params().max_shifts == (12, 12)
