"""The planted neurite scene the clustering tests share."""

import numpy as np
import pytest

from napari_amnesia.core.simulate import simulate
from napari_amnesia.core.skeleton import skeletonize


@pytest.fixture(scope="module")
def scene():
    """Return the simulated scene of this module's tests."""
    movie, truth = simulate(n_frames=500, shape=(112, 112), n_cells=0, n_neurite_groups=4,
                            branches_per_group=3, motion=False, rng=1)
    skeleton = skeletonize(movie)
    group_of_pixel = np.concatenate([[-1], truth.branch_groups])[truth.branch_labels()]
    return movie, truth, skeleton, group_of_pixel

