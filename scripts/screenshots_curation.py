"""Take the pictures of docs/curation.md: curating the ROIs of a synthetic movie.

Run under Xvfb, from the repository root::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshots_curation.py

It simulates 16 somata (``core.simulate``, no motion), opens the movie with the
plugin's reader, extracts the sources with the *Source extraction* dock (the settings
of docs/console.md), then, in the *Curate ROIs* dock: rejects two ROIs with the ``r``
key, merges two, draws a line across a ROI and splits it, adds an ellipse as a new ROI
and re-extracts. It writes, in ``docs/images/``, ``curation_edit.png`` (the line drawn,
rejected ROIs in grey), ``curation_reextract.png`` (after re-extraction, the traces of
the split ROI) and ``curation_snr.png`` (ROIs coloured by SNR).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
PLUGIN = "napari-amnesia"
SETTINGS = {"rf": "15", "stride": 10, "K": 6, "gSig": (4.0, 4.0), "p": 1, "gnb": 2,
            "merge_thr": 0.85, "min_SNR": 2.0, "rval_thr": 0.85}


def _settle(app, seconds: float = 0.5) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    os.environ.pop("QT_QPA_PLATFORM", None)  # offscreen renders napari's canvas black
    os.environ["NAPARI_AMNESIA_SYNC"] = "1"  # each stage finishes before the next picture
    import napari
    from napari.utils.key_bindings import coerce_keybinding
    from qtpy.QtWidgets import QApplication

    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.simulate import simulate
    from napari_amnesia.napari.viewer import open_docks, raise_dock

    IMAGES.mkdir(parents=True, exist_ok=True)
    movie, _ = simulate(n_frames=500, shape=(96, 96), n_cells=16, n_neurite_groups=0,
                        motion=False, rng=7)
    tmp = Path(tempfile.mkdtemp(prefix="amnesia-curation-"))
    path = tmp / "somata.tif"
    save_movie(movie, path)

    viewer = napari.Viewer(title="napari-amnesia: curating ROIs")
    viewer.window.resize(1920, 1080)
    app = QApplication.instance()
    [layer] = viewer.open(path, plugin=PLUGIN)
    viewer.dims.set_current_step(0, 250)
    docks = open_docks(viewer)  # every dock of the plugin, the stage docks tabbed
    viewer.window.resize(1920, 1080)
    sources = docks["Source extraction"]
    raise_dock(sources)
    sources.movie.value = layer
    for name, value in SETTINGS.items():
        getattr(sources, name).value = value
    sources.run()
    result = sources.result
    rois = viewer.layers["somata · ROIs"]
    dock = docks["Curate ROIs"]
    raise_dock(dock)
    dock.rois.value = rois
    dock.movie.value = layer

    def press(key: str) -> None:
        rois.keymap[coerce_keybinding(key)](rois)

    # reject the two ROIs of lowest SNR with the r key
    for k in np.argsort(result.snr)[:2]:
        rois.selected_label = int(result.label_values[k])
        press("r")
    # merge the two closest ROIs
    centers = result.centers()
    d = np.hypot(*(centers[:, None, :] - centers[None, :, :]).transpose(2, 0, 1))
    d[np.diag_indices_from(d)] = np.inf
    i, j = np.unravel_index(np.argmin(d), d.shape)
    dock.labels.value = f"{result.label_values[i]}, {result.label_values[j]}"
    dock.merge()
    # a line across the largest remaining ROI
    sizes = {int(v): int((rois.data == v).sum()) for v in np.unique(rois.data) if v}
    big = max(sizes, key=sizes.get)
    rr, cc = np.nonzero(rois.data == big)
    mid = (cc.min() + cc.max()) / 2
    shapes = dock.draw_shapes()
    shapes.add([[rr.min() - 4, mid], [rr.max() + 4, mid]], shape_type="line",
               edge_color="yellow", edge_width=0.8)
    shapes.mode = "pan_zoom"
    rois.selected_label = big
    viewer.layers.selection.active = rois
    for name in ("somata · residual", "somata · reconstruction", "somata · footprints"):
        viewer.layers.remove(name)
    viewer.window.resize(1920, 1080)
    _settle(app)
    viewer.reset_view()
    _settle(app)
    viewer.screenshot(str(IMAGES / "curation_edit.png"), canvas_only=False)

    part = dock.split_by_line()
    free = np.argwhere(rois.data[4:20, 4:20] == 0)
    if len(free) > 100:  # an ellipse in an empty corner becomes a new ROI
        shapes.add([[5, 5], [5, 17], [17, 17], [17, 5]], shape_type="ellipse",
                   edge_color="yellow", face_color="transparent")
        dock.add_shapes()
    dock.run()  # re-extract (synchronously here)
    rois.selected_label = part
    _settle(app, 1.0)
    viewer.screenshot(str(IMAGES / "curation_reextract.png"), canvas_only=False)

    dock.color_by.value = "snr"
    dock.copy_python()
    _settle(app)
    viewer.screenshot(str(IMAGES / "curation_snr.png"), canvas_only=False)
    print(f"split ROI {big} -> {part}; {len(dock.log)} edits; "
          f"{int(dock.table['accepted'].sum())} accepted")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
