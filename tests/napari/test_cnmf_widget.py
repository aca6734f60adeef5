"""The Source extraction (CNMF) dock, end to end in a viewer (Xvfb)."""

import dask.array as da
import numpy as np
import pytest
from conftest import CNMF_SETTINGS

from napari_amnesia.napari.session import session_for

PLUGIN = "napari-amnesia"
SETTINGS = CNMF_SETTINGS


def open_dock(viewer, path):
    [layer] = viewer.open(path, plugin=PLUGIN)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Source extraction")
    widget.movie.value = layer
    for name, value in SETTINGS.items():
        getattr(widget, name).value = value
    return layer, widget


def test_cnmf_dock_extracts_refilters_live_plots_and_exports(make_napari_viewer, somata,
                                                             monkeypatch, qtbot, tmp_path):
    from napari_amnesia.core.cnmf import SourceResult, evaluation
    from napari_amnesia.core.cnmf.patches import patch_grid
    from napari_amnesia.core.metrics import match_components

    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    path, movie, truth = somata
    viewer = make_napari_viewer()
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")
    layer, widget = open_dock(viewer, path)
    # every CNMFParams field is a control named after it, with its help as tooltip
    assert "Half-size of a patch" in widget.rf.tooltip
    assert "Event SNR" in widget.min_SNR.tooltip
    params = widget.params()
    assert (params.rf, params.stride, params.K, params.gSig) == (15, 10, 6, (4.0, 4.0))

    # the patch grid before running, following rf and stride
    widget.show_patches.value = True
    patches = viewer.layers["somata · patches"]
    assert len(patches.data) == len(patch_grid((80, 80), 15, 10)) == 16
    assert set(patches.shape_type) == {"rectangle"}
    widget.rf.value = "20"
    assert len(patches.data) == len(patch_grid((80, 80), 20, 10)) == 9
    widget.stride.value = 4
    assert len(patches.data) == len(patch_grid((80, 80), 20, 4))
    widget.rf.value, widget.stride.value = "15", 10
    assert len(patches.data) == 16
    widget.show_patches.value = False
    assert "somata · patches" not in [lay.name for lay in viewer.layers]

    widget.contours.value = True
    assert widget.run() is None  # synchronous (NAPARI_AMNESIA_SYNC)
    result = widget.result
    assert isinstance(result, SourceResult) and result.evaluated
    assert session_for(viewer).result("somata", "cnmf") is result
    K = result.K

    # enough planted cells found (the benchmark's matching), among the accepted ones
    acc = np.flatnonzero(result.accepted)
    match = match_components(result.footprint_images(acc), truth.footprints)
    assert match["f1"] >= 0.9, match

    # ROIs: every component (rejected ones too), the metrics as features
    rois = viewer.layers["somata · ROIs"]
    np.testing.assert_array_equal(rois.data, result.labels(0.2, accepted_only=False))
    table = rois.features
    assert list(table["index"]) == list(result.label_values) == list(range(1, K + 1))
    assert list(table["accepted"]) == list(result.accepted)
    np.testing.assert_allclose(table["snr"], result.snr)
    np.testing.assert_allclose(table["r_value"], result.r_values)
    assert list(table["size"]) == list(result.sizes())
    assert set(np.unique(rois.data)) - {0} <= set(table["index"])
    meta = rois.metadata["napari_amnesia"]
    assert meta["stage"] == "cnmf" and meta["source"] == "somata"
    assert meta["params"]["rf"] == 15 and meta["params"]["K"] == 6
    contours = viewer.layers["somata · contours"]
    assert len(contours.data) == K and set(contours.shape_type) == {"polygon"}
    assert list(contours.features["index"]) == list(result.label_values)

    # footprints, reconstruction and residual: lazy, hidden, right values
    footprints = viewer.layers["somata · footprints"]
    # one 2-D map (shown at every frame, not a (K, Y, X) stack on the time slider)
    assert footprints.data.shape == (80, 80)
    images = result.footprint_images(list(range(K)))
    want = np.max(images / images.max(axis=(1, 2), keepdims=True), axis=0)
    np.testing.assert_allclose(np.asarray(footprints.data), want, rtol=1e-5, atol=1e-6)
    rec = viewer.layers["somata · reconstruction"]
    res = viewer.layers["somata · residual"]
    assert isinstance(rec.data, da.Array) and isinstance(res.data, da.Array)
    assert rec.data.shape == res.data.shape == movie.shape
    assert not (rec.visible or res.visible or footprints.visible)
    b, f = result.background
    t = 123
    want = (result.footprints @ result.traces[:, t] + b @ f[:, t]).reshape(80, 80)
    np.testing.assert_allclose(np.asarray(rec.data[t]), want, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.asarray(res.data[t]), movie[t] - want, rtol=1e-4,
                               atol=1e-2)
    assert res.metadata["napari_amnesia"]["stage"] == "cnmf"

    # live re-filtering: no refit, no metric recomputed, features and colours in place
    def refuse(*args, **kwargs):
        raise AssertionError("re-filtering must not fit or compute metrics again")

    import napari_amnesia.core.cnmf as core_cnmf

    for name in ("fit", "iter_fit", "refit", "iter_refit", "_event_snr"):
        monkeypatch.setattr(core_cnmf, name, refuse)
    monkeypatch.setattr(evaluation, "spatial_r_values", refuse)
    monkeypatch.setattr(evaluation, "event_snr", refuse)
    # the rule in words beside the thresholds, and "both must hold" re-filters live
    assert widget.rule.value.startswith("accepted if SNR ≥ 2 or r ≥ 0.85")
    widget.rval_thr.value = float(np.sort(result.r_values)[K // 2])
    widget.min_SNR.value = float(np.sort(result.snr)[K // 2])
    mid_snr, mid_r = widget.min_SNR.value, widget.rval_thr.value
    assert widget.rule.value.startswith(f"accepted if SNR ≥ {mid_snr:g} or r ≥ {mid_r:g}")
    either = widget.result.accepted
    widget.require_both.value = True
    both = widget.result.accepted
    assert widget.rule.value.startswith(f"accepted if SNR ≥ {mid_snr:g} and r ≥ {mid_r:g}")
    np.testing.assert_array_equal(both, evaluation.decide(
        result.snr, result.r_values, min_SNR=mid_snr, rval_thr=mid_r, require_both=True))
    assert both.sum() < either.sum()
    assert list(rois.features["accepted"]) == list(both)
    assert f"accepted if SNR ≥ {mid_snr:g} and r ≥ {mid_r:g})" in widget.status.value
    widget.require_both.value = False
    np.testing.assert_array_equal(widget.result.accepted, either)
    widget.rval_thr.value = 1.0
    widget.min_SNR.value = float(np.sort(result.snr)[K // 2])
    high = widget.min_SNR.value  # (the spin box rounds to its decimals)
    new = widget.result
    assert new is not result and new.params.min_SNR == pytest.approx(high)
    assert session_for(viewer).result("somata", "cnmf") is new
    expected = evaluation.decide(result.snr, result.r_values, min_SNR=high, SNR_lowest=0.5,
                                 rval_thr=1.0, rval_lowest=-1.0)
    np.testing.assert_array_equal(new.accepted, expected)
    assert 0 < new.accepted.sum() < result.accepted.sum()
    assert rois is viewer.layers["somata · ROIs"]  # updated in place
    assert list(rois.features["accepted"]) == list(expected)
    np.testing.assert_array_equal(rois.data, result.labels(0.2, accepted_only=False))
    rejected = int(result.label_values[np.flatnonzero(~expected)[0]])
    kept = int(result.label_values[np.flatnonzero(expected)[0]])
    np.testing.assert_allclose(rois.get_color(rejected), (0.6, 0.6, 0.6, 0.6))
    assert not np.allclose(rois.get_color(kept), (0.6, 0.6, 0.6, 0.6))
    np.testing.assert_allclose(contours.edge_color[rejected - 1], (0.6, 0.6, 0.6, 0.6))
    assert f"{int(expected.sum())} accepted" in widget.status.value
    widget.show_rejected.value = False
    assert rois.get_color(rejected)[3] == 0 and rois.get_color(kept)[3] > 0
    widget.SNR_lowest.value = high + 1  # above min_SNR: refused with the parameter named
    assert "SNR_lowest" in widget.status.value and widget.result is new
    widget.SNR_lowest.value = 0.5
    widget.max_size.value = "40"
    sizes = result.sizes()
    assert not widget.result.accepted[sizes > 40].any()

    # selecting a label: raw F, C, S and ΔF/F of that component in the trace dock
    final = widget.result
    k = int(np.argmax(final.snr))
    rois.selected_label = int(final.label_values[k])
    qtbot.waitUntil(lambda: len(traces.series) == 4, timeout=10_000)
    assert list(traces.series) == ["raw F (C + YrA)", "calcium C", "spikes S", "ΔF/F (%)"]
    np.testing.assert_allclose(traces.series["raw F (C + YrA)"], final.raw_traces[k],
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(traces.series["calcium C"], final.traces[k])
    np.testing.assert_allclose(traces.series["spikes S"], final.spikes[k])
    np.testing.assert_allclose(traces.series["ΔF/F (%)"], 100 * final.dff[k], rtol=1e-5)
    assert f"ROI {final.label_values[k]}" in traces.title.text()
    # with threads: the dock's own read of the label's mean trace does not win
    monkeypatch.delenv("NAPARI_AMNESIA_SYNC")
    session = session_for(viewer)
    j = int(np.argmin(final.snr))
    rois.selected_label = int(final.label_values[j])
    qtbot.waitUntil(lambda: not session.workers
                    and f"ROI {final.label_values[j]}" in traces.title.text(), timeout=10_000)
    qtbot.wait(50)
    assert traces.trace is None and len(traces.series) == 4
    np.testing.assert_allclose(traces.series["spikes S"], final.spikes[j])
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    widget.contours.value = False
    assert "somata · contours" not in [lay.name for lay in viewer.layers]

    # export: the result folder, never over an existing one
    out = tmp_path / "run1"
    widget.export_path.value = out
    widget.export_button.native.click()
    assert (out / "arrays.npz").is_file()
    back = SourceResult.load(out)
    np.testing.assert_array_equal(back.accepted, final.accepted)
    assert back.params.min_SNR == pytest.approx(high)
    stamp = (out / "arrays.npz").stat().st_mtime_ns
    assert widget.export() is None
    assert "already exists" in widget.status.value
    assert (out / "arrays.npz").stat().st_mtime_ns == stamp


def test_cnmf_dock_says_when_K_capped_the_count(make_napari_viewer, somata, monkeypatch):
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    path, _, _ = somata
    viewer = make_napari_viewer()
    _, widget = open_dock(viewer, path)
    widget.K.value = 1  # 10 cells in 16 patches: most patches hold more than one
    with pytest.warns(UserWarning, match="capped"):
        widget.run()
    assert widget.result.info["k_capped"]["K"] == 1
    assert "K=1 capped the count" in widget.status.value
    assert "raise 'K'." in widget.status.value
    widget.min_SNR.value = 3.0  # re-filtering keeps saying it
    assert "raise 'K'." in widget.status.value
    widget.K.value = 6
    widget.run()
    assert "capped" not in widget.status.value


def test_cnmf_dock_refuses_bad_input_and_cancels(make_napari_viewer, somata, monkeypatch,
                                                 qtbot):
    path, movie, _ = somata
    viewer = make_napari_viewer()
    viewer.add_image(movie[0], name="one frame")
    layer, widget = open_dock(viewer, path)
    names = [lay.name for lay in viewer.layers]

    # a 2-D image is not a movie
    widget.movie.value = viewer.layers["one frame"]
    assert widget.run() is None
    assert "(T, Y, X) movie" in widget.status.value and "one frame" in widget.status.value
    widget.show_patches.value = True
    assert "(T, Y, X) movie" in widget.status.value
    widget.show_patches.value = False
    widget.movie.value = layer

    # patches larger than the frame, stride >= 2 rf, a bad gSig: refused, named
    widget.rf.value = "100"
    assert widget.run() is None and "rf=100" in widget.status.value
    widget.show_patches.value = True
    assert "rf=100" in widget.status.value
    widget.rf.value = "4"
    assert "stride" in widget.status.value
    assert widget.run() is None and "stride" in widget.status.value
    widget.show_patches.value = False
    widget.rf.value = "15"
    widget.gSig.value = (50.0, 50.0)
    assert widget.run() is None and "gSiz" in widget.status.value
    widget.gSig.value = (4.0, 4.0)
    # thresholds and export before any result: nothing happens
    widget.min_SNR.value = 3.0
    assert widget.result is None and widget.export() is None
    assert "Extract sources first" in widget.status.value
    assert [lay.name for lay in viewer.layers] == names

    # cancel: nothing added, no result recorded
    worker = widget.run()
    assert worker is not None and not widget.run_button.enabled
    widget.cancel()
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=60_000)
    assert widget.status.value == "Cancelled."
    assert widget.result is None
    assert session_for(viewer).result("somata", "cnmf") is None
    assert [lay.name for lay in viewer.layers] == names


def test_core_label_colors_are_napari_default_label_colors():
    # core.cnmf.layers holds napari's palette as a table (the core never imports
    # napari): it must give the colours napari gives any Labels layer
    from napari.utils.colormaps import DirectLabelColormap, label_colormap

    from napari_amnesia.core.cnmf.layers import label_colors, roi_color_dict
    from napari_amnesia.napari.widgets.cnmf import roi_colormap

    values = np.concatenate([np.arange(1, 300), [2**31 - 1, 12345678]])
    want = np.asarray(label_colormap(49).map(values), np.float32).reshape(-1, 4)
    np.testing.assert_array_equal(label_colors(values), want)
    accepted = np.arange(len(values)) % 3 > 0
    cmap = roi_colormap(values, accepted)
    assert isinstance(cmap, DirectLabelColormap)
    assert cmap.color_dict.keys() == roi_color_dict(values, accepted).keys()
