"""Coactive clustering and factorization: accuracy (ARI vs planted groups) and speed.

1. Planted neurite groups (``core.simulate``): skeleton pixels, branches, consecutive
   clustering, NMF / ICA — ARI and matched spatial correlation.
2. The issue's size: 20,000 elements x 3,000 frames (planted groups, noisy traces),
   clustered with openTSNE, scikit-learn t-SNE and direct HDBSCAN: seconds and peak
   memory (ru_maxrss of a child process per run).

Run:  python benchmarks/bench_clustering.py [--quick]   (note the machine load: uptime)
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

CHILD = r"""
import json, resource, sys, time
import numpy as np
from sklearn.metrics import adjusted_rand_score
from napari_amnesia.core.clustering import cluster
n, t, g, kw = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
rng = np.random.default_rng(0)
spikes = (rng.random((g, t)) < 0.02).astype(np.float32)
kernel = np.exp(-np.arange(60) / 12.0).astype(np.float32)
groups = np.stack([np.convolve(s, kernel)[:t] for s in spikes])
truth = rng.integers(0, g, n)
traces = 100 + 20 * groups[truth] + 3 * rng.standard_normal((n, t), dtype=np.float32)
del spikes
t0 = time.perf_counter()
r = cluster(traces, **kw)
sec = time.perf_counter() - t0
print(json.dumps({"seconds": sec, "ari": adjusted_rand_score(truth, r.labels),
                  "k": r.n_clusters, "noise": int((r.labels == 0).sum()),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def planted():
    from sklearn.metrics import adjusted_rand_score

    from napari_amnesia.core.clustering import cluster, cluster_consecutive
    from napari_amnesia.core.factorization import factorize
    from napari_amnesia.core.projection import project
    from napari_amnesia.core.simulate import simulate
    from napari_amnesia.core.skeleton import skeletonize

    rows = []
    for seed in (1, 2, 3):
        movie, truth = simulate(n_frames=1000, shape=(128, 128), n_cells=0,
                                n_neurite_groups=4, branches_per_group=4, motion=False,
                                rng=seed)
        sk = skeletonize(movie)
        gop = np.concatenate([[-1], truth.branch_groups])[truth.branch_labels()]

        def planted_of(proj, gop=gop):
            out = []
            for pix in proj.pixels:
                g = gop[pix[:, 0], pix[:, 1]]
                g = g[g >= 0]
                out.append(np.bincount(g).argmax() if len(g) else -1)
            return np.array(out)

        for method in ("pixel", "branch"):
            proj = project(movie, sk, method=method)
            e = planted_of(proj)
            k = e >= 0
            runs = ({"embedding": "tsne", "min_cluster_size": 10,
                     "cluster_selection_method": "leaf"},
                    {"embedding": "none", "min_cluster_size": 10}) if method == "pixel" else (
                    {"embedding": "tsne", "perplexity": 5, "min_cluster_size": 2,
                     "min_samples": 1},      # clusterer "auto" = average linkage here
                    {"embedding": "tsne", "perplexity": 5, "min_cluster_size": 2,
                     "min_samples": 1, "clusterer": "hdbscan"},
                    {"embedding": "none", "min_cluster_size": 2, "min_samples": 1,
                     "clusterer": "hdbscan"})
            for kw in runs:
                t0 = time.perf_counter()
                r = cluster(proj, **kw)
                dt = time.perf_counter() - t0
                rows.append((seed, method, kw["embedding"] + " / " + r.info["clusterer"],
                             proj.n_elements, r.n_clusters,
                             adjusted_rand_score(e[k], r.labels[k]), dt))
                if method == "pixel" and kw["embedding"] == "tsne":
                    m = cluster_consecutive(r, embedding="none", min_cluster_size=2,
                                            min_samples=1, keep_unclustered=True)
                    rows.append((seed, "pixel→consecutive", "none", r.n_clusters, m.n_clusters,
                                 adjusted_rand_score(e[k], m.original_labels[k]), 0.0))
        gfp = np.stack([truth.branch_footprints[truth.branch_groups == g].sum(0)
                        for g in range(truth.n_groups)]).reshape(truth.n_groups, -1)
        gfp = gfp - gfp.mean(1, keepdims=True)
        gfp /= np.linalg.norm(gfp, axis=1, keepdims=True)
        for fm in ("nmf", "ica"):
            t0 = time.perf_counter()
            f = factorize(movie, method=fm, n_components=8)
            dt = time.perf_counter() - t0
            s = f.spatial.reshape(f.n_components, -1)
            s = s - s.mean(1, keepdims=True)
            s /= np.linalg.norm(s, axis=1, keepdims=True)
            rows.append((seed, f"factorize {fm}", "-", 128 * 128, f.n_components,
                         float((gfp @ s.T).max(1).min()), dt))
    print("\n### Planted coactive neurite groups (simulate 1000 x 128 x 128, 4 groups x 4 "
          "branches)\n")
    print("| seed | elements | embedding / clusterer | N | clusters | ARI (factorize: min "
          "matched spatial r) | seconds |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]:.3f} | {r[6]:.1f} |")


def large(quick):
    n, t = (4000, 1000) if quick else (20000, 3000)
    print(f"\n### {n} elements x {t} frames, 6 planted groups (each run in a fresh process; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)\n")
    print("| method | seconds | peak memory (MB) | ARI | clusters | noise |")
    print("|---|---|---|---|---|---|")
    for name, kw in (("openTSNE + HDBSCAN", {"tsne_backend": "opentsne",
                                              "min_cluster_size": 50}),
                     ("openTSNE (n_iter=250) + HDBSCAN", {"tsne_backend": "opentsne",
                                                          "min_cluster_size": 50,
                                                          "n_iter": 250}),
                     ("scikit-learn t-SNE + HDBSCAN", {"tsne_backend": "sklearn",
                                                       "min_cluster_size": 50}),
                     ("HDBSCAN on correlation distance", {"embedding": "none",
                                                          "min_cluster_size": 50})):
        try:
            out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(t), "6",
                                  json.dumps(kw)], capture_output=True, text=True,
                                 timeout=1200)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {name} | {res['seconds']:.1f} | {res['peak_mb']:.0f} | "
                  f"{res['ari']:.3f} | {res['k']} | {res['noise']} |", flush=True)
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"| {name} | failed: {type(exc).__name__} | | | | |", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    planted()
    large(a.quick)
