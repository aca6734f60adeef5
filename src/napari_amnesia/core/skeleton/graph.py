"""Steps 7-8 of the skeleton stage: the branch graph of a skeleton image.

The skan graph with junction clusters contracted (:func:`_build_graph`), pruning
of short terminal branches (:func:`prune_skeleton`), and the branch table,
junctions, endpoints, paths, labels and totals (:func:`skeleton_graph`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .image import _remove_small

__all__ = ["BRANCH_TYPES", "prune_skeleton", "skeleton_graph"]

#: Branch types, by skan's numeric code (``summarize(...)["branch_type"]``).
BRANCH_TYPES = {
    0: "endpoint-endpoint",
    1: "junction-endpoint",
    2: "junction-junction",
    3: "cycle",
}

class _Graph:
    """Branch graph of a skeleton image, junction clusters contracted."""

    def __init__(self, paths: list[np.ndarray], ends: list[tuple[int, int]],
                 node_pixels: dict[int, list[np.ndarray]], shape: tuple[int, int]) -> None:
        self.paths = paths
        self.ends = ends
        self.node_pixels = node_pixels
        self.shape = shape

    def degrees(self) -> dict[int, int]:
        deg: dict[int, int] = {}
        for a, b in self.ends:
            deg[a] = deg.get(a, 0) + 1
            deg[b] = deg.get(b, 0) + 1
        return deg


def _path_length(path: np.ndarray) -> float:
    if len(path) < 2:
        return 0.0
    d = np.diff(path.astype(np.float64), axis=0)
    return float(np.hypot(d[:, 0], d[:, 1]).sum())


def _build_graph(skeleton: np.ndarray, merge_distance: float) -> _Graph:
    """Build the skan graph of ``skeleton``, short junction links contracted.

    Junction-junction links no longer than ``merge_distance`` are contracted and
    nodes of degree 2 dissolved (their two branches joined).
    """
    shape = skeleton.shape
    if skeleton.sum() < 2:
        return _Graph([], [], {}, shape)
    from skan import Skeleton

    skel = Skeleton(skeleton.astype(bool), keep_images=False)
    coords = np.asarray(skel.coordinates)
    deg_pix = np.asarray(skel.degrees)
    paths: list[np.ndarray] = []
    ends: list[tuple[int, int]] = []
    for i in range(skel.n_paths):
        idx = np.asarray(skel.path(i))
        paths.append(coords[idx].astype(np.intp))
        ends.append((int(idx[0]), int(idx[-1])))
    # union-find over pixel nodes: contract short junction-junction links
    parent: dict[int, int] = {}

    def find(a: int) -> int:
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    keep = []
    for i, (a, b) in enumerate(ends):
        if (deg_pix[a] >= 3 and deg_pix[b] >= 3 and _path_length(paths[i]) <= merge_distance):
            parent[find(a)] = find(b)
        else:
            keep.append(i)
    node_pixels: dict[int, list[np.ndarray]] = {}
    for a in {n for e in ends for n in e}:
        node_pixels.setdefault(find(a), []).append(coords[a])
    g = _Graph([paths[i] for i in keep], [(find(ends[i][0]), find(ends[i][1])) for i in keep],
               node_pixels, shape)
    _dissolve_degree_two(g)
    return g


def _dissolve_degree_two(g: _Graph) -> None:
    """Join the two branches meeting at a node of degree 2 (not a real junction)."""
    changed = True
    while changed:
        changed = False
        deg = g.degrees()
        for node, d in deg.items():
            if d != 2:
                continue
            touching = [i for i, (a, b) in enumerate(g.ends) if node in (a, b)]
            if len(touching) != 2:  # a loop through the node: an isolated cycle
                continue
            i, j = touching
            pi, pj = g.paths[i], g.paths[j]
            ai, bi = g.ends[i]
            aj, bj = g.ends[j]
            if bi != node:  # orient branch i to end at the node
                pi, (ai, bi) = pi[::-1], (bi, ai)
            if aj != node:  # orient branch j to start at the node
                pj, (aj, bj) = pj[::-1], (bj, aj)
            joined = np.concatenate([pi, pj[1:]]) if np.array_equal(pi[-1], pj[0]) else \
                np.concatenate([pi, pj])
            g.paths[i], g.ends[i] = joined, (ai, bj)
            del g.paths[j], g.ends[j]
            changed = True
            break


def prune_skeleton(skeleton: np.ndarray, *, min_branch_length: float = 6.0,
                   iterations: int = 10, min_component_length: int = 0,
                   junction_merge_distance: float = 2.0,
                   method: str = "lee") -> np.ndarray:
    """Prune short terminal branches of a skeleton, repeatedly, and small pieces.

    Parameters
    ----------
    skeleton : ndarray of bool, shape (Y, X)
        A one-pixel-wide skeleton.
    min_branch_length : float, optional
        Junction-endpoint branches shorter than this (pixels) are removed, all
        but their junction pixel.
    iterations : int, optional
        At most this many rounds; each round recomputes the graph, since pruning
        a spur can dissolve its junction and expose new short spurs.
    min_component_length : int, optional
        Connected pieces of fewer pixels are then removed.
    junction_merge_distance : float, optional
        See :class:`SkeletonParams`.
    method : {"lee", "zhang"}, optional
        Thinning used to re-thin the skeleton after each round.

    Returns
    -------
    ndarray of bool

    Examples
    --------
    >>> import numpy as np
    >>> line = np.zeros((20, 40), bool)
    >>> line[10, 5:35] = True
    >>> line[7:10, 20] = True  # a 3 px spur
    >>> pruned = prune_skeleton(line, min_branch_length=6)
    >>> bool(pruned[7:9, 20].any()), bool(pruned[10, 5:35].all())
    (False, True)
    """
    from skimage.morphology import skeletonize as _thin

    sk = np.asarray(skeleton, dtype=bool).copy()
    for _ in range(int(iterations)):
        g = _build_graph(sk, junction_merge_distance)
        deg = g.degrees()
        removed = False
        for path, (a, b) in zip(g.paths, g.ends, strict=True):
            da, db = deg[a], deg[b]
            if a == b or not ((da >= 3 and db == 1) or (da == 1 and db >= 3)):
                continue
            if _path_length(path) >= min_branch_length:
                continue
            # keep the junction end pixel, drop the rest of the spur
            body = path[1:] if da >= 3 else path[:-1]
            sk[body[:, 0], body[:, 1]] = False
            removed = True
        if not removed:
            break
        sk = _thin(sk, method=method).astype(bool)
    sk = _remove_small(sk, max(int(min_component_length), 2), 2)
    return sk


def _refine_junction(center: np.ndarray, arms: list[np.ndarray],
                     fit_range: tuple[float, float]) -> np.ndarray:
    """Least-squares meeting point of straight lines fitted to the junction's arms.

    Each arm is a branch path starting at the junction; the points at arc length
    ``fit_range[0]..fit_range[1]`` from it are fitted with a line (principal
    axis). The point minimizing the summed squared distances to the lines is
    returned, unless the lines are nearly parallel or the point lies farther
    than ``fit_range[1]`` from ``center`` (then ``center``).
    """
    f0, f1 = fit_range
    a = np.zeros((2, 2))
    b = np.zeros(2)
    n_lines = 0
    for arm in arms:
        arm = arm.astype(np.float64)
        if len(arm) < 3:
            continue
        steps = np.hypot(*np.diff(arm, axis=0).T)
        s = np.concatenate([[0.0], np.cumsum(steps)])
        pts = arm[(s >= f0) & (s <= f1)]
        if len(pts) < 3:
            continue
        c = pts.mean(axis=0)
        _, _, vt = np.linalg.svd(pts - c, full_matrices=False)
        d = vt[0]
        proj = np.eye(2) - np.outer(d, d)
        a += proj
        b += proj @ c
        n_lines += 1
    if n_lines < 2:
        return center
    eig = np.linalg.eigvalsh(a)
    if eig[0] < 0.05 * eig[1]:  # nearly parallel lines: the meeting point is ill-defined
        return center
    x = np.linalg.solve(a, b)
    return x if np.hypot(*(x - center)) <= f1 else center


def skeleton_graph(skeleton: np.ndarray, intensity: np.ndarray | None = None, *,
                   junction_merge_distance: float = 2.0, refine_junctions: bool = True,
                   junction_fit_range: tuple[float, float] = (2.0, 10.0),
                   somata: np.ndarray | None = None) -> dict[str, Any]:
    """Branch table, totals, junctions, endpoints, paths and labels of a skeleton.

    Parameters
    ----------
    skeleton : ndarray of bool, shape (Y, X)
    intensity : ndarray, shape (Y, X), optional
        Image whose mean along each branch is ``mean_intensity`` (NaN without).
    junction_merge_distance : float, optional
        See :class:`SkeletonParams`.
    refine_junctions : bool, optional
        Place each junction at the least-squares meeting point of lines fitted
        to its branches between ``junction_fit_range`` pixels from it (the
        skeleton of a thick branching structure meets off the branching point,
        displaced towards the acute angle by about half the width divided by
        the sine of half the angle); False: the centroid of its pixels.
    junction_fit_range : (float, float), optional
        See :class:`SkeletonParams`.
    somata : ndarray of int, shape (Y, X), optional
        Soma labels (:func:`find_somata`). A node of degree 3 or more inside a
        soma is the soma itself, where several neurites start, not a branching
        point of a neurite: it is not listed in ``junctions`` nor counted in
        ``n_junctions``.

    Returns
    -------
    dict
        ``branches`` (DataFrame), ``totals``, ``junctions``, ``endpoints``,
        ``paths``, ``branch_labels`` — as in :class:`SkeletonResult`.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.zeros((40, 40), bool)
    >>> t[20, 5:35] = t[5:20, 20] = True  # a T
    >>> graph = skeleton_graph(t)
    >>> graph["totals"]["n_branches"], graph["totals"]["n_junctions"]
    (3, 1)
    >>> list(graph["branches"]["type"].unique())
    ['junction-endpoint']
    """
    import pandas as pd

    skeleton = np.asarray(skeleton, dtype=bool)
    shape = skeleton.shape
    g = _build_graph(skeleton, junction_merge_distance)
    deg = g.degrees()
    comp, n_comp = ndi.label(skeleton, structure=np.ones((3, 3), bool))
    rows = []
    paths: list[np.ndarray] = []
    # order branches by component, then by position, for stable ids
    order = sorted(range(len(g.paths)),
                   key=lambda i: (int(comp[tuple(g.paths[i][0])]), tuple(g.paths[i][0]),
                                  tuple(g.paths[i][-1])))
    for new_id, i in enumerate(order, start=1):
        path = g.paths[i]
        a, b = g.ends[i]
        da, db = deg[a], deg[b]
        if a == b:
            kind = 3
        elif da == 1 and db == 1:
            kind = 0
        elif da == 1 or db == 1:
            kind = 1
        else:
            kind = 2
        length = _path_length(path)
        eucl = float(np.hypot(*(path[-1] - path[0]).astype(float))) if kind != 3 else 0.0
        mean_int = (float(np.mean(intensity[path[:, 0], path[:, 1]]))
                    if intensity is not None else float("nan"))
        rows.append({
            "branch_id": new_id,
            "skeleton_id": int(comp[tuple(path[0])]),
            "length": length,
            "type": BRANCH_TYPES[kind],
            "euclidean_length": eucl,
            "tortuosity": length / eucl if eucl > 0 else float("nan"),
            "mean_intensity": mean_int,
            "n_pixels": int(len(path)),
            "src_row": int(path[0, 0]), "src_col": int(path[0, 1]),
            "dst_row": int(path[-1, 0]), "dst_col": int(path[-1, 1]),
        })
        paths.append(path)
    branches = pd.DataFrame(rows) if rows else _empty_branches()
    junction_nodes = [n for n, d in deg.items() if d >= 3]
    if somata is not None and len(junction_nodes):
        somata = np.asarray(somata)

        def in_soma(n: int) -> bool:
            return bool(any(somata[int(r), int(c)] > 0 for r, c in g.node_pixels[n]))

        junction_nodes = [n for n in junction_nodes if not in_soma(n)]
    end_nodes = [n for n, d in deg.items() if d == 1]
    junction_list = []
    for n in junction_nodes:
        center = np.mean(g.node_pixels[n], axis=0).astype(np.float64)
        if refine_junctions:
            arms = []
            for path, (a, b) in zip(g.paths, g.ends, strict=True):
                if a == n:
                    arms.append(path)
                if b == n:
                    arms.append(path[::-1])
            center = _refine_junction(center, arms, tuple(junction_fit_range))
        junction_list.append(center)
    junctions = np.array(junction_list, np.float64).reshape(-1, 2)
    endpoints = (np.array([np.mean(g.node_pixels[n], axis=0) for n in end_nodes])
                 .reshape(-1, 2).astype(np.float64))
    # labels: paint longest ids first so a shared junction pixel keeps the smallest id
    labels = np.zeros(shape, np.int32)
    for bid in range(len(paths), 0, -1):
        p = paths[bid - 1]
        labels[p[:, 0], p[:, 1]] = bid
    missing = skeleton & (labels == 0)
    if missing.any() and (labels > 0).any():
        _, (ri, ci) = ndi.distance_transform_edt(labels == 0, return_indices=True)
        labels[missing] = labels[ri[missing], ci[missing]]
    counts = branches["type"].value_counts().to_dict() if len(branches) else {}
    total_length = float(branches["length"].sum()) if len(branches) else 0.0
    totals = {
        "n_branches": int(len(branches)),
        "n_junctions": int(len(junctions)),
        "n_endpoints": int(len(endpoints)),
        "n_components": int(n_comp),
        "n_cycles": int(counts.get("cycle", 0)),
        "total_length": total_length,
        "mean_branch_length": total_length / len(branches) if len(branches) else 0.0,
        "skeleton_pixels": int(skeleton.sum()),
        "n_endpoint_endpoint": int(counts.get("endpoint-endpoint", 0)),
        "n_junction_endpoint": int(counts.get("junction-endpoint", 0)),
        "n_junction_junction": int(counts.get("junction-junction", 0)),
    }
    return {"branches": branches, "totals": totals, "junctions": junctions,
            "endpoints": endpoints, "paths": paths, "branch_labels": labels}


def _empty_branches():
    import pandas as pd

    return pd.DataFrame({
        "branch_id": pd.Series(dtype=np.int64), "skeleton_id": pd.Series(dtype=np.int64),
        "length": pd.Series(dtype=np.float64), "type": pd.Series(dtype=object),
        "euclidean_length": pd.Series(dtype=np.float64),
        "tortuosity": pd.Series(dtype=np.float64),
        "mean_intensity": pd.Series(dtype=np.float64), "n_pixels": pd.Series(dtype=np.int64),
        "src_row": pd.Series(dtype=np.int64), "src_col": pd.Series(dtype=np.int64),
        "dst_row": pd.Series(dtype=np.int64), "dst_col": pd.Series(dtype=np.int64),
    })

