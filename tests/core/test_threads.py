"""The same answer with any number of BLAS/OpenMP threads (DESIGN principle 9).

Clustering, CNMF and motion correction run in two subprocesses, one with every
thread pool limited to 1 thread and one with 2 (the variables are read when the
libraries load, so they must be set before Python starts), on the same simulated
movies; the results must agree: the same cluster labels, the same accepted
components (footprints matched with r >= 0.999), shifts within 0.01 px.

Run as a script (``python test_threads.py OUT.npz``) this file is the worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def work(out: Path) -> None:
    """Run the three stages on simulated movies and save what must not change."""
    from threadpoolctl import threadpool_info

    from napari_amnesia.core import cnmf
    from napari_amnesia.core.clustering import load_template, run_config
    from napari_amnesia.core.motion import correct
    from napari_amnesia.core.simulate import simulate

    found: dict[str, np.ndarray] = {}
    # the BLAS thread count this process really got (the variables must have acted)
    found["blas_threads"] = np.array([max((p["num_threads"] for p in threadpool_info()
                                           if p["user_api"] == "blas"), default=-1)])
    # (a) the clustering_pixel template (skeleton, pixel traces, t-SNE + HDBSCAN, then
    # the consecutive level) on branches whose own activity is as strong as their group's
    movie, _ = simulate(n_frames=500, shape=(112, 112), n_cells=0, n_neurite_groups=4,
                        branches_per_group=3, motion=False, branch_noise=1.0, rng=3)
    config = load_template("clustering_pixel")
    config["input"] = {}
    levels = run_config(config, movie)["clusterings"]
    for result in levels:
        found[f"cluster_level{result.level}"] = result.original_labels
    # (b) CNMF with tests/core/cnmf/cnmf_data.py's FIT settings on a smaller movie
    movie, _ = simulate(n_frames=300, shape=(64, 64), n_cells=8, n_neurite_groups=0,
                        motion=False, rng=1)
    sources = cnmf.fit(movie, rf=15, stride=10, K=6, gSig=4, p=1, gnb=2, merge_thr=0.85,
                       min_SNR=2.0, rval_thr=0.85)
    accepted = np.flatnonzero(sources.accepted)
    found["cnmf_footprints"] = np.asarray(sources.footprint_images(accepted), np.float64)
    # (c) rigid and piecewise-rigid motion correction
    movie, _ = simulate(n_frames=80, shape=(128, 128), n_cells=20, max_shift=5.0,
                        nonrigid=True, nonrigid_amplitude=2.0, rng=4)
    found["rigid_shifts"] = correct(movie, max_shifts=8, compute_metrics=False).shifts
    piecewise = correct(movie, pw_rigid=True, max_shifts=8, strides=48, overlaps=16,
                        compute_metrics=False)
    found["piecewise_shifts"] = np.asarray(piecewise.shifts_pw)
    np.savez(out, **found)


def run_with_threads(n: int, out: Path) -> dict[str, np.ndarray]:
    env = dict(os.environ, **{name: str(n) for name in THREAD_VARIABLES})
    done = subprocess.run([sys.executable, __file__, str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return dict(data)


def footprint_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each footprint of ``a``, its best correlation with a footprint of ``b``."""
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return (a @ b.T).max(axis=1)


def test_same_results_with_one_and_two_threads(tmp_path):
    one = run_with_threads(1, tmp_path / "one.npz")
    two = run_with_threads(2, tmp_path / "two.npz")
    assert set(one) == set(two)
    # the two runs really used different BLAS thread counts
    assert int(one["blas_threads"][0]) == 1, one["blas_threads"]
    assert int(two["blas_threads"][0]) == min(2, os.cpu_count() or 1), two["blas_threads"]
    # clustering: both levels found, the same labels
    assert {"cluster_level1", "cluster_level2"} <= set(one)
    assert one["cluster_level1"].max() >= 2
    for key in ("cluster_level1", "cluster_level2"):
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)
    # CNMF: the same accepted components
    a, b = one["cnmf_footprints"], two["cnmf_footprints"]
    assert len(a) >= 5 and len(a) == len(b), (len(a), len(b))
    assert footprint_correlations(a, b).min() >= 0.999
    assert footprint_correlations(b, a).min() >= 0.999
    # motion: rigid and piecewise-rigid shifts within 0.01 px
    for key in ("rigid_shifts", "piecewise_shifts"):
        assert one[key].shape == two[key].shape and np.isfinite(one[key]).all(), key
        assert np.abs(one[key] - two[key]).max() <= 0.01, (
            key, float(np.abs(one[key] - two[key]).max()))


if __name__ == "__main__":
    work(Path(sys.argv[1]))
