"""Coactive clustering and factorization: accuracy (ARI vs planted groups) and speed.

1. Planted neurite groups (``core.simulate``), over seeds: skeleton pixels, branches
   (all, and those with >= 75 % of their pixels on one planted group), consecutive
   clustering (a scene whose branches have activity of their own: pixels -> branches
   -> groups, the next level with the clustering_pixel template's consecutive step), NMF / ICA — ARI and matched spatial correlation (planted map:
   ``truth.group_maps()``); median, minimum and seeds meeting the issue's target.
2. The issue's size: 20,000 elements x 3,000 frames (planted groups, noisy traces),
   clustered with openTSNE, scikit-learn t-SNE and direct HDBSCAN, each in a fresh process:
   seconds (total, and of which the 2-D embedding, from the result's ``info``), and memory
   sampled (RSS every 20 ms) during ``cluster()`` only: the process's peak and what
   clustering added above the process before the call (the traces themselves, generated
   before, are the "data" column).

Run:  python benchmarks/bench_clustering.py [--quick] [--seeds 16] [--accuracy-only]   (note the machine load: uptime)
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

CHILD = r"""
import json, sys, threading, time
import numpy as np
import psutil
from sklearn.metrics import adjusted_rand_score
from napari_amnesia.core.clustering import cluster
n, t, g, kw = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
rng = np.random.default_rng(0)
spikes = (rng.random((g, t)) < 0.02).astype(np.float32)
kernel = np.exp(-np.arange(60) / 12.0).astype(np.float32)
groups = np.stack([np.convolve(s, kernel)[:t] for s in spikes]).astype(np.float32)
truth = rng.integers(0, g, n)
traces = np.empty((n, t), np.float32)  # filled in blocks: no full-size temporaries
for i in range(0, n, 1000):
    block = rng.standard_normal((min(1000, n - i), t), dtype=np.float32)
    traces[i:i + len(block)] = 100 + 20 * groups[truth[i:i + len(block)]] + 3 * block
del spikes, block
process = psutil.Process()
baseline = process.memory_info().rss
peak = [baseline]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.02)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
t0 = time.perf_counter()
r = cluster(traces, **kw)
sec = time.perf_counter() - t0
done.set()
sampler.join()
peak[0] = max(peak[0], process.memory_info().rss)
print(json.dumps({"seconds": sec, "embedding_seconds": r.info.get("embedding_seconds"),
                  "ari": adjusted_rand_score(truth, r.labels),
                  "k": r.n_clusters, "noise": int((r.labels == 0).sum()),
                  "data_mb": traces.nbytes / 2**20, "baseline_mb": baseline / 2**20,
                  "peak_mb": peak[0] / 2**20, "added_mb": (peak[0] - baseline) / 2**20}))
"""


def _planted_of(proj, owner):
    """Planted label of each element: the majority over its pixels (-1: on none)."""
    from napari_amnesia.core.metrics import majority_labels

    return majority_labels(proj.pixels, owner)[0]


def _purity(proj, owner):
    from napari_amnesia.core.metrics import majority_labels

    return majority_labels(proj.pixels, owner)[1]


def _matched_r(truth, result):
    """Smallest over planted groups of the best spatial correlation with a component
    (planted map: ``truth.group_maps()``)."""
    g = truth.n_groups
    f = truth.group_maps().reshape(g, -1).astype(np.float64)
    f -= f.mean(1, keepdims=True)
    s = result.spatial.reshape(result.n_components, -1).astype(np.float64)
    s -= s.mean(1, keepdims=True)
    c = (f / np.linalg.norm(f, axis=1, keepdims=True)) @ \
        (s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-12)).T
    return float(c.max(1).min())


def planted(n_seeds):
    """Accuracy over seeds 1..n_seeds, one row per seed and a summary."""
    from sklearn.metrics import adjusted_rand_score as ari

    from napari_amnesia.core.clustering import (ClusteringParams, cluster,
                                                cluster_consecutive, load_template)
    from napari_amnesia.core.factorization import factorize
    from napari_amnesia.core.projection import project
    from napari_amnesia.core.simulate import simulate
    from napari_amnesia.core.skeleton import skeletonize

    branch_params = ClusteringParams.from_dict(load_template("clustering_branch")["clustering"])
    next_level = ClusteringParams.from_dict(load_template("clustering_pixel")["consecutive"][0])
    cols = ["pixels t-SNE+HDBSCAN", "pixels HDBSCAN direct", "branches (template)",
            "branches, unambiguous", "meso = branches", "macro = groups", "NMF r", "ICA r"]
    rows, seconds = [], {c: [] for c in cols}
    for seed in range(1, n_seeds + 1):
        row = {}
        movie, truth = simulate(n_frames=1000, shape=(128, 128), n_cells=0,
                                n_neurite_groups=4, branches_per_group=4, motion=False,
                                rng=seed)
        sk = skeletonize(movie)
        gop = np.concatenate([[-1], truth.branch_groups])[truth.branch_labels()]
        proj = project(movie, sk, method="pixel")
        e = _planted_of(proj, gop)
        k = e >= 0
        for col, kw in ((cols[0], {"embedding": "tsne", "min_cluster_size": 10,
                                   "cluster_selection_method": "leaf"}),
                        (cols[1], {"embedding": "none", "min_cluster_size": 10})):
            t0 = time.perf_counter()
            r = cluster(proj, **kw)
            seconds[col].append(time.perf_counter() - t0)
            row[col] = ari(e[k], r.labels[k])
        bproj = project(movie, sk, method="branch")
        e = _planted_of(bproj, gop)
        k = e >= 0
        clear = k & (_purity(bproj, gop) >= 0.75)
        t0 = time.perf_counter()
        r = cluster(bproj, branch_params)
        seconds[cols[2]].append(time.perf_counter() - t0)
        labels = r.labels.copy()
        noise = labels == 0   # noise: clusters of their own (claims no coactivity)
        labels[noise] = labels.max(initial=0) + 1 + np.arange(noise.sum())
        row[cols[2]] = ari(e[k], labels[k])
        row[cols[3]] = ari(e[clear], labels[clear])
        # pixels -> branches -> groups (each branch with activity of its own)
        hm, ht = simulate(n_frames=1000, shape=(128, 128), n_cells=0, n_neurite_groups=4,
                          branches_per_group=4, motion=False, branch_noise=1.0, rng=seed)
        hproj = project(hm, skeletonize(hm), method="pixel")
        bop = ht.branch_labels() - 1
        hb = _planted_of(hproj, bop)
        hg = _planted_of(hproj, np.concatenate([[-1], ht.branch_groups])[bop + 1])
        k = (hb >= 0) & (hg >= 0)
        t0 = time.perf_counter()
        meso = cluster(hproj, embedding="tsne", min_cluster_size=10,
                       cluster_selection_method="leaf")
        macro = cluster_consecutive(meso, next_level)
        seconds[cols[4]].append(time.perf_counter() - t0)
        row[cols[4]] = ari(hb[k], meso.labels[k])
        row[cols[5]] = ari(hg[k], macro.original_labels[k])
        for col, fm in ((cols[6], "nmf"), (cols[7], "ica")):
            t0 = time.perf_counter()
            f = factorize(movie, method=fm, n_components=8)
            seconds[col].append(time.perf_counter() - t0)
            row[col] = _matched_r(truth, f)
        rows.append(row)
        print(f"seed {seed}: " + ", ".join(f"{c} {row[c]:.2f}" for c in cols), flush=True)
    target = {cols[0]: 0.8, cols[1]: 0.8, cols[2]: 0.9, cols[3]: 0.9, cols[4]: 0.8,
              cols[5]: 0.8, cols[6]: 0.8, cols[7]: 0.8}
    print(f"\n### Planted coactive neurite groups: simulate 1000 x 128 x 128, 4 groups x 4 "
          f"branches, seeds 1-{n_seeds} (load average {os.getloadavg()[0]:.1f})\n")
    print("| measure | target | median | min | seeds meeting the target | median seconds |")
    print("|---|---|---|---|---|---|")
    for c in cols:
        v = np.array([r[c] for r in rows])
        print(f"| {c} | {target[c]} | {np.median(v):.3f} | {v.min():.3f} | "
              f"{int((v >= target[c]).sum())}/{len(v)} | "
              f"{f'{np.median(seconds[c]):.1f}' if seconds[c] else '–'} |")


def large(quick):
    n, t = (4000, 1000) if quick else (20000, 3000)
    print(f"\n### {n} elements x {t} frames, 6 planted groups (each run in a fresh process; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)\n")
    print("| method | seconds | of which embedding | data (MB) | peak RSS (MB) | "
          "added by clustering (MB) | ARI | clusters | noise |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, kw in (("openTSNE + HDBSCAN", {"tsne_backend": "opentsne",
                                              "min_cluster_size": 50}),
                     ("openTSNE (n_iter=250) + HDBSCAN", {"tsne_backend": "opentsne",
                                                          "min_cluster_size": 50,
                                                          "n_iter": 250}),
                     ("scikit-learn t-SNE + HDBSCAN", {"tsne_backend": "sklearn",
                                                       "min_cluster_size": 50}),
                     ("HDBSCAN on correlation distance", {"embedding": "none",
                                                          "min_cluster_size": 50})):
        limit = 300 if kw.get("tsne_backend") == "sklearn" else 1200
        try:
            out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(t), "6",
                                  json.dumps(kw)], capture_output=True, text=True,
                                 timeout=limit)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            emb = res["embedding_seconds"]
            emb = "–" if emb is None else f"{emb:.1f}"
            print(f"| {name} | {res['seconds']:.1f} | {emb} | {res['data_mb']:.0f} | "
                  f"{res['peak_mb']:.0f} | {res['added_mb']:.0f} | {res['ari']:.3f} | "
                  f"{res['k']} | {res['noise']} |", flush=True)
        except subprocess.TimeoutExpired:
            print(f"| {name} | > {limit} (stopped, not finished) | | | | | | | |", flush=True)
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"| {name} | failed: {type(exc).__name__} | | | | | | | |", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--accuracy-only", action="store_true")
    a = ap.parse_args()
    planted(a.seeds)
    if not a.accuracy_only:
        large(a.quick)
