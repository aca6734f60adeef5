"""Shared fixtures of the curation tests: a small movie with planted somata."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def planted():
    """10 somata, no neurites, no motion; the ground-truth labels as ROIs (values 3, 6, ...)."""
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=300, shape=(80, 80), n_cells=10, n_neurite_groups=0,
                            motion=False, rng=1)
    return movie, truth, np.asarray(truth.labels(), np.int32) * 3
