"""CNMF source extraction: accuracy against ground truth, time and peak memory.

For each case (frame size × frames) a two-photon movie with somata only (no
neurites, no motion: CNMF runs on motion-corrected data) is simulated by
``core.simulate`` — about 120 cells on 256² and 4× that on 512², the density of the
issue's targets — and written to a uint16 TIFF. napari-amnesia then runs in its own
subprocess (so peak RSS is its own):

    movie = open_movie(tif)                       # lazy, memory-mapped per task
    result = cnmf.fit(movie, rf=15, stride=10, K=6, gSig=4, p=1, gnb=2,
                      merge_thr=0.85, min_SNR=2, rval_thr=0.85)   # + evaluation, ΔF/F

Timed: the whole ``fit`` call (patches, whole-field refinement, evaluation, ΔF/F).
Peak RSS: ``VmHWM`` reset after the imports (``napari_amnesia._memory``), shared
libraries included. Peak PSS: the proportional set size of the process (its only
process: dask runs threads), sampled every 10 ms during ``fit`` from
``/proc/self/smaps_rollup`` — the measure CaImAn's 1288 MB was taken with (the PSS
of its whole process tree).

Accuracy: accepted components are matched to the true footprints one to one
(``metrics.match_components``: Hungarian on the IoU of footprints binarised at 20 %
of their maximum, IoU >= 0.3 or centroids < 4 px); F1 of that matching, and the
median Pearson correlation of matched traces with the true calcium and of matched
spikes with the true spikes.

Targets of the issue (2 cores): 256² × 2000 in <= 8 s (CaImAn 16 s); 512² × 3000 in
<= 46 s with <= 3.1 GB peak (CaImAn 92 s, 6.3 GB); F1 >= 0.95, trace r >= 0.95,
spike r >= 0.9.

``--mode one_photon`` simulates miniscope-like movies instead (``core.simulate``'s
one-photon mode: larger blurred cells, 60 per 256², under a bright fluctuating
background) and fits them with ``rf=20, stride=12, gSig=6``: what the plain CNMF (no
ring background) gives on such data.

Usage::

    python benchmarks/bench_cnmf.py                         # 256² × 2000
    python benchmarks/bench_cnmf.py --mode one_photon       # the same, one-photon
    python benchmarks/bench_cnmf.py --sizes 256x2000 512x3000 --out table.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: the fit runs in a process of its own (its memory is its own): benchmarks/cnmf_worker.py
WORKER = str(Path(__file__).with_name("cnmf_worker.py"))

PARAMS = dict(rf=15, stride=10, K=6, gSig=4, p=1, gnb=2, merge_thr=0.85, min_SNR=2.0,
              rval_thr=0.85)
#: One-photon movies (``--mode one_photon``): cells of radius 6-10 px, blurred, under a
#: bright fluctuating background; larger patches and cell size, the rest as above.
PARAMS_ONE_PHOTON = {**PARAMS, "rf": 20, "stride": 12, "gSig": 6}
#: Planted cells per 256 x 256 pixels.
CELLS = {"two_photon": 120, "one_photon": 60}


def _corr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return np.divide((a * b).sum(1), den, out=np.zeros(len(a)), where=den > 0)


def run_case(size: int, n_frames: int, folder: Path, seed: int = 0,
             mode: str = "two_photon") -> dict:
    from napari_amnesia.core.cnmf import SourceResult
    from napari_amnesia.core.metrics import match_components
    from napari_amnesia.core.simulate import write_simulated_movie

    n_cells = int(round(CELLS[mode] * (size / 256) ** 2))
    tif = folder / f"sim_{mode}_{size}_{n_frames}.tif"
    truth = write_simulated_movie(tif, n_frames=n_frames, shape=(size, size), n_cells=n_cells,
                                  n_neurite_groups=0, motion=False, mode=mode, rng=seed,
                                  overwrite=True)  # --keep: a second run rewrites its own
    out = folder / f"cnmf_{mode}_{size}_{n_frames}"
    params = PARAMS if mode == "two_photon" else PARAMS_ONE_PHOTON
    proc = subprocess.run([sys.executable, WORKER, str(tif), str(out),
                           json.dumps(params)], check=True, capture_output=True, text=True)
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    result = SourceResult.load(out)
    acc = np.flatnonzero(result.accepted)
    m = match_components(result.footprint_images(acc), truth.footprints)
    fi, ti = m["pairs"].T
    trace_r = _corr_rows(result.traces[acc[fi]], truth.traces[ti])
    spike_r = _corr_rows(result.spikes[acc[fi]], truth.spikes[ti])
    case = f"{size}² × {n_frames}" + ("" if mode == "two_photon" else " (one-photon)")
    return {"case": case, "cells": n_cells, **stats, "f1": m["f1"],
            "precision": m["precision"], "recall": m["recall"],
            "trace_r": float(np.median(trace_r)) if len(trace_r) else float("nan"),
            "spike_r": float(np.median(spike_r)) if len(spike_r) else float("nan")}


def table(rows: list[dict]) -> str:
    lines = ["| case | cells | components (accepted) | time (s) | peak RSS (MB) | "
             "peak PSS (MB) | F1 | precision | recall | median trace r | median spike r |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['cells']} | {r['K']} ({r['accepted']}) | "
                     f"{r['time_s']:.1f} | {r['peak_rss_mb']:.0f} | "
                     f"{r['peak_pss_mb']:.0f} | {r['f1']:.3f} | "
                     f"{r['precision']:.3f} | {r['recall']:.3f} | {r['trace_r']:.3f} | "
                     f"{r['spike_r']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["256x2000"],
                        help="cases as SIZExFRAMES (default 256x2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=tuple(CELLS), default="two_photon",
                        help="simulated two-photon (default) or one-photon movies")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--keep", type=Path, help="folder for the movies and results")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for case in args.sizes:
            size, frames = (int(v) for v in case.lower().split("x"))
            row = run_case(size, frames, folder, seed=args.seed, mode=args.mode)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
