"""Tests of simulate(): determinism, shapes and dtypes, summaries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_amnesia.core.simulate import SimulationParams, simulate

# the small movie of conftest.py (its fixture ``small`` is this with rng=7)
SMALL = dict(n_frames=60, shape=(80, 96), n_cells=6, n_neurite_groups=2, branches_per_group=3)


def test_small_is_the_fixture_movie(small_args):
    """Small is the fixture movie."""
    assert small_args == SMALL


def test_same_seed_same_movie_other_seed_other_movie(small):
    """Same seed same movie other seed other movie."""
    movie, truth = small
    again, truth2 = simulate(**SMALL, rng=7)
    np.testing.assert_array_equal(movie, again)
    np.testing.assert_array_equal(truth.footprints, truth2.footprints)
    np.testing.assert_array_equal(truth.shifts, truth2.shifts)
    other, truth3 = simulate(**SMALL, rng=8)
    assert not np.array_equal(movie, other)
    assert not np.array_equal(truth.centers, truth3.centers)


def test_generator_rng_is_turned_into_a_reproducible_seed():
    """Generator rng is turned into a reproducible seed."""
    movie, truth = simulate(**SMALL, rng=np.random.default_rng(123))
    assert isinstance(truth.seed, int) and truth.params["rng"] == truth.seed
    again, _ = simulate(**SMALL, rng=truth.seed)
    np.testing.assert_array_equal(movie, again)


def test_shapes_and_dtypes(small):
    """Shapes and dtypes."""
    movie, truth = small
    T, (Y, X) = SMALL["n_frames"], SMALL["shape"]
    K, B, G = truth.n_cells, truth.n_branches, truth.n_groups
    assert movie.shape == (T, Y, X) and movie.dtype == np.uint16
    assert (K, B, G) == (6, 6, 2)
    assert truth.footprints.shape == (K, Y, X) and truth.footprints.dtype == np.float32
    for name in ("traces", "spikes", "spike_counts"):
        assert getattr(truth, name).shape == (K, T)
    assert truth.traces.dtype == np.float32
    assert truth.g.shape == (1,)
    assert truth.baseline.shape == truth.noise_sd.shape == truth.amplitudes.shape == (K,)
    assert truth.branch_footprints.shape == (B, Y, X)
    assert truth.branch_traces.shape == (B, T) and truth.group_traces.shape == (G, T)
    assert len(truth.branch_paths) == B and all(p.shape[1] == 2 for p in truth.branch_paths)
    assert truth.shifts.shape == (T, 2) and truth.bleaching.shape == (T,)
    nb = truth.background_spatial.shape[0]
    assert truth.background_spatial.shape == (nb, Y, X)
    assert truth.background_temporal.shape == (nb, T)
    assert truth.pixel_noise_sd.shape == (Y, X)
    assert truth.displacement(5).shape == (2, Y, X)
    summary = json.loads(json.dumps(truth.to_dict()))
    assert summary["n_cells"] == K and summary["shape"] == [Y, X]
    assert summary["params"]["n_frames"] == T and summary["params"]["rng"] == 7
    json.dumps(truth.params)  # params alone are JSON-able
    assert "n_cells=6" in repr(truth)

    movie32, truth32 = simulate(**SMALL, dtype="float32", rng=7)
    assert movie32.dtype == np.float32
    # uint16 is the rounded float32 movie
    np.testing.assert_array_equal(np.rint(np.clip(movie32, 0, 65535)).astype(np.uint16), movie)


def test_params_dict_and_keywords_give_the_same_movie():
    """Params dict and keywords give the same movie."""
    movie, truth = simulate(**SMALL, rng=7)
    from_params, t1 = simulate(SimulationParams(**SMALL, rng=7))
    from_dict, t2 = simulate(SimulationParams(**SMALL, rng=7).to_dict())
    mixed, t3 = simulate({"n_frames": 60, "rng": 7}, **{**SMALL, "n_frames": 60})
    for other, t in ((from_params, t1), (from_dict, t2), (mixed, t3)):
        np.testing.assert_array_equal(other, movie)
        assert t.params == truth.params
    # the truth gives back parameters that remake the movie
    again, _ = simulate(truth.to_params())
    np.testing.assert_array_equal(again, movie)


def test_provenance_is_recorded(small):
    """Provenance is recorded."""
    _, truth = small
    from napari_amnesia import __version__

    prov = truth.provenance
    assert prov["version"] == __version__ and prov["seed"] == truth.seed == 7
    assert prov["elapsed_s"] >= 0 and "T" in prov["created"]
    json.dumps(prov)
    assert "provenance" not in truth.to_dict()  # the summary of the demo is unchanged


def test_unknown_parameter_is_a_type_error():
    """Unknown parameter is a type error."""
    with pytest.raises(TypeError, match="n_cell"):
        simulate(n_frames=5, shape=(32, 32), n_cell=2)
