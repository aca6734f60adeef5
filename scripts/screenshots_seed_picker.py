"""Take the picture of the CNMF-E seed picker (docs/cnmfe.md, "Seed picker").

Run under Xvfb, from the repository root::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshots_seed_picker.py

It opens the real miniscope movie ``../shared/data/miniscope1p_minian_500x240x376.tif``
with the plugin's reader, sets the *Source extraction* dock to one-photon mode with
the settings of docs/cnmfe.md (gSig 4, gSiz 17, fr 20), presses *Show seeds* (the
correlation and PNR images are computed, the seeds of the one-photon preset's
``min_corr`` 0.7 and ``min_pnr`` 5 drawn), moves the sliders to 0.9 and 15,
deletes one seed and adds one by hand, and writes ``docs/images/seed_picker.png``
(1920 x 1080 window). ``--movie`` takes another movie.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
DATA = ROOT.parent / "shared" / "data" / "miniscope1p_minian_500x240x376.tif"
PLUGIN = "napari-amnesia"
SETTINGS = {"gSig": (4.0, 4.0), "gSiz": "17", "fr": 20.0}
#: the thresholds of the picture (the preset's low thresholds seed the background of this
#: compressed movie too: see docs/cnmfe.md)
MIN_CORR, MIN_PNR = 0.9, 15.0


def _settle(app, seconds: float = 0.5) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    """Open the movie, pick seeds, take the screenshot; print what was drawn."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--movie", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=IMAGES / "seed_picker.png")
    args = ap.parse_args(argv)
    if not args.movie.exists():
        print(f"no movie at {args.movie}", file=sys.stderr)
        return 1
    os.environ.pop("QT_QPA_PLATFORM", None)  # offscreen renders napari's canvas black
    os.environ["NAPARI_AMNESIA_SYNC"] = "1"  # the images are there when show_seeds returns
    import napari
    import numpy as np
    from qtpy.QtWidgets import QApplication

    from napari_amnesia.napari.viewer import raise_dock

    viewer = napari.Viewer(title="napari-amnesia: CNMF-E seed picker")
    viewer.window.resize(1920, 1080)
    app = QApplication.instance()
    [layer] = viewer.open(args.movie, plugin=PLUGIN)
    layer.visible = False
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Source extraction")
    dock.movie.value = layer
    dock.mode.value = "one_photon"
    for name, value in SETTINGS.items():
        getattr(dock, name).value = value
    picker = dock.seed_picker
    picker.show_seeds()
    preset = len(picker.points_layer.data)
    # the sliders raised until the seeds look like one per visible cell
    picker.min_corr.value, picker.min_pnr.value = MIN_CORR, MIN_PNR
    points = picker.points_layer
    automatic = np.asarray(points.data).copy()
    # a hand edit: the weakest seed deleted, a point added
    points.selected_data = {len(points.data) - 1}
    points.remove_selected()
    points.add([120.0, 188.0])
    points.selected_data = set()
    viewer.layers.selection.active = points
    points.mode = "add"
    raise_dock(dock)
    viewer.reset_view()
    _settle(app, 1.0)
    # the picker in view in the dock's scroll area
    dock.native.ensureWidgetVisible(picker.native)
    _settle(app, 0.5)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.out), canvas_only=False)
    print(f"wrote {args.out}: {preset} seeds with the preset's thresholds, "
          f"{len(automatic)} automatic seeds "
          f"(min_corr {picker.min_corr.value:g}, min_pnr {picker.min_pnr.value:g}), "
          f"{len(points.data)} after the hand edit; {picker.count.value}")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
