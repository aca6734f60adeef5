"""The Curate ROIs dock in a viewer (Xvfb): edits as a user makes them, undo, re-extract,
save/open, export, and a GUI session that replays headless."""

import numpy as np
import tifffile
from conftest import extract_sources

from napari_amnesia.core import curation
from napari_amnesia.napari.session import session_for

PLUGIN = "napari-amnesia"
REJECTED = (0.6, 0.6, 0.6, 0.6)


def corr(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def consistent(layer):
    """The table has one row per label of the image, with its size."""
    data = np.asarray(layer.data)
    values, sizes = np.unique(data[data > 0], return_counts=True)
    table = layer.features
    assert list(table["index"]) == list(values)
    assert list(table["size"]) == list(sizes)
    return {int(v): i for i, v in enumerate(table["index"])}


def row(layer, label):
    table = layer.features
    i = list(table["index"]).index(label)
    return {c: table[c].iloc[i] for c in table.columns}


def press(layer, key):
    """Press ``key`` on the layer as napari does: its bound key function."""
    from napari.utils.key_bindings import coerce_keybinding

    layer.keymap[coerce_keybinding(key)](layer)


def curated_viewer(make_napari_viewer, somata):
    """A viewer with the movie, a CNMF result of the planted ROIs in the session and its
    ROI layer (as the Source extraction dock leaves them), and the Curate ROIs dock."""
    from napari_amnesia.napari.layers import show
    from napari_amnesia.napari.widgets.cnmf import cnmf_layers

    path, movie, truth = somata
    viewer = make_napari_viewer()
    [layer] = viewer.open(path, plugin=PLUGIN)
    labels = np.asarray(truth.labels(), np.int32)
    # thresholds that reject some planted cells: decisions to keep and to change
    result = curation.reextract(movie, labels, K=6, gSig=(4, 4), gnb=2, min_SNR=4.0,
                                rval_thr=0.99)
    assert 0 < result.accepted.sum() < result.K
    session_for(viewer).results[("somata", "cnmf")] = result
    rois = show(viewer, cnmf_layers(result, "somata", movie=layer.data))[0]
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Curate ROIs")
    dock.rois.value = rois
    return viewer, dock, rois, result


def test_every_edit_is_one_undo_step_and_the_table_follows(make_napari_viewer, somata,
                                                           monkeypatch, qtbot, tmp_path):
    from napari_amnesia.core.cnmf.export import write_imagej_rois

    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    path, movie, truth = somata
    viewer, dock, rois, result = curated_viewer(make_napari_viewer, somata)
    assert dock.layer is rois and dock.curated is result and dock.movie.value.name == "somata"
    assert rois.metadata["napari_amnesia"]["curated"]
    consistent(rois)
    table = rois.features
    np.testing.assert_array_equal(table["accepted"], result.accepted)
    np.testing.assert_allclose(table["snr"], result.snr)
    assert not table["edited"].any() and not table["stale"].any() and not table["decided"].any()
    kept, dropped = (int(v) for v in (result.label_values[result.accepted][0],
                                      result.label_values[~result.accepted][0]))

    # accept / reject with the layer's keys: rejected stay, grey; accepted restores them
    rois.selected_label = kept
    press(rois, "r")
    assert not row(rois, kept)["accepted"] and row(rois, kept)["decided"]
    np.testing.assert_allclose(rois.get_color(kept), REJECTED)
    assert kept in np.unique(rois.data)
    assert f"ROI {kept}: rejected by you" in dock.info.value
    rois.selected_label = dropped
    press(rois, "a")
    assert row(rois, dropped)["accepted"] and not np.allclose(rois.get_color(dropped), REJECTED)
    rois.selected_label = kept
    dock.accept_button.native.click()
    assert row(rois, kept)["accepted"]
    dock.reject_button.native.click()
    assert dock.decisions == {kept: False, dropped: True}

    # colour by a metric: two accepted ROIs of different SNR differ; rejected stay grey
    dock.color_by.value = "snr"
    acc = [int(v) for v in rois.features["index"][rois.features["accepted"]]]
    by_snr = sorted(acc, key=lambda v: row(rois, v)["snr"])
    assert not np.allclose(rois.get_color(by_snr[0]), rois.get_color(by_snr[-1]))
    np.testing.assert_allclose(rois.get_color(kept), REJECTED)
    dock.color_by.value = "accepted"

    # delete: one undo step brings the ROI back, with its decision
    rois.selected_label = kept
    dock.delete()
    assert kept not in np.unique(rois.data) and kept not in list(rois.features["index"])
    rois.undo()  # one Ctrl-Z
    consistent(rois)
    assert not row(rois, kept)["accepted"] and row(rois, kept)["decided"]
    assert not row(rois, kept)["edited"]
    rois.redo()
    assert kept not in list(rois.features["index"])
    rois.undo()

    # merge two ROIs by typing them; then "merge with the last selected"
    a, b, c = (int(v) for v in result.label_values[[2, 5, 7]])
    size = {v: int((rois.data == v).sum()) for v in (a, b, c)}
    dock.labels.value = f"{a}, {b}"
    assert dock.merge() == a
    assert b not in np.unique(rois.data) and (rois.data == a).sum() == size[a] + size[b]
    assert row(rois, a)["edited"] and row(rois, a)["stale"] and dock.labels.value == ""
    consistent(rois)
    rois.undo()
    consistent(rois)
    assert (rois.data == b).sum() == size[b] and not row(rois, a)["edited"]
    rois.selected_label = c
    rois.selected_label = b
    assert dock.merge() == c  # b merged into c (selected before it)
    assert b not in np.unique(rois.data)
    rois.undo()
    consistent(rois)

    # split by a line drawn across a ROI (a Shapes line), undo, redo
    shapes = dock.draw_shapes()
    assert dock.shapes.value == shapes and shapes.name == "somata · ROI shapes"
    rr, cc = np.nonzero(rois.data == a)
    mid = cc.min() + (cc.max() - cc.min()) / 2
    shapes.add([[rr.min() - 3, mid], [rr.max() + 3, mid]], shape_type="line")
    rois.selected_label = a
    part = dock.split_by_line()
    assert part is not None and part not in result.label_values
    assert {a, part} <= set(np.unique(rois.data)) and len(shapes.data) == 0
    assert (rois.data == a).sum() + (rois.data == part).sum() == size[a]
    assert row(rois, part)["edited"] and row(rois, part)["component"] == -1
    consistent(rois)
    rois.undo()
    assert part not in np.unique(rois.data) and consistent(rois)
    rois.redo()
    assert part in list(rois.features["index"])
    rois.undo()

    # split by activity: two planted cells merged, then split by k-means on their pixels
    x, y = int(result.label_values[1]), int(result.label_values[8])
    dock.labels.value = f"{x}, {y}"
    dock.merge()
    rois.selected_label = x
    assert dock.split_by_activity() is None  # synchronous here (NAPARI_AMNESIA_SYNC)
    [z] = [v for v in np.unique(rois.data) if v not in result.label_values and v]
    truth_labels = np.asarray(truth.labels())
    for v in (x, z):
        best = max(((rois.data == v) == (truth_labels == t)).mean() for t in (x, y))
        assert best > 0.99, v
    consistent(rois)

    # paint with napari's brush (through the layer API) and a new ROI
    new = dock.new_roi()
    assert rois.selected_label == new and rois.mode == "paint"
    free = np.argwhere(rois.data == 0)
    r0, c0 = (int(v) for v in free[len(free) // 2])
    rois.brush_size = 3
    rois.paint((r0, c0), new)
    qtbot.waitUntil(lambda: new in list(rois.features["index"]), timeout=5_000)
    assert row(rois, new)["edited"]
    assert row(rois, new)["accepted"] and row(rois, new)["stale"]
    assert dock.log[-1]["action"] == "paint" and dock.log[-1]["labels"] == [new]
    rois.paint((r0, c0), 0)  # the eraser
    qtbot.waitUntil(lambda: new not in list(rois.features["index"]), timeout=5_000)
    rois.undo()
    assert new in list(rois.features["index"]) and consistent(rois)

    # shapes as ROIs (an ellipse in an empty corner), an ImageJ zip with fresh labels
    shapes.add([[1, 1], [1, 9], [9, 9], [9, 1]], shape_type="ellipse")
    [drawn] = dock.add_shapes()
    assert drawn > new and (rois.data[1:10, 1:10] == drawn).sum() > 30 and not len(shapes.data)
    write_imagej_rois(tmp_path / "rois.zip", [np.array([[70, 70], [70, 78], [78, 78],
                                                        [78, 70]], float)], ["cell"])
    mapping = dock.import_rois(tmp_path / "rois.zip")
    [imported] = mapping.values()
    assert imported == drawn + 1 and (rois.data[71:78, 71:78] == imported).all()
    consistent(rois)
    assert [e["action"] for e in dock.log].count("import") == 1

    # re-extract: every ROI keeps its label and decision; traces for the new ones
    before = {int(v): result.traces[k] for k, v in enumerate(result.label_values)}
    assert dock.run() is None
    redone = dock.curated
    assert redone is dock.result is session_for(viewer).result("somata", "curation")
    present = sorted(int(v) for v in np.unique(rois.data) if v)
    assert list(redone.label_values) == present
    assert not rois.features["stale"].any()
    assert dock.decisions == {kept: False, dropped: True}
    assert not row(rois, kept)["accepted"] and row(rois, dropped)["accepted"]
    for v in (kept, dropped, c):
        k = list(redone.label_values).index(v)
        assert corr(redone.traces[k], before[v]) > 0.99, v
        assert row(rois, v)["component"] == k
    assert result.K == 10 and list(result.label_values) == list(range(1, 11))  # untouched
    assert np.isfinite(row(rois, imported)["snr"])
    # the trace dock plots the re-extracted series of a selected ROI
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")
    rois.selected_label = z
    qtbot.waitUntil(lambda: len(traces.series) == 4, timeout=10_000)
    np.testing.assert_allclose(traces.series["calcium C"],
                               redone.traces[list(redone.label_values).index(z)])

    # save, refuse to overwrite, open again; export the accepted ROIs
    out = dock.save(tmp_path / "curated")
    assert (out / "labels.tif").is_file() and (out / "result" / "arrays.npz").is_file()
    stamp = (out / "curation.json").stat().st_mtime_ns
    assert dock.save(tmp_path / "curated") is None and "already exists" in dock.status.value
    assert (out / "curation.json").stat().st_mtime_ns == stamp
    exported = dock.export(tmp_path / "exports")
    written = tifffile.imread(exported / "labels.tif")
    accepted = set(rois.features["index"][rois.features["accepted"]].tolist())
    assert set(np.unique(written)) - {0} == accepted and kept not in accepted
    saved = np.asarray(rois.data).copy()
    viewer.layers.remove(rois)
    layer = dock.open(out)
    assert layer.name == "somata · ROIs" and dock.layer is layer
    np.testing.assert_array_equal(layer.data, saved)
    assert dock.decisions == {kept: False, dropped: True}
    assert not layer.features["stale"].any()
    np.testing.assert_array_equal(dock.curated.traces, redone.traces)


def test_gui_session_replays_headless_and_refilters(make_napari_viewer, somata, monkeypatch,
                                                   qtbot, tmp_path):
    from qtpy.QtWidgets import QApplication

    from napari_amnesia.core.cnmf import SourceResult
    from napari_amnesia.core.metrics import match_components
    from napari_amnesia.core.pipeline import load_config, python_script, run_config

    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    path, movie, truth = somata
    viewer = make_napari_viewer()
    layer, sources, _ = extract_sources(viewer, path)
    result = sources.result
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Curate ROIs")
    rois = viewer.layers["somata · ROIs"]
    dock.rois.value = rois
    assert dock.curated is result

    # Copy as Python: on the clipboard and shown; Save pipeline config: amnesia run's file
    text = dock.copy_python()
    assert QApplication.clipboard().text() == text == dock.script.value
    assert "cnmf.fit(" in text and str(path) in text
    config_path = dock.save_config(tmp_path / "session.yaml")
    config = load_config(config_path)
    assert config["input"]["movie"] == str(path)
    assert config["stages"]["cnmf"] == result.params.to_dict()
    assert python_script(config) == text
    assert dock.save_config(tmp_path / "session.yaml") is None
    assert "already exists" in dock.status.value
    # ... which replays headless to the same ROIs
    record = run_config(config_path, out=tmp_path / "replay")
    replay = SourceResult.load(tmp_path / "replay" / "cnmf" / "result")
    assert replay.K == result.K
    np.testing.assert_array_equal(replay.labels(0.2, accepted_only=False),
                                  result.labels(0.2, accepted_only=False))
    match = match_components(replay.footprint_images(), result.footprint_images())
    assert match["f1"] == 1.0
    assert record["stages"]["cnmf"]["n_accepted"] == int(result.accepted.sum())

    # thresholds moved in the Source extraction dock: undecided ROIs follow, decided don't
    first = int(result.label_values[0])
    rois.selected_label = first
    press(rois, "r")
    sources.rval_thr.value = 1.0
    sources.min_SNR.value = 1000.0  # rejects every undecided ROI
    assert not rois.features["accepted"].any()
    sources.min_SNR.value = 1.0
    auto = dict(zip(sources.result.label_values.tolist(), sources.result.accepted.tolist(),
                    strict=True))
    assert sum(auto.values()) > 1
    assert list(rois.features["accepted"]) == [auto[v] and v != first
                                               for v in rois.features["index"]]
    np.testing.assert_allclose(rois.get_color(first), REJECTED)
    assert rois.metadata["napari_amnesia"]["curated"]

    # re-extraction in a worker: cancelled, nothing changes; then to the end
    monkeypatch.delenv("NAPARI_AMNESIA_SYNC")
    before = dock.curated
    worker = dock.run()
    assert worker is not None and not dock.run_button.enabled
    dock.cancel()
    qtbot.waitUntil(lambda: dock.run_button.enabled, timeout=60_000)
    assert dock.status.value == "Cancelled." and dock.curated is before
    dock.run()
    qtbot.waitUntil(lambda: dock.run_button.enabled, timeout=60_000)
    assert dock.curated is not before and dock.curated.info["reextracted"]
    assert dock.decisions == {first: False} and "Re-extracted" in dock.status.value
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")

    # the same fit again keeps the curation; a new one replaces the ROIs: start again
    sources.run()
    qtbot.wait(50)
    assert dock.decisions == {first: False}
    assert rois.metadata["napari_amnesia"]["curated"]
    assert session_for(viewer).label_series[rois] == dock.component_series
    sources.gSig.value = (3.0, 3.0)
    sources.run()
    assert not np.array_equal(sources.result.traces[:2], result.traces[:2])
    qtbot.waitUntil(lambda: dock.curated is sources.result, timeout=10_000)
    assert dock.decisions == {} and consistent(rois) is not None
    assert "restarted" in dock.status.value
    assert session_for(viewer).result("somata", "curation") is None  # obsolete, dropped


def test_console_recipe_of_the_docs_runs(make_napari_viewer, monkeypatch, tmp_path):
    """The code blocks of docs/console.md's pipeline section, run as pasted in the console."""
    import re
    from pathlib import Path

    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.pipeline import load_config
    from napari_amnesia.core.simulate import simulate

    text = (Path(__file__).resolve().parents[2] / "docs" / "console.md").read_text()
    section = text.split("## The whole pipeline from the console", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) >= 9
    movie, _ = simulate(n_frames=300, shape=(80, 80), n_cells=10, n_neurite_groups=0,
                        motion=True, max_shift=2.0, nonrigid=False, rng=5)
    save_movie(movie, tmp_path / "day1.tif")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")  # (the first block sets it as well)
    viewer = make_napari_viewer()
    namespace = {"viewer": viewer}
    for block in blocks:
        exec(compile(block, "docs/console.md", "exec"), namespace)  # noqa: S102
    cur, rois = namespace["cur"], namespace["rois"]
    assert cur.decisions.get(3) is False and 2 not in np.unique(rois.data)
    assert cur.curated.info.get("reextracted") and consistent(rois)
    assert (tmp_path / "day1_curation" / "curation.json").is_file()
    assert (tmp_path / "day1_exports" / "labels.tif").is_file()
    config = load_config(tmp_path / "day1.yaml")
    assert list(config["stages"]) == ["motion", "summary", "cnmf"]
    assert tuple(config["stages"]["motion"]["max_shifts"]) == (6, 6)
    assert "curation.load_curation(" in cur.script.value
    assert list(namespace["new"].label_values) == sorted(set(np.unique(namespace["labels"]))
                                                         - {0})


def test_curate_dock_opened_first_keeps_the_trace_source(make_napari_viewer, somata,
                                                          monkeypatch, qtbot):
    """With the Curate dock open before extraction, it binds the new ROI layer as it
    appears; the Source extraction dock must not then take the trace source back (a split
    ROI would show its pixel mean instead of its re-extracted traces)."""
    monkeypatch.setenv("NAPARI_AMNESIA_SYNC", "1")
    path, movie, truth = somata
    viewer = make_napari_viewer()
    _, sources, others = extract_sources(viewer, path, docks=["Curate ROIs"])
    dock = others["Curate ROIs"]
    rois = viewer.layers["somata · ROIs"]
    assert dock.layer is rois  # bound as it appeared
    assert rois.metadata["napari_amnesia"]["curated"]
    assert session_for(viewer).label_series[rois] == dock.component_series


def test_a_labels_stack_is_not_taken_for_a_roi_image(make_napari_viewer):
    """A (session, y, x) Labels layer (the Sessions dock's tracks) is refused with a
    message; the dock keeps what it had bound and does not fail."""
    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget("napari-amnesia", "Curate ROIs")
    stack = np.zeros((3, 32, 32), np.int32)
    stack[:, 5:9, 5:9] = 1
    layer = viewer.add_labels(stack, name="tracks")
    assert dock.bind(layer) is None and dock.layer is None
    assert "(Y, X)" in dock.status.value
    flat = viewer.add_labels(stack[0], name="day 1 · ROIs")
    assert dock.bind(flat) is flat
