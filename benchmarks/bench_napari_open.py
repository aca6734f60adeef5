"""How fast a large movie appears and scrolls in napari (run by hand, needs a display).

Writes a contiguous uint16 TIFF of ``--size-gb`` (10 GB by default; 512 x 512 frames)
chunk by chunk, then, in napari with this plugin's reader, measures:

* the time from ``viewer.open(path, plugin="napari-amnesia")`` until the first frame
  is drawn (contrast limits from sampled frames included);
* the time to show each of ``--steps`` frames spread over the whole movie (a jump,
  then the next frame: what dragging the slider and stepping with the arrow keys do);
* the process's peak resident memory (it must stay far below the file size).

Run it under a virtual display, e.g.::

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python benchmarks/bench_napari_open.py

The file is deleted at the end unless ``--keep``; ``--path`` reuses an existing movie.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_movie(path: Path, size_gb: float, shape=(512, 512)) -> None:
    import dask.array as da
    import numpy as np

    from napari_amnesia.core.io import save_movie

    frame_bytes = shape[0] * shape[1] * 2
    n_frames = int(size_gb * 1e9 // frame_bytes)
    rng = np.random.default_rng(0)
    base = rng.integers(100, 1000, size=(64, *shape), dtype=np.uint16)

    def block(block_id):
        t = block_id[0]
        out = np.roll(base, t, axis=0).copy()
        out[:, :16, :16] = t % 60000  # a visible frame counter patch
        return out

    chunks = ((64,) * (n_frames // 64),) + ((shape[0],), (shape[1],))
    movie = da.map_blocks(lambda block_info=None: block(block_info[None]["chunk-location"]),
                          chunks=chunks, dtype=np.uint16, meta=np.empty((0, 0, 0), np.uint16))
    start = time.perf_counter()
    save_movie(movie, path)
    print(f"wrote {path} ({path.stat().st_size / 1e9:.1f} GB, {movie.shape}) in "
          f"{time.perf_counter() - start:.0f} s")


def measure(path: Path, steps: int) -> dict:
    os.environ.pop("QT_QPA_PLATFORM", None)
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    app.processEvents()

    def settle(layer, timeout=30.0):
        stop = time.perf_counter() + timeout
        while time.perf_counter() < stop:
            app.processEvents()
            if getattr(layer, "loaded", True):
                return
            time.sleep(0.001)

    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    [layer] = viewer.open(path, plugin="napari-amnesia")
    settle(layer)
    app.processEvents()
    open_s = time.perf_counter() - start
    n = layer.data.shape[0]
    jumps, nexts = [], []
    for i in range(steps):
        t = int((i + 0.5) * n / steps)
        start = time.perf_counter()
        viewer.dims.set_current_step(0, t)
        settle(layer)
        jumps.append(time.perf_counter() - start)
        start = time.perf_counter()
        viewer.dims.set_current_step(0, t + 1)
        settle(layer)
        nexts.append(time.perf_counter() - start)
    viewer.close()
    return {
        "frames": n,
        "open_s": open_s,
        "jump_ms": 1000 * statistics.median(jumps),
        "next_ms": 1000 * statistics.median(nexts),
        "peak_rss_mb": _peak_rss_mb(),
        "rss_before_mb": rss_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=10.0)
    parser.add_argument("--path", type=Path, default=None, help="reuse this movie")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    path = args.path
    made = False
    if path is None:
        path = args.dir / f"amnesia_bench_open_{args.size_gb:g}GB.tif"
        if not path.exists():
            write_movie(path, args.size_gb)
            made = True
    try:
        r = measure(path, args.steps)
    finally:
        if made and not args.keep:
            path.unlink()
    size = path.stat().st_size / 1e9 if path.exists() else args.size_gb
    print()
    print("| movie | open → first frame drawn (s) | jump to a frame (ms, median) | "
          "next frame (ms, median) | peak RSS, napari alone → with the movie (MB) |")
    print("|---|---:|---:|---:|---:|")
    print(f"| {r['frames']} × 512 × 512 uint16 ({size:.1f} GB) | {r['open_s']:.2f} | "
          f"{r['jump_ms']:.1f} | {r['next_ms']:.1f} | {r['rss_before_mb']:.0f} → "
          f"{r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
