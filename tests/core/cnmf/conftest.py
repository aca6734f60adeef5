"""The planted scene and its fit that several CNMF test files share.

Session-scoped: the movie is simulated, and the patched fit computed, once per run.
"""

from __future__ import annotations

import pytest
from cnmf_data import FIT, N_CELLS, SHAPE, T

from napari_amnesia.core import cnmf
from napari_amnesia.core.simulate import simulate


@pytest.fixture(scope="session")
def sim():
    return simulate(n_frames=T, shape=SHAPE, n_cells=N_CELLS, n_neurite_groups=0,
                    motion=False, rng=1)


@pytest.fixture(scope="session")
def fitted(sim):
    movie, _ = sim
    return cnmf.fit(movie, **FIT)
