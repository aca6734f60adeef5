"""Scores of a registration against a planted identity (simulations, benchmarks)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["pair_scores", "true_pairs", "track_pairs"]


def track_pairs(assignments: Any) -> set[tuple[tuple[int, int], tuple[int, int]]]:
    """Return every pair of footprints one track holds, as ``((s, k), (s', k'))``, s < s'."""
    a = np.asarray(assignments)
    pairs = set()
    for row in a:
        held = [(s, int(k)) for s, k in enumerate(row) if k >= 0]
        for x in range(len(held)):
            for y in range(x + 1, len(held)):
                pairs.add((held[x], held[y]))
    return pairs


def true_pairs(identity: Any) -> set[tuple[tuple[int, int], tuple[int, int]]]:
    """Return the pairs of footprints of one planted cell (identity -1: junk, no pair).

    ``identity[s][k]`` is the planted cell of footprint ``k`` of session ``s``.
    """
    where: dict[int, list[tuple[int, int]]] = {}
    for s, ids in enumerate(identity):
        for k, cell in enumerate(np.asarray(ids).tolist()):
            if cell >= 0:
                where.setdefault(int(cell), []).append((s, k))
    pairs = set()
    for held in where.values():
        held.sort()
        for x in range(len(held)):
            for y in range(x + 1, len(held)):
                if held[x][0] != held[y][0]:
                    pairs.add((held[x], held[y]))
    return pairs


def pair_scores(assignments: Any, identity: Any) -> dict[str, float]:
    """Pair precision, recall and F1 of tracks against the planted identity.

    A pair is two footprints of two sessions; the tracks put a pair together when one
    track holds both, the truth when both come from one planted cell.

    Examples
    --------
    >>> pair_scores([[0, 0, -1], [1, 1, 0]], [[0, 1], [0, 1], [1]])
    {'precision': 1.0, 'recall': 1.0, 'f1': 1.0, 'n_true': 4, 'n_found': 4}
    """
    found = track_pairs(assignments)
    truth = true_pairs(identity)
    tp = len(found & truth)
    precision = tp / len(found) if found else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * tp / (len(found) + len(truth)) if (found or truth) else 1.0
    return {"precision": precision, "recall": recall, "f1": f1, "n_true": len(truth),
            "n_found": len(found)}
