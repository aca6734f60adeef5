"""Take the documentation pictures of napari under a (virtual) display.

Run under Xvfb, from the repository root::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshots.py

It runs ``amnesia demo`` into a temporary folder, opens the results in napari (the
movie lazily through the plugin's reader, the summary images, the ground-truth
ROIs) in a 1920×1080 window with every dock of the plugin open (the stage docks
tabbed, Summary images in front; the trace dock with one ROI's trace), and writes
``docs/images/napari.png`` and ``docs/images/report.png``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"


def main() -> int:
    os.environ.pop("QT_QPA_PLATFORM", None)  # offscreen renders napari's canvas black
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_amnesia.cli import main as amnesia
    from napari_amnesia.napari.viewer import load_results, open_docks, raise_dock

    IMAGES.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp())
    try:
        out = work / "amnesia-demo"
        if amnesia(["-q", "demo", "--out", str(out)]) != 0:
            return 1
        shutil.copy(out / "report.png", IMAGES / "report.png")
        viewer = napari.Viewer(title="napari-amnesia")
        viewer.window.resize(1920, 1080)
        load_results(viewer, out)
        docks = open_docks(viewer)
        raise_dock(docks["Summary images"])
        viewer.window.resize(1920, 1080)
        movie = viewer.layers["movie"]
        corr = viewer.layers["movie · correlation"]
        corr.visible = True
        corr.opacity = 0.6
        rois = viewer.layers["movie · ground truth ROIs"]
        viewer.layers.selection.active = rois
        _, dock = viewer.window.add_plugin_dock_widget("napari-amnesia", "Traces")
        rois.selected_label = 3
        viewer.dims.set_current_step(0, 400)
        app = QApplication.instance()
        for _ in range(200):  # let the trace worker finish and the canvas draw
            app.processEvents()
            if dock.trace is not None and "(reading" not in dock.title.text():
                break
            time.sleep(0.05)
        app.processEvents()
        viewer.screenshot(str(IMAGES / "napari.png"), canvas_only=False)
        print(f"wrote {IMAGES / 'napari.png'} and {IMAGES / 'report.png'}",
              f"(movie {movie.data.shape})")
        viewer.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
