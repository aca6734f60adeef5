"""CNMF with the defaults a user gets from gSig, fr and decay_time alone.

``cnmf.fit(movie, gSig=..., fr=..., decay_time=...)``: the patch size, the
components per patch and the background rank are chosen by
``core.cnmf.sizing.choose_sizes`` (``rf``, ``stride``, ``K``, ``gnb`` left to
"auto"). Each case runs in its own subprocess (peak RSS is its own, ``VmHWM`` reset
after the imports, as ``bench_cnmf.py``):

- simulated two-photon somata (``core.simulate``, no neurites, no motion) at
  128², 256² and 512² with 120 cells per 256² (the density of ``bench_cnmf.py``),
  cell radius ``--gsig``: components, accepted, time, peak RSS, and the one-to-one
  F1 / recall of the accepted components against the planted footprints
  (``metrics.match_components``);
- ``../shared/data/neurofinder_quadrant_600x256x256.tif`` (when present) with
  ``gSig=(5, 5), fr=7, decay_time=0.7``: components, accepted, time, peak RSS and the
  recall of the 106 human regions by all components and by the accepted ones (same
  matching; ``bench_neurofinder.py`` gives the full scoring of the issue).

``PYTHONPATH=/other/src python benchmarks/bench_cnmf_defaults.py`` measures another
checkout (the "before" column of docs/cnmf.md).

Usage::

    python benchmarks/bench_cnmf_defaults.py                      # all cases
    python benchmarks/bench_cnmf_defaults.py --cases 256x600 neurofinder
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: the fit runs in a process of its own (its memory is its own): benchmarks/cnmf_worker.py
WORKER = str(Path(__file__).with_name("cnmf_worker.py"))

DATA = Path(os.environ.get("NAPARI_AMNESIA_DATA",
                           Path(__file__).resolve().parents[2] / "shared" / "data"))
NEUROFINDER = DATA / "neurofinder_quadrant_600x256x256.tif"
REGIONS = DATA / "neurofinder_quadrant_regions.json"
#: Planted cells per 256 x 256 pixels (bench_cnmf.py's density).
CELLS = 120


def _run(tif: Path, out: Path, params: dict) -> dict:
    proc = subprocess.run([sys.executable, WORKER, str(tif), str(out),
                           json.dumps(params)], check=True, capture_output=True, text=True,
                          env=os.environ.copy())
    return json.loads(proc.stdout.strip().splitlines()[-1])


def simulated(size: int, n_frames: int, gsig: float, folder: Path, seed: int) -> dict:
    """Fit a simulated movie with the defaults; score the accepted components."""
    from napari_amnesia.core.cnmf import SourceResult
    from napari_amnesia.core.metrics import match_components
    from napari_amnesia.core.simulate import write_simulated_movie

    n_cells = int(round(CELLS * (size / 256) ** 2 * (4.0 / gsig) ** 2))
    tif = folder / f"sim_{size}_{n_frames}_{gsig:g}_{seed}.tif"
    truth = write_simulated_movie(tif, n_frames=n_frames, shape=(size, size),
                                  n_cells=n_cells, cell_radius=(gsig, 1.75 * gsig),
                                  n_neurite_groups=0, motion=False, rng=seed,
                                  overwrite=True)
    out = folder / f"cnmf_{size}_{n_frames}_{gsig:g}_{seed}"
    stats = _run(tif, out, {"gSig": [gsig, gsig], "fr": 30.0, "decay_time": 0.4})
    result = SourceResult.load(out)
    acc = np.flatnonzero(result.accepted)
    m = match_components(result.footprint_images(acc), truth.footprints)
    return {"case": f"{size}² × {n_frames}, gSig {gsig:g}", "cells": n_cells, **stats,
            "f1": m["f1"], "recall": m["recall"], "precision": m["precision"]}


def neurofinder(folder: Path) -> dict | None:
    """Fit the labelled quadrant as a user would; recall of the human regions."""
    if not NEUROFINDER.exists() or not REGIONS.exists():
        return None
    from napari_amnesia.core.cnmf import SourceResult
    from napari_amnesia.core.metrics import match_components

    out = folder / "cnmf_neurofinder"
    stats = _run(NEUROFINDER, out, {"gSig": [5, 5], "fr": 7.0, "decay_time": 0.7})
    result = SourceResult.load(out)
    regions = json.loads(REGIONS.read_text())
    human = np.zeros((len(regions), *result.shape), np.float32)
    for i, r in enumerate(regions):
        rc = np.asarray(r["coordinates"]).T
        human[i, rc[0], rc[1]] = 1
    every = match_components(result.footprint_images(), human)
    acc = np.flatnonzero(result.accepted)
    accepted = match_components(result.footprint_images(acc), human)
    return {"case": "neurofinder quadrant 256² × 600, gSig 5", "cells": len(regions),
            **stats, "f1": accepted["f1"], "recall": accepted["recall"],
            "precision": accepted["precision"], "recall_all": every["recall"]}


def table(rows: list[dict]) -> str:
    lines = ["| case | cells | rf / stride / K / gnb | patches | components (accepted) | "
             "time (s) | peak RSS (MB) | F1 | precision | recall |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r.get("chosen") or {}
        chosen = " / ".join(str(c.get(k, "-")) for k in ("rf", "stride", "K", "gnb"))
        lines.append(f"| {r['case']} | {r['cells']} | {chosen} | {r['n_patches']} | "
                     f"{r['K']} ({r['accepted']}) | {r['time_s']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['f1']:.3f} | {r['precision']:.3f} | "
                     f"{r['recall']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+",
                        default=["128x600", "256x600", "512x600", "neurofinder"],
                        help="SIZExFRAMES or 'neurofinder' (default: all)")
    parser.add_argument("--gsig", type=float, nargs="+", default=[4.0],
                        help="cell radii of the simulated cases (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for case in args.cases:
            if case == "neurofinder":
                found = [neurofinder(folder)]
            else:
                size, frames = (int(v) for v in case.lower().split("x"))
                found = [simulated(size, frames, g, folder, args.seed) for g in args.gsig]
            for row in found:
                if row is not None:
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
