"""Out-of-focus cells: somata of another plane, in the movie but not in the truth.

With ``n_out_of_focus > 0`` the movie holds that many somata of a plane above or
below the focal one — twice as large as the cells, blurred by 3 px more, at
``out_of_focus_brightness`` times their brightness, firing on their own — as real
two-photon movies of cortex do. They are not cells of the ground truth
(``truth.footprints``) but kept apart in ``truth.out_of_focus_footprints`` and
``truth.out_of_focus_traces``. They come from the stream
``default_rng([seed, _OUT_OF_FOCUS_TAG])``, so every other output of the seed is
unchanged, and ``n_out_of_focus=0`` gives exactly the clean scene.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .activity import soma_activity
from .cells import _soma_footprint

__all__ = ["plant_out_of_focus"]

#: tag of the random stream ``default_rng([seed, tag])`` of the out-of-focus cells
_OUT_OF_FOCUS_TAG = 0x00F0C


def plant_out_of_focus(seed: int, p: dict[str, Any], g: np.ndarray, h_peak: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Place the out-of-focus cells and draw their activity (their own stream).

    Parameters
    ----------
    seed : int
        Seed of the movie; the cells come from ``default_rng([seed, tag])``.
    p : dict
        Resolved parameters (``n_out_of_focus``, ``out_of_focus_brightness``,
        ``cell_radius``, ``cell_blur``, ``brightness``, activity parameters).
    g : ndarray
        AR coefficients of the indicator.
    h_peak : float
        Peak of the AR impulse response.

    Returns
    -------
    footprints : ndarray, shape (n, Y, X), float32
        Unit L2 norm each; centres anywhere in the frame (they may overlap somata).
    traces : ndarray, shape (n, T), float32
        Resting level plus calcium: what the renderer multiplies the footprint by.
    """
    n = p.get("n_out_of_focus", 0)
    Y, X = p["shape"]
    T = p["n_frames"]
    if not n:
        return np.zeros((0, Y, X), np.float32), np.zeros((0, T), np.float32)
    rng = np.random.default_rng([seed, _OUT_OF_FOCUS_TAG])
    lo, hi = p["cell_radius"]
    blur = float(p["cell_blur"]) + 3.0
    footprints = np.zeros((n, Y, X), np.float32)
    for k in range(n):
        a = 2.0 * rng.uniform(lo, hi)
        b = a * rng.uniform(0.7, 1.0)
        center = rng.uniform([0, 0], [Y - 1, X - 1])
        fp = _soma_footprint((Y, X), center, (a, b), rng.uniform(0, math.pi),
                             nucleus=False, blur=blur)
        norm = float(np.linalg.norm(fp))
        footprints[k] = fp / norm if norm > 0 else fp
    q = dict(p, n_cells=n, brightness=p["brightness"] * p["out_of_focus_brightness"])
    baseline, _, _, _, traces = soma_activity(rng, q, footprints, g, h_peak)
    return footprints, (baseline[:, None] + traces).astype(np.float32)
