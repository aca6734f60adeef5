"""CNMF-E (``mode="one_photon"``): planted one-photon movies, seeds, ring background.

The movies are ``core.simulate``'s one-photon "standard" preset (miniscope-like:
out-of-focus cells, neuropil haze, vessels, vignetting, 12-bit counts), cut to
96 x 96 pixels and 800 frames (21 in-focus cells). Found footprints are matched
one to one to the in-focus cells (``metrics.score_in_focus``); a detection of an
out-of-focus cell instead (matched to it, or lying mostly inside its blurred
footprint) counts neither for nor against (the issue's rule): it is left out of
precision.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from cnmf_data import corr_rows

from napari_amnesia.core import cnmf
from napari_amnesia.core.cnmf.initialization.corr_pnr import correlation_pnr
from napari_amnesia.core.cnmf.initialization.seeds import find_seeds
from napari_amnesia.core.cnmf.onephoton import ring_background
from napari_amnesia.core.metrics import score_in_focus
from napari_amnesia.core.simulate import simulate
from napari_amnesia.core.simulate.one_photon import one_photon_params

SEEDS = (0, 2, 3)
SHAPE = (96, 96)
T = 800
FIT = dict(mode="one_photon", gSig=4, gSiz=17, fr=20)


def _movie(rng: int, shape=SHAPE, n_frames=T):
    n = round(150 * shape[0] * shape[1] / 256**2)
    return simulate(one_photon_params("standard", shape=shape, n_frames=n_frames,
                                      n_cells=n, rng=rng))


def score_one_photon(result, truth, accepted_only: bool = False) -> dict:
    """Match a result's footprints to the in-focus cells; out-of-focus hits are ignored."""
    idx = np.flatnonzero(result.accepted) if accepted_only else np.arange(result.K)
    return score_in_focus(result.footprint_images(idx), truth.footprints,
                          truth.out_of_focus_footprints, found_traces=result.traces[idx],
                          out_of_focus_traces=truth.out_of_focus_traces)


@pytest.fixture(scope="module")
def fits():
    out = {}
    for rng in SEEDS:
        movie, truth = _movie(rng)
        out[rng] = (movie, truth, cnmf.fit(movie, **FIT))
    return out


def test_one_photon_finds_the_in_focus_cells(fits):
    matched = counted = n_true = 0
    for rng, (_, truth, result) in fits.items():
        s = score_one_photon(result, truth, accepted_only=True)
        # every seed: nearly no false cell, at most a few missed (overlapping pairs)
        assert s["precision"] >= 0.95, (rng, s)
        assert s["recall"] >= 0.85, (rng, s)
        matched, counted, n_true = matched + s["matched"], counted + s["counted"], \
            n_true + truth.n_cells
    p, r = matched / counted, matched / n_true
    assert 2 * p * r / (p + r) >= 0.93


def test_one_photon_traces_follow_the_planted_calcium(fits):
    for rng, (_, truth, result) in fits.items():
        s = score_one_photon(result, truth)
        found, true = s["pairs"][:, 0], s["pairs"][:, 1]
        r = corr_rows(result.traces[found], truth.traces[true])
        assert np.median(r) >= 0.9, (rng, np.sort(r))


def test_ring_background_follows_the_planted_background(fits):
    movie, truth, result = fits[SEEDS[0]]
    B = np.asarray(ring_background(result, movie), np.float64).reshape(T, -1)
    planted = truth.background_frames(motion=False).reshape(T, -1).astype(np.float64)
    r = corr_rows(B.T, planted.T)  # each pixel's background over time
    assert np.median(r) >= 0.9
    # the raw movie follows the background less well (the cells and the noise): the
    # ring model is what finds it
    raw = corr_rows(np.asarray(movie, np.float64).reshape(T, -1).T, planted.T)
    assert np.median(r) > np.median(raw)
    assert result.ring is not None and result.info["ring"]["background_share"] > 0.5
    # the result's background is the constant baseline b0 (what ΔF/F divides by)
    b, f = result.background
    assert b.shape == (SHAPE[0] * SHAPE[1], 1) and np.all(f == 1)


def test_fit_seeds_are_find_seeds_of_the_correlation_pnr_images(fits):
    movie, _, result = fits[SEEDS[0]]
    params = result.params
    corr, pnr = correlation_pnr(movie, gSig=params.gSig, center_psf=params.center_psf)
    seeds = find_seeds(corr, pnr, min_corr=params.min_corr, min_pnr=params.min_pnr,
                       gSig=params.gSig)
    np.testing.assert_array_equal(np.asarray(result.info["seeds"]), seeds)
    # the seed picker's images (the summary stage's, default chunks) are the same
    from napari_amnesia.core.summary import summary_images

    images = summary_images(movie, gsig=params.gSig, center_psf=params.center_psf)
    np.testing.assert_array_equal(images.corr_pnr, corr)
    np.testing.assert_array_equal(images.pnr, pnr)


def test_user_seed_points_replace_the_automatic_ones(fits):
    movie, truth, result = fits[SEEDS[0]]
    # three of the planted cells' centres, as a seed picker's Points would give them
    points = np.round(truth.centers[:3]).astype(float)
    mine = cnmf.fit(movie, seeds=points, **FIT)
    assert mine.info["user_seeds"] and mine.info["n_seeds"] == 3
    assert mine.K == 3
    s = score_one_photon(mine, truth)
    assert s["matched"] == 3 and set(s["pairs"][:, 1]) == {0, 1, 2}
    # seeds put by hand are used whatever the thresholds (a dim cell the user saw)
    strict = cnmf.fit(movie, seeds=points, **{**FIT, "min_corr": 0.999, "min_pnr": 500})
    s = score_one_photon(strict, truth)
    assert strict.K == 3 and set(s["pairs"][:, 1]) == {0, 1, 2}


def test_patches_and_whole_field_find_the_same_cells(fits):
    movie, truth, patched = fits[SEEDS[0]]
    assert patched.info["n_patches"] > 1
    whole = cnmf.fit(movie, rf=None, **FIT)
    a = score_one_photon(patched, truth, accepted_only=True)
    b = score_one_photon(whole, truth, accepted_only=True)
    same = set(a["pairs"][:, 1]) & set(b["pairs"][:, 1])
    assert len(same) >= 0.95 * max(a["matched"], b["matched"])


def test_one_photon_result_saves_and_loads_its_ring(fits, tmp_path):
    movie, _, result = fits[SEEDS[0]]
    again = cnmf.SourceResult.load(result.save(tmp_path / "cnmf"))
    assert again.params.mode == "one_photon" and again.params.method_init == "corr_pnr"
    assert (again.ring.W != result.ring.W).nnz == 0
    np.testing.assert_array_equal(again.ring.b0, result.ring.b0)
    # evaluation again from the saved result: the same metrics
    re = cnmf.evaluate(again, movie, recompute=True)
    np.testing.assert_allclose(re.r_values, result.r_values, atol=1e-6)


def test_no_seed_message_names_the_largest_correlation_and_pnr():
    movie, _ = _movie(1, shape=(48, 48), n_frames=200)
    with pytest.raises(ValueError, match=r"no seed pixel reaches min_corr=0\.99 and "
                       r"min_pnr=500: the largest correlation is 0\.\d\d and the "
                       r"largest PNR \d+\.\d"):
        cnmf.fit(movie, min_corr=0.99, min_pnr=500, **FIT)


@pytest.mark.parametrize(("kw", "words"), [
    (dict(min_corr=1.2), r"min_corr should be a number in \[0, 1\], got 1.2"),
    (dict(min_corr=-0.1), r"min_corr should be a number in \[0, 1\]"),
    (dict(min_pnr=0), r"min_pnr should be a number in \(0, inf\], got 0"),
    (dict(ring_size_factor=1.0), r"ring_size_factor should be a number in \(1, inf\]"),
    (dict(gSig=4, gSiz=3), r"gSiz \(3, 3\) is smaller than gSig \(4.0, 4.0\)"),
])
def test_bad_one_photon_parameters(kw, words):
    with pytest.raises(ValueError, match=words):
        cnmf.CNMFParams(**{"mode": "one_photon", **kw})


def test_ring_larger_than_the_frame_or_the_patch():
    movie = np.zeros((40, 30, 30), np.float32)
    with pytest.raises(ValueError, match=r"ring .* is larger than the frame \(30x30\)"):
        cnmf.fit(movie, mode="one_photon", gSig=5, gSiz=21, rf=None)
    p = cnmf.CNMFParams(mode="one_photon", gSig=3, rf=10, stride=4)
    with pytest.raises(ValueError, match=r"larger than a patch \(20x20\)"):
        p.check_shape((40, 100, 100))


def test_seed_points_need_one_photon_and_the_frame():
    movie, _ = _movie(1, shape=(48, 48), n_frames=200)
    with pytest.raises(ValueError, match="seed points .* mode='one_photon'"):
        cnmf.fit(movie, seeds=np.array([[5, 5]]), gSig=4)
    with pytest.raises(ValueError, match=r"seed point \(60, 5\) lies outside the 48x48"):
        cnmf.fit(movie, seeds=np.array([[60, 5]]), **FIT)


def test_preset_fills_and_explicit_parameters_win():
    p = cnmf.CNMFParams(mode="one_photon")
    assert (p.method_init, p.gnb, p.center_psf, p.ssub_B) == ("corr_pnr", 0, True, 2)
    assert p.cell_box == (17, 17)  # 4 * gSig + 1
    q = cnmf.CNMFParams.resolve({"mode": "one_photon", "merge_thr": 0.85, "gnb": 1}, {})
    assert (q.merge_thr, q.gnb, q.method_init) == (0.85, 1, "corr_pnr")
    assert cnmf.CNMFParams.from_dict(q.to_dict()) == q
    back = q.replace(mode="two_photon")
    assert back.method_init == "greedy_roi" and back.merge_thr == 0.85


def test_two_photon_movie_in_one_photon_mode_works_and_warns():
    # (real movies: the ring explains 0.91 of a miniscope movie's fluctuations, 0.18
    # and 0.21 of two two-photon ones; simulated two-photon about 0.45, one-photon 0.9)
    movie, _ = simulate(n_frames=300, shape=(64, 64), n_cells=8, n_neurite_groups=0,
                        motion=False, rng=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cnmf.fit(movie, mode="one_photon", gSig=4, gSiz=13, min_pnr=5,
                          min_corr=0.6, fr=30)
    assert result.K > 0
    assert any("does not look like a one-photon movie" in str(w.message) for w in caught)


def test_command_line_one_photon_mode_and_its_messages(tmp_path, capsys):
    import tifffile

    from napari_amnesia.cli import main

    movie, _ = _movie(1, shape=(48, 48), n_frames=200)
    tif = tmp_path / "m.tif"
    tifffile.imwrite(tif, movie)
    args = ["cnmf", str(tif), "--mode", "one_photon", "--gsig", "4", "--gsiz", "17",
            "--no-report"]
    assert main([*args, "--out", str(tmp_path / "a"), "--min-pnr", "500"]) != 0
    err = capsys.readouterr().err
    assert "no seed pixel reaches --min-corr 0.7 and --min-pnr 500" in err
    assert "Traceback" not in err
    assert main([*args, "--out", str(tmp_path / "b"), "--min-corr", "1.5"]) != 0
    assert "--min-corr should be a number in [0, 1], got 1.5" in capsys.readouterr().err
    # the preset's evaluation rules, in the command line's words
    assert main([*args, "--out", str(tmp_path / "c"), "--max-width-ratio", "0.5"]) != 0
    err = capsys.readouterr().err
    assert "--max-width-ratio should be None or a number in [1, inf], got 0.5" in err
    assert main([*args, "--out", str(tmp_path / "d"), "--joint-rval", "2"]) != 0
    assert "--joint-rval should be None or a number in [-1, 1]" in capsys.readouterr().err


def test_refit_and_roi_seeds_of_a_one_photon_result_keep_the_ring(fits):
    movie, truth, result = fits[SEEDS[0]]
    kept = result.select(result.accepted)
    again = cnmf.refit(kept, movie)
    assert again.K == kept.K and again.ring is not None
    r = corr_rows(again.traces, kept.traces)
    assert np.median(r) >= 0.95
    # user ROIs (a label image) in one-photon mode are fitted on Y - B too
    labels = kept.labels()
    mine = cnmf.fit(movie, seeds=labels, **FIT)
    assert mine.ring is not None and mine.K == len(np.unique(labels[labels > 0]))
    s = score_one_photon(mine, truth)
    found, true = s["pairs"][:, 0], s["pairs"][:, 1]
    assert np.median(corr_rows(mine.traces[found], truth.traces[true])) >= 0.9
