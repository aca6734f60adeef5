"""Bounded memory of motion correction: correcting a movie on disk and saving the
corrected movie must hold a few chunks, not the movie.

Each measurement runs in a fresh subprocess and reads the peak resident size
(``VmHWM``) after resetting it through ``/proc/self/clear_refs`` once the imports are
done (``ru_maxrss`` would report the parent's peak: Linux keeps it across
fork+exec). Linux only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from napari_amnesia._memory import can_reset_peak
from napari_amnesia.core.simulate import write_simulated_movie

SHAPE = (128, 128)

RUNNER = r"""
import json, sys
import numpy as np
from napari_amnesia.core import motion
from napari_amnesia._memory import peak_mb, reset_peak
from napari_amnesia.core.io import open_movie

movie = open_movie(sys.argv[1])
# compile / load the kernels before the window opens
motion.correct(np.asarray(movie[:40]), max_shifts=6, compute_metrics=False).corrected.compute()
base = reset_peak()
result = motion.correct(movie, max_shifts=6, compute_metrics=False, num_frames_split=100)
result.save(sys.argv[2], corrected=True)
print(json.dumps({"increase_mb": peak_mb() - base}))
"""


def _peak_increase(tif: Path, out: Path) -> float:
    done = subprocess.run([sys.executable, "-c", RUNNER, str(tif), str(out)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["increase_mb"]


@pytest.mark.skipif(not sys.platform.startswith("linux") or not can_reset_peak(),
                    reason="needs Linux /proc/self/clear_refs to measure peak memory")
def test_peak_memory_is_a_few_chunks_and_independent_of_length(tmp_path):
    increases = {}
    for n in (1000, 8000):
        tif = tmp_path / f"movie_{n}.tif"
        write_simulated_movie(tif, n_frames=n, shape=SHAPE, n_cells=15, max_shift=5.0,
                              nonrigid=False, rng=3)
        increases[n] = _peak_increase(tif, tmp_path / f"out_{n}")
        assert (tmp_path / f"out_{n}" / "corrected.tif").stat().st_size > n * 128 * 128 * 4
    movie_mb = 8000 * SHAPE[0] * SHAPE[1] * 4 / 2**20  # the corrected movie: 500 MB
    # the long movie costs no more than the short one, allocator noise aside (measured:
    # 150-190 MB for both; holding the movie would add 440 MB) ...
    assert increases[8000] < increases[1000] + 60, increases
    # ... and far less than the movie itself: a few chunks, the template frames
    assert increases[8000] < 0.5 * movie_mb, increases
