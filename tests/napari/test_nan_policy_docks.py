"""The docks follow the command line's NaN policy: 'raise' names the frames and says what
to choose; 'fill' (under Advanced settings) replaces them and the stage runs."""

import numpy as np
import pytest

PLUGIN = "napari-amnesia"


@pytest.fixture
def nan_movie():
    from napari_amnesia.core.simulate import simulate

    movie, _ = simulate(n_frames=80, shape=(64, 64), n_cells=6, n_neurite_groups=0,
                        motion=False, rng=3)
    movie = movie.astype(np.float32)
    movie[5] = np.nan
    movie[40, 10:20, 10:20] = np.inf
    return movie


@pytest.mark.parametrize("dock", ["Motion correction", "Summary images", "Source extraction",
                                  "Skeleton"])
def test_docks_apply_one_nan_policy(make_napari_viewer, qtbot, nan_movie, dock):
    viewer = make_napari_viewer()
    viewer.add_image(nan_movie, name="rec")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, dock)
    widget.movie.value = viewer.layers["rec"]
    if dock == "Motion correction":
        widget.pw_rigid.value = False
    if dock == "Source extraction":
        widget.rf.value = "none"
        widget.K.value = 8
    assert widget.nan_policy.value == "raise"  # the command line's default
    worker = widget.run()
    assert worker is not None
    qtbot.waitUntil(lambda: widget._worker is None, timeout=120_000)
    assert widget.result is None
    status = widget.status.value
    assert "2 of 80 frames" in status and "frames 5, 40" in status, status
    assert "NaN frames" in status and "nan_policy" not in status, status

    widget.nan_policy.value = "fill"
    widget.run()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=180_000)
    assert widget.result is not None, widget.status.value
    assert not widget.status.value.startswith("Failed"), widget.status.value


def test_nan_policy_sits_in_the_advanced_section(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Motion correction")
    # hidden with the other advanced controls (isHidden: the window itself is not shown)
    assert widget.nan_policy.native.isHidden() and widget.interpolation.native.isHidden()
    assert "nan_policy" in [c.name for c in widget.advanced.controls]
    widget.advanced.value = True
    assert not widget.nan_policy.native.isHidden()
    assert not widget.interpolation.native.isHidden()
