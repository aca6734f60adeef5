"""Somata of the scene: where they are, their shapes and which of them overlap."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from scipy import ndimage, sparse

logger = logging.getLogger(__name__)


def plant_somata(
    rng: np.random.Generator, p: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Place the somata and draw their footprints (unit L2 norm each).

    Returns ``centers`` (K, 2), semi-``axes`` (K, 2), ``has_nucleus`` (K,) and
    ``footprints`` (K, Y, X) float32.
    """
    Y, X = p["shape"]
    shape = (Y, X)
    blur = float(p["cell_blur"])
    K = p["n_cells"]
    n_pairs = int(round(p["overlap_fraction"] * K / 2))
    n_pairs = min(n_pairs, K // 2)
    margin = p["cell_radius"][1] + 2 * blur + 3
    # one-photon: the in-focus layer is thick, somata overlap in projection (no warning)
    centers, axes, angles = _place_cells(rng, shape, K, p["cell_radius"], margin, n_pairs,
                                         warn=p["mode"] != "one_photon")
    has_nucleus = rng.random(K) < p["nucleus_fraction"]
    irregularity = float(p.get("soma_irregularity", 0.0))
    ragged = None
    if irregularity > 0:  # a stream of its own: the clean scene's draws are unchanged
        from .outline import _IRREGULAR_TAG

        ragged = np.random.default_rng([int(p.get("rng", 0)), _IRREGULAR_TAG])
    footprints = np.zeros((K, Y, X), np.float32)
    for k in range(K):
        fp = _soma_footprint(
            shape,
            centers[k],
            (axes[k, 0], axes[k, 1]),
            angles[k],
            nucleus=has_nucleus[k],
            blur=blur,
            irregularity=irregularity,
            rng=ragged,
        )
        footprints[k] = fp / np.linalg.norm(fp)
    return centers, axes, has_nucleus, footprints


def _place_cells(
    rng: np.random.Generator,
    shape: tuple[int, int],
    n_cells: int,
    radius: tuple[float, float],
    margin: float,
    n_pairs: int,
    *,
    warn: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres, semi-axes and orientations; ``n_pairs`` pairs placed overlapping."""
    Y, X = shape
    axes = rng.uniform(radius[0], radius[1], size=(n_cells, 2))
    # moderate ellipticity: minor axis 65-100 % of major
    axes[:, 1] = axes[:, 0] * rng.uniform(0.65, 1.0, n_cells)
    angles = rng.uniform(0, np.pi, n_cells)
    size = axes.max(axis=1)
    centers = np.zeros((n_cells, 2))
    partner = np.full(n_cells, -1)
    lo = np.array([margin, margin])
    hi = np.array([Y - 1 - margin, X - 1 - margin])
    if n_cells and np.any(hi <= lo):
        raise ValueError(f"shape {shape} is too small for cells of radius up to {radius[1]!r}.")
    crowded = False
    for k in range(n_cells):
        overlap = k % 2 == 1 and (k // 2) < n_pairs
        for _ in range(500):
            if overlap:
                j = k - 1
                dist = rng.uniform(0.55, 0.8) * (size[k] + size[j])
                phi = rng.uniform(0, 2 * np.pi)
                c = centers[j] + dist * np.array([np.sin(phi), np.cos(phi)])
            else:
                c = rng.uniform(lo, hi)
            if np.any(c < lo) or np.any(c > hi):
                continue
            others = [i for i in range(k) if not (overlap and i == k - 1)]
            if others:
                dmin = np.hypot(*(centers[others] - c).T) - (size[others] + size[k] + 1.5)
                if dmin.min() < 0:
                    continue
            break
        else:
            crowded = True
        centers[k] = c
        if overlap:
            partner[k] = k - 1
    if crowded:
        (logger.warning if warn else logger.debug)(
            "simulate: could not place all %d cells without unplanned overlaps in %s",
            n_cells,
            shape,
        )
    return centers, axes, angles


def _soma_footprint(
    shape: tuple[int, int],
    center: np.ndarray,
    axes: tuple[float, float],
    angle: float,
    *,
    nucleus: bool,
    blur: float,
    edge: float = 0.7,
    irregularity: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Soft ellipse (optionally with a dark nucleus), zero far from the cell.

    With ``irregularity > 0`` (and ``rng``) the outline is ragged and the brightness
    textured (:mod:`.outline`).
    """
    Y, X = shape
    a, b = axes
    half = int(math.ceil(max(a, b) * (1.5 if irregularity > 0 else 1.0) + 4 * blur + 3))
    cy, cx = center
    r0, r1 = max(0, int(cy) - half), min(Y, int(cy) + half + 2)
    c0, c1 = max(0, int(cx) - half), min(X, int(cx) + half + 2)
    rr, cc = np.mgrid[r0:r1, c0:c1].astype(np.float64)
    dy, dx = rr - cy, cc - cx
    u = dy * math.cos(angle) + dx * math.sin(angle)
    v = -dy * math.sin(angle) + dx * math.cos(angle)
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    texture = None
    if irregularity > 0 and rng is not None:
        from .outline import irregular_outline, modulate

        outline = irregular_outline(rng, irregularity)
        rho, texture = modulate(rho, np.arctan2(v / b, u / a), outline, irregularity)
    scale = min(a, b) / edge
    f = 1.0 / (1.0 + np.exp(-(1.0 - rho) * scale))  # soft edge about `edge` px wide
    f *= 1.0 - 0.25 * np.clip(rho, 0, 1) ** 2  # slightly brighter centre
    if nucleus:
        f *= 1.0 - 0.6 / (1.0 + np.exp(-(0.45 - rho) * scale))
    if texture is not None:
        f *= texture
    if blur > 0:
        f = ndimage.gaussian_filter(f, blur, mode="constant")
    out = np.zeros(shape, np.float32)
    f[f < 1e-3 * f.max()] = 0
    out[r0:r1, c0:c1] = f
    return out


def _overlapping_pairs(footprints: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    if len(footprints) < 2:
        return np.zeros((0, 2), np.int64)
    peaks = footprints.reshape(len(footprints), -1).max(axis=1)
    masks = footprints.reshape(len(footprints), -1) >= threshold * peaks[:, None]
    m = sparse.csr_matrix(masks.astype(np.float32))
    co = (m @ m.T).toarray()
    i, j = np.nonzero(np.triu(co, 1) > 0)
    return np.column_stack([i, j]).astype(np.int64)
