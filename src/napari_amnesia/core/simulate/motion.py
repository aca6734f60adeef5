"""Motion of the scene: rigid shifts and a smooth non-rigid displacement field.

``shifts[t] = (dy, dx)`` moves the content of frame ``t``; the non-rigid part is a sum
of low-frequency cosine modes, each with its own random time course (see the package
documentation for the convention).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._random import _ou

_NONRIGID_MODES = np.array([(1, 0), (0, 1), (1, 1)], dtype=np.int64)


def draw_motion(
    rng: np.random.Generator, p: dict[str, Any], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Rigid shifts, non-rigid modes and their coefficients, and the canvas padding.

    Returns ``shifts`` (T, 2), ``modes`` (M, 2) int, ``coef`` (T, 2, M) and ``pad``,
    the margin (px) of the canvas around the frame that no displacement exceeds.
    """
    T = p["n_frames"]
    fr = p["frame_rate"]
    if p["motion"] and p["max_shift"] > 0:
        raw = _ou(rng, 2, T, 2.0 * fr) + 0.25 * _ou(rng, 2, T, 0.15 * fr)
        top = np.abs(raw).max(axis=1, keepdims=True)
        shifts = (p["max_shift"] * raw / np.where(top > 0, top, 1)).T
    else:
        shifts = np.zeros((T, 2))
    M = len(_NONRIGID_MODES)
    modes = _NONRIGID_MODES.copy()
    if p["motion"] and p["nonrigid"] and p["nonrigid_amplitude"] > 0:
        coef = _ou(rng, 2 * M, T, 1.0 * fr).reshape(2, M, T).transpose(2, 0, 1)  # (T, 2, M)
        if p.get("nonrigid_frequency", 1) > 1:
            # other modes and time courses from a stream of their own: the main stream
            # (cells, activity, background, noise) stays that of the seed
            modes, coef = _deformation_modes(seed, p["nonrigid_frequency"], T, fr)
        total = np.abs(coef).sum(axis=2).max(axis=0)  # (2,)
        coef *= p["nonrigid_amplitude"] / np.where(total > 0, total, 1)[None, :, None]
    else:
        coef = np.zeros((T, 2, M))
    pad = int(math.ceil(p["max_shift"] + p["nonrigid_amplitude"])) + 2 if p["motion"] else 1
    return shifts, modes, coef, pad


def _field(coef: np.ndarray, shift: np.ndarray, mode_fields: np.ndarray) -> np.ndarray:
    """Add up the total displacement field (2, Y, X) float32.

    From the mode coefficients (2, M) and the rigid shift (a loop of axpy: BLAS is
    slow for this (2, M) @ (M, P) shape).
    """
    out = np.empty((2, *mode_fields.shape[1:]), np.float32)
    for axis in range(2):
        out[axis] = np.float32(shift[axis])
        for m in range(len(mode_fields)):
            c = np.float32(coef[axis, m])
            if c:
                out[axis] += mode_fields[m] * c
    return out


def _deformation_modes(seed: int, frequency: int, n_frames: int,
                       frame_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Three distinct cosine modes up to ``frequency`` and their time courses.

    Drawn from a random stream of their own (``[seed, 1729]``). Returns the modes
    ``(3, 2)`` int and unscaled coefficients ``(T, 2, 3)``.
    """
    rng = np.random.default_rng([seed, 1729])
    choices = [(a, b) for a in range(frequency + 1) for b in range(frequency + 1)
               if (a, b) != (0, 0)]
    pick = rng.choice(len(choices), size=3, replace=False)
    modes = np.array([choices[i] for i in pick], dtype=np.int64)
    coef = _ou(rng, 6, n_frames, 1.0 * frame_rate).reshape(2, 3, n_frames).transpose(2, 0, 1)
    return modes, coef


def _mode_fields(modes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Spatial non-rigid modes, (M, Y, X) float32, each with values in [-1, 1]."""
    Y, X = shape
    y = (np.arange(Y, dtype=np.float64) + 0.5) / Y
    x = (np.arange(X, dtype=np.float64) + 0.5) / X
    out = np.empty((len(modes), Y, X), np.float32)
    for m, (a, b) in enumerate(modes):
        out[m] = np.cos(np.pi * a * y)[:, None] * np.cos(np.pi * b * x)[None, :]
    return out
