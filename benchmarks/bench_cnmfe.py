"""CNMF-E (``cnmf.fit(movie, mode="one_photon")``) on planted one-photon movies: issue 16's targets.

Movies: ``core.simulate``'s one-photon presets (``one_photon_params``), "standard"
(256 x 256 x 2000 at 20 Hz, 150 in-focus cells under vessels, neuropil haze and
out-of-focus cells) and "dense" (250 dimmer cells), written as uint16 TIFFs; and
the standard movie at 1000 and 4000 frames for memory against the movie's length.
Each fit runs in a process of its own (``cnmf_worker.py``: wall time, peak RSS of
the process, which starts no other process, so it is the whole tree's); the saved
result is then scored against the planted in-focus cells: footprints matched one to
one (``metrics.match_components``), a detection of an out-of-focus cell counts
neither for nor against (left out of precision), median correlation of the matched
traces with the planted calcium. A detection of an out-of-focus cell is one matched
one to one to it, or one lying mostly inside its blurred footprint whose trace follows
that cell's (r >= 0.5; ``metrics.score_in_focus``); "F1, strict" ignores only the
one-to-one matches. A third table filters the same fits again with the preset's
evaluation rules switched off one after the other (``joint_SNR``/``joint_rval``,
``max_width_ratio``).

Settings: the preset and a careful CaImAn user's cell size (gSig 4, gSiz 17,
fr 20): ``{"mode": "one_photon", "gSig": 4, "gSiz": 17, "fr": 20}``.

CaImAn's figures (CNMF-E of CaImAn 1.12.1 with gSig 4, gSiz 17, min_corr 0.7,
min_pnr 5, ring_size_factor 1.4, rf 40, stride 20, ssub_B 2, on 2 cores) are
those given in issue 16 for held-out movies of the same kind; they are quoted,
not rerun here.

Run: ``python benchmarks/bench_cnmfe.py [--quick] [--out DIR]``; prints the tables
of docs/cnmfe.md.
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
PARAMS = {"mode": "one_photon", "gSig": 4, "gSiz": 17, "fr": 20}
#: issue 16's CaImAn figures (standard / dense movies, 2 cores)
CAIMAN = {"standard": {"f1": 0.946, "precision": 1.00, "recall": 0.90, "trace_r": 0.965,
                       "time_s": 402.0, "peak_mb": 1870.0},
          "dense": {"f1": 0.816, "precision": float("nan"), "recall": 0.69,
                    "trace_r": float("nan"), "time_s": float("nan"), "peak_mb": 1600.0}}


def score(result, truth) -> dict:
    """F1, precision, recall against the in-focus cells; median trace r of the matches."""
    from napari_amnesia.core.metrics import score_in_focus

    acc = np.flatnonzero(result.accepted)
    m = score_in_focus(result.footprint_images(acc), truth.footprints,
                       truth.out_of_focus_footprints, found_traces=result.traces[acc],
                       out_of_focus_traces=truth.out_of_focus_traces)
    p, r = m["precision"], m["recall"]
    ps = m["strict_precision"]
    idx = np.flatnonzero(result.accepted)[m["pairs"][:, 0]]
    a = result.traces[idx] - result.traces[idx].mean(axis=1, keepdims=True)
    b = truth.traces[m["pairs"][:, 1]] - truth.traces[m["pairs"][:, 1]].mean(axis=1,
                                                                             keepdims=True)
    rr = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1) + 1e-12)
    return {"f1": m["f1"], "precision": p, "recall": r,
            "strict_f1": 2 * ps * r / (ps + r) if ps + r else 0.0, "strict_precision": ps,
            "trace_r": float(np.median(rr)) if len(rr) else float("nan"),
            "out_of_focus": int(m["out_of_focus"]), "n_true": int(truth.n_cells)}


def run(name: str, movie_params, folder: Path, extra: dict | None = None) -> dict:
    """Simulate, write, fit in a worker process (``PARAMS`` and ``extra``), score."""
    import tifffile

    from napari_amnesia.core.cnmf import SourceResult
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(movie_params)
    tif = folder / f"{name}.tif"
    tifffile.imwrite(tif, movie)
    del movie
    out = folder / f"{name}_result"
    line = subprocess.run([sys.executable, str(HERE / "cnmf_worker.py"), str(tif), str(out),
                           json.dumps({**PARAMS, **(extra or {})})], check=True,
                          capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]
    worker = json.loads(line)
    result = SourceResult.load(out)
    row = {"movie": name, "T": int(truth.n_frames), "time_s": worker["time_s"],
           "cpu_s": worker["timings"].get("cpu_total", float("nan")),
           "streamed": bool(extra and extra.get("max_in_memory_mb") == 0),
           "peak_mb": worker["peak_rss_mb"], "K": worker["K"],
           "accepted": worker["accepted"], **score(result, truth),
           "rules": rule_rows(result, truth)}
    tif.unlink()
    return row


#: The one-photon preset's evaluation rules, switched off one after the other
RULES = {"CaImAn's (SNR or r)": {"joint_SNR": None, "joint_rval": None,
                                 "max_width_ratio": None},
         "+ joint pair": {"max_width_ratio": None},
         "+ joint pair + width (preset)": {}}


def rule_rows(result, truth) -> list[dict]:
    """The same fit filtered again (stored metrics) with fewer of the preset's rules."""
    from napari_amnesia.core import cnmf

    rows = []
    for name, off in RULES.items():
        again = cnmf.evaluate(result, **off)
        rows.append({"rule": name, "accepted": int(again.accepted.sum()),
                     **score(again, truth)})
    return rows


def main() -> None:
    """Run the benchmark and print its tables."""
    from napari_amnesia.core.simulate.one_photon import one_photon_params

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="128 x 128 x 1000 movies")
    ap.add_argument("--out", type=Path, default=None, help="keep the results here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--memory-only", action="store_true",
                    help="only the memory-against-length rows")
    ap.add_argument("--no-memory", action="store_true",
                    help="only the accuracy rows (standard and dense movies)")
    args = ap.parse_args()
    shape, T = ((128, 128), 1000) if args.quick else ((256, 256), 2000)
    scale = shape[0] * shape[1] / 256**2
    folder = args.out or Path(tempfile.mkdtemp(prefix="bench_cnmfe_"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for preset, n in () if args.memory_only else (("standard", 150), ("dense", 250)):
        p = one_photon_params(preset, shape=shape, n_frames=T, n_cells=round(n * scale),
                              rng=args.seed)
        rows.append(run(preset, p, folder))
        print(json.dumps(rows[-1]), flush=True)
    mem = []
    # the default reads a movie smaller than max_in_memory_mb into memory once (its
    # copy grows with T); max_in_memory_mb=0 streams it: memory independent of T
    for t in () if args.no_memory else (T // 2, 2 * T):
        p = one_photon_params("standard", shape=shape, n_frames=t,
                              n_cells=round(150 * scale), rng=args.seed)
        for extra in ({}, {"max_in_memory_mb": 0}):
            mem.append(run(f"standard_T{t}", p, folder, extra))
            print(json.dumps(mem[-1]), flush=True)
    print(f"\nCNMF-E on planted one-photon movies ({shape[0]}x{shape[1]}x{T}, seed "
          f"{args.seed}; settings {PARAMS})\n")
    print("| movie | cells | found (accepted) | F1 | precision | recall | F1, strict "
          "| median trace r | wall time (s) | CPU time (s) | peak memory (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['movie']} | {r['n_true']} | {r['K']} ({r['accepted']}) | {r['f1']:.3f} "
              f"| {r['precision']:.3f} | {r['recall']:.3f} | {r['strict_f1']:.3f} "
              f"| {r['trace_r']:.3f} "
              f"| {r['time_s']:.0f} | {r['cpu_s']:.0f} | {r['peak_mb']:.0f} |")
        c = {k: (f"{v:{spec}}" if np.isfinite(v) else "—") for (k, v), spec in zip(
            CAIMAN[r["movie"]].items(), (".3f", ".2f", ".2f", ".3f", ".0f", ".0f"),
            strict=True)}
        print(f"| {r['movie']}, CaImAn 1.12.1 (issue 16) | | | {c['f1']} "
              f"| {c['precision']} | {c['recall']} | | {c['trace_r']} "
              f"| {c['time_s']} | | {c['peak_mb']} |")
    if rows:
        print("\nThe preset's evaluation rules (the same fits, filtered again)\n")
        print("| movie | rule | accepted | F1 | precision | recall | F1, strict |")
        print("|---|---|---|---|---|---|---|")
    for r in rows:
        for q in r["rules"]:
            print(f"| {r['movie']} | {q['rule']} | {q['accepted']} | {q['f1']:.3f} "
                  f"| {q['precision']:.3f} | {q['recall']:.3f} | {q['strict_f1']:.3f} |")
    print("\nMemory against the movie's length (standard movie)\n")
    print("| frames | movie | wall time (s) | CPU time (s) | peak memory (MB) | F1 |")
    print("|---|---|---|---|---|---|")
    for r in sorted(mem, key=lambda r: (r["T"], r["streamed"])):
        how = "streamed (max_in_memory_mb=0)" if r["streamed"] else "read into memory"
        print(f"| {r['T']} | {how} | {r['time_s']:.0f} | {r['cpu_s']:.0f} "
              f"| {r['peak_mb']:.0f} | {r['f1']:.3f} |")


if __name__ == "__main__":
    main()
