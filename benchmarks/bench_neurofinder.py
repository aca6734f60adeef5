"""CNMF against human labels: the neurofinder quadrant, beside a simulated movie.

The measuring stick of issue 14. ``../shared/data/neurofinder_quadrant_600x256x256.tif``
is the top-left quadrant (600 frames, 256 x 256, mouse cortex, GCaMP6, about 7 Hz) of a
neurofinder recording, with its 106 human-drawn regions
(``neurofinder_quadrant_regions.json``, neurofinder's format). For each run:

    movie = open_movie(tif)                                   # lazy
    result = cnmf.fit(movie, gSig=(5, 5), fr=7, decay_time=0.7, **settings)

in its own subprocess (time of the ``fit`` call; peak RSS = ``VmHWM`` reset after the
imports, as in ``bench_cnmf.py``). Each footprint becomes a mask at 0.2 x its maximum;
the masks of the ACCEPTED components, and of ALL of them, are scored against the human
regions (``metrics.score_regions``: Hungarian one-to-one matching, a pair matches when
the centroids are < 4 px apart or the IoU is >= 0.3). "Active regions found" is the
fraction of the clearly active human regions that are matched, where a region is
active when its mean trace has a transient > 8 robust sigma above its baseline
(``metrics.active_regions``: baseline = median of the trace, sigma = its
frame-to-frame noise, 1.4826 x MAD of the differences / sqrt(2)), computed once from
the movie (26 of the 106). Many human regions are
cells that stay silent during these 600 frames.

The synthetic line of each run fits the same settings to a 256 x 256 x 600 simulated
two-photon movie (``core.simulate``: 120 somata, no neurites, no motion, the frame
rate and decay time of the settings) and scores the components against the planted
somata (masks at 0.2 x their maximum) with the same rule; its "active" cells are
found by the same ``active_regions``.

Usage::

    python benchmarks/bench_neurofinder.py                    # what a user knows
    python benchmarks/bench_neurofinder.py --settings '{"rf": 20, "stride": 10, "K": 8}'
    python benchmarks/bench_neurofinder.py --runs '{}' '{"rf": 20, "stride": 10, "K": 8}' \\
        --json neurofinder.json

Each ``--runs``/``--settings`` value is a JSON dict of CNMF parameters added to (or
replacing) the base ``{"gSig": [5, 5], "fr": 7, "decay_time": 0.7}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
MOVIE = "neurofinder_quadrant_600x256x256.tif"
REGIONS = "neurofinder_quadrant_regions.json"
#: What a user knows: the neuron radius, the frame rate, the indicator's decay time.
BASE = {"gSig": [5, 5], "fr": 7, "decay_time": 0.7}
#: The simulated movie of the synthetic line (frame rate and decay from the settings).
SYNTHETIC = dict(n_frames=600, shape=(256, 256), n_cells=120, n_neurite_groups=0,
                 motion=False, mode="two_photon")
THRESHOLD = 0.2  # footprint -> mask, fraction of its maximum

#: the fit runs in a process of its own (its memory is its own): benchmarks/cnmf_worker.py
WORKER = str(Path(__file__).with_name("cnmf_worker.py"))


def footprint_masks(result, threshold: float = THRESHOLD) -> np.ndarray:
    """Masks (K, Y, X) of a SourceResult's footprints at ``threshold`` x their maximum."""
    images = result.footprint_images()
    peak = images.reshape(len(images), -1).max(axis=1)
    return (images >= threshold * peak[:, None, None]) & (images > 0)


def fit_in_subprocess(tif: Path, out: Path, params: dict) -> dict:
    proc = subprocess.run([sys.executable, WORKER, str(tif), str(out),
                           json.dumps(params)], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"cnmf.fit{params} failed on {tif.name}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def score(tif: Path, out: Path, params: dict, true_masks: np.ndarray,
          active: np.ndarray) -> dict:
    """Fit in a subprocess, then score accepted and all components."""
    from napari_amnesia.core.cnmf import SourceResult
    from napari_amnesia.core.metrics import score_regions

    stats = fit_in_subprocess(tif, out, params)
    result = SourceResult.load(out)
    masks = footprint_masks(result)
    row = {**stats, "accepted_count": stats.pop("accepted")}
    for which, sel in (("accepted", np.flatnonzero(result.accepted)),
                       ("all", np.arange(result.K))):
        s = score_regions(masks[sel], true_masks, active=active)
        row[which] = {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                      for k, v in s.items() if k not in ("pairs", "iou")}
    return row


def synthetic_movie(folder: Path, params: dict, seed: int) -> tuple[Path, np.ndarray]:
    """Write the simulated movie for these settings (once) and return its true masks."""
    from napari_amnesia.core.simulate import write_simulated_movie

    fr, decay = float(params.get("fr", 30.0)), float(params.get("decay_time", 0.4))
    tif = folder / f"synthetic_fr{fr:g}_decay{decay:g}_seed{seed}.tif"
    truth = write_simulated_movie(tif, frame_rate=fr, decay_time=decay, rng=seed,
                                  overwrite=True, **SYNTHETIC)
    fp = truth.footprints
    return tif, fp >= THRESHOLD * fp.max(axis=(1, 2), keepdims=True)


def run_name(extra: dict) -> str:
    return "what a user knows" if not extra else ", ".join(
        f"{k}={v}" for k, v in extra.items())


def fmt(row: dict, key: str) -> str:
    a, b = row["accepted"][key], row["all"][key]
    return f"{a:.2f} / {b:.2f}"


def table(rows: list[dict]) -> str:
    lines = ["| run | data | F1 | precision | recall | active regions found | "
             "components (accepted/all) | time s | peak GB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc, every = r["accepted"], r["all"]
        lines.append(
            f"| {r['run']} | {r['data']} | {fmt(r, 'f1')} | {fmt(r, 'precision')} | "
            f"{fmt(r, 'recall')} | {fmt(r, 'active_recall')} "
            f"({acc['active_found']}, {every['active_found']} of {acc['n_active']}) | "
            f"{r['accepted_count']}/{r['K']} | {r['time_s']:.1f} | "
            f"{r['peak_rss_mb'] / 1024:.2f} |")
    lines.append("")
    lines.append("Scores as accepted / all components; human regions: "
                 f"{rows[0]['n_true'] if rows else '?'} on the real quadrant.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from napari_amnesia.core.io import open_movie
    from napari_amnesia.core.metrics import active_regions, regions_to_masks

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", type=json.loads, action="append", default=[],
                    help="JSON dict of extra CNMF parameters (one run); may be repeated")
    ap.add_argument("--runs", type=json.loads, nargs="+", default=[],
                    help="several JSON dicts, one run each ('{}' = what a user knows)")
    ap.add_argument("--data", type=Path, default=DATA, help="folder of the quadrant")
    ap.add_argument("--no-synthetic", action="store_true", help="skip the simulated lines")
    ap.add_argument("--seed", type=int, default=0, help="seed of the simulated movie")
    ap.add_argument("--json", type=Path, help="also save the numbers to this JSON file")
    ap.add_argument("--out", type=Path, help="also write the table to this file")
    ap.add_argument("--keep", type=Path, help="folder for the results (default: temporary)")
    args = ap.parse_args(argv)
    tif, regions = args.data / MOVIE, args.data / REGIONS
    if not (tif.is_file() and regions.is_file()):
        print(f"skipped: {MOVIE} and {REGIONS} not found in {args.data} (the labelled "
              "neurofinder quadrant lives in ../shared/data)")
        return 0
    extras = [*args.settings, *args.runs] or [{}]
    for e in extras:
        if not isinstance(e, dict):
            raise SystemExit(f"--settings/--runs take JSON dicts, got {e!r}")

    movie = open_movie(tif)
    true_masks = regions_to_masks(regions, movie.shape[1:])
    active = active_regions(movie, true_masks)
    print(f"{len(true_masks)} human regions, {int(active.sum())} clearly active",
          file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        synthetic = {}
        for i, extra in enumerate(extras):
            params = {**BASE, **extra}
            cases = [("real", tif, true_masks, active)]
            if not args.no_synthetic:
                key = (params.get("fr"), params.get("decay_time"))
                if key not in synthetic:
                    sim_tif, sim_masks = synthetic_movie(folder, params, args.seed)
                    sim_active = active_regions(open_movie(sim_tif), sim_masks)
                    synthetic[key] = (sim_tif, sim_masks, sim_active)
                cases.append(("synthetic", *synthetic[key]))
            for data, movie_path, masks, act in cases:
                row = score(movie_path, folder / f"run{i}_{data}", params, masks, act)
                row.update(run=run_name(extra), data=data, params=params, n_true=len(masks))
                rows.append(row)
                print(json.dumps({k: row[k] for k in ("run", "data", "time_s", "K")}),
                      file=sys.stderr)
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
