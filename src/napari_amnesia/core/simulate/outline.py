"""Irregular somata: ragged outlines and uneven brightness (an option, off by default).

With ``soma_irregularity > 0`` a soma's outline is modulated by a smooth random
radial function (angular harmonics 2..5) and its brightness by a smooth random
texture (Gaussian noise smoothed over 1.2 px, log-amplitude ``0.45 *
soma_irregularity``), both in proportion to ``soma_irregularity``. The draws come
from the stream ``default_rng([seed, _IRREGULAR_TAG])``, so the clean scene's draws
are unchanged and ``soma_irregularity=0`` gives exactly the clean scene. The
footprints in ``truth.footprints`` are the irregular ones.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["irregular_outline", "modulate"]

#: tag of the random stream ``default_rng([seed, tag])`` of the irregular outlines
_IRREGULAR_TAG = 0x1AE6


def irregular_outline(rng: np.random.Generator, irregularity: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one soma's radial modulation and texture.

    Parameters
    ----------
    rng : numpy.random.Generator
    irregularity : float
        In [0, 1]: 0 draws a plain ellipse, 1 a very ragged one.

    Returns
    -------
    harmonics : ndarray, shape (4,)
        Amplitudes of the angular harmonics 2..5 of the outline's radius.
    phases : ndarray, shape (4,)
    texture_seed : ndarray, shape ()
        Seed of the cell's brightness texture.

    Examples
    --------
    >>> h, ph, s = irregular_outline(np.random.default_rng(0), 0.5)
    >>> h.shape, bool(np.all(np.abs(h) < 0.5))
    ((4,), True)
    """
    k = np.arange(2, 6)
    harmonics = irregularity * 0.22 * rng.standard_normal(4) / np.sqrt(k - 1)
    harmonics = np.clip(harmonics, -0.45, 0.45)
    phases = rng.uniform(0, 2 * np.pi, 4)
    texture_seed = rng.integers(0, 2**31)
    return harmonics, phases, np.asarray(texture_seed)


def modulate(rho: np.ndarray, theta: np.ndarray, outline: tuple, irregularity: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """Return the irregular normalised radius and the texture factor on a crop.

    Parameters
    ----------
    rho : ndarray
        Normalised elliptic radius (1 on the plain outline).
    theta : ndarray
        Polar angle in the ellipse's frame.
    outline : tuple
        From :func:`irregular_outline`.
    irregularity : float

    Returns
    -------
    rho : ndarray
        ``rho`` divided by the modulated outline radius.
    texture : ndarray
        Multiplicative brightness texture (mean about 1, > 0).
    """
    harmonics, phases, seed = outline
    radius = np.ones_like(rho)
    for i, (a, ph) in enumerate(zip(harmonics, phases, strict=True)):
        radius += a * np.cos((i + 2) * theta + ph)
    radius = np.maximum(radius, 0.4)
    noise = np.random.default_rng(int(seed)).standard_normal(rho.shape)
    noise = ndimage.gaussian_filter(noise, 1.2, mode="reflect")
    noise /= max(float(noise.std()), 1e-12)
    texture = np.exp(0.45 * irregularity * noise)
    return rho / radius, texture
