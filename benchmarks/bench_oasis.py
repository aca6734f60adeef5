"""OASIS deconvolution: speed and accuracy against the reference ``oasis-deconv``.

Traces are simulated here with a known ground truth: Poisson spikes (0.5 Hz at 30 Hz,
amplitude drawn in [0.5, 1.5]), calcium following an AR(1) model (decay 0.4 s,
GCaMP6f-like: ``g = 0.920``) or an AR(2) model (decay 0.4 s, rise 0.05 s:
``g = (1.433, -0.472)``), a baseline drawn in [0, 2] and Gaussian noise with a
standard deviation drawn in [0.15, 0.35] (peak SNR of one spike about 1.5 to 10).

Both implementations solve the same problem with everything estimated from the trace
(noise level, AR coefficients, baseline; L1 penalty with the noise constraint):

* ``napari-amnesia``: ``deconvolve_many(Y, p=p)`` with its defaults, once on one
  thread and once on all the threads available;
* ``oasis-deconv`` (GPL, never a dependency of napari-amnesia: it runs in its own
  virtual environment, ``--oasis-python``): ``oasis.functions.deconvolve(y, g=(None,)
  * p, penalty=1)`` on each row in a Python loop, its defaults otherwise (it runs
  ``constrained_oasisAR1`` for AR(1) and ``constrained_onnlsAR2`` for AR(2)).

Each implementation runs in its own subprocess on the same ``.npy`` file; runs are
interleaved (ours, reference, ours, ...) ``--repeat`` times and traces/s is the
median. Accuracy (from the last run) is the median over traces of the Pearson
correlation of ``c`` with the true calcium, of ``s`` with the true spikes, and of
``s`` with the true spikes after both are smoothed with a Gaussian of 1 frame
(an L1 solution spreads a spike over neighbouring frames).

Usage::

    python benchmarks/bench_oasis.py --oasis-python /work/peers/oasis/bin/python
    # set it up with:
    python3 -m venv /work/peers/oasis && /work/peers/oasis/bin/pip install oasis-deconv numpy scipy

Prints a Markdown table (and writes it with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

FRAME_RATE = 30.0
DECAY, RISE = 0.4, 0.05

AMNESIA_WORKER = r"""
import json, sys, time
import numpy as np
from napari_amnesia.core.cnmf.deconvolution import deconvolve_many
Y = np.load(sys.argv[1]); p = int(sys.argv[2]); threads = int(sys.argv[3])
deconvolve_many(Y[:4], p=p, n_threads=1)   # compile / load the numba cache
t0 = time.perf_counter()
C, S, B, G, L = deconvolve_many(Y, p=p, n_threads=threads or None)
dt = time.perf_counter() - t0
np.savez(sys.argv[4] + ".npz", c=C, s=S, b=B, g=G)
json.dump({"seconds": dt}, open(sys.argv[4], "w"))
"""

OASIS_WORKER = r"""
import json, sys, time, os, warnings
import numpy as np
from oasis.functions import deconvolve
warnings.filterwarnings("ignore", category=DeprecationWarning)  # g=(None,) is deprecated
Y = np.load(sys.argv[1]); p = int(sys.argv[2])
deconvolve(Y[0], g=(None,) * p, penalty=1)   # warm up
C = np.empty_like(Y); S = np.empty_like(Y); B = np.empty(len(Y)); G = np.empty((len(Y), p))
t0 = time.perf_counter()
for i, y in enumerate(Y):
    c, s, b, g, lam = deconvolve(y, g=(None,) * p, penalty=1)
    C[i] = c; S[i] = s; B[i] = b; G[i] = g
dt = time.perf_counter() - t0
np.savez(sys.argv[3] + ".npz", c=C, s=S, b=B, g=G)
json.dump({"seconds": dt}, open(sys.argv[3], "w"))
"""


def simulate_traces(n: int, T: int, p: int, rng: np.random.Generator):
    """Traces ``b + c + noise`` with AR(p) calcium; returns (Y, C, S, g, sn, b)."""
    d = math.exp(-1.0 / (DECAY * FRAME_RATE))
    if p == 1:
        g = np.array([d])
    else:
        r = math.exp(-1.0 / (RISE * FRAME_RATE))
        g = np.array([d + r, -d * r])
    rate = 0.5 / FRAME_RATE
    S = rng.poisson(rate, (n, T)) * rng.uniform(0.5, 1.5, (n, T))
    C = np.zeros((n, T))
    for t in range(T):
        C[:, t] = S[:, t]
        for i, gi in enumerate(g):
            if t - 1 - i >= 0:
                C[:, t] += gi * C[:, t - 1 - i]
    sn = rng.uniform(0.15, 0.35, n)
    b = rng.uniform(0.0, 2.0, n)
    Y = b[:, None] + C + sn[:, None] * rng.standard_normal((n, T))
    return Y, C, S, g, sn, b


def _rows_r(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    A = A - A.mean(1, keepdims=True)
    B = B - B.mean(1, keepdims=True)
    den = np.sqrt((A * A).sum(1) * (B * B).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (A * B).sum(1) / den


def accuracy(res: dict, C: np.ndarray, S: np.ndarray, b: np.ndarray) -> dict:
    rc = _rows_r(res["c"], C)
    rs = _rows_r(res["s"], S)
    rss = _rows_r(gaussian_filter1d(res["s"], 1.0, axis=1), gaussian_filter1d(S, 1.0, axis=1))
    return {
        "r_c": float(np.nanmedian(rc)),
        "r_s": float(np.nanmedian(rs)),
        "r_s_smooth": float(np.nanmedian(rss)),
        "baseline_mae": float(np.mean(np.abs(res["b"] - b))),
        "n_nan": int(np.isnan(rc).sum()),
    }


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="traces per model")
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--oasis-python", default="/work/peers/oasis/bin/python")
    ap.add_argument("--out", default=None, help="write the Markdown table there")
    args = ap.parse_args(argv)
    oasis_ok = Path(args.oasis_python).exists()
    if not oasis_ok:
        print(f"no reference interpreter at {args.oasis_python}: napari-amnesia only")
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for p in (1, 2):
            Y, C, S, g, sn, b = simulate_traces(args.n, args.frames, p, rng)
            path = folder / f"traces_ar{p}.npy"
            np.save(path, Y)
            times: dict[str, list[float]] = {"amnesia-1": [], "amnesia-all": [], "oasis": []}
            results: dict[str, dict] = {}
            for _ in range(args.repeat):
                for name, threads in (("amnesia-1", 1), ("amnesia-all", 0)):
                    js = folder / f"{name}.json"
                    subprocess.run([sys.executable, "-c", AMNESIA_WORKER, str(path), str(p),
                                    str(threads), str(js)], check=True)
                    times[name].append(json.loads(js.read_text())["seconds"])
                    results[name] = dict(np.load(str(js) + ".npz"))
                if oasis_ok:
                    js = folder / "oasis.json"
                    subprocess.run([args.oasis_python, "-c", OASIS_WORKER, str(path), str(p),
                                    str(js)], check=True,
                                   env={**os.environ, "OMP_NUM_THREADS": "1"})
                    times["oasis"].append(json.loads(js.read_text())["seconds"])
                    results["oasis"] = dict(np.load(str(js) + ".npz"))
            labels = {"amnesia-1": "napari-amnesia (1 thread)",
                      "amnesia-all": f"napari-amnesia ({os.cpu_count()} threads)",
                      "oasis": "oasis-deconv 0.3 (1 thread)"}
            for name, ts in times.items():
                if not ts:
                    continue
                acc = accuracy(results[name], C, S, b)
                g_est = np.median(results[name]["g"], axis=0)
                row = {"model": f"AR({p})", "method": labels[name],
                       "traces_per_s": float(args.n / np.median(ts)),
                       "runs_s": [round(t, 3) for t in ts], **acc,
                       "g_true": g.round(3).tolist(), "g_median": g_est.round(3).tolist()}
                rows.append(row)
                print(json.dumps(row), flush=True)
    lines = [
        f"{args.n} traces × {args.frames} frames per model, median of {args.repeat} runs.",
        "",
        "| model | method | traces/s | r(c, calcium) | r(s, spikes) | r(s, spikes) σ=1 "
        "| baseline MAE | median g (true) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['method']} | {r['traces_per_s']:.0f} | {r['r_c']:.3f} | "
            f"{r['r_s']:.3f} | {r['r_s_smooth']:.3f} | {r['baseline_mae']:.3f} | "
            f"{r['g_median']} ({r['g_true']}) |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
