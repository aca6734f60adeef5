"""Tests of core.skeleton: planted branch graphs, streaming, degenerate inputs, params."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from napari_amnesia.core.progress import Progress, drive
from napari_amnesia.core.simulate import attach_somata, simulate
from napari_amnesia.core.skeleton import (
    BRANCH_TYPES,
    SkeletonParams,
    SkeletonResult,
    _SmoothedMovie,
    find_somata,
    iter_skeleton_statistics,
    iter_skeletonize,
    prune_skeleton,
    skeleton_graph,
    skeleton_statistics,
    skeletonize,
    write_statistics_csv,
)

DATA = Path(__file__).parents[2].parent / "shared" / "data"


# --------------------------------------------------------------------------- helpers
def separation(truth, exclude: float = 8.0) -> float:
    """Smallest distance between two planted centre lines, away from shared junctions
    (``simulate`` keeps them >= 6 px apart except within a fork)."""
    paths = truth.branch_paths
    edges = truth.branch_graph["edges"].tolist()
    junctions = truth.branch_graph["junctions"]
    best = np.inf
    for i in range(len(paths)):
        for j in range(i + 1, len(paths)):
            a, b = paths[i], paths[j]
            shared = [k for k, e in enumerate(edges) if set(e) == {i, j}]
            if shared:
                a = a[np.hypot(*(a - junctions[shared[0]]).T) > exclude]
                b = b[np.hypot(*(b - junctions[shared[0]]).T) > exclude]
            if len(a) and len(b):
                best = min(best, float(cdist(a, b).min()))
    return best


def matched(found, true, tol=3.0) -> int:
    if len(found) == 0 or len(true) == 0:
        return 0
    d = cdist(found, true)
    d[d > tol] = 1e6
    r, c = linear_sum_assignment(d)
    return int((d[r, c] <= tol).sum())


def planted_scenes(count, *, shape=(128, 128), per_group=3, **sim):
    """Single-tree scenes of seeds 1 .. count (every one: the trees never cross)."""
    scenes = []
    for seed in range(1, count + 1):
        kw = dict(n_frames=100, shape=shape, n_cells=0, n_neurite_groups=1,
                  branches_per_group=per_group, motion=False, rng=seed)
        kw.update(sim)
        movie, truth = simulate(**kw)
        assert separation(truth) >= 4.5, seed
        scenes.append((movie, truth))
    return scenes


def graph_scores(results, truths, *, scale=1.0, offset=0.0):
    n_found = sum(r.totals["n_branches"] for r in results)
    n_true = sum(t.branch_graph["n_segments"] for t in truths)
    lengths = []
    tp = n_j = n_jt = 0
    for r, t in zip(results, truths, strict=True):
        true_len = sum(float(np.hypot(*np.diff(p, axis=0).T).sum()) for p in t.branch_paths)
        lengths.append(r.totals["total_length"] / (scale * true_len) - 1)
        junctions = (np.asarray(t.branch_graph["junctions"]) - offset) * scale
        tp += matched(r.junctions, junctions)
        n_j += len(r.junctions)
        n_jt += len(junctions)
    return {
        "branches": n_found / n_true - 1,
        "length": float(np.sum([r.totals["total_length"] for r in results])
                        / (scale * sum(float(np.hypot(*np.diff(p, axis=0).T).sum())
                                       for t in truths for p in t.branch_paths)) - 1),
        "lengths": lengths,
        "f1": 2 * tp / (n_j + n_jt),
    }


@pytest.fixture(scope="module")
def clean_scenes():
    return planted_scenes(8)


# --------------------------------------------------------------------------- accuracy
def test_planted_graph_clean(clean_scenes):
    results = [skeletonize(movie) for movie, _ in clean_scenes]
    s = graph_scores(results, [t for _, t in clean_scenes])
    assert abs(s["branches"]) <= 0.10, s
    assert abs(s["length"]) <= 0.10, s
    assert np.mean(np.abs(s["lengths"]) <= 0.10) >= 0.85, s
    assert s["f1"] >= 0.9, s


def test_planted_graph_of_several_trees():
    # three arbors in one field: the trees keep apart from each other as well
    scenes = planted_scenes(4, shape=(192, 192), per_group=4, n_neurite_groups=3)
    results = [skeletonize(movie) for movie, _ in scenes]
    s = graph_scores(results, [t for _, t in scenes])
    assert all(t.n_branches == 12 for _, t in scenes)
    assert abs(s["branches"]) <= 0.10, s
    assert abs(s["length"]) <= 0.10, s
    assert s["f1"] >= 0.9, s


def test_planted_graph_noisy():
    scenes = planted_scenes(6, n_frames=30, read_noise=6.0, brightness=25.0)
    results = [skeletonize(movie) for movie, _ in scenes]
    s = graph_scores(results, [t for _, t in scenes])
    assert abs(s["branches"]) <= 0.10, s
    assert abs(s["length"]) <= 0.10, s
    assert s["f1"] >= 0.9, s


def test_low_resolution_degrades_gracefully_and_active_still_covers():
    # 256 x 256 scenes binned 2 x 2: neurites ~1 px wide. With the length parameters
    # halved the length stays within 10 %; the junctions degrade (reported in the
    # benchmark); the 'active' mask still covers the planted centre lines.
    scenes = planted_scenes(3, shape=(256, 256), per_group=4, n_frames=60)
    params = SkeletonParams(denoise_sigma_space=0.5, smooth_sigma=0.5, threshold_block_size=11,
                            min_branch_length=4.0, junction_fit_range=(1.0, 5.0),
                            objects_min_size=12, min_component_length=10)
    results = []
    for movie, _ in scenes:
        t, y, x = movie.shape
        binned = movie.astype(np.float32).reshape(t, y // 2, 2, x // 2, 2).mean(axis=(2, 4))
        results.append(skeletonize(binned, params))
    truths = [t for _, t in scenes]
    s = graph_scores(results, truths, scale=0.5, offset=0.5)
    assert abs(s["length"]) <= 0.10, s
    assert abs(s["branches"]) <= 0.35, s
    for r, t in zip(results, truths, strict=True):
        pts = np.round((np.concatenate(t.branch_paths) - 0.5) / 2).astype(int)
        near = ndi.binary_dilation(r.mask, iterations=1)
        assert near[pts[:, 0], pts[:, 1]].mean() >= 0.95


def test_very_noisy_movie_active_mask_still_covers_neurites():
    # where the skeleton graph is no longer right (few dim frames), the binary
    # structure ('active' pixels) still covers the neurites
    scenes = planted_scenes(3, n_frames=10, read_noise=10.0, brightness=15.0)
    for movie, truth in scenes:
        r = skeletonize(movie)
        pts = np.round(np.concatenate(truth.branch_paths)).astype(int)
        assert ndi.binary_dilation(r.mask)[pts[:, 0], pts[:, 1]].mean() >= 0.9


def test_somata_are_part_of_the_skeleton():
    movie, truth = simulate(n_frames=60, shape=(128, 128), n_cells=3, n_neurite_groups=0,
                            motion=False, rng=5)
    r = skeletonize(movie)
    soma = truth.labels() > 0
    # every soma is found in the binary structure
    for k in range(1, truth.n_cells + 1):
        assert r.mask[truth.labels() == k].mean() > 0.5
    assert r.mask[soma].mean() > 0.5


# --------------------------------------------------------------------------- somata
def soma_with_neurites(arms, *, centre=(40, 40), radius=9, shape=(80, 80)):
    """A bright disk of ``radius`` with 3-px-wide neurites from its centre to ``arms``."""
    from skimage.draw import disk, line

    img = np.zeros(shape, np.float32)
    for end in arms:
        rr, cc = line(*centre, *end)
        img[rr, cc] = 1
    img = ndi.binary_dilation(img).astype(np.float32)
    rr, cc = disk(centre, radius, shape=shape)
    img[rr, cc] = 1
    return ndi.gaussian_filter(img, 0.7)


@pytest.mark.parametrize("arms, n_branches", [
    (((40, 5), (5, 40), (75, 70)), 3),  # three neurites leave the soma
    (((40, 3), (40, 77)), 1),  # one neurite passes through it
    (((5, 40),), 1),  # one neurite ends at it
])
def test_a_soma_is_one_node(arms, n_branches):
    img = soma_with_neurites(arms)
    r = skeletonize(img)
    assert r.totals["n_somata"] == 1 and r.somata.max() == 1 and r.somata[40, 40] == 1
    assert not r.somata[40, 40 + 15] and not r.somata[40 - 15, 40]  # the neurites are not
    assert r.totals["n_branches"] == n_branches, r.totals
    # the soma is not a junction of neurites, and leaves no loop or spur
    assert r.totals["n_junctions"] == 0 and r.totals["n_cycles"] == 0
    assert len(r.junctions) == 0
    ends = np.array([end for p in r.paths for end in (p[0], p[-1])], float)
    at_soma = np.hypot(*(ends - [40, 40]).T) <= 2
    assert at_soma.sum() == (len(arms) if len(arms) != 2 else 0)  # one passes through
    # without soma handling the disk's own skeleton adds junctions and branches
    off = skeletonize(img, soma_radius=0)
    assert off.totals["n_somata"] == 0 and not off.somata.any()
    if len(arms) > 1:
        assert off.totals["n_branches"] > n_branches and off.totals["n_junctions"] > 0


def test_find_somata_keeps_neurites_out_and_fills_hollow_blobs():
    mask = np.zeros((60, 100), bool)
    mask[28:33, 5:95] = True  # a 5 px wide neurite
    mask[10:28, 50:54] = True  # a 4 px wide branch: a T junction
    labels, n = find_somata(mask, 4.0)
    assert n == 0 and not labels.any()
    yy, xx = np.mgrid[:60, :100]
    blob = np.hypot(yy - 45, xx - 20) <= 8
    labels, n = find_somata(mask | blob, 4.0)
    assert n == 1 and labels[45, 20] == 1 and labels[blob].mean() > 0.9
    assert not labels[30, 60:].any()
    # a local threshold hollows a bright blob: its bright hole is filled...
    ring = blob & (np.hypot(yy - 45, xx - 20) > 5)
    image = (blob | mask).astype(float)
    labels, n = find_somata(ring, 4.0, image)
    assert n == 1 and labels[45, 20] == 1
    assert find_somata(ring, 4.0)[1] == 0  # (a 3 px ring holds no disk of radius 4)
    # ... but the dark background inside a loop of neurites is not
    loop = (np.hypot(yy - 30, xx - 50) <= 20) & (np.hypot(yy - 30, xx - 50) > 17)
    assert find_somata(loop, 4.0, loop.astype(float))[1] == 0
    assert find_somata(mask | blob, 0)[1] == 0


def test_planted_graph_with_somata_at_the_roots():
    scenes = planted_scenes(6)
    movies = [attach_somata(movie, truth, radius=8.0) for movie, truth in scenes]
    truths = [t for _, t in scenes]
    results = [skeletonize(m) for m in movies]
    s = graph_scores(results, truths)
    assert all(r.totals["n_somata"] >= 1 for r in results)
    assert abs(s["branches"]) <= 0.10, s
    assert abs(s["length"]) <= 0.10, s
    assert s["f1"] >= 0.9, s


def test_simulated_somata_do_not_add_branches():
    # isolated somata (no neurites) are somata, not skeleton pieces
    movie, truth = simulate(n_frames=60, shape=(128, 128), n_cells=3, n_neurite_groups=0,
                            motion=False, rng=5)
    r = skeletonize(movie)
    assert r.totals["n_branches"] == 0 and not r.skeleton.any()
    # the somata found are simulated somata (the smallest, 4 x 2.6 px semi-axes, holds
    # no disk of radius 4 and stays a plain part of the structure)
    assert 1 <= r.totals["n_somata"] <= truth.n_cells
    cells = truth.labels()
    for k in range(1, r.totals["n_somata"] + 1):
        assert (cells[r.somata == k] > 0).mean() > 0.8
    assert "soma" in r.info["warnings"][0]  # an empty skeleton says why


# --------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("chunk", [1, 3, 7, 50])
def test_smoothed_movie_equals_in_memory_filter(chunk):
    rng = np.random.default_rng(0)
    movie = rng.normal(10, 3, (23, 17, 19)).astype(np.float32)
    expected = ndi.gaussian_filter(movie, (1.5, 1.0, 1.0), mode="reflect")
    sm = _SmoothedMovie(movie, 1.5, 1.0)
    got = np.concatenate([sm[t0:t0 + chunk] for t0 in range(0, 23, chunk)])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(sm[5], expected[5], atol=1e-4)


def test_mean_summary_is_the_mean_of_the_3d_smoothed_movie():
    rng = np.random.default_rng(1)
    movie = rng.poisson(20, (40, 24, 28)).astype(np.uint16)
    r = skeletonize(movie, denoise_sigma_time=2.0, denoise_sigma_space=1.0, chunk_frames=9)
    expected = ndi.gaussian_filter(movie.astype(np.float64), (2.0, 1.0, 1.0),
                                   mode="reflect").mean(0)
    np.testing.assert_allclose(r.summary, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("summary", ["max", "std"])
def test_other_summaries_stream_the_3d_smoothed_movie(summary):
    rng = np.random.default_rng(2)
    movie = rng.poisson(20, (30, 20, 22)).astype(np.uint16)
    r = skeletonize(movie, summary=summary, denoise_sigma_time=1.0, chunk_frames=8)
    smooth = ndi.gaussian_filter(movie.astype(np.float64), (1.0, 1.0, 1.0), mode="reflect")
    expected = smooth.max(0) if summary == "max" else smooth.std(0)
    np.testing.assert_allclose(r.summary, expected, rtol=1e-4, atol=1e-3)


def test_dask_movie_from_file(tmp_path):
    import tifffile

    from napari_amnesia.core.io import open_movie

    movie, _ = simulate(n_frames=40, shape=(96, 96), n_cells=0, n_neurite_groups=1,
                        branches_per_group=3, motion=False, rng=4)
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, movie)
    lazy = open_movie(path, chunk_frames=16)
    a = skeletonize(lazy)
    b = skeletonize(movie)
    np.testing.assert_allclose(a.summary, b.summary, rtol=1e-5)
    assert a.totals == b.totals


# --------------------------------------------------------------------------- graph
def test_branch_table_is_consistent(clean_scenes):
    movie, truth = clean_scenes[0]
    r = skeletonize(movie)
    b = r.branches
    n = r.totals["n_branches"]
    assert n == len(b) == len(r.paths) == r.branch_labels.max() > 0
    assert list(b["branch_id"]) == list(range(1, n + 1))
    assert set(b["type"]) <= set(BRANCH_TYPES.values())
    assert np.isclose(b["length"].sum(), r.totals["total_length"])
    assert (b["euclidean_length"] <= b["length"] + 1e-9).all()
    assert ((b["tortuosity"] >= 1 - 1e-9) | b["tortuosity"].isna()).all()
    assert np.isfinite(b["mean_intensity"]).all()
    # labels partition the skeleton; every path lies on the skeleton
    assert ((r.branch_labels > 0) == r.skeleton).all()
    for path in r.paths:
        assert r.skeleton[path[:, 0], path[:, 1]].all()
    assert r.skeleton[r.mask == 0].sum() == 0
    assert r.junctions.shape == (r.totals["n_junctions"], 2)
    assert r.endpoints.shape == (r.totals["n_endpoints"], 2)
    for key in ("summary", "equalized", "smoothed", "threshold", "binary", "mask",
                "raw_skeleton"):
        assert r.intermediates[key].shape == r.shape


def test_skeleton_graph_of_drawn_shapes():
    img = np.zeros((40, 40), bool)
    img[20, 5:35] = True  # a horizontal line
    img[5:20, 20] = True  # a branch up from its middle: a T
    g = skeleton_graph(img)
    assert g["totals"]["n_branches"] == 3
    assert g["totals"]["n_junctions"] == 1
    assert g["totals"]["n_endpoints"] == 3
    assert np.hypot(*(g["junctions"][0] - [20, 20])) <= 1.5
    assert sorted(g["branches"]["type"]) == ["junction-endpoint"] * 3
    ring = np.zeros((30, 30), bool)
    rr, cc = np.nonzero(ndi.binary_dilation(np.pad(np.ones((10, 10), bool), 10))
                        ^ np.pad(np.ones((10, 10), bool), 10))
    ring[rr, cc] = True
    from skimage.morphology import skeletonize as thin

    g = skeleton_graph(thin(ring))
    assert g["totals"]["n_cycles"] == 1 and g["totals"]["n_branches"] == 1
    assert g["branches"]["type"][0] == "cycle"


def test_prune_removes_short_spurs_only():
    img = np.zeros((40, 60), bool)
    img[20, 5:55] = True
    img[15:20, 30] = True  # spur of 5 px
    img[5:20, 15] = True  # real branch of 15 px
    pruned = prune_skeleton(img, min_branch_length=8)
    g = skeleton_graph(pruned)
    assert not pruned[15:19, 30].any()
    assert pruned[5:20, 15].all()
    assert g["totals"]["n_branches"] == 3
    assert prune_skeleton(img, min_branch_length=8, iterations=0)[15:19, 30].all()


# --------------------------------------------------------------------------- degenerate
@pytest.mark.parametrize("value", [0, 1000])
def test_blank_and_fully_bright_inputs_give_empty_results(value):
    for data in (np.full((5, 32, 32), value, np.uint16), np.full((32, 32), value, np.float32)):
        r = skeletonize(data)
        assert not r.mask.any() and not r.skeleton.any()
        assert r.totals["n_branches"] == 0 and r.totals["total_length"] == 0
        assert len(r.branches) == 0 and r.junctions.shape == (0, 2)
        assert r.branch_labels.max() == 0


def test_single_pixel_and_tiny_inputs():
    img = np.zeros((32, 32), np.float32)
    img[16, 16] = 100
    r = skeletonize(img)
    assert r.totals["n_branches"] == 0  # a speck is removed as a small object
    r = skeletonize(img, objects_min_size=0, min_component_length=0, closing_radius=0,
                    denoise_sigma_space=0, smooth_sigma=0)
    assert r.totals["n_branches"] == 0  # one pixel is not a branch
    for shape in ((1, 1), (2, 2), (1, 10), (3, 3)):
        r = skeletonize(np.random.default_rng(0).random(shape))
        assert r.skeleton.shape == shape


def test_two_d_image_and_single_frame_movie():
    movie, _ = simulate(n_frames=30, shape=(96, 96), n_cells=0, n_neurite_groups=1,
                        branches_per_group=3, motion=False, rng=4)
    mean = movie.mean(0)
    a = skeletonize(mean)
    b = skeletonize(mean[None])
    assert a.totals == b.totals and a.totals["n_branches"] > 0
    assert a.info["n_frames"] == 0 and b.info["n_frames"] == 1


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 3, 4, 5)), "2-D"),
    (np.zeros(7), "2-D"),
    (np.zeros((0, 4, 4)), "empty"),
    (np.array([["a", "b"], ["c", "d"]]), "real numbers"),
])
def test_bad_inputs_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        skeletonize(bad)


def test_nan_input_raises():
    img = np.ones((16, 16), np.float32)
    img[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        skeletonize(img)
    with pytest.raises(ValueError, match="NaN"):
        skeletonize(np.stack([img, img]))


# --------------------------------------------------------------------------- params
def test_params_roundtrip_replace_and_metadata():
    p = SkeletonParams()
    assert SkeletonParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    q = p.replace(summary="STD", threshold_block_size=31)
    assert q.summary == "std" and q.threshold_block_size == 31 and p.summary == "mean"
    info = SkeletonParams.describe()
    assert set(info) == set(p.to_dict())
    for name, meta in info.items():
        assert meta["help"] and 1 <= meta["step"] <= 8, name
    assert info["skeleton_method"]["choices"] == ("lee", "zhang")
    assert skeletonize(np.zeros((8, 8)), {"skeleton_method": "zhang"}).params.skeleton_method \
        == "zhang"


@pytest.mark.parametrize("name, value", [
    ("skeleton_method", "medial"), ("summary", "median"), ("equalization", 3),
    ("threshold_block_size", 20), ("threshold_block_size", 1), ("threshold_offset", 2.0),
    ("denoise_sigma_time", -1), ("smooth_sigma", float("nan")), ("clahe_clip_limit", 0),
    ("holes_max_size", 1.5), ("objects_min_size", -3), ("min_branch_length", "long"),
    ("chunk_frames", 0), ("normalize_percentiles", (90, 10)), ("refine_junctions", "yes"),
    ("junction_fit_range", (5, 2)), ("prune_iterations", True), ("soma_radius", -1.0),
])
def test_bad_parameters_name_the_parameter_and_value(name, value):
    with pytest.raises(ValueError, match=name) as err:
        SkeletonParams(**{name: value})
    assert repr(value) in str(err.value)


def test_unknown_parameter_raises():
    with pytest.raises(TypeError, match="min_brnch_length"):
        skeletonize(np.zeros((8, 8)), min_brnch_length=3)
    with pytest.raises(TypeError, match="params should be"):
        skeletonize(np.zeros((8, 8)), params=3)


# --------------------------------------------------------------------------- protocol
def test_progress_protocol():
    movie = np.random.default_rng(0).poisson(10, (20, 32, 32)).astype(np.uint16)
    steps = []
    gen = iter_skeletonize(movie, chunk_frames=5)
    result = drive(gen, steps.append)
    assert isinstance(result, SkeletonResult)
    assert all(isinstance(s, Progress) for s in steps)
    frames = [s for s in steps if s.message == "summary images"]
    assert frames and frames[-1].done == 20 and len(frames) >= 4
    assert [s.done for s in steps if s.message.startswith("skeleton")] == list(range(2, 9))
    # cancelling closes the generator
    from napari_amnesia.core.progress import Cancelled

    with pytest.raises(Cancelled):
        drive(iter_skeletonize(movie, chunk_frames=5), cancel=lambda: True)


# --------------------------------------------------------------------------- saving
def test_save_and_load_roundtrip(tmp_path, clean_scenes):
    movie, _ = clean_scenes[1]
    r = skeletonize(movie, min_branch_length=5)
    folder = r.save(tmp_path / "sk")
    back = SkeletonResult.load(folder)
    assert back.params == r.params and back.totals == r.totals
    np.testing.assert_array_equal(back.branch_labels, r.branch_labels)
    np.testing.assert_array_equal(back.mask, r.mask)
    np.testing.assert_array_equal(back.somata, r.somata)
    np.testing.assert_allclose(back.junctions, r.junctions)
    assert len(back.paths) == len(r.paths)
    assert all((a == b).all() for a, b in zip(back.paths, r.paths, strict=True))
    assert list(back.branches.columns) == list(r.branches.columns)
    np.testing.assert_allclose(back.branches["length"], r.branches["length"])
    np.testing.assert_allclose(back.summary, r.summary)
    with pytest.raises(FileExistsError):
        r.save(folder)
    r.save(folder, overwrite=True)
    empty = skeletonize(np.zeros((16, 16)))
    assert SkeletonResult.load(empty.save(tmp_path / "empty")).totals["n_branches"] == 0
    with pytest.raises(FileNotFoundError):
        SkeletonResult.load(tmp_path)


# --------------------------------------------------------------------------- statistics
def test_statistics_over_several_movies(tmp_path):
    import tifffile

    movie, _ = simulate(n_frames=20, shape=(96, 96), n_cells=0, n_neurite_groups=1,
                        branches_per_group=3, motion=False, rng=4)
    path = tmp_path / "day1.tif"
    tifffile.imwrite(path, movie)
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"not a tiff")
    steps = []
    rows = drive(iter_skeleton_statistics([path, movie, np.zeros((3, 16, 16))],
                                          save_dir=tmp_path), steps.append)
    assert [r["path"] for r in rows] == [str(path), "<array 1>", "<array 2>"]
    assert rows[0]["n_branches"] == rows[1]["n_branches"] > 0
    assert rows[0]["n_frames"] == 20 and rows[0]["height"] == 96
    assert rows[2]["n_branches"] == 0
    assert (tmp_path / "day1.skeleton" / "arrays.npz").exists()
    assert steps[-1].done == steps[-1].total == 3
    with pytest.raises(Exception, match="broken.tif"):
        skeleton_statistics([bad])
    rows += skeleton_statistics([bad], errors="record")
    assert rows[-1]["error"]
    out = write_statistics_csv(rows, tmp_path / "stats.csv")
    with open(out, newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4
    assert list(table[0])[:3] == ["path", "n_frames", "height"]
    assert table[0]["n_branches"] == str(rows[0]["n_branches"])
    with pytest.raises(FileExistsError):
        write_statistics_csv(rows, out)


# --------------------------------------------------------------------------- real data
@pytest.mark.skipif(not (DATA / "allen2p_100x100x100.tif").exists(), reason="no shared data")
def test_real_two_photon_movie():
    from napari_amnesia.core.io import open_movie

    movie = open_movie(DATA / "allen2p_100x100x100.tif")
    # the defaults find the neurites of this small, faint crop
    r = skeletonize(movie)
    assert r.mask.any() and r.totals["n_branches"] >= 1, r.info["warnings"]
    assert r.info["warnings"] == []
    assert r.branch_labels.max() == r.totals["n_branches"]
    lower = skeletonize(movie, threshold_offset=0.04, min_component_length=10)
    assert lower.totals["total_length"] > r.totals["total_length"]


# --------------------------------------------------------------------------- empty results
def test_an_empty_skeleton_says_which_parameters_to_change(caplog):
    r = skeletonize(np.zeros((4, 32, 32), np.uint16))
    assert len(r.info["warnings"]) == 1 and "threshold_offset" in r.info["warnings"][0]
    speck = np.zeros((32, 32), np.float32)
    speck[15:18, 15:18] = 100
    r = skeletonize(speck)
    assert r.intermediates["binary"].any() and not r.mask.any()
    assert "objects_min_size=50" in r.info["warnings"][0]
    short = np.zeros((40, 40), np.float32)
    short[20, 14:26] = 100  # a 12 px piece
    with caplog.at_level("WARNING", logger="napari_amnesia.core.skeleton"):
        r = skeletonize(short, objects_min_size=5, min_component_length=30)
    assert r.mask.any() and not r.skeleton.any()
    message = r.info["warnings"][0]
    assert "min_component_length=30" in message and "objects_min_size" in message
    assert "threshold_offset" in message and message in caplog.text
    assert skeletonize(short, objects_min_size=5).info["warnings"] == []
