"""The multi-day simulator plants what it says: identities, deformations, artefacts."""

import numpy as np
import pytest

from napari_amnesia.core.simulate.sessions import simulate_sessions


def test_identity_deformation_and_footprints_agree():
    data = simulate_sessions(3, preset="standard", shape=(128, 128), n_cells=40, rng=0,
                             junk_fraction=0.0, partial_fraction=0.0,
                             contaminated_fraction=0.0)
    for s in range(3):
        f = data.footprints[s].tocsc()
        assert np.allclose(np.sqrt(f.multiply(f).sum(axis=0)), 1, atol=1e-4)
        ids = data.identity[s]
        assert np.array_equal(np.sort(ids), np.flatnonzero(data.found[:, s]))
        # each footprint's centre, taken to the tissue, is its planted cell's centre
        # (cells cut by the edge of the field excepted)
        Y, X = data.shape
        pix = np.arange(Y * X)
        weights = np.asarray(f.sum(axis=0)).ravel()
        center = np.column_stack([f.T @ (pix // X), f.T @ (pix % X)]) / weights[:, None]
        error = np.hypot(*(data.session_to_tissue(s, center) - data.centers[ids]).T)
        assert np.median(error) < 0.05 and np.mean(error < 0.5) > 0.85
    points = np.random.default_rng(1).uniform(10, 118, (30, 2))
    back = data.tissue_to_session(1, data.session_to_tissue(1, points))
    assert np.abs(back - points).max() < 1e-6


def test_planted_fractions_and_deformations():
    data = simulate_sessions(5, preset="hard", rng=2)
    p = data.params
    silent = 1 - data.found.sum() / data.alive.sum()
    assert abs(silent - p["silent_fraction"]) < 0.05
    assert not data.alive[:, 0].all() and data.alive[:, -1].sum() > data.alive[:, 0].sum()
    assert np.all(np.abs(np.degrees(data.angles)) <= p["max_rotation"])
    assert np.all(np.hypot(*data.offsets.T) <= p["max_offset"] + 1e-9)
    junk = sum(int((i < 0).sum()) for i in data.identity)
    assert junk > 0.5 * p["junk_fraction"] * data.centers.shape[0] * 5


def test_movies_hold_the_planted_traces():
    data = simulate_sessions(2, preset="standard", shape=(64, 64), n_cells=8, rng=3,
                             movies=True, n_frames=120)
    movie, traces = data.movies[0], data.traces[0]
    assert movie.shape == (120, 64, 64) and traces.shape == (8, 120)
    k = int(np.argmax(traces.std(axis=1)))
    f = data.tissue_footprints[0][:, k].toarray().ravel()
    signal = movie.reshape(120, -1) @ f
    assert np.corrcoef(signal, traces[k])[0, 1] > 0.8


def test_bad_arguments():
    with pytest.raises(ValueError, match="preset should be one of"):
        simulate_sessions(2, preset="easy")
    with pytest.raises(TypeError, match="unknown simulate_sessions parameter"):
        simulate_sessions(2, n_neurons=3)
