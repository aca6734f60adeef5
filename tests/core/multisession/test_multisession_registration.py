"""Multi-session registration recovers planted tracks and deformations, order-free."""

import itertools

import numpy as np
import pytest
from scipy import sparse

from napari_amnesia.core.multisession import (
    RegistrationResult,
    pair_scores,
    register,
)
from napari_amnesia.core.simulate.sessions import simulate_sessions


@pytest.fixture(scope="module")
def standard():
    """Three standard scenes (issue 17's held-out-like set) and their registrations."""
    out = []
    for seed in (0, 1, 2):
        data = simulate_sessions(4, preset="standard", rng=seed)
        out.append((data, register(data.footprints, data.templates)))
    return out


def test_standard_pair_f1(standard):
    scores = [pair_scores(r.assignments, d.identity) for d, r in standard]
    assert min(s["f1"] for s in scores) >= 0.99, scores


def test_hard_pair_f1():
    for seed in (0, 1):
        data = simulate_sessions(4, preset="hard", rng=seed)
        result = register(data.footprints, data.templates)
        score = pair_scores(result.assignments, data.identity)
        assert score["f1"] >= 0.95, (seed, score)


def test_transform_error_against_planted_deformation(standard):
    data, result = standard[0]
    Y, X = data.shape
    grid = np.stack(np.meshgrid(np.arange(16, Y - 16, 8.0), np.arange(16, X - 16, 8.0),
                                indexing="ij"), -1).reshape(-1, 2)
    errors = []
    for s, t in itertools.permutations(range(data.n_sessions), 2):
        planted = data.session_to_session(s, t, grid)
        found = result.transforms[t].inverse_points(result.transforms[s].apply_points(grid))
        errors.append(np.hypot(*(planted - found).T))
    errors = np.concatenate(errors)
    # planted: offsets up to 8 px, rotations up to 2 degrees, non-rigid up to 5 px
    assert np.median(errors) < 0.35 and np.percentile(errors, 95) < 1.0, (
        np.median(errors), np.percentile(errors, 95))


def test_tracks_cover_each_footprint_once(standard):
    data, result = standard[0]
    for s in range(data.n_sessions):
        column = result.assignments[:, s]
        held = np.sort(column[column >= 0])
        assert np.array_equal(held, np.arange(data.footprints[s].shape[1]))
    assert np.all((result.confidence >= 0) & (result.confidence <= 1))
    # footprints of one planted cell: confident tracks; most tracks confident
    assert np.median(result.confidence) > 0.9


def _unpermute(result, session_order, footprint_orders):
    """Assignments of a run on permuted inputs, in the original sessions and indices."""
    out = np.full_like(result.assignments, -1)
    for new_s, old_s in enumerate(session_order):
        column = result.assignments[:, new_s]
        mapped = np.where(column >= 0, footprint_orders[old_s][np.maximum(column, 0)], -1)
        out[:, old_s] = mapped
    return out


def test_every_order_gives_the_same_tracks_exactly():
    data = simulate_sessions(3, preset="standard", shape=(128, 128), n_cells=40, rng=5)
    base = register(data.footprints, data.templates)
    rng = np.random.default_rng(0)
    for order in itertools.permutations(range(3)):
        shuffles = [rng.permutation(f.shape[1]) for f in data.footprints]
        footprints = [data.footprints[s][:, shuffles[s]] for s in order]
        templates = [data.templates[s] for s in order]
        result = register(footprints, templates)
        assert np.array_equal(_unpermute(result, order, shuffles), base.assignments)
        assert np.array_equal(result.confidence, base.confidence)
        for new_s, old_s in enumerate(order):
            assert result.transforms[new_s].to_dict() == base.transforms[old_s].to_dict()
        assert np.array_equal(result.template, base.template)


def test_same_answer_with_one_and_two_blas_threads():
    from threadpoolctl import threadpool_limits

    data = simulate_sessions(3, preset="hard", shape=(128, 128), n_cells=50, rng=3)
    with threadpool_limits(1):
        one = register(data.footprints, data.templates)
    with threadpool_limits(2):
        two = register(data.footprints, data.templates)
    assert np.array_equal(one.assignments, two.assignments)
    assert np.array_equal(one.confidence, two.confidence)
    assert [t.to_dict() for t in one.transforms] == [t.to_dict() for t in two.transforms]


def test_dense_and_sparse_inputs_agree():
    data = simulate_sessions(2, preset="standard", shape=(96, 96), n_cells=20, rng=4)
    dense = [f.toarray() for f in data.footprints]
    a = register(data.footprints, data.templates)
    b = register(dense, data.templates)
    assert np.array_equal(a.assignments, b.assignments)


def test_save_load_round_trip_and_layers(tmp_path, standard):
    _, result = standard[1]
    folder = result.save(tmp_path / "registration")
    back = RegistrationResult.load(folder)
    assert np.array_equal(back.assignments, result.assignments)
    assert np.array_equal(back.confidence, result.confidence)
    assert back.session_names == result.session_names
    points = np.array([[40.0, 50.0], [100.0, 200.0]])
    for t, u in zip(result.transforms, back.transforms, strict=True):
        assert np.allclose(t.apply_points(points), u.apply_points(points))
    assert (folder / "tracks.csv").read_text().splitlines()[0].startswith("track,")
    with pytest.raises(FileExistsError):
        result.save(folder)
    result.save(folder, overwrite=True)
    layers = result.to_layers("day")
    kinds = [kind for _, _, kind in layers]
    assert kinds == ["image", "image", "labels"]
    labels = layers[2][0]
    assert labels.shape == (result.n_sessions, *result.common_shape)
    # a cell keeps its label across sessions: labels drawn are tracks held there
    for s in range(result.n_sessions):
        drawn = np.unique(labels[s])[1:] - 1
        assert np.all(result.assignments[drawn, s] >= 0)


# ------------------------------------------------------------------------- bad input
def test_single_session_gives_one_track_per_footprint():
    data = simulate_sessions(1, preset="standard", shape=(96, 96), n_cells=15, rng=2)
    result = register(data.footprints, data.templates)
    n = data.footprints[0].shape[1]
    assert result.assignments.shape == (n, 1)
    assert sorted(result.assignments[:, 0].tolist()) == list(range(n))


def test_session_without_footprints_is_registered_with_a_note():
    data = simulate_sessions(3, preset="standard", shape=(128, 128), n_cells=30, rng=6)
    footprints = list(data.footprints)
    footprints[1] = sparse.csc_matrix((footprints[1].shape[0], 0))
    result = register(footprints, data.templates, names=["mon", "tue", "wed"])
    assert np.all(result.assignments[:, 1] == -1)
    assert any("tue has no footprints" in note for note in result.notes)
    assert pair_scores(result.assignments[:, [0, 2]],
                       [data.identity[0], data.identity[2]])["f1"] >= 0.97


def test_sessions_of_different_sizes_are_registered_with_a_note():
    data = simulate_sessions(3, preset="standard", shape=(128, 128), n_cells=40, rng=7)
    Y, X = 120, 128
    cropped = data.templates[2][:Y]
    f = data.footprints[2].tocsr()[: Y * X].tocsc()
    keep = np.flatnonzero(np.diff(f.indptr) > 0)
    result = register([data.footprints[0], data.footprints[1], f],
                      [data.templates[0], data.templates[1], cropped])
    assert any("differ in size" in note and "120x128" in note for note in result.notes)
    assert result.common_shape == (128, 128)
    identity = [data.identity[0], data.identity[1], np.full(f.shape[1], -9)]
    identity[2][keep] = data.identity[2][keep]
    identity[2][identity[2] == -9] = -1
    assert pair_scores(result.assignments, identity)["f1"] >= 0.95


def test_templates_that_do_not_overlap_are_an_error_naming_the_session():
    data = simulate_sessions(3, preset="standard", shape=(128, 128), n_cells=30, rng=8)
    other = simulate_sessions(1, preset="standard", shape=(128, 128), n_cells=30, rng=99)
    with pytest.raises(ValueError, match=r"the templates of wed .*do not overlap"):
        register([*data.footprints[:2], other.footprints[0]],
                 [*data.templates[:2], other.templates[0]], names=["mon", "tue", "wed"])


def test_footprints_that_do_not_fit_the_template_are_an_error():
    data = simulate_sessions(2, preset="standard", shape=(96, 96), n_cells=15, rng=9)
    with pytest.raises(ValueError, match=r"tue: the footprints have 100 pixels"):
        register([data.footprints[0], np.ones((100, 3))], data.templates,
                 names=["mon", "tue"])
    with pytest.raises(ValueError, match="one template"):
        register(data.footprints, data.templates[:1])
    with pytest.raises(ValueError, match="no session"):
        register([], [])
    with pytest.raises(ValueError, match="RegistrationParams.max_shift"):
        register(data.footprints, data.templates, max_shift=-1)


def test_progress_is_reported_and_a_cancel_stops_the_work():
    from napari_amnesia.core.multisession import iter_register
    from napari_amnesia.core.progress import Cancelled, Progress, drive

    data = simulate_sessions(3, preset="standard", shape=(96, 96), n_cells=15, rng=12)
    steps = []
    register(data.footprints, data.templates, progress=steps.append)
    assert steps and all(isinstance(p, Progress) for p in steps)
    assert {"aligning pairs of sessions", "matching footprints"} <= {p.message for p in steps}
    with pytest.raises(Cancelled):
        drive(iter_register(data.footprints, data.templates), cancel=lambda: True)


def test_results_without_a_mean_image_are_aligned_on_their_footprints(tmp_path):
    from napari_amnesia.core.cnmf import CNMFParams, SourceResult

    data = simulate_sessions(3, preset="standard", shape=(128, 128), n_cells=40, rng=13,
                             junk_fraction=0.0)
    folders = []
    for s, f in enumerate(data.footprints):
        K, T = f.shape[1], 10
        result = SourceResult(
            footprints=f, traces=np.zeros((K, T)), spikes=np.zeros((K, T)),
            residual_traces=np.zeros((K, T)), background_footprints=np.ones((f.shape[0], 1)),
            background_traces=np.ones((1, T)), baseline=np.zeros(K), g=np.zeros((K, 1)),
            lam=np.zeros(K), sn=np.ones((128, 128)), shape=(128, 128),
            params=CNMFParams(p=1))
        folders.append(result.save(tmp_path / f"day{s}"))
    registration = register(folders)
    assert registration.session_names == ["day0", "day1", "day2"]
    assert pair_scores(registration.assignments, data.identity)["f1"] >= 0.97
    assert registration.provenance["inputs"] == [str(f) for f in folders]
