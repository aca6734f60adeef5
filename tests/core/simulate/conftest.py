"""Shared fixtures of the simulator's tests: one small movie, made once per module."""

from __future__ import annotations

import pytest

from napari_amnesia.core.simulate import simulate

SMALL = dict(n_frames=60, shape=(80, 96), n_cells=6, n_neurite_groups=2, branches_per_group=3)


@pytest.fixture(scope="module")
def small_args():
    """Return the arguments of the small movie (without its seed, 7)."""
    return dict(SMALL)


@pytest.fixture(scope="module")
def small():
    """Simulate the small movie and its ground truth (rng=7)."""
    return simulate(**SMALL, rng=7)
