"""Tests of the simulator: the planted ground truth must be what the movie contains."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from scipy.spatial.distance import cdist

from napari_amnesia.core import simulate as sim_module
from napari_amnesia.core.simulate import (
    GroundTruth,
    ar_coefficients,
    simulate,
    write_simulated_movie,
)

SMALL = dict(n_frames=60, shape=(80, 96), n_cells=6, n_neurite_groups=2, branches_per_group=3)
QUIET = dict(photon_noise="none", read_noise=0.0, dtype="float32")


@pytest.fixture(scope="module")
def small():
    return simulate(**SMALL, rng=7)


# ---- determinism, shapes, summaries ------------------------------------------------------


def test_same_seed_same_movie_other_seed_other_movie(small):
    movie, truth = small
    again, truth2 = simulate(**SMALL, rng=7)
    np.testing.assert_array_equal(movie, again)
    np.testing.assert_array_equal(truth.footprints, truth2.footprints)
    np.testing.assert_array_equal(truth.shifts, truth2.shifts)
    other, truth3 = simulate(**SMALL, rng=8)
    assert not np.array_equal(movie, other)
    assert not np.array_equal(truth.centers, truth3.centers)


def test_generator_rng_is_turned_into_a_reproducible_seed():
    movie, truth = simulate(**SMALL, rng=np.random.default_rng(123))
    assert isinstance(truth.seed, int) and truth.params["rng"] == truth.seed
    again, _ = simulate(**SMALL, rng=truth.seed)
    np.testing.assert_array_equal(movie, again)


def test_shapes_and_dtypes(small):
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


def test_footprints_normalized_nonnegative_and_inside(small):
    _, truth = small
    Y, X = truth.shape
    for fps in (truth.footprints, truth.branch_footprints):
        norms = np.sqrt((fps.astype(np.float64) ** 2).sum(axis=(1, 2)))
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
        assert fps.min() >= 0
    border = np.ones((Y, X), bool)
    border[1:-1, 1:-1] = False
    # (unit norm) energy on the frame border is negligible: cells lie inside the frame
    assert (truth.footprints[:, border] ** 2).sum(axis=1).max() < 1e-4
    assert np.all((truth.centers >= 0) & (truth.centers < [Y, X]))
    for path in truth.branch_paths:
        assert np.all((path >= 0) & (path <= [Y - 1, X - 1]))


def test_overlapping_pairs_planted_when_asked():
    _, truth = simulate(n_frames=5, shape=(96, 96), n_cells=10, overlap_fraction=0.4, rng=1)
    pairs = truth.overlapping_pairs
    assert len(pairs) >= 2
    for i, j in pairs:
        fi = truth.footprints[i] >= 0.2 * truth.footprints[i].max()
        fj = truth.footprints[j] >= 0.2 * truth.footprints[j].max()
        assert np.any(fi & fj)
        # overlapping, yet distinct cells: centres at least ~half a radius apart
        assert np.hypot(*(truth.centers[i] - truth.centers[j])) > 2.0
    _, apart = simulate(n_frames=5, shape=(128, 128), n_cells=8, overlap_fraction=0.0, rng=1)
    assert len(apart.overlapping_pairs) == 0


# ---- activity ----------------------------------------------------------------------------


@pytest.mark.parametrize("ar_order", [1, 2])
def test_traces_follow_the_ar_model_exactly(ar_order):
    _, truth = simulate(
        n_frames=400,
        shape=(48, 48),
        n_cells=4,
        n_neurite_groups=0,
        ar_order=ar_order,
        spike_rate=2.0,
        decay_time=0.5,
        rise_time=0.08,
        rng=2,
    )
    c = truth.traces.astype(np.float64)
    s = truth.spikes.astype(np.float64)
    g = truth.g
    assert len(g) == ar_order
    expected = ar_coefficients(decay_time=0.5, rise_time=0.08, frame_rate=30.0, ar_order=ar_order)
    np.testing.assert_allclose(g, expected)
    pred = s[:, ar_order:].copy()
    for i, gi in enumerate(g):
        pred += gi * c[:, ar_order - 1 - i : c.shape[1] - 1 - i]
    np.testing.assert_allclose(c[:, ar_order:], pred, atol=1e-3 * c.max())
    np.testing.assert_allclose(s, truth.spike_counts * truth.amplitudes[:, None], rtol=1e-6)
    assert truth.spike_counts.sum() > 20
    # least squares on the spike-free frames recovers g
    for k in range(truth.n_cells):
        lagged = np.column_stack(
            [c[k, ar_order - 1 - i : c.shape[1] - 1 - i] for i in range(ar_order)]
        )
        quiet = truth.spike_counts[k, ar_order:] == 0
        fit, *_ = np.linalg.lstsq(lagged[quiet], c[k, ar_order:][quiet], rcond=None)
        np.testing.assert_allclose(fit, g, atol=1e-3)


def test_ar_coefficient_errors():
    with pytest.raises(ValueError, match="rise_time"):
        ar_coefficients(decay_time=0.1, rise_time=0.2, frame_rate=30, ar_order=2)
    with pytest.raises(ValueError, match="ar_order"):
        ar_coefficients(decay_time=0.1, frame_rate=30, ar_order=3)


def test_branches_of_a_group_are_coactive_in_the_movie():
    movie, truth = simulate(
        n_frames=600,
        shape=(96, 96),
        n_cells=3,
        n_neurite_groups=3,
        branches_per_group=3,
        spike_rate=1.0,
        motion=False,
        bleaching=0.0,
        rng=4,
    )
    G, groups = truth.n_groups, truth.branch_groups
    same = groups[:, None] == groups[None, :]
    off = ~np.eye(len(groups), dtype=bool)

    corr = np.corrcoef(truth.branch_traces)
    assert corr[same & off].min() > 0.9
    assert np.abs(corr[~same]).max() < 0.35

    lab = truth.branch_labels()
    # pixels of each branch (centre of the tube only), averaged into one trace
    core = truth.branch_footprints >= 0.6 * truth.branch_footprints.max(axis=(1, 2), keepdims=True)
    pix = np.stack(
        [movie[:, (lab == b + 1) & core[b]].mean(axis=1) for b in range(truth.n_branches)]
    )
    pc = np.corrcoef(pix)
    within, across = pc[same & off].mean(), pc[~same].mean()
    assert within > 0.85, within
    assert abs(across) < 0.15, across
    assert G == 3


def test_branch_graph_is_a_forest_of_groups(small):
    _, truth = small
    graph = truth.branch_graph
    edges, junctions = graph["edges"], graph["junctions"]
    B, G = truth.n_branches, truth.n_groups
    assert edges.shape == (B - G, 2)  # one tree per group: every non-root has one parent
    assert graph["n_segments"] == B + len(edges)
    assert len(graph["endpoints"]) == B + G
    for (parent, child), junction in zip(edges, junctions, strict=True):
        assert truth.branch_groups[parent] == truth.branch_groups[child]
        np.testing.assert_allclose(truth.branch_paths[child][0], junction)
        d = np.hypot(*(truth.branch_paths[parent] - junction).T).min()
        assert d < 1e-9  # the junction lies on the parent's centre line
        steps = np.hypot(*np.diff(truth.branch_paths[child], axis=0).T)
        np.testing.assert_allclose(steps, 1.0, atol=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_neurites_never_cross_touch_or_enter_somata(seed):
    # the 2-D image of the planted trees has exactly the planted graph: centre lines
    # of different branches keep >= 6 px (the clearance for 1-px-wide neurites) apart
    # except at a fork, where the child diverges by >= 30 degrees; no neurite enters
    # a soma
    _, truth = simulate(n_frames=2, shape=(192, 192), n_cells=12, n_neurite_groups=3,
                        branches_per_group=5, rng=seed)
    paths = truth.branch_paths
    pairs = [tuple(e) for e in truth.branch_graph["edges"].tolist()]
    edges = set(pairs)
    fork = {frozenset(e): j for e, j in zip(pairs, truth.branch_graph["junctions"],
                                             strict=True)}
    for i in range(len(paths)):
        for k in range(i + 1, len(paths)):
            d = cdist(paths[i], paths[k])
            j = fork.get(frozenset((i, k)))
            if j is None:
                assert d.min() >= 6.0 - 1e-9, (i, k, d.min())
            else:
                child = paths[k] if (i, k) in edges else paths[i]
                parent = paths[i] if (i, k) in edges else paths[k]
                r = np.hypot(*(child - j).T)
                near = cdist(child, parent).min(axis=1)
                assert np.all(near >= np.minimum(6.0, 0.5 * r) - 1e-6)
    cells = truth.labels(threshold=0.05) > 0
    pts = np.round(np.concatenate(paths)).astype(int)
    assert not cells[pts[:, 0], pts[:, 1]].any()


def test_a_seed_grows_the_same_trees_whatever_the_number_of_cells():
    _, alone = simulate(n_frames=2, shape=(256, 256), n_cells=0, n_neurite_groups=2,
                        branches_per_group=3, rng=11)
    _, crowd = simulate(n_frames=2, shape=(256, 256), n_cells=5, n_neurite_groups=2,
                        branches_per_group=3, rng=11)
    # the same draws: each branch of the crowded scene is the start of the lone one
    # (a branch stops short where a soma is in its way)
    assert alone.n_branches == crowd.n_branches
    for a, c in zip(alone.branch_paths, crowd.branch_paths, strict=True):
        np.testing.assert_allclose(c, a[: len(c)])


# ---- motion ------------------------------------------------------------------------------


def test_rigid_motion_is_the_documented_shift():
    movie, truth = simulate(
        n_frames=12, shape=(64, 64), n_cells=6, nonrigid=False, max_shift=3.0, rng=5, **QUIET
    )
    assert np.abs(truth.shifts).max() == pytest.approx(3.0, abs=1e-5)
    reference = truth.clean_frames(motion=False)
    np.testing.assert_allclose(truth.clean_frames(), movie, atol=1e-3)
    from skimage.registration import phase_cross_correlation

    m = 5  # ignore the border that ndimage.shift extrapolates
    for t in range(0, 12, 3):
        dy, dx = truth.shifts[t]
        shifted = ndimage.shift(reference[t], (dy, dx), order=1, mode="nearest")
        np.testing.assert_allclose(movie[t, m:-m, m:-m], shifted[m:-m, m:-m], rtol=1e-4, atol=1e-2)
        # the sign: shifting the reference the other way is much worse
        wrong = ndimage.shift(reference[t], (-dy, -dx), order=1, mode="nearest")
        err = np.abs(movie[t] - shifted)[m:-m, m:-m].mean()
        assert np.abs(movie[t] - wrong)[m:-m, m:-m].mean() > 10 * err + 0.1
        # the registration that undoes it is -shifts[t] (whole pixels: 64 px frames)
        found, _, _ = phase_cross_correlation(reference[t], movie[t])
        np.testing.assert_allclose(found, -truth.shifts[t], atol=0.5 + 1e-6)
        field_ = truth.displacement(t)
        np.testing.assert_allclose(field_[0], dy, atol=1e-6)
        np.testing.assert_allclose(field_[1], dx, atol=1e-6)


def test_nonrigid_displacement_moves_each_cell_by_the_field():
    movie, truth = simulate(
        n_frames=20,
        shape=(128, 128),
        n_cells=12,
        n_neurite_groups=0,
        overlap_fraction=0,
        background_brightness=0.0,
        bleaching=0.0,
        spike_rate=0.0,
        max_shift=2.0,
        nonrigid_amplitude=3.0,
        rng=6,
        **QUIET,
    )
    assert np.abs(truth.nonrigid_coefficients).sum(axis=2).max() == pytest.approx(3.0, rel=1e-5)
    img = movie - truth.offset
    reference = truth.clean_frames(0, 1, motion=False)[0] - truth.offset
    lab = truth.labels(threshold=0.05)
    grid = np.mgrid[0:128, 0:128].reshape(2, -1).T
    errors, moved = [], []
    m = 6
    for t in (0, 7, 19):
        dfield = truth.displacement(t)
        np.testing.assert_allclose(
            dfield.reshape(2, -1).T[::97], truth.displacement_at(grid[::97], t), atol=1e-5
        )
        # frame_t[o] = reference[o - d(o)]
        warped = ndimage.map_coordinates(reference, np.mgrid[0:128, 0:128] - dfield, order=1)
        np.testing.assert_allclose(img[t, m:-m, m:-m], warped[m:-m, m:-m], atol=1e-2)
        # and each isolated cell's centre of mass moved by the field at its centre
        for k in range(truth.n_cells):
            window = ndimage.binary_dilation(lab == k + 1, iterations=5)
            others = ndimage.binary_dilation((lab > 0) & (lab != k + 1), iterations=5)
            if np.any(window & others):
                continue
            ref = np.array(ndimage.center_of_mass(truth.footprints[k]))
            expected = truth.reference_to_frame(ref[None], t)[0]
            np.testing.assert_allclose(truth.frame_to_reference(expected[None], t)[0], ref)
            found = np.array(ndimage.center_of_mass(np.where(window, img[t], 0)))
            errors.append(np.hypot(*(found - expected)))
            moved.append(np.hypot(*(expected - ref)))
    assert len(errors) >= 9
    assert np.max(moved) > 2.0  # the test is not trivial
    assert np.max(errors) < 0.05, np.max(errors)
    # different cells move differently: the field is not rigid
    dmap = truth.displacement(7)
    assert np.ptp(dmap[0]) > 0.5 or np.ptp(dmap[1]) > 0.5


def test_no_motion_when_switched_off():
    movie, truth = simulate(n_frames=10, shape=(48, 48), n_cells=3, motion=False, rng=2, **QUIET)
    assert not truth.shifts.any() and not truth.nonrigid_coefficients.any()
    np.testing.assert_allclose(movie, truth.clean_frames(motion=False), atol=1e-3)


# ---- intensity model ---------------------------------------------------------------------


def test_bleaching_lowers_late_frames():
    movie, truth = simulate(
        n_frames=200, shape=(48, 48), n_cells=5, bleaching=0.3, motion=False, rng=3, **QUIET
    )
    assert truth.bleaching[0] == pytest.approx(1.0)
    assert truth.bleaching[-1] == pytest.approx(0.7, rel=1e-5)
    assert np.all(np.diff(truth.bleaching) < 0)
    f = movie.reshape(len(movie), -1).mean(axis=1) - truth.offset
    assert f[-20:].mean() < 0.85 * f[:20].mean()
    _, flat = simulate(n_frames=20, shape=(48, 48), n_cells=2, bleaching=0.0, rng=3)
    assert np.all(flat.bleaching == 1)


def _background_fraction_and_snr(truth: GroundTruth) -> tuple[float, float]:
    """Fraction of the mean fluorescence on the cells' pixels that is background, and the
    median one-spike SNR (jump of a cell trace caused by one spike / noise of the
    footprint-weighted trace)."""
    bg = np.tensordot(truth.background_temporal.mean(axis=1), truth.background_spatial, 1)
    cells = np.tensordot(truth.baseline + truth.traces.mean(axis=1), truth.footprints, 1)
    on_cells = truth.labels() > 0
    fraction = bg[on_cells].sum() / (bg + cells)[on_cells].sum()
    snr = float(np.median(truth.amplitudes / truth.noise_sd))
    return float(fraction), snr


def test_one_photon_is_background_dominated_and_noisier():
    kw = dict(n_frames=30, shape=(96, 96), n_cells=8, n_neurite_groups=1, rng=0)
    movie2, two = simulate(mode="two_photon", **kw)
    movie1, one = simulate(mode="one_photon", **kw)
    frac2, snr2 = _background_fraction_and_snr(two)
    frac1, snr1 = _background_fraction_and_snr(one)
    assert frac1 > 0.8 and frac2 < 0.5, (frac1, frac2)
    assert snr1 < 0.5 * snr2, (snr1, snr2)
    # one-photon cells are larger and blurrier
    area = lambda t: (t.labels() > 0).sum() / t.n_cells  # noqa: E731
    assert area(one) > 1.5 * area(two)
    assert movie1.mean() > 3 * movie2.mean()


@pytest.mark.parametrize("photon_noise", ["gaussian", "poisson"])
def test_noise_level_matches_the_model(photon_noise):
    movie, truth = simulate(
        n_frames=80,
        shape=(48, 48),
        n_cells=4,
        motion=False,
        bleaching=0.0,
        gain=2.0,
        read_noise=3.0,
        photon_noise=photon_noise,
        dtype="float32",
        rng=9,
    )
    clean = truth.clean_frames()
    residual = movie - clean
    expected = np.sqrt(2.0 * (clean - truth.offset) + 9.0)
    z = residual / expected
    assert abs(z.mean()) < 0.02
    assert z.std() == pytest.approx(1.0, abs=0.03)
    ratio = residual.std(axis=0) / truth.pixel_noise_sd
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)


# ---- labels ------------------------------------------------------------------------------


def test_labels_rule():
    _, truth = simulate(n_frames=5, shape=(96, 96), n_cells=10, overlap_fraction=0.6, rng=11)
    assert len(truth.overlapping_pairs) >= 2
    lab = truth.labels()
    assert lab.dtype == np.int32 and lab.shape == truth.shape
    assert set(np.unique(lab)) == set(range(truth.n_cells + 1))
    rel = truth.footprints / truth.footprints.max(axis=(1, 2), keepdims=True)
    covered = rel >= 0.2
    expect = np.where(covered.any(axis=0), np.argmax(np.where(covered, rel, -1), axis=0) + 1, 0)
    np.testing.assert_array_equal(lab, expect)
    i, j = truth.overlapping_pairs[0]
    both = covered[i] & covered[j]
    assert np.all(np.isin(lab[both], [i + 1, j + 1]))
    # a looser threshold covers more pixels
    assert (truth.labels(threshold=0.05) > 0).sum() > (lab > 0).sum()
    blab = truth.branch_labels()
    assert set(np.unique(blab)) == set(range(truth.n_branches + 1))
    with pytest.raises(ValueError, match="threshold"):
        truth.labels(threshold=0)


# ---- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("n_frames", 0),
        ("shape", (8, 64)),
        ("n_cells", -1),
        ("mode", "three_photon"),
        ("ar_order", 3),
        ("frame_rate", 0.0),
        ("decay_time", -0.1),
        ("spike_rate", -1.0),
        ("bleaching", 1.0),
        ("max_shift", -2.0),
        ("nonrigid_amplitude", float("nan")),
        ("overlap_fraction", 1.5),
        ("photon_noise", "shot"),
        ("dtype", "int8"),
        ("cell_radius", (5.0, 2.0)),
        ("rng", "seed"),
    ],
)
def test_out_of_range_parameters_raise_naming_them(name, value):
    with pytest.raises(ValueError, match=name):
        simulate(**{**dict(n_frames=5, shape=(32, 32), n_cells=2), name: value})


def test_rise_time_must_be_shorter_than_decay_time():
    with pytest.raises(ValueError, match="rise_time"):
        simulate(n_frames=5, shape=(32, 32), ar_order=2, decay_time=0.1, rise_time=0.2)


def test_frame_index_checked(small):
    _, truth = small
    with pytest.raises(ValueError, match="t must be"):
        truth.displacement(truth.n_frames)


# ---- writing -----------------------------------------------------------------------------


def test_write_simulated_movie_round_trips(tmp_path):
    kw = dict(n_cells=4, n_neurite_groups=1, branches_per_group=2, rng=21)
    path = tmp_path / "sim.tif"
    steps = []
    truth = write_simulated_movie(
        path, n_frames=45, shape=(40, 56), chunk_frames=16, progress=steps.append, **kw
    )
    movie, expected = simulate(n_frames=45, shape=(40, 56), **kw)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.series) == 1 and tif.series[0].shape == (45, 40, 56)
        assert tif.series[0].dataoffset is not None  # contiguous: memory-mappable
        assert not tif.is_bigtiff
    np.testing.assert_array_equal(tifffile.imread(path), movie)
    np.testing.assert_array_equal(truth.traces, expected.traces)
    np.testing.assert_array_equal(truth.shifts, expected.shifts)
    assert [s.done for s in steps] == [16, 32, 45] and steps[-1].total == 45
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim.tif"]


def test_write_simulated_movie_uses_bigtiff_for_large_files(tmp_path, monkeypatch):
    monkeypatch.setattr(sim_module, "_BIGTIFF_BYTES", 1000)
    path = tmp_path / "big.tif"
    write_simulated_movie(path, n_frames=3, shape=(32, 32), n_cells=1, rng=0)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff and tif.series[0].shape == (3, 32, 32)
    assert tifffile.memmap(path).dtype == np.uint16


def test_write_simulated_movie_rejects_float(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        write_simulated_movie(tmp_path / "x.tif", n_frames=3, shape=(32, 32), dtype="float32")
    assert not list(tmp_path.iterdir())


# ---- partial and lazy rendering ------------------------------------------------------------


def test_render_and_to_dask_give_the_same_frames(small):
    movie, truth = small
    np.testing.assert_array_equal(truth.render(17, 45), movie[17:45])
    lazy = truth.to_dask(chunk_frames=7)
    assert lazy.shape == movie.shape and lazy.dtype == movie.dtype
    np.testing.assert_array_equal(lazy[5:30].compute(), movie[5:30])
    with pytest.raises(ValueError, match="start:stop"):
        truth.render(10, 5)


def test_mean_image_is_the_mean_of_the_unmoved_clean_movie():
    movie, truth = simulate(
        n_frames=50,
        shape=(48, 48),
        n_cells=4,
        n_neurite_groups=1,
        motion=False,
        rng=12,
        **QUIET,
    )
    np.testing.assert_allclose(truth.mean_image(), movie.mean(axis=0), rtol=1e-4, atol=1e-3)


def test_cancelled_write_leaves_no_file(tmp_path):
    from napari_amnesia.core.simulate import iter_write_simulated_movie

    gen = iter_write_simulated_movie(
        tmp_path / "c.tif", n_frames=40, shape=(32, 32), chunk_frames=10, n_cells=1
    )
    assert next(gen).done == 10
    gen.close()
    assert not list(tmp_path.iterdir())
