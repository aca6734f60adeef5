"""Helpers of the clustering tests: planted groups of elements, coactive traces."""

import numpy as np

from napari_amnesia.core.metrics import majority_labels


def planted(projection, group_of_pixel):
    """Planted group of each element: majority of its pixels (-1: on no branch)."""
    return majority_labels(projection.pixels, group_of_pixel)[0]


def blobs(n_groups=3, per_group=15, n_frames=200, seed=0):
    """Return coactive traces ``(N, T)`` of ``n_groups`` planted groups and their truth."""
    rng = np.random.default_rng(seed)
    sources = rng.standard_normal((n_groups, n_frames))
    truth = np.repeat(np.arange(n_groups), per_group)
    traces = sources[truth] + 0.4 * rng.standard_normal((len(truth), n_frames))
    return traces.astype(np.float32), truth

