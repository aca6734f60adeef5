"""CNMF-E seed pixels (``find_seeds``): maxima of correlation x PNR above both thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_amnesia.core.cnmf.initialization.seeds import find_seeds


def _images(rng: int, shape=(96, 96), n=12, sig=3.0):
    """Smooth corr and PNR images with ``n`` planted blobs; returns their centres."""
    r = np.random.default_rng(rng)
    centres = []
    while len(centres) < n:
        c = r.integers(6, np.array(shape) - 6)
        if all(np.abs(c - o).max() > 4 * sig for o in centres):
            centres.append(c)
    spots = np.zeros(shape)
    for k, (y, x) in enumerate(centres):
        spots[y, x] = 1.0 + 0.05 * k  # distinct heights: a deterministic ranking
    blob = ndimage.gaussian_filter(spots, sig)
    blob /= blob.max()
    corr = (0.2 + 0.75 * blob + 0.01 * r.random(shape)).astype(np.float32)
    pnr = (2 + 30 * blob).astype(np.float32)
    return corr, pnr, np.array(centres)


@pytest.mark.parametrize("rng", [0, 1, 2])
def test_find_seeds_finds_each_planted_peak_once(rng):
    corr, pnr, centres = _images(rng)
    seeds = find_seeds(corr, pnr, min_corr=0.6, min_pnr=10, gSig=3)
    assert seeds.dtype == np.int64 and seeds.shape == (len(centres), 2)
    d = np.abs(seeds[:, None, :] - centres[None]).max(axis=2)
    assert np.all(d.min(axis=1) <= 1) and np.all(d.min(axis=0) <= 1)
    v = corr[seeds[:, 0], seeds[:, 1]] * pnr[seeds[:, 0], seeds[:, 1]]
    assert np.all(np.diff(v) <= 0)  # best first


def test_find_seeds_thresholds_each_image():
    corr, pnr, centres = _images(3)
    all_seeds = find_seeds(corr, pnr, min_corr=0.6, min_pnr=10, gSig=3)
    # a peak whose PNR is lowered below min_pnr disappears, the others stay
    y, x = all_seeds[0]
    low = pnr.copy()
    low[y - 4:y + 5, x - 4:x + 5] = 5.0
    fewer = find_seeds(corr, low, min_corr=0.6, min_pnr=10, gSig=3)
    assert len(fewer) == len(all_seeds) - 1
    assert not any((s == all_seeds[0]).all() for s in fewer)
    assert len(find_seeds(corr, pnr, min_corr=0.99, min_pnr=10, gSig=3)) == 0
    assert find_seeds(corr, pnr, min_corr=0.99, min_pnr=10, gSig=3).shape == (0, 2)


def test_find_seeds_plateau_gives_one_seed_and_ties_are_ordered():
    corr = np.zeros((30, 30), np.float32)
    pnr = np.zeros((30, 30), np.float32)
    corr[10:12, 10:12] = 0.9  # a 2x2 plateau
    pnr[10:12, 10:12] = 10
    corr[20, 5] = corr[20, 25] = 0.9  # two equal isolated maxima: row, then column
    pnr[20, 5] = pnr[20, 25] = 10
    seeds = find_seeds(corr, pnr, min_corr=0.5, min_pnr=1, gSig=2)
    assert seeds.tolist() == [[10, 10], [20, 5], [20, 25]]
    # NaN is never a seed
    corr[20, 5] = np.nan
    assert [20, 5] not in find_seeds(corr, pnr, min_corr=0.5, min_pnr=1, gSig=2).tolist()


def test_find_seeds_is_deterministic_and_fast_enough_shape():
    corr, pnr, _ = _images(4, shape=(512, 512), n=60)
    a = find_seeds(corr, pnr, min_corr=0.3, min_pnr=5, gSig=4)
    b = find_seeds(corr.copy(), pnr.copy(), min_corr=0.3, min_pnr=5, gSig=(4, 4))
    np.testing.assert_array_equal(a, b)
    assert len(a) == 60


@pytest.mark.parametrize(("kw", "words"), [
    (dict(min_corr=1.5, min_pnr=5, gSig=3), "min_corr should be a number in [0, 1], got 1.5"),
    (dict(min_corr=-0.1, min_pnr=5, gSig=3), "min_corr should be a number in [0, 1]"),
    (dict(min_corr=0.5, min_pnr=0, gSig=3), "min_pnr should be a number > 0, got 0"),
    (dict(min_corr=0.5, min_pnr=5, gSig=0), "gSig should be positive"),
])
def test_find_seeds_bad_thresholds(kw, words):
    corr, pnr, _ = _images(0)
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        find_seeds(corr, pnr, **kw)


def test_find_seeds_shapes_must_match():
    with pytest.raises(ValueError, match="same shape"):
        find_seeds(np.zeros((5, 5)), np.zeros((5, 6)), min_corr=0.5, min_pnr=1, gSig=2)


def test_a_dim_cell_hidden_by_a_brighter_neighbour_is_seeded_from_the_residual():
    """Seeds are local maxima within gSig: the dim cell 4 px from a bright one has none at
    first, and the greedy search finds it once the bright one is removed (CNMF-E), before
    the pass on the background-subtracted movie."""
    from napari_amnesia.core.cnmf.initialization.corr_pnr import (
        correlation_pnr,
        greedy_corr_pnr,
    )

    g = np.random.default_rng(4)
    T, shape = 600, (40, 40)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    centres = [(20, 17), (20, 21)]  # bright, dim
    blobs = [np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * 2.5**2)) for r, c in centres]
    traces = []
    for amplitude in (12.0, 3.0):
        spikes = (g.random(T) < 0.02) * amplitude
        traces.append(np.convolve(spikes, 0.9 ** np.arange(40))[:T])
    movie = sum(b[None] * t[:, None, None] for b, t in zip(blobs, traces, strict=True))
    movie = (movie + g.normal(0, 0.3, (T, *shape))).astype(np.float32)
    kw = dict(min_corr=0.6, min_pnr=5.0, gSig=3)
    corr, pnr = correlation_pnr(movie, gSig=3)
    first = find_seeds(corr, pnr, **kw)

    def near(points, centre):
        return [i for i, p in enumerate(points) if np.hypot(*(np.asarray(p) - centre)) <= 2]

    assert near(first, centres[0]) and not near(first, centres[1])  # hidden at first
    init = greedy_corr_pnr(movie, gSiz=13, **kw)
    first_pass = init.centers[:init.n_first]  # before the background-subtracted pass
    assert near(first_pass, centres[0]) and near(first_pass, centres[1]), init.centers
    dim = near(first_pass, centres[1])[0]
    assert np.corrcoef(init.C[dim], traces[1])[0, 1] > 0.8


def test_greedy_search_leaves_the_movie_unless_told_to_work_in_it():
    """A patch task lets the search use its read as the residual (no copy); a caller's
    movie is left as it was, and both give the same components."""
    from napari_amnesia.core.cnmf.initialization.corr_pnr import greedy_corr_pnr
    from napari_amnesia.core.simulate import simulate
    from napari_amnesia.core.simulate.one_photon import one_photon_params

    movie, truth = simulate(one_photon_params("standard", shape=(48, 48), n_frames=300,
                                              n_cells=6, rng=2))
    movie = movie.astype(np.float32)
    before = movie.copy()
    kw = dict(gSig=4, gSiz=17, min_corr=0.7, min_pnr=5.0, ring_radius=12.0)
    kept = greedy_corr_pnr(movie, **kw)
    np.testing.assert_array_equal(movie, before)
    assert kept.K >= 3
    work = movie.copy()
    reused = greedy_corr_pnr(work, **kw, overwrite=True)
    assert not np.array_equal(work, before)  # its buffer held the residuals
    np.testing.assert_array_equal(reused.A, kept.A)
    np.testing.assert_array_equal(reused.C, kept.C)
