"""Neurites of the scene: branching trees, their footprints and their graph.

Each coactive group is one tree: a long root curve with children leaving it (or an
earlier child) at a fork. Trees grow from a random stream of their own, so a seed
grows the same trees whatever the number of somata.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

__all__ = ["attach_somata"]

logger = logging.getLogger(__name__)

_TREE_KEY = 0x7EE5  # spawn key of the neurite trees' stream (independent of n_cells)


def plant_neurites(
    seed: int, p: dict[str, Any], centers: np.ndarray, axes: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grow the neurite trees around the somata and draw their footprints.

    Returns the centre lines ``paths``, ``branch_groups`` (B,), ``edges`` (E, 2),
    ``junctions`` (E, 2) and ``branch_footprints`` (B, Y, X) float32 (unit L2 norm).
    """
    Y, X = p["shape"]
    shape = (Y, X)
    blur = float(p["cell_blur"])
    K = p["n_cells"]
    width = float(np.hypot(p["neurite_width"], blur))
    # The trees come from their own stream, so a seed grows the same trees whatever
    # n_cells is (they only stop short where a soma is in the way).
    tree_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_TREE_KEY,)))
    clearance = max(6.0, 4.0 * width)
    discs = np.column_stack([centers, axes.max(axis=1) + 2 * blur + clearance]) if K else None
    paths, branch_groups, edges, junctions = _neurite_trees(
        tree_rng,
        shape,
        p["n_neurite_groups"],
        p["branches_per_group"],
        margin=4 * width + 1,
        clearance=clearance,
        discs=np.zeros((0, 3)) if discs is None else discs,
    )
    B = len(paths)
    branch_footprints = np.zeros((B, Y, X), np.float32)
    for b, path in enumerate(paths):
        fp = _tube_footprint(shape, path, width)
        branch_footprints[b] = fp / np.linalg.norm(fp)
    return paths, branch_groups, edges, junctions, branch_footprints


def branch_graph(
    paths: list[np.ndarray], edges: np.ndarray, junctions: np.ndarray
) -> dict[str, Any]:
    """Return the planted graph: edges, junctions, free ends and the number of segments."""
    B = len(paths)
    endpoints = []
    for b, path in enumerate(paths):
        if b not in set(edges[:, 1].tolist()):
            endpoints.append(path[0])
        endpoints.append(path[-1])
    return {
        "edges": edges,
        "junctions": junctions,
        "endpoints": np.asarray(endpoints, np.float64).reshape(-1, 2),
        "n_segments": int(B + len(edges)),
    }


def _tube_footprint(shape: tuple[int, int], path: np.ndarray, width: float) -> np.ndarray:
    """Gaussian tube of standard deviation ``width`` around a polyline."""
    Y, X = shape
    # dense resampling so point-to-point distance approximates point-to-curve distance
    seg = np.diff(path, axis=0)
    lengths = np.hypot(seg[:, 0], seg[:, 1])
    s = np.concatenate([[0], np.cumsum(lengths)])
    fine = np.arange(0, s[-1] + 1e-9, 0.2)
    dense = np.column_stack([np.interp(fine, s, path[:, 0]), np.interp(fine, s, path[:, 1])])
    reach = 4.0 * width + 1
    r0 = max(0, int(np.floor(dense[:, 0].min() - reach)))
    r1 = min(Y, int(np.ceil(dense[:, 0].max() + reach)) + 1)
    c0 = max(0, int(np.floor(dense[:, 1].min() - reach)))
    c1 = min(X, int(np.ceil(dense[:, 1].max() + reach)) + 1)
    rr, cc = np.mgrid[r0:r1, c0:c1]
    pix = np.column_stack([rr.ravel(), cc.ravel()]).astype(np.float64)
    dist, _ = cKDTree(dense).query(pix, distance_upper_bound=reach)
    near = np.isfinite(dist)  # query() returns inf beyond `reach`
    vals = np.zeros(dist.shape)
    vals[near] = np.exp(-0.5 * (dist[near] / width) ** 2)
    out = np.zeros(shape, np.float32)
    out[r0:r1, c0:c1] = vals.reshape(rr.shape)
    return out


def _grow_path(
    rng: np.random.Generator,
    start: np.ndarray,
    heading: float,
    length: float,
    shape: tuple[int, int],
    margin: float,
) -> np.ndarray:
    """Grow a smooth random curve from ``start``.

    The heading follows smoothed random turns; the curve stops at the frame margin.
    Returns (n, 2) points 1 px apart.
    """
    n = max(2, int(length))
    turns = ndimage.gaussian_filter1d(rng.standard_normal(n), 6.0) * 0.25
    theta = heading + np.cumsum(turns)
    steps = np.column_stack([np.sin(theta), np.cos(theta)])
    pts = np.vstack([start, start + np.cumsum(steps, axis=0)])
    Y, X = shape
    inside = (
        (pts[:, 0] >= margin)
        & (pts[:, 0] <= Y - 1 - margin)
        & (pts[:, 1] >= margin)
        & (pts[:, 1] <= X - 1 - margin)
    )
    stop = len(pts) if inside.all() else int(np.argmin(inside))
    return pts[:stop]


def _first_conflict(
    path: np.ndarray,
    others: np.ndarray,
    owners: np.ndarray,
    discs: np.ndarray,
    clearance: float,
    *,
    junction: np.ndarray | None = None,
    parent: int = -1,
) -> int:
    """Find where ``path`` first comes too close to something.

    Return the index of the first point of ``path`` that comes closer than
    ``clearance`` to another centre line (``others``, each point's branch in ``owners``), to itself
    (points more than ``3 * clearance`` apart along the curve) or into a keep-out disc
    (rows ``y, x, radius``); ``len(path)`` when none does.

    A child leaves its parent at ``junction``: within ``2 * clearance`` of the junction
    its points need only keep half their distance to the junction from the parent
    (a fork of 30 degrees or more).
    """
    n = len(path)
    bad = np.zeros(n, bool)
    if len(others):
        d = cdist(path, others)
        need = np.full(n, clearance)
        if junction is not None:
            # near the fork the child may be closer to its parent, but it must keep
            # diverging (at least 30 degrees): it may not curl back along the parent
            r = np.hypot(*(path - junction).T)
            near = r < 2 * clearance
            own = owners == parent
            bad |= near & (d[:, own].min(axis=1) < np.minimum(clearance, 0.5 * r) - 1e-9)
            d[np.ix_(near, own)] = np.inf
        bad |= d.min(axis=1) < need
    if len(discs):
        bad |= (cdist(path, discs[:, :2]) < discs[:, 2]).any(axis=1)
    gap = int(3 * clearance)
    if n > gap:
        d = cdist(path, path)
        idx = np.arange(n)
        d[np.abs(idx[:, None] - idx[None, :]) <= gap] = np.inf
        bad |= d.min(axis=1) < clearance
    return int(np.argmax(bad)) if bad.any() else n


def _neurite_trees(
    rng: np.random.Generator,
    shape: tuple[int, int],
    n_groups: int,
    per_group: int,
    *,
    margin: float,
    clearance: float,
    discs: np.ndarray,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Grow ``n_groups`` branching trees whose 2-D image has the planted graph.

    Each tree is a long smooth root with children leaving it (or an earlier child) at
    35-75 degrees. Every centre line keeps ``clearance`` px from every other one (and
    from itself) except where a child leaves its parent, and stays out of the
    keep-out ``discs`` (rows ``y, x, radius``: the somata, and a soma-sized room at
    each root's free end so that a soma can sit there): a branch that would come
    closer stops short, as a growing neurite stops at an obstacle. So no two neurites
    cross or touch and the image's junctions are exactly the planted ones; junctions
    on one parent are ``2 * clearance`` px apart and as far from the parent's ends.

    Returns paths, group of each branch, edges (parent, child) and junction
    coordinates.
    """
    Y, X = shape
    size = min(Y, X)
    paths: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    groups: list[int] = []
    edges: list[tuple[int, int]] = []
    junctions: list[np.ndarray] = []
    discs = np.asarray(discs, np.float64).reshape(-1, 3)
    min_len = max(6.0, 0.08 * size, 2 * clearance)
    room = clearance + 8.0  # keep-out radius around a root's free end
    spacing = 2 * clearance  # junction to junction / parent end, each side

    def existing() -> tuple[np.ndarray, np.ndarray]:
        if not paths:
            return np.zeros((0, 2)), np.zeros(0, np.int64)
        return np.concatenate(paths), np.concatenate(owners)

    for gid in range(n_groups):
        members: list[int] = []
        # root: a long smooth curve through the field
        lo = np.maximum([0.15 * Y, 0.15 * X], margin)
        hi = np.minimum([0.85 * Y, 0.85 * X], [Y - 1 - margin, X - 1 - margin])
        if np.any(hi < lo):
            raise ValueError(f"shape {shape} is too small for neurites (n_neurite_groups > 0).")
        others, owner = existing()
        path = np.zeros((0, 2))
        for _ in range(200):
            start = rng.uniform(lo, hi)
            length = max(rng.uniform(0.35, 0.6) * size, 4 * spacing)  # room for forks
            trial = _grow_path(rng, start, rng.uniform(0, 2 * np.pi), length, shape, margin)
            if len(others) and cdist(start[None], others).min() < room + clearance:
                continue
            trial = trial[: _first_conflict(trial, others, owner, discs, clearance)]
            if len(trial) > len(path):
                path = trial
            if len(path) >= min(length, 4 * spacing):
                break
        if len(path) < min_len:
            logger.warning("simulate: no room for neurite group %d in %s", gid, shape)
            continue
        discs = np.vstack([discs, [*path[0], room]])
        paths.append(path)
        owners.append(np.full(len(path), len(paths) - 1))
        groups.append(gid)
        members.append(len(paths) - 1)
        used: dict[int, list[int]] = {len(paths) - 1: []}
        for _ in range(per_group - 1):
            others, owner = existing()
            for _attempt in range(200):
                parent = members[int(rng.integers(len(members)))]
                ppath = paths[parent]
                lo_i = max(int(0.2 * len(ppath)), int(spacing))
                hi_i = min(int(0.8 * len(ppath)), len(ppath) - 1 - int(spacing))
                if hi_i < lo_i:
                    continue
                idx = int(rng.integers(lo_i, hi_i + 1))
                if any(abs(idx - u) < spacing for u in used[parent]):
                    continue
                tangent = ppath[min(idx + 1, len(ppath) - 1)] - ppath[max(idx - 1, 0)]
                base = math.atan2(tangent[0], tangent[1])
                heading = base + rng.choice([-1, 1]) * rng.uniform(np.radians(35), np.radians(75))
                length = max(rng.uniform(0.15, 0.35) * size, 2 * spacing)
                child = _grow_path(rng, ppath[idx], heading, length, shape, margin)
                child = child[
                    : _first_conflict(
                        child, others, owner, discs, clearance, junction=ppath[idx], parent=parent
                    )
                ]
                if len(child) >= min_len:
                    break
            else:
                logger.warning("simulate: could not grow all branches of neurite group %d", gid)
                break
            paths.append(child)
            owners.append(np.full(len(child), len(paths) - 1))
            groups.append(gid)
            members.append(len(paths) - 1)
            used[len(paths) - 1] = []
            used[parent].append(idx)
            edges.append((parent, len(paths) - 1))
            junctions.append(ppath[idx].copy())
    return (
        paths,
        np.asarray(groups, np.int64),
        np.asarray(edges, np.int64).reshape(-1, 2),
        np.asarray(junctions, np.float64).reshape(-1, 2),
    )


def attach_somata(movie: np.ndarray, truth: Any, radius: float = 6.0) -> np.ndarray:
    """Add a soma on the free end of each root branch of a simulated movie.

    Each soma is an ellipse across the branch with a dimmer nucleus, as bright as the
    brightest neurites: a tree leaving its soma. The planted neurite graph is
    unchanged: a skeletonization must make each soma the end node of its tree, not
    extra branches.

    Parameters
    ----------
    movie : ndarray, shape (T, Y, X)
        The simulated movie.
    truth : GroundTruth
        Its ground truth (``branch_paths`` and ``branch_graph`` are used).
    radius : float
        Semi-axis of a soma along the branch, in pixels.

    Returns
    -------
    ndarray, shape (T, Y, X), floating point
        The movie (as float32) with the somata added.

    Examples
    --------
    >>> from napari_amnesia.core.simulate import simulate
    >>> movie, truth = simulate(n_frames=10, shape=(96, 96), n_cells=0,
    ...                         n_neurite_groups=1, branches_per_group=2, rng=0)
    >>> with_somata = attach_somata(movie, truth)
    >>> with_somata.shape, bool((with_somata >= movie).all())
    ((10, 96, 96), True)
    """
    mean = movie.astype(np.float32).mean(axis=0)
    pts = np.round(np.concatenate(truth.branch_paths)).astype(int)
    level = float(np.percentile(mean[pts[:, 0], pts[:, 1]], 90) - np.median(mean))
    children = {int(c) for _, c in np.asarray(truth.branch_graph["edges"]).reshape(-1, 2)}
    yy, xx = np.mgrid[: movie.shape[1], : movie.shape[2]]
    soma = np.zeros(movie.shape[1:], np.float32)
    for b, path in enumerate(truth.branch_paths):
        if b in children:
            continue
        r0, c0 = np.asarray(path[0], float)
        d = np.asarray(path[min(5, len(path) - 1)], float) - (r0, c0)
        d /= max(1e-9, float(np.hypot(*d)))
        u = (yy - r0) * d[0] + (xx - c0) * d[1]
        v = -(yy - r0) * d[1] + (xx - c0) * d[0]
        rho = np.hypot(u / (0.7 * radius), v / radius)
        body = np.clip((1 - rho) * radius + 0.5, 0, 1)
        nucleus = np.clip((0.45 - rho) * radius + 0.5, 0, 1)
        soma = np.maximum(soma, body * (1 - 0.5 * nucleus))
    return movie.astype(np.float32) + level * soma
