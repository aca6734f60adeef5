"""Tests of napari_amnesia.core.motion.scan_phase: the bidirectional scan offset."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_amnesia.core.motion import (
    correct,
    correct_scan_phase,
    estimate_scan_phase,
)


# --------------------------------------------------------------------------- scan phase
def _with_scan_phase(movie: np.ndarray, phase: float) -> np.ndarray:
    out = movie.astype(np.float32).copy()
    out[:, 1::2] = ndimage.shift(out[:, 1::2], (0, 0, phase), order=3, mode="nearest")
    return out


def test_scan_phase_estimated_and_corrected(rigid_movie):
    movie, truth = rigid_movie
    comb = _with_scan_phase(movie[:60], 1.4)
    assert abs(estimate_scan_phase(comb.mean(axis=0)) - 1.4) < 0.1
    fixed = correct_scan_phase(comb, 1.4)
    assert abs(estimate_scan_phase(fixed.mean(axis=0))) < 0.1  # no comb left
    assert abs(estimate_scan_phase(movie[:60].mean(axis=0))) < 0.1  # none planted: none found
    res = correct(comb, scan_phase="auto", max_shifts=6, compute_metrics=False)
    assert abs(res.scan_phase - 1.4) < 0.1
    assert res.params.scan_phase == "auto"
