"""Matching every session's footprints at once: a probabilistic model, then tracks.

1. **Candidate pairs.** Once in the common space, every pair of footprints of two
   different sessions whose centres are closer than ``max_distance`` is a candidate,
   described by the distance between the centres and the similarity of the footprints:
   their correlation, or the share of the smaller inside the larger when that is more (a
   partial footprint lies inside its whole cell but correlates little with it; not for
   footprints much larger than a typical one: junk that contains cells).
2. **Probability of one cell** (after CellReg [1]_). The candidates are a mixture of
   pairs of one cell (the distance follows a 2-D Gaussian error, Rayleigh, with a wider
   tail) and pairs of neighbours (uniform over the disc of candidates); ``1 -
   correlation`` is log-normal in each kind. The mixture is fitted by EM on the data at
   hand, and each pair gets its posterior probability of being one cell.
3. **Tracks.** Average-linkage agglomeration over all footprints of all sessions at once
   (ROICaT [2]_ also clusters all sessions together): the two groups with the highest mean
   pair probability are joined while it is at least ``min_probability`` and they share no
   session — at most one footprint per session per track. Equal scores are broken by the
   footprints' content order, never by input position.

A track's ``confidence`` is the mean probability over its pairs (1 for a single
footprint) times one minus the strongest link of a footprint outside it (a competitor
that might belong to it).

References
----------
.. [1] Sheintuch, L. et al. (2017). Tracking the same neurons across multiple days in
   Ca2+ imaging data. Cell Reports 21, 1102-1115.
.. [2] Nguyen, R. & Hakim, J. (2023). ROICaT: region of interest classification and
   tracking (github.com/RichieHakim/ROICaT).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

__all__ = ["Candidates", "candidate_pairs", "fit_probabilities", "link_tracks",
           "track_confidence"]



@dataclass
class Candidates:
    """Candidate pairs between footprints of different sessions (global indices)."""

    first: np.ndarray
    second: np.ndarray
    distance: np.ndarray
    correlation: np.ndarray
    probability: np.ndarray | None = None


def _sizes(f: sparse.csc_matrix) -> np.ndarray:
    """Peak-scaled mass (about the area) of each footprint."""
    peaks = np.asarray(f.max(axis=0).toarray()).ravel() if f.shape[1] else np.zeros(0)
    return np.asarray(f.sum(axis=0)).ravel() / np.where(peaks > 0, peaks, 1.0)


def _peak_scaled(f: sparse.csc_matrix) -> sparse.csc_matrix:
    peaks = np.asarray(f.max(axis=0).toarray()).ravel() if f.shape[1] else np.zeros(0)
    return sparse.csc_matrix(f @ sparse.diags(1.0 / np.where(peaks > 0, peaks, 1.0)))


def _containment(fa: sparse.csc_matrix, fb: sparse.csc_matrix, a: np.ndarray,
                 b: np.ndarray, typical: float) -> np.ndarray:
    """Share of the smaller footprint inside the larger: sum(min) / min(sums), peak-scaled.

    Only for pairs whose larger footprint is no more than 1.5 times the ``typical`` size
    (a large junk component contains cells without being one).
    """
    pa = _peak_scaled(fa)[:, a]
    pb = _peak_scaled(fb)[:, b]
    sa = np.asarray(pa.sum(axis=0)).ravel()
    sb = np.asarray(pb.sum(axis=0)).ravel()
    shared = np.asarray(pa.minimum(pb).sum(axis=0)).ravel()
    out = shared / np.maximum(np.minimum(sa, sb), 1e-12)
    return np.where(np.maximum(sa, sb) > 1.5 * typical, 0.0, out)


def candidate_pairs(footprints: list[sparse.csc_matrix], centers: list[np.ndarray],
                    max_distance: float) -> Candidates:
    """Pairs of footprints of two sessions closer than ``max_distance`` (common space).

    ``footprints[s]`` are session ``s``'s footprints in the common space with unit L2
    norm, ``centers[s]`` their centres; the global index of footprint ``k`` of session
    ``s`` is ``sum(n_0..n_{s-1}) + k``.
    """
    offsets = np.concatenate([[0], np.cumsum([c.shape[0] for c in centers])])
    first, second, dist, corr = [], [], [], []
    sizes = np.concatenate([_sizes(f) for f in footprints])
    typical = float(np.median(sizes)) if sizes.size else 0.0
    trees = [cKDTree(c) if len(c) else None for c in centers]
    for i in range(len(centers)):
        for j in range(i + 1, len(centers)):
            if trees[i] is None or trees[j] is None:
                continue
            near = trees[i].sparse_distance_matrix(trees[j], max_distance,
                                                   output_type="coo_matrix")
            if near.nnz == 0:
                continue
            order = np.lexsort((near.col, near.row))
            a, b = near.row[order], near.col[order]
            d = np.hypot(*(centers[i][a] - centers[j][b]).T)
            gram = (footprints[i].T @ footprints[j]).tocsr()
            c = np.asarray(gram[a, b]).ravel()
            # a partial footprint correlates little with the whole cell but lies inside
            # it: the similarity is the larger of correlation and containment
            c = np.maximum(c, _containment(footprints[i], footprints[j], a, b, typical))
            first.append(a + offsets[i])
            second.append(b + offsets[j])
            dist.append(d)
            corr.append(c)
    if not first:
        empty = np.zeros(0)
        return Candidates(empty.astype(np.int64), empty.astype(np.int64), empty, empty)
    return Candidates(np.concatenate(first).astype(np.int64),
                      np.concatenate(second).astype(np.int64),
                      np.concatenate(dist), np.concatenate(corr).astype(np.float64))


def _normal(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted mean and standard deviation (at least 0.25)."""
    w = weights / max(float(weights.sum()), 1e-12)
    mean = float((w * values).sum())
    return mean, float(max(np.sqrt((w * (values - mean) ** 2).sum()), 0.25))


def _normal_density(values: np.ndarray, fit: tuple[float, float]) -> np.ndarray:
    mean, sd = fit
    return np.exp(-0.5 * ((values - mean) / sd) ** 2) / sd


def _rayleigh(d: np.ndarray, sigma: float) -> np.ndarray:
    """Rayleigh density divided by ``d`` (the ``d`` factor is shared by both populations)."""
    return np.exp(-d * d / (2 * sigma * sigma)) / (sigma * sigma)


def fit_probabilities(candidates: Candidates, max_distance: float, *,
                      iterations: int = 40) -> dict:
    """Fit the two-population model by EM; store each pair's probability of one cell.

    One cell's pairs: centre distances from a 2-D Gaussian error (``sigma``) with a wider
    tail (``tail`` of them, spread ``max_distance / 3``: footprints cut by the edge of the
    field, partial or contaminated ones); neighbours: uniform over the disc of
    candidates. The correlations of each population are log-normal in ``1 - correlation``.

    Returns the fitted model: ``sigma`` (px), ``tail``, ``prior`` (the fraction of
    candidates that are one cell) and the two populations' mean and spread of
    ``log(1 - correlation)``.
    """
    d = candidates.distance
    c = candidates.correlation
    if d.size == 0:
        candidates.probability = np.zeros(0)
        return {"sigma": None, "prior": None, "tail": None, "n_pairs": 0}
    D = float(max_distance)
    wide = D / 3
    # correlations as z = log(1 - c): one cell's pairs near 1 (z very negative), spread
    # log-normally as CellReg models them; neighbours' near 0
    z = np.log(np.clip(1 - c, 1e-4, 1.0))
    r = 1 / (1 + np.exp(-12 * (c - 0.5))) * np.exp(-d ** 2 / (2 * (D / 4) ** 2))
    sigma, tail, prior = D / 4, 0.1, 0.5
    for _ in range(iterations):
        prior = float(np.clip(r.mean(), 1e-3, 1 - 1e-3))
        core = (1 - tail) * _rayleigh(d, sigma)
        spread = tail * _rayleigh(d, wide)
        in_core = r * core / np.maximum(core + spread, 1e-300)
        tail = float(np.clip(1 - in_core.sum() / max(r.sum(), 1e-12), 0.02, 0.5))
        sigma = float(np.clip(np.sqrt((in_core * d * d).sum()
                                      / max(2 * in_core.sum(), 1e-12)), 0.3, D / 3))
        same_fit = _normal(z, r)
        diff_fit = _normal(z, 1 - r)
        same = prior * ((1 - tail) * _rayleigh(d, sigma) + tail * _rayleigh(d, wide)) \
            * _normal_density(z, same_fit)
        diff = (1 - prior) * 2 / D ** 2 * _normal_density(z, diff_fit)
        r = same / np.maximum(same + diff, 1e-300)
    candidates.probability = r
    return {"sigma": sigma, "tail": tail, "prior": prior, "n_pairs": int(d.size),
            "same_log_decorrelation": list(same_fit),
            "other_log_decorrelation": list(diff_fit)}


def link_tracks(n: int, session_of: np.ndarray, candidates: Candidates,
                min_probability: float) -> list[list[int]]:
    """Group footprints into tracks (average linkage, one footprint per session).

    ``n`` footprints in all (global indices, in content order), ``session_of[k]`` the
    session of footprint ``k``. Returns the tracks as sorted lists of global indices.
    """
    members = {k: [k] for k in range(n)}
    masks = {k: 1 << int(session_of[k]) for k in range(n)}
    links: dict[int, dict[int, float]] = {k: {} for k in range(n)}
    for a, b, p in zip(candidates.first.tolist(), candidates.second.tolist(),
                       candidates.probability.tolist(), strict=True):
        links[a][b] = links[a].get(b, 0.0) + p
        links[b][a] = links[b].get(a, 0.0) + p
    heap: list[tuple[float, int, int]] = []
    for a in range(n):
        for b, total in links[a].items():
            if a < b and total >= min_probability:
                heapq.heappush(heap, (-total, a, b))
    while heap:
        score, a, b = heapq.heappop(heap)
        if a not in members or b not in members or b not in links[a]:
            continue
        current = links[a][b] / (len(members[a]) * len(members[b]))
        if current != -score:
            continue  # stale entry: a newer one holds the current score
        if masks[a] & masks[b]:
            continue
        # join b into a (a is the smaller index: the content order decides)
        members[a] = sorted(members[a] + members.pop(b))
        masks[a] |= masks.pop(b)
        nb = links.pop(b)
        nb.pop(a, None)
        links[a].pop(b, None)
        for c in sorted(set(links[a]) | set(nb)):
            total = links[a].get(c, 0.0) + nb.get(c, 0.0)
            links[c].pop(b, None)
            links[a][c] = total
            links[c][a] = total
            mean = total / (len(members[a]) * len(members[c]))
            if mean >= min_probability and not masks[a] & masks[c]:
                heapq.heappush(heap, (-mean, min(a, c), max(a, c)))
    return [members[k] for k in sorted(members)]


def track_confidence(tracks: list[list[int]], n: int, candidates: Candidates) -> np.ndarray:
    """Each track's probability of being one whole cell (see the module documentation)."""
    track_of = np.empty(n, np.int64)
    for t, m in enumerate(tracks):
        track_of[m] = t
    inside = np.zeros(len(tracks))
    outside: dict[tuple[int, int], float] = {}
    for a, b, p in zip(candidates.first.tolist(), candidates.second.tolist(),
                       candidates.probability.tolist(), strict=True):
        ta, tb = int(track_of[a]), int(track_of[b])
        if ta == tb:
            inside[ta] += p
        else:
            outside[(ta, b)] = outside.get((ta, b), 0.0) + p
            outside[(tb, a)] = outside.get((tb, a), 0.0) + p
    sizes = np.array([len(m) for m in tracks], float)
    n_pairs = sizes * (sizes - 1) / 2
    cohesion = np.where(n_pairs > 0, inside / np.maximum(n_pairs, 1), 1.0)
    rival = np.zeros(len(tracks))
    for (t, _), total in outside.items():
        rival[t] = max(rival[t], total / sizes[t])
    return np.clip(cohesion * (1 - rival), 0, 1)
