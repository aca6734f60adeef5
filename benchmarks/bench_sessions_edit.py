"""Editing tracks by hand at study size: how long each edit takes, and what confidence says.

The Sessions dock (issue 17) redraws its tracks layer and table after every edit, so an
edit must feel immediate on a real study. On 5 sessions x 500 planted cells of 512x512
(:func:`napari_amnesia.core.simulate.sessions.simulate_sessions`, standard preset, the
speed case of ``bench_multisession.py``), with BLAS held to two threads, it times:

- building the :class:`~napari_amnesia.core.multisession.editing.TrackEditor`;
- the first edit (it carries every footprint into the common space and finds the
  candidate pairs of the registration's model, once), then splits, merges and
  reassignments (median of 20 each; every track's confidence recomputed each time);
- what the dock redraws after an edit: every session's labels ``(5, 512, 512)`` and the
  table;
- ``to_result()`` and ``save()`` of the edited registration;
- with ``--dock`` (needs a display: run under ``xvfb-run -a``), the Sessions dock itself:
  showing the layers and the table of the registration, and a split or a merge made with
  its buttons (the edit, the labels written into the layer, the table filled again).

Then what the recomputed confidence tells a user: 50 footprints are reassigned to a
neighbouring cell's track (wrong edits); the share of those tracks whose confidence falls
below 0.5, against the share of the tracks no edit touched.

Usage::

    python benchmarks/bench_sessions_edit.py            # the table of docs/multisession.md
    python benchmarks/bench_sessions_edit.py --quick    # 3 sessions x 150 cells of 256x256
    xvfb-run -a python benchmarks/bench_sessions_edit.py --dock   # and the dock's times
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits

from napari_amnesia.core.multisession import register
from napari_amnesia.core.multisession.editing import TrackEditor
from napari_amnesia.core.simulate.sessions import simulate_sessions


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def dock_rows(result, footprints, S: int) -> list[tuple[str, float, int]]:
    """Time the Sessions dock: showing a registration, then edits made with its buttons."""
    os.environ.pop("QT_QPA_PLATFORM", None)
    os.environ["NAPARI_AMNESIA_SYNC"] = "1"
    import napari

    from napari_amnesia.core.progress import Progress

    viewer = napari.Viewer(show=False)
    _, dock = viewer.window.add_plugin_dock_widget("napari-amnesia", "Sessions")
    editor = TrackEditor(result, footprints)

    def opened():
        yield Progress(1, 1, "opened")
        return editor

    start = time.perf_counter()
    dock.launch(opened(), source="sessions", message="", on_result=dock._show)
    rows = [("dock: show the layers and the table", time.perf_counter() - start, 1)]
    full = [int(x) for x in np.flatnonzero(editor.counts() == S)][:10]
    splits, merges = [], []
    viewer.dims.set_current_step(0, S - 1)
    for t_ in full:
        dock.track.value = t_
        new, dt = _timed(dock.split)
        splits.append(dt)
        dock.track.value, dock.other.value = t_, new
        _, dt = _timed(dock.merge)
        merges.append(dt)
    rows.append(("dock: Split (edit, layer, table; median of 10)", float(np.median(splits)),
                 10))
    rows.append(("dock: Merge (median of 10)", float(np.median(merges)), 10))
    viewer.close()
    return rows


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 sessions x 150 cells, 256x256")
    parser.add_argument("--dock", action="store_true", help="time the napari dock too")
    args = parser.parse_args()
    S, n_cells, size = (3, 150, 256) if args.quick else (5, 500, 512)
    rng = np.random.default_rng(0)
    data = simulate_sessions(S, preset="standard", shape=(size, size), n_cells=n_cells, rng=7)
    rows = []
    with threadpool_limits(2):
        result, t = _timed(register, data.footprints, data.templates)
        rows.append(("register (for reference)", t, 1))
        editor, t = _timed(TrackEditor, result, data.footprints)
        rows.append(("build the editor", t, 1))
        full = [int(x) for x in np.flatnonzero(editor.counts() == S)]
        _, t = _timed(editor.split, full[0], [S - 1])
        rows.append(("first edit (footprints carried, candidate pairs)", t, 1))
        editor.undo()
        picks = rng.choice(full, 20, replace=False)
        splits, merges = [], []
        for t_ in picks:
            new, dt = _timed(editor.split, int(t_), [S - 1])
            splits.append(dt)
            _, dt = _timed(editor.merge, int(t_), new)
            merges.append(dt)
        rows.append(("split (median of 20)", float(np.median(splits)), 20))
        rows.append(("merge (median of 20)", float(np.median(merges)), 20))
        moves = []
        for t_ in picks:
            k = int(editor.assignments[t_, 1])
            own, dt = _timed(editor.reassign, 1, k)
            moves.append(dt)
            editor.reassign(1, k, int(t_))
        rows.append(("reassign (median of 20)", float(np.median(moves)), 20))
        _, t = _timed(editor.session_labels)
        rows.append((f"redraw: labels ({S}, {size}, {size})", t, 1))
        _, t = _timed(editor.table)
        rows.append(("redraw: table", t, 1))
        edited, t = _timed(editor.to_result)
        rows.append(("to_result()", t, 1))
        with tempfile.TemporaryDirectory() as tmp:
            _, t = _timed(edited.save, os.path.join(tmp, "edited"))
        rows.append(("save()", t, 1))
        # wrong edits: a footprint given to its nearest neighbour's track
        fresh = TrackEditor(result, data.footprints)
        centers = result.track_centers
        wrong = []
        for t_ in rng.permutation(full):
            if len(wrong) == 50:
                break
            if fresh.edited[t_]:
                continue
            d = np.hypot(*(centers[full] - centers[t_]).T)
            d[full.index(int(t_))] = np.inf
            other = full[int(np.argmin(d))]
            if fresh.edited[other] or other in wrong:
                continue
            fresh.reassign(1, int(fresh.assignments[other, 1]), int(t_))
            wrong.append(int(t_))
        untouched = ~fresh.edited[:result.n_tracks]
        low_wrong = float(np.mean(fresh.confidence[wrong] < 0.5))
        low_rest = float(np.mean(fresh.confidence[:result.n_tracks][untouched] < 0.5))
        if args.dock:
            rows += dock_rows(result, data.footprints, S)
    print(f"## Editing tracks: {S} sessions x {n_cells} cells of {size}x{size}, "
          f"{result.n_tracks} tracks, two BLAS threads\n")
    print(f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          "benchmarks/bench_sessions_edit.py)\n")
    print("| step | time (s) | runs |")
    print("|---|---:|---:|")
    for name, t, n in rows:
        print(f"| {name} | {t:.3f} | {n} |")
    print(f"\nWrong edits (a footprint given to its neighbour's track, {len(wrong)} of them): "
          f"{100 * low_wrong:.0f} % of those tracks fall below confidence 0.5, against "
          f"{100 * low_rest:.0f} % of the {int(untouched.sum())} tracks no edit touched.")


if __name__ == "__main__":
    main()
