"""Shared fixtures of the motion tests: planted rigid and non-rigid movies, corrected."""

from __future__ import annotations

import pytest

from napari_amnesia.core.motion import correct
from napari_amnesia.core.simulate import simulate


@pytest.fixture(scope="module")
def rigid_movie():
    return simulate(n_frames=200, shape=(128, 128), n_cells=20, max_shift=6.0,
                    nonrigid=False, rng=11)


@pytest.fixture(scope="module")
def nonrigid_movie():
    # 192 px: a 3 x 3 patch grid with the default 96-px patches, whose outer centres
    # see most of the planted deformation (the cosine modes vanish mid-frame); seed 3
    # is the first whose deformation at the patch centres exceeds 1.5 px (seed 4 was,
    # before the neurite trees got their own random stream)
    return simulate(n_frames=100, shape=(192, 192), n_cells=30, max_shift=6.0,
                    nonrigid=True, nonrigid_amplitude=3.0, rng=3)


@pytest.fixture(scope="module")
def rigid_result(rigid_movie):
    movie, _ = rigid_movie
    return correct(movie, num_frames_split=40)  # defaults


@pytest.fixture(scope="module")
def pw_result(nonrigid_movie):
    movie, _ = nonrigid_movie
    return correct(movie, pw_rigid=True, compute_metrics=False)  # defaults otherwise
