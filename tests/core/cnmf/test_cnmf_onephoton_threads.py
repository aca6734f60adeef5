"""CNMF-E gives the same answer with 1 and 2 BLAS/OpenMP/numba threads (DESIGN principle 9).

Two subprocesses (the thread variables are read when the libraries load) fit the
same planted one-photon movie; footprints, traces and the ring weights must agree.
Run as a script (``python test_cnmf_onephoton_threads.py OUT.npz``) this file is
the worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMBA_NUM_THREADS")


def work(out: Path) -> None:
    """Fit a small one-photon movie (two patches) and save what must not change."""
    from napari_amnesia.core import cnmf
    from napari_amnesia.core.simulate import simulate
    from napari_amnesia.core.simulate.one_photon import one_photon_params

    movie, _ = simulate(one_photon_params("standard", shape=(64, 96), n_frames=300,
                                          n_cells=14, rng=5))
    r = cnmf.fit(movie, mode="one_photon", gSig=4, gSiz=17, fr=20, rf=32, stride=20)
    np.savez(out, footprints=r.footprints.toarray(), traces=r.traces,
             ring=r.ring.W.toarray(), accepted=r.accepted,
             patches=np.array([r.info["n_patches"]]))


def _run(tmp_path: Path, threads: int) -> dict[str, np.ndarray]:
    out = tmp_path / f"threads{threads}.npz"
    env = {**os.environ, **{v: str(threads) for v in VARIABLES}}
    subprocess.run([sys.executable, __file__, str(out)], check=True, env=env, timeout=600)
    with np.load(out) as data:
        return dict(data)


def test_one_photon_fit_does_not_depend_on_threads(tmp_path):
    one, two = _run(tmp_path, 1), _run(tmp_path, 2)
    assert one["patches"][0] > 1 and one["footprints"].shape[1] > 5
    np.testing.assert_array_equal(one["accepted"], two["accepted"])
    np.testing.assert_allclose(one["footprints"], two["footprints"], atol=1e-4)
    np.testing.assert_allclose(one["traces"], two["traces"], rtol=1e-3,
                               atol=1e-3 * np.abs(one["traces"]).max())
    np.testing.assert_allclose(one["ring"], two["ring"], atol=1e-4)


if __name__ == "__main__":
    work(Path(sys.argv[1]))
