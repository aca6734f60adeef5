"""Background of the scene: neuropil, low-rank and one-photon background, bleaching.

The background lies on a canvas padded around the frame, so it moves with the tissue.
Two-photon: a neuropil following the smoothed population activity and a slow
low-rank background. One-photon: a broad vignetted glow of out-of-focus tissue and
fluctuating out-of-focus blobs, which dominate the cells (Zhou et al. 2018).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage

from ._random import _ou, _smooth_field


def draw_background(
    rng: np.random.Generator, p: dict[str, Any], pad: int, traces: np.ndarray,
    amplitudes: np.ndarray, group_traces: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background components on the padded canvas and their time courses.

    Returns ``bg_canvas`` (Nb, Y + 2 pad, X + 2 pad) float32, ``bg_temporal``
    (Nb, T) float32 (around 1) and ``background_spatial``, the frame's part of the
    canvas (Nb, Y, X).
    """
    T = p["n_frames"]
    Y, X = p["shape"]
    fr = p["frame_rate"]
    mode = p["mode"]
    K = p["n_cells"]
    G = p["n_neurite_groups"]
    Yp, Xp = Y + 2 * pad, X + 2 * pad
    nb = p["n_background_components"]
    level = p["background_brightness"]
    pop = (traces / np.where(amplitudes > 0, amplitudes, 1)[:, None]).mean(axis=0) if K else None
    if pop is None or not np.any(pop):
        pop = group_traces.mean(axis=0) if G else np.zeros(T)
    pop = ndimage.gaussian_filter1d(pop.astype(np.float64), fr)  # ~1 s smoothing
    pop = (pop - pop.mean()) / (pop.std() + 1e-12) if pop.std() > 0 else np.zeros(T)
    bg_canvas = np.zeros((nb, Yp, Xp), np.float32)
    bg_temporal = np.ones((nb, T), np.float32)
    for j in range(nb):
        if mode == "one_photon":
            if j == 0:  # broad vignetted glow of out-of-focus tissue
                cy, cx = rng.normal([Yp / 2, Xp / 2], [0.1 * Yp, 0.1 * Xp])
                yy, xx = np.mgrid[0:Yp, 0:Xp]
                s = 0.55 * max(Yp, Xp)
                spat = np.exp(-0.5 * (((yy - cy) / s) ** 2 + ((xx - cx) / s) ** 2))
                spat = 0.5 * spat + 0.5 * _smooth_field(rng, (Yp, Xp), 0.12 * min(Yp, Xp)) * spat
                weight, temp = 0.6, 1 + 0.03 * _ou(rng, 1, T, 10 * fr)[0] + 0.05 * pop
            else:  # fluctuating out-of-focus blobs: the 1p background's own activity
                spat = _smooth_field(rng, (Yp, Xp), rng.uniform(0.05, 0.1) * min(Yp, Xp)) ** 2
                weight = 0.4 / (nb - 1)
                temp = 1 + 0.25 * _ou(rng, 1, T, rng.uniform(0.5, 3) * fr)[0]
        else:
            if j == 0:  # neuropil, following the smoothed population activity
                spat = 0.4 + 0.6 * _smooth_field(rng, (Yp, Xp), 0.1 * min(Yp, Xp))
                weight, temp = 0.7, 1 + 0.15 * pop + 0.05 * _ou(rng, 1, T, 5 * fr)[0]
            else:  # slow low-rank background
                spat = _smooth_field(rng, (Yp, Xp), rng.uniform(0.05, 0.15) * min(Yp, Xp))
                weight = 0.3 / (nb - 1)
                temp = 1 + 0.1 * _ou(rng, 1, T, 4 * fr)[0]
        spat = spat / max(float(spat[pad : pad + Y, pad : pad + X].mean()), 1e-12)
        bg_canvas[j] = weight * level * spat
        bg_temporal[j] = np.maximum(temp, 0.05)
    background_spatial = bg_canvas[:, pad : pad + Y, pad : pad + X].copy()
    return bg_canvas, bg_temporal, background_spatial


def bleaching_curve(p: dict[str, Any]) -> np.ndarray:
    """Multiplicative photobleaching factor of each frame (1 at t = 0), float32."""
    T = p["n_frames"]
    if p["bleaching"] > 0 and T > 1:
        rate = -math.log(1 - p["bleaching"])
        bleaching = np.exp(-rate * np.arange(T) / (T - 1)).astype(np.float32)
    else:
        bleaching = np.ones(T, np.float32)
    return bleaching
