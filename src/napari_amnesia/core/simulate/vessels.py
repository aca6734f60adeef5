"""Optics of a one-photon microendoscope: vignetting, illumination fall-off, vessels.

A miniscope images the tissue through a GRIN lens: the field is brightest near the
optical axis and falls off towards the corners (vignetting, roughly ``cos^4`` of the
field angle) and along one side (the LED illuminates the field unevenly). Blood
vessels at and above the focal plane absorb excitation and emission light (haemoglobin):
they cast dark, branching shadows fixed in the tissue. Both multiply everything seen
through them (cells, out-of-focus cells, neuropil), so :func:`plant_optics` returns one
transmission map per effect; the scene multiplies its sources by their product.

Both maps come from the stream ``default_rng([seed, _OPTICS_TAG])``: the other draws of
a seed do not depend on them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

__all__ = ["plant_optics"]

#: tag of the random stream ``default_rng([seed, tag])`` of the optics
_OPTICS_TAG = 0x1F07


def plant_optics(seed: int, canvas_shape: tuple[int, int], frame_shape: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Draw the illumination and the vessels' absorption on the padded canvas.

    Parameters
    ----------
    seed : int
        Seed of the movie (the optics use a stream of their own).
    canvas_shape : tuple of int
        ``(Yp, Xp)``, the frame padded on every side (the frame sits in its centre).
    frame_shape : tuple of int
        ``(Y, X)``; sizes (vessel count, fall-off radius) scale with it.

    Returns
    -------
    illumination : ndarray, shape (Yp, Xp), float32
        Relative brightness of the field in (0, 1], 1 at its brightest point:
        vignetting around an off-centre optical axis times a linear fall-off
        (15-30 % across the field).
    absorption : ndarray, shape (Yp, Xp), float32
        Fraction of the light absorbed by vessels, in [0, 0.7] (0 away from them).
    """
    rng = np.random.default_rng([int(seed), _OPTICS_TAG])
    illumination = _illumination(rng, canvas_shape, frame_shape)
    absorption = _vessels(rng, canvas_shape, frame_shape)
    return illumination, absorption


def _illumination(rng: np.random.Generator, canvas_shape: tuple[int, int],
                  frame_shape: tuple[int, int]) -> np.ndarray:
    """Vignetting ``(1 + (r / R)^2)^-1.5`` times a linear fall-off.

    The cos^4 law of a lens, ``(1 + (r / f)^2)^-2``, softened: a miniscope's GRIN lens
    and its averaging over the LED's angles flatten it (the real movie's corners are at
    about 55 % of its centre).
    """
    Yp, Xp = canvas_shape
    Y, X = frame_shape
    yy, xx = np.mgrid[0:Yp, 0:Xp].astype(np.float64)
    cy, cx = rng.normal([Yp / 2, Xp / 2], [0.08 * Y, 0.08 * X])
    half_diag = 0.5 * math.hypot(Y, X)
    radius = rng.uniform(1.0, 1.3) * half_diag  # corners at 35-50 % of the centre
    r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / radius**2
    vignette = (1.0 + r2) ** -1.5
    angle = rng.uniform(0, 2 * math.pi)
    slope = rng.uniform(0.15, 0.3)  # one side of the field 15-30 % dimmer than the other
    ramp = ((yy - Yp / 2) * math.sin(angle) + (xx - Xp / 2) * math.cos(angle)) / max(Y, X)
    field = vignette * (1.0 - slope * (ramp + 0.5))
    field = np.clip(field, 1e-3, None)
    return (field / field.max()).astype(np.float32)


def _vessels(rng: np.random.Generator, canvas_shape: tuple[int, int],
             frame_shape: tuple[int, int]) -> np.ndarray:
    """Branching vessels grown from the border inwards, as soft dark tubes."""
    Yp, Xp = canvas_shape
    Y, X = frame_shape
    size = math.sqrt(Y * X)
    n_trees = 1 + int(rng.random() < 0.5) + int(size // 384)
    radius_map = np.zeros(canvas_shape, np.float32)  # vessel radius at its centre line
    depth_map = np.zeros(canvas_shape, np.float32)
    for _ in range(n_trees):
        side = rng.integers(4)
        t = rng.uniform(0.2, 0.8)
        start = [(0.0, t * Xp), (t * Yp, Xp - 1.0), (Yp - 1.0, t * Xp), (t * Yp, 0.0)][side]
        heading = [math.pi / 2, math.pi, -math.pi / 2, 0.0][side] + rng.normal(0, 0.3)
        # (position, heading, radius, absorption, length, generation)
        stack = [(np.array(start), heading, rng.uniform(1.0, 1.8), rng.uniform(0.3, 0.5),
                  2.0 * size, 0)]
        while stack:
            pos, heading, width, depth, length, generation = stack.pop()
            bend = 0.0
            for step in range(int(length)):
                iy, ix = int(round(pos[0])), int(round(pos[1]))
                if not (0 <= iy < Yp and 0 <= ix < Xp):
                    break
                if width > radius_map[iy, ix]:
                    radius_map[iy, ix] = width
                    depth_map[iy, ix] = depth
                bend = 0.9 * bend + rng.normal(0, 0.006)  # smooth meander
                heading += bend
                pos = pos + np.array([math.sin(heading), math.cos(heading)])
                if generation < 2 and step > 10 and rng.random() < 1 / (0.4 * size):
                    sign = rng.choice([-1.0, 1.0])  # a branch leaves this vessel
                    stack.append((pos.copy(), heading + sign * rng.uniform(0.6, 1.2),
                                  max(0.8, width * rng.uniform(0.5, 0.7)), depth * 0.85,
                                  rng.uniform(0.2, 0.5) * size, generation + 1))
    # soft tube: each pixel takes the profile of its nearest centre-line point
    on_line = radius_map > 0
    if not on_line.any():
        return np.zeros(canvas_shape, np.float32)
    dist, (iy, ix) = ndimage.distance_transform_edt(~on_line, return_indices=True)
    r = radius_map[iy, ix]
    absorption = depth_map[iy, ix] * np.exp(-0.5 * (dist / r) ** 4)  # flat core, soft edge
    absorption = ndimage.gaussian_filter(absorption, 0.7)
    return np.clip(absorption, 0.0, 0.7).astype(np.float32)
