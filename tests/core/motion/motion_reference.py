"""Shared accuracy targets and helpers of the motion tests."""

from __future__ import annotations

import numpy as np

from napari_amnesia.core.motion import MotionResult
from napari_amnesia.core.motion._register import RigidRegistrar

RIGID_RMSE = 0.1  # px, the target
PW_RMSE = 0.25  # px at patch centres


def _rmse(err: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum(err**2, axis=-1))))


def _template_offset(result: MotionResult, truth) -> np.ndarray:
    """Displacement of the reference scene relative to the template (rigid)."""
    reg = RigidRegistrar(result.template, result.params)
    return reg.estimate(reg.spectra(truth.mean_image()[None]))[0]
