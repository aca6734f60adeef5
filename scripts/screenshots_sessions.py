"""Take docs/images/sessions_dock.png: the Sessions dock on planted multi-day data.

Run under Xvfb, from the repository root::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshots_sessions.py

It simulates one field imaged in 4 sessions (``core.simulate.sessions``, the standard
preset at 128×128 with 40 cells, 20 % silent per day, with movies), writes each session
as a results folder (``cnmf/result/`` holding the planted footprints found that day and
their planted traces, ``motion/corrected.tif`` the movie), opens every dock of the plugin
but *Curate ROIs* (see ``main``) in a 1920×1080 window, registers the sessions with the
*Sessions* dock (re-extracting the silent cells), selects a track that was silent on
one day and shows that day: the aligned templates, the tracks (one label per cell across
days), the re-extracted track outlined, its traces across days in the trace dock (the
re-extracted day in grey).
It prints the pair F1 against the planted identity and the time the dock took.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
PLUGIN = "napari-amnesia"
NAMES = ["day1", "day2", "day3", "day4"]


def _settle(app, seconds: float = 0.5) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.02)


def _dock_names() -> list[str]:
    import npe2

    manifest = npe2.PluginManager.instance().get_manifest(PLUGIN)
    return [w.display_name for w in manifest.contributions.widgets]


def main() -> int:
    os.environ.pop("QT_QPA_PLATFORM", None)  # offscreen renders napari's canvas black
    os.environ["NAPARI_AMNESIA_SYNC"] = "1"  # the registration finishes before the picture
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_amnesia.core.multisession import pair_scores, save_session
    from napari_amnesia.core.simulate.sessions import simulate_sessions
    from napari_amnesia.napari.viewer import open_docks, raise_dock

    IMAGES.mkdir(parents=True, exist_ok=True)
    data = simulate_sessions(4, preset="standard", shape=(128, 128), n_cells=40, rng=3,
                             silent_fraction=0.2, new_fraction=0.0, movies=True,
                             n_frames=300)
    work = Path(tempfile.mkdtemp(prefix="amnesia-sessions-"))
    try:
        folders = []
        for s, name in enumerate(NAMES):
            ids = data.identity[s]
            traces = np.where(ids[:, None] >= 0, data.traces[s][np.maximum(ids, 0)], 0)
            folders.append(save_session(work / name, data.footprints[s], data.templates[s],
                                        traces.astype(np.float32), movie=data.movies[s]))
        viewer = napari.Viewer(title="napari-amnesia: the same cells across days")
        viewer.window.resize(1920, 1080)
        app = QApplication.instance()
        # every dock but Curate ROIs: that dock binds the first Labels layer it sees and
        # fails on a (session, y, x) one (its layer choice should keep to 2-D layers)
        names = [n for n in _dock_names() if n != "Curate ROIs"]
        docks = open_docks(viewer, names)
        dock = docks["Sessions"]
        raise_dock(dock)
        dock.add_sessions(folders)
        start = time.perf_counter()
        dock.run()
        elapsed = time.perf_counter() - start
        viewer.window.resize(1920, 1080)
        editor = dock.editor
        if editor is None:
            print(f"registration failed: {dock.status.value}")
            return 1
        f1 = pair_scores(editor.to_result().assignments, data.identity)["f1"]
        flags = editor.re_extracted()
        # a track silent on one day, held on the others, re-extracted that day
        candidates = [t for t in range(editor.n_rows) if flags[t].sum() == 1
                      and editor.counts()[t] == editor.n_sessions - 1]
        track = candidates[len(candidates) // 2] if candidates else int(editor.tracks()[0])
        day = int(np.flatnonzero(flags[track])[0]) if candidates else 0
        viewer.layers["sessions · common template"].visible = False
        tracks = viewer.layers["sessions · tracks"]
        viewer.layers.selection.active = tracks
        dock.select(track)
        viewer.dims.set_current_step(0, day)
        _settle(app, 1.0)
        out = IMAGES / "sessions_dock.png"
        viewer.screenshot(str(out), canvas_only=False)
        print(f"wrote {out}: {editor.n_tracks} tracks over {editor.n_sessions} sessions, "
              f"pair F1 {f1:.3f} against the planted identity, "
              f"{int(flags.sum())} silent track-days re-extracted; the dock took "
              f"{elapsed:.1f} s (registration and re-extraction, 4 x 128x128 x 300 frames); "
              f"track {track} shown on {NAMES[day]}")
        viewer.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
