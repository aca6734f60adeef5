"""Measure how fast the CNMF-E seed picker follows its sliders on a 512 x 512 field.

Run by hand, under a (virtual) display::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python benchmarks/bench_seed_picker.py

The image pair is the real miniscope movie's correlation and PNR images
(``../shared/data/miniscope1p_minian_500x240x376.tif``, gSig 4, ``correlation_pnr``)
tiled to 512 x 512 (real texture and cell size, 4.5 times the area); without the
movie, smooth blobs on noise (``--synthetic``). The images are put in the viewer's
session as summary images computed with ``gsig = gSig``, so the picker uses them at
once, as after the Summary images dock. For several thresholds it measures, median
of ``--repeats`` moves:

- ``find_seeds``: the seed search alone (no viewer);
- ``slider move``: setting the slider's value until the Points layer is redrawn and
  the Qt events are processed (find_seeds + the Points layer + the dock's count).

Target (issue 16): a slider move under 0.2 s. It prints a markdown table and the load
average before the measurements (measure on an otherwise idle machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "miniscope1p_minian_500x240x376.tif"
GSIG = (4.0, 4.0)
THRESHOLDS = [(0.8, 7.0), (0.9, 15.0), (0.7, 5.0), (0.5, 3.0), (0.95, 25.0)]
SIZE = 512


def _images(synthetic: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """Correlation and PNR images, 512 x 512, and where they come from."""
    if not synthetic and DATA.exists():
        from napari_amnesia.core.cnmf.initialization.corr_pnr import correlation_pnr
        from napari_amnesia.core.io import open_movie

        corr, pnr = correlation_pnr(open_movie(DATA), gSig=GSIG, center_psf=True)
        reps = (-(-SIZE // corr.shape[0]), -(-SIZE // corr.shape[1]))
        return (np.tile(corr, reps)[:SIZE, :SIZE], np.tile(pnr, reps)[:SIZE, :SIZE],
                f"{DATA.name} (gSig 4), tiled")
    from scipy import ndimage

    r = np.random.default_rng(0)
    spots = np.zeros((SIZE, SIZE))
    n = 600
    spots[r.integers(0, SIZE, n), r.integers(0, SIZE, n)] = r.uniform(0.5, 1.5, n)
    blob = ndimage.gaussian_filter(spots, 3)
    blob /= blob.max()
    corr = np.clip(0.3 + 0.7 * blob + 0.05 * r.standard_normal(blob.shape), 0, 1)
    pnr = 3 + 30 * blob + r.standard_normal(blob.shape)
    return corr.astype(np.float32), pnr.astype(np.float32), "synthetic blobs on noise"


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--synthetic", action="store_true")
    args = ap.parse_args(argv)
    os.environ.pop("QT_QPA_PLATFORM", None)  # offscreen has no canvas
    import dask.array as da
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_amnesia.core.cnmf.initialization.seeds import find_seeds
    from napari_amnesia.core.summary import SummaryImages, SummaryParams
    from napari_amnesia.napari.session import session_for

    corr, pnr, origin = _images(args.synthetic)
    viewer = napari.Viewer(title="seed picker benchmark")
    app = QApplication.instance()
    n_frames = 20
    layer = viewer.add_image(da.zeros((n_frames, SIZE, SIZE), np.uint16), name="field",
                             contrast_limits=(0, 1), multiscale=False)
    zero = np.zeros_like(corr)
    session_for(viewer).set_result("field", "summary", SummaryImages(
        mean=zero, max=zero, std=zero, corr=zero, pnr=pnr, corr_pnr=corr, max_corr=zero,
        noise=zero, n_frames=n_frames, params=SummaryParams(gsig=GSIG[0])))
    _, dock = viewer.window.add_plugin_dock_widget("napari-amnesia", "Source extraction")
    dock.movie.value = layer
    dock.gSig.value = GSIG
    dock.mode.value = "one_photon"
    picker = dock.seed_picker
    app.processEvents()
    load = os.getloadavg()[0]
    rows = []
    for min_corr, min_pnr in THRESHOLDS:
        search, move = [], []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            seeds = find_seeds(corr, pnr, min_corr=min_corr, min_pnr=min_pnr, gSig=GSIG)
            search.append(time.perf_counter() - t0)
            picker.min_corr.value = min_corr
            # alternate around the value so that every repeat is a real move
            picker.min_pnr.value = min_pnr + (0.1 if i % 2 == 0 else 0.0)
            app.processEvents()
            t0 = time.perf_counter()
            picker.min_pnr.value = min_pnr
            app.processEvents()
            move.append(time.perf_counter() - t0)
            assert len(picker.points_layer.data) == len(seeds)
        rows.append((min_corr, min_pnr, len(seeds), 1e3 * statistics.median(search),
                     1e3 * statistics.median(move), 1e3 * max(move)))
    viewer.close()
    print(f"Seed picker on a {SIZE} x {SIZE} image pair ({origin}); load average "
          f"{load:.1f} before; median of {args.repeats} moves.\n")
    print("| min_corr | min_pnr | seeds | find_seeds (ms) | slider move (ms) | slowest (ms) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print("| {:g} | {:g} | {} | {:.1f} | {:.1f} | {:.1f} |".format(*row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
