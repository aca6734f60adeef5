"""The one-photon (miniscope) scene: what lies around the in-focus cells.

A one-photon microendoscope collects light from the whole depth of the tissue, not
only from the focal plane (Zhou et al. 2018, [1]_). ``mode="one_photon"`` therefore
renders, besides the in-focus somata of the ground truth:

- an **out-of-focus population** (:func:`plant_defocused`): somata of the planes
  above and below, blurred by their distance to the focal plane (Gaussian blur of
  3-11 px), each with calcium activity of its own, so they flicker; they are
  background, not cells of the truth (``truth.out_of_focus_*``);
- a **neuropil haze** (:func:`draw_background`): a smooth glow that rises and falls
  with the population's activity, a broad glow of the far tissue drifting slowly, and
  regional slow (haemodynamic) fluctuations — the low-rank ``truth.background_*``
  components;
- the **optics** (:mod:`.vessels`): vignetting, illumination fall-off and the dark,
  branching shadows of vessels, multiplying everything above (cells included);
- photobleaching (``bleaching``), shot and read noise and a 12-bit camera (counts
  clipped to 0..4095), as every mode.

The planted background (everything but the in-focus cells) is available without a
``(T, Y, X)`` array: ``truth.background_frames(start, stop)`` renders it, and it is
``offset + bleaching[t] * (background_spatial.T @ background_temporal[:, t] +
out_of_focus_footprints.T @ out_of_focus_traces[:, t])`` (plus the neurites, when
any are planted).

:data:`ONE_PHOTON_PRESETS` holds the two movies of issue 16's targets ("standard":
256 x 256 x 2000 at 20 Hz with 150 in-focus cells; "dense": more cells, dimmer), and
:func:`one_photon_params` turns one into :class:`~.params.SimulationParams`.

References
----------
.. [1] Zhou, P. et al. (2018). Efficient and accurate extraction of in vivo calcium
   signals from microendoscopic video data. eLife 7, e28728.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage

from ._random import _ou, _smooth_field
from .activity import _ar_filter
from .params import SimulationParams

__all__ = ["ONE_PHOTON_PRESETS", "one_photon_params", "plant_defocused", "draw_background"]

#: tags of the random streams ``default_rng([seed, tag])`` of the one-photon scene
_DEFOCUS_TAG = 0x1F0C
_HAZE_TAG = 0x1AE2

_COMMON = {
    "mode": "one_photon", "n_frames": 2000, "shape": (256, 256), "frame_rate": 20.0,
    "n_neurite_groups": 0, "overlap_fraction": 0.1, "nucleus_fraction": 0.0,
    "cell_radius": (5.0, 8.0), "cell_blur": 1.5, "spike_amplitude": 0.6, "motion": False,
}

#: Documented one-photon movies (issue 16), calibrated against a real miniscope movie
#: (``benchmarks/simulate_realism_one_photon.py``): ``simulate(**ONE_PHOTON_PRESETS[name])``
#: or :func:`one_photon_params`. Out-of-focus cells: the mode default, 2 per cell.
ONE_PHOTON_PRESETS: dict[str, dict[str, Any]] = {
    "standard": {**_COMMON, "n_cells": 150, "brightness": 160.0},
    "dense": {**_COMMON, "n_cells": 250, "brightness": 85.0, "spike_amplitude": 0.45},
}


def one_photon_params(preset: str = "standard", **overrides: Any) -> SimulationParams:
    """Parameters of a documented one-photon movie, with any of them changed.

    Parameters
    ----------
    preset : {"standard", "dense"}
        "standard": 256 x 256, 2000 frames at 20 Hz, 150 in-focus cells under
        vessels, haze and out-of-focus cells; "dense": 250 dimmer cells, more
        out-of-focus cells.
    **overrides
        Any parameter of :class:`~.params.SimulationParams` (``rng``, ``n_frames``,
        ``shape``...).

    Returns
    -------
    SimulationParams

    Examples
    --------
    >>> p = one_photon_params("dense", n_frames=100, rng=3)
    >>> p.mode, p.n_cells, p.n_frames
    ('one_photon', 250, 100)
    """
    if preset not in ONE_PHOTON_PRESETS:
        names = ", ".join(f'"{n}"' for n in ONE_PHOTON_PRESETS)
        raise ValueError(f"preset must be one of {names}, got {preset!r}.")
    return SimulationParams(**{**ONE_PHOTON_PRESETS[preset], **overrides})


def attenuate(footprints: np.ndarray, transmission: np.ndarray, *levels: np.ndarray
              ) -> tuple[np.ndarray, ...]:
    """Pass sources through the optics and keep footprints of unit L2 norm.

    ``footprints[k] * transmission`` is what the camera sees of source ``k``; its norm
    ``n_k`` moves into every level (baseline, traces, spikes...), so that
    ``footprint * level`` is unchanged and the AR model still holds exactly.

    Returns the new footprints followed by each level scaled by ``n_k``.
    """
    if not len(footprints):
        return (footprints, *levels)
    seen = footprints * transmission[None]
    norms = np.sqrt(np.einsum("kyx,kyx->k", seen, seen, dtype=np.float64))
    safe = np.where(norms > 0, norms, 1.0)
    out = (seen / safe[:, None, None].astype(np.float32)).astype(np.float32)
    scaled = []
    for level in levels:
        s = norms.reshape((-1,) + (1,) * (np.ndim(level) - 1))
        scaled.append((np.asarray(level) * s).astype(np.asarray(level).dtype))
    return (out, *scaled)


def plant_defocused(seed: int, p: dict[str, Any], g: np.ndarray, transmission: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Somata of the planes above and below the focus (their own stream).

    Each is a soft ellipse of the cells' size, blurred by ``cell_blur + 3 ... + 11``
    px (its distance to the focal plane): the blur spreads the same light over a
    larger area, so its peak is dimmer. Resting brightness is ``brightness *
    out_of_focus_brightness / 0.3`` before the blur (the default 0.3 gives the
    in-focus brightness), varied log-normally; activity as the cells'.

    Returns
    -------
    footprints : ndarray, shape (n, Y, X), float32
        Unit L2 norm each, seen through ``transmission``.
    traces : ndarray, shape (n, T), float32
        Resting level plus calcium (what the renderer multiplies by the footprint).
    blur : ndarray, shape (n,)
        Gaussian blur of each, in pixels.
    """
    n = int(p["n_out_of_focus"])
    Y, X = p["shape"]
    T = p["n_frames"]
    if not n:
        return np.zeros((0, Y, X), np.float32), np.zeros((0, T), np.float32), np.zeros(0)
    rng = np.random.default_rng([int(seed), _DEFOCUS_TAG])
    lo, hi = p["cell_radius"]
    blur = float(p["cell_blur"]) + rng.uniform(3.0, 11.0, n)
    footprints = np.zeros((n, Y, X), np.float32)
    yy, xx = np.ogrid[0:Y, 0:X]
    for k in range(n):
        a = rng.uniform(lo, hi)
        b = a * rng.uniform(0.7, 1.0)
        cy, cx = rng.uniform([-0.05 * Y, -0.05 * X], [1.05 * Y, 1.05 * X])
        half = int(math.ceil(a + 4 * blur[k] + 2))
        r0, r1 = max(0, int(cy) - half), min(Y, int(cy) + half + 1)
        c0, c1 = max(0, int(cx) - half), min(X, int(cx) + half + 1)
        if r0 >= r1 or c0 >= c1:
            continue
        theta = rng.uniform(0, math.pi)
        dy, dx = yy[r0:r1] - cy, xx[:, c0:c1] - cx
        u = dy * math.cos(theta) + dx * math.sin(theta)
        v = -dy * math.sin(theta) + dx * math.cos(theta)
        disk = 1.0 / (1.0 + np.exp(-(1.0 - np.sqrt((u / a) ** 2 + (v / b) ** 2)) * b / 0.7))
        # blur in the box, with the light that falls outside it lost (as at the border)
        patch = ndimage.gaussian_filter(disk, blur[k], mode="constant", truncate=3.0)
        footprints[k, r0:r1, c0:c1] = patch  # the unblurred soma peaks at 1
    relative = p["out_of_focus_brightness"] / 0.3
    rest = p["brightness"] * relative * rng.lognormal(0.0, 0.3, n)
    footprints, rest = attenuate(footprints, transmission, rest)
    dff = p["spike_amplitude"] * rng.lognormal(0.0, 0.25, n)
    rates = p["spike_rate"] * rng.lognormal(-0.125, 0.5, n)
    counts = rng.poisson(np.broadcast_to((rates / p["frame_rate"])[:, None], (n, T)))
    h = _ar_filter(np.r_[1.0, np.zeros(max(1, int(10 * p["decay_time"] * p["frame_rate"])))], g)
    calcium = _ar_filter(counts.astype(np.float64), g) / h.max()
    traces = rest[:, None] * (1.0 + dff[:, None] * calcium)
    return footprints, traces.astype(np.float32), blur


def draw_background(seed: int, p: dict[str, Any], pad: int, activity: np.ndarray,
                    transmission: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Low-rank one-photon background: broad glow, neuropil haze, regional drifts.

    Parameters
    ----------
    seed : int
        Seed of the movie (a stream of its own).
    p : dict
        Resolved parameters (``background_brightness``, ``n_background_components``).
    pad : int
        Canvas padding around the frame.
    activity : ndarray, shape (n, T)
        Normalised calcium of the cells (in focus and not): the haze follows its
        mean.
    transmission : ndarray, shape (Yp, Xp)
        Illumination times vessels' transmission, on the canvas.

    Returns
    -------
    bg_canvas : ndarray, shape (Nb, Yp, Xp), float32
    bg_temporal : ndarray, shape (Nb, T), float32
        Around 1.
    background_spatial : ndarray, shape (Nb, Y, X), float32
        The frame's part of the canvas.
    """
    rng = np.random.default_rng([int(seed), _HAZE_TAG])
    T = p["n_frames"]
    Y, X = p["shape"]
    fr = p["frame_rate"]
    Yp, Xp = transmission.shape
    nb = p["n_background_components"]
    level = p["background_brightness"]
    pop = activity.mean(axis=0) if len(activity) else np.zeros(T)
    pop = ndimage.gaussian_filter1d(pop.astype(np.float64), 0.5 * fr)  # ~0.5 s
    pop = (pop - pop.mean()) / pop.std() if pop.std() > 0 else np.zeros(T)
    size = min(Y, X)
    bg_canvas = np.zeros((nb, Yp, Xp), np.float32)
    bg_temporal = np.ones((nb, T), np.float32)
    weights = {1: [1.0], 2: [0.65, 0.35]}.get(nb, [0.55, 0.3] + [0.15 / max(nb - 2, 1)] * nb)
    for j in range(nb):
        if j == 0:  # broad glow of the far tissue, slow drift
            spat = 0.6 + 0.4 * _smooth_field(rng, (Yp, Xp), 0.2 * size)
            temp = 1 + 0.01 * _ou(rng, 1, T, 30 * fr)[0] + 0.01 * pop
        elif j == 1:  # neuropil haze following the population
            spat = 0.3 + _smooth_field(rng, (Yp, Xp), 0.05 * size) ** 2
            temp = 1 + 0.05 * pop + 0.02 * _ou(rng, 1, T, 3 * fr)[0]
        else:  # regional slow (haemodynamic) fluctuations
            spat = _smooth_field(rng, (Yp, Xp), rng.uniform(0.06, 0.12) * size) ** 3
            temp = 1 + 0.08 * _ou(rng, 1, T, rng.uniform(2, 8) * fr)[0]
        weight = weights[j]
        spat = spat * transmission
        spat = spat / max(float(spat[pad:pad + Y, pad:pad + X].mean()), 1e-12)
        bg_canvas[j] = weight * level * spat
        bg_temporal[j] = np.maximum(temp, 0.05)
    background_spatial = bg_canvas[:, pad:pad + Y, pad:pad + X].copy()
    return bg_canvas, bg_temporal, background_spatial
