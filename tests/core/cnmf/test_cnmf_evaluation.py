"""Component evaluation of CNMF: event SNR, spatial r values, the accept rule,
duplicates (napari_amnesia.core.cnmf.evaluation) and cnmf.evaluate on fits.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from cnmf_data import FIT, G1, N_CELLS, SHAPE, T, _fields, ar_traces, assert_accurate, score
from scipy import sparse

from napari_amnesia.core import cnmf
from napari_amnesia.core.cnmf import CNMFParams, SourceResult
from napari_amnesia.core.cnmf.evaluation import (
    activity_frames,
    decide,
    event_snr,
    half_sample_mode,
    remove_duplicates,
    spatial_r_values,
)
from napari_amnesia.core.simulate import simulate


def test_half_sample_mode():
    rng = np.random.default_rng(130)
    x = np.r_[rng.normal(0, 1, 5000), rng.exponential(5, 1500) + 2]
    assert abs(float(half_sample_mode(x))) < 0.3


def test_event_snr_active_vs_silent():
    """CaImAn's SNR is in units of ``sigma_factor = 3`` noise deviations: single-spike
    transients peaking at 4 sd give about 2, twice larger ones above 3; noise alone
    stays below 1.5 (the largest 5-frame excursion of 3000 noise frames)."""
    Y, C, _ = ar_traces(10, 3000, G1, sn=0.25, rate=0.3, seed=140)
    silent = 1.0 + 0.25 * np.random.default_rng(141).normal(size=(10, 3000))
    snr_active, fit, sd, md = event_snr(Y)
    snr_silent = event_snr(silent)[0]
    assert np.all(snr_silent < 1.5), snr_silent
    assert snr_active.min() > snr_silent.max() and np.median(snr_active) > 1.8, snr_active
    # noise and mode: the half-sample mode of 3000 noise samples scatters by about
    # 0.15 sd, which moves the spread of the values below it by up to ~10 %;
    # activity lifts the mode a little more
    _, _, sd0, md0 = event_snr(silent)
    assert np.all(np.abs(sd0 / 0.25 - 1) < 0.15) and np.all(np.abs(md0 - 1.0) < 0.4 * 0.25)
    assert np.all(np.abs(event_snr(silent, robust_std=True)[2] / 0.25 - 1) < 0.2)
    assert np.all(np.abs(sd / 0.25 - 1) < 0.25) and np.all(np.abs(md - 1.0) < 0.8 * 0.25)
    assert np.all(fit < 0)
    # larger events give a larger SNR
    snr_big = event_snr(1.0 + 2 * C + 0.25 * np.random.default_rng(142).normal(size=C.shape))[0]
    assert np.all(snr_big > snr_active) and np.all(snr_big > 3.0), snr_big
    # constant and NaN traces
    snr, *_ = event_snr(np.vstack([np.ones(100), np.r_[np.ones(99), np.nan]]))
    assert snr[0] == 0 and np.isnan(snr[1])


class CountingMovie:
    """A (T, Y, X) array that records which frames are read."""

    def __init__(self, data):
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.read: list[int] = []

    def __getitem__(self, idx):
        frames = np.arange(self.shape[0])[idx]
        self.read.extend(np.atleast_1d(frames).tolist())
        return self.data[idx]


def planted_movie(seed=150):
    """Four round cells on a 48x48 field, AR(1) activity, a smooth background."""
    rng = np.random.default_rng(seed)
    T, ny, nx = 600, 48, 48
    yy, xx = np.mgrid[:ny, :nx]
    centres = [(12, 12), (12, 34), (34, 14), (33, 35)]
    A = np.stack([np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 3.0**2)).ravel()
                  for cy, cx in centres], axis=1)
    A[A < 0.05] = 0
    _, C, _ = ar_traces(4, T, G1, sn=0.0, baseline=0.0, rate=1.0, seed=seed)
    C *= 20
    b = (5 + 2 * np.cos(xx / 10.0)).ravel()[:, None]
    f = (1 + 0.1 * np.sin(np.arange(T) / 50.0))[None]
    Y = (A @ C + b @ f).T.reshape(T, ny, nx) + rng.normal(0, 1.0, (T, ny, nx))
    return Y.astype(np.float32), A, C, b, f


def test_spatial_r_values_correct_vs_wrong_footprints_streaming():
    Y, A, C, b, f = planted_movie()
    movie = CountingMovie(Y)
    r, frames = spatial_r_values(movie, sparse.csc_matrix(A), C, (b, f))
    assert np.all(r > 0.95), r
    needed = np.unique(np.concatenate(frames))
    assert sorted(set(movie.read)) == needed.tolist()
    assert len(movie.read) == needed.size < Y.shape[0] // 2  # only those frames, once
    # wrong footprints: moved to an empty corner, or misplaced by half a cell
    yy, xx = np.mgrid[:48, :48]
    empty = np.exp(-((yy - 2) ** 2 + (xx - 46) ** 2) / (2 * 3.0**2)).ravel()
    empty[empty < 0.05] = 0
    A_wrong = np.c_[A[:, :3], empty]
    r_wrong, _ = spatial_r_values(Y, A_wrong, C, (b, f))
    assert r_wrong[3] < 0.3 and np.all(r_wrong[:3] > 0.95)
    shifted = np.roll(A.reshape(48, 48, 4), 4, axis=1).reshape(-1, 4)
    r_shifted, _ = spatial_r_values(Y, shifted, C, (b, f))
    assert np.all(r_shifted < 0.5), r_shifted
    # a lazy dask movie gives the same values
    import dask.array as da

    r_dask, _ = spatial_r_values(da.from_array(Y, chunks=(50, 48, 48)), A, C, (b, f))
    np.testing.assert_allclose(r_dask, r, rtol=1e-5)
    with pytest.raises(ValueError, match="pixels"):
        spatial_r_values(Y, A[:-1], C)


def test_activity_frames():
    x = np.zeros((1, 100))
    x[0, [20, 50, 80]] = [3.0, 5.0, 1.0]
    fr = activity_frames(x, n_peaks=2, t_before=1, t_after=2)[0]
    np.testing.assert_array_equal(fr, [19, 20, 21, 49, 50, 51])
    assert activity_frames(np.ones((1, 10)))[0].size == 0


def test_decide_truth_table():
    snr = np.array([3.0, 3.0, 1.0, 1.0, 0.4, 3.0, np.nan, 1.0])
    rv = np.array([0.9, 0.1, 0.9, 0.1, 0.99, -0.5, 0.9, np.nan])
    # both high / SNR high / r high / neither / SNR below lowest / r below lowest
    # / NaN SNR with r high / NaN r with low SNR
    got = decide(snr, rv, rval_lowest=-0.2)
    np.testing.assert_array_equal(got, [True, True, True, False, False, False, True, False])
    # thresholds are compared inclusively (>= high, <= lowest), as in CaImAn
    assert decide([2.0], [0.0])[0] and not decide([0.5], [0.99])[0]
    # sizes
    sizes = np.array([10, 100, 1000, 10, 10, 10, 10, 10])
    got = decide(snr, rv, sizes, rval_lowest=-0.2, min_size=20, max_size=500)
    np.testing.assert_array_equal(got, [False, True, False, False, False, False, False, False])
    with pytest.raises(ValueError, match="sizes"):
        decide(snr, rv, min_size=3)


def test_decide_require_both():
    # SNR high + r high / SNR high only / r high only / neither / NaN SNR with r high
    snr = np.array([6.0, 6.0, 1.0, 1.0, np.nan])
    rv = np.array([0.95, 0.2, 0.95, 0.2, 0.95])
    np.testing.assert_array_equal(decide(snr, rv, min_SNR=5, rval_thr=0.85),
                                  [True, True, True, False, True])
    np.testing.assert_array_equal(decide(snr, rv, min_SNR=5, rval_thr=0.85,
                                         require_both=True),
                                  [True, False, False, False, False])
    # the lowest bounds and the sizes still reject in both modes
    sizes = np.array([10, 100, 100, 100, 100])
    np.testing.assert_array_equal(
        decide(snr, rv, sizes, min_SNR=5, rval_thr=0.85, min_size=20, require_both=True),
        [False, False, False, False, False])


def test_decide_joint_pair_and_width():
    from napari_amnesia.core.cnmf.evaluation import MIN_REFERENCE_CELLS, footprint_widths

    # clear / dim but both well above noise / dim SNR only / dim r only / noise
    snr = np.array([6.0, 1.5, 1.5, 1.0, 0.8])
    rv = np.array([0.95, 0.7, 0.4, 0.7, 0.3])
    np.testing.assert_array_equal(decide(snr, rv), [True, False, False, False, False])
    np.testing.assert_array_equal(decide(snr, rv, joint_SNR=1.3, joint_rval=0.6),
                                  [True, True, False, False, False])
    # one of the pair alone is no rule (None turns it off)
    np.testing.assert_array_equal(decide(snr, rv, joint_SNR=1.3), decide(snr, rv))
    # the lowest bounds still reject what the pair accepts
    assert not decide(snr, rv, SNR_lowest=1.5, joint_SNR=1.3, joint_rval=0.6)[1]

    # widths: a disc of radius R has RMS radius R/sqrt(2); a Gaussian of sigma s, s*sqrt(2)
    yy, xx = np.mgrid[:41, :41]
    d2 = (yy - 20.0) ** 2 + (xx - 20.0) ** 2
    discs = np.stack([(d2 <= r * r).ravel().astype(float) for r in (4, 8, 12)], axis=1)
    gauss = np.exp(-d2 / (2 * 3.0**2)).ravel()[:, None]
    w = footprint_widths(np.c_[discs, gauss, np.zeros(41 * 41)], (41, 41))
    np.testing.assert_allclose(w[:3], np.array([4, 8, 12]) / np.sqrt(2), rtol=0.06)
    np.testing.assert_allclose(w[3], 3 * np.sqrt(2), rtol=0.02)
    assert np.isnan(w[4])
    np.testing.assert_allclose(footprint_widths(sparse.csc_matrix(discs), (41, 41)), w[:3])
    with pytest.raises(ValueError, match="pixels"):
        footprint_widths(discs, (40, 40))

    # the width rule: wider than 1.3 x the clear cells' median is rejected, whatever the
    # metrics; a dim component's width is judged against the clear cells only
    n = MIN_REFERENCE_CELLS
    snr = np.r_[np.full(n, 6.0), 6.0, 1.5, 1.5]
    rv = np.r_[np.full(n, 0.95), 0.95, 0.7, 0.7]
    widths = np.r_[np.linspace(3.8, 4.2, n), 6.0, 4.5, 5.5]
    got = decide(snr, rv, joint_SNR=1.3, joint_rval=0.6, widths=widths, max_width_ratio=1.3)
    np.testing.assert_array_equal(got, np.r_[np.ones(n, bool), False, True, False])
    # too few clear cells to say what a cell's width is: no width rule
    few = decide(snr[n - 1:], rv[n - 1:], widths=widths[n - 1:], max_width_ratio=1.3)
    np.testing.assert_array_equal(few, decide(snr[n - 1:], rv[n - 1:]))
    with pytest.raises(ValueError, match="widths are needed"):
        decide(snr, rv, max_width_ratio=1.3)


def test_joint_pair_and_width_in_params_and_evaluate(fitted):
    from napari_amnesia.core.cnmf.evaluation import describe_rule, footprint_widths
    from napari_amnesia.core.cnmf.params import ONE_PHOTON

    # off by default (two-photon: CaImAn's rule); the one-photon preset sets them
    p = CNMFParams()
    assert (p.joint_SNR, p.joint_rval, p.max_width_ratio) == (None, None, None)
    q = CNMFParams(mode="one_photon")
    assert (q.joint_SNR, q.joint_rval, q.max_width_ratio) == (
        ONE_PHOTON["joint_SNR"], ONE_PHOTON["joint_rval"], ONE_PHOTON["max_width_ratio"])
    # given explicitly (a dict, a config, a keyword of fit), None turns the rule off
    assert CNMFParams.from_dict({"mode": "one_photon", "max_width_ratio": None}
                                ).max_width_ratio is None
    assert q.replace(joint_SNR=None, joint_rval=None).joint_SNR is None
    # one of the pair alone would silently do nothing: said instead
    with pytest.raises(ValueError, match="joint_SNR and joint_rval go together"):
        q.replace(joint_SNR=None)
    with pytest.raises(ValueError, match="go together"):
        CNMFParams(joint_SNR=1.3)
    for bad in ({"max_width_ratio": 0.9}, {"joint_rval": 1.5}, {"joint_SNR": "high"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            CNMFParams(**bad)
    text = describe_rule(min_SNR=2, joint_SNR=1.3, joint_rval=0.6, max_width_ratio=1.3)
    assert "or if SNR ≥ 1.3 and r ≥ 0.6" in text and "wider than 1.3 × the clear" in text

    # evaluate re-filters with them (stored metrics, no movie)
    K = fitted.K
    snr = np.where(np.arange(K) % 2 == 0, 8.0, 1.5)
    r_values = np.where(np.arange(K) % 3 == 0, 0.4, 0.95)
    case = SourceResult(**{**_fields(fitted), "snr": snr, "r_values": r_values})
    out = cnmf.evaluate(case, min_SNR=5.0, rval_thr=0.97, joint_SNR=1.3, joint_rval=0.9)
    np.testing.assert_array_equal(out.accepted, (snr >= 5) | ((snr >= 1.3) & (r_values >= 0.9)))
    assert out.info["evaluation"]["joint_SNR"] == 1.3
    widths = footprint_widths(fitted.footprints, fitted.shape)
    narrow = cnmf.evaluate(case, min_SNR=5.0, rval_thr=0.9, max_width_ratio=1.0)
    clear = (snr >= 5) & (r_values >= 0.9)
    np.testing.assert_array_equal(
        narrow.accepted, ((snr >= 5) | (r_values >= 0.9)) & (widths <= np.median(widths[clear])))


def test_describe_rule_follows_the_thresholds():
    from napari_amnesia.core.cnmf.evaluation import describe_rule

    assert describe_rule(min_SNR=2.5, rval_thr=0.85).startswith(
        "accepted if SNR ≥ 2.5 or r ≥ 0.85")
    both = describe_rule(min_SNR=5, rval_thr=0.9, require_both=True, min_size=4, max_size=90)
    assert both.startswith("accepted if SNR ≥ 5 and r ≥ 0.9") and "size 4–90 px" in both


def test_remove_duplicates():
    Y, A, C, b, f = planted_movie()
    half = A[:, 0].copy()
    half[: half.size // 2 - 6 * 48] = 0  # a partial copy of cell 0 (a patch border)
    A_dup = np.c_[A, A[:, 1], half, A[:, 2]]
    C_dup = np.vstack([C, C[1], C[0], C[3]])  # the last: cell 2's footprint, cell 3's trace
    drop = remove_duplicates(sparse.csc_matrix(A_dup), C_dup)
    np.testing.assert_array_equal(drop, [4, 5])
    # without traces the footprint copy of cell 2 is a duplicate too
    np.testing.assert_array_equal(remove_duplicates(A_dup), [4, 5, 6])
    # scores decide which member goes
    scores = np.array([1.0, 1.0, 1.0, 1.0, 5.0, 0.0, 0.0])
    np.testing.assert_array_equal(remove_duplicates(A_dup, C_dup, scores=scores), [1, 5])


# --------------------------------------------------------------------------- on fits
def test_evaluate_refilters_without_recomputing(fitted):
    result = fitted
    strict = cnmf.evaluate(result, min_SNR=1e3, rval_thr=1.0, SNR_lowest=0.5)
    assert strict.snr is result.snr or np.array_equal(strict.snr, result.snr)
    np.testing.assert_array_equal(strict.r_values, result.r_values)
    assert strict.accepted.sum() < result.accepted.sum()
    assert strict.params.min_SNR == 1e3 and result.params.min_SNR == 2.0
    loose = cnmf.evaluate(strict, min_SNR=2.0, rval_thr=0.85)
    np.testing.assert_array_equal(loose.accepted, result.accepted)
    with pytest.raises(TypeError, match="unknown threshold"):
        cnmf.evaluate(result, min_snr=2)
    bare = SourceResult(**{**_fields(result), "snr": None, "r_values": None})
    with pytest.raises(ValueError, match="needs the movie"):
        cnmf.evaluate(bare)


def test_evaluate_require_both(fitted):
    # a constructed case: the stored metrics are set, evaluate only re-filters
    K = fitted.K
    snr = np.where(np.arange(K) % 2 == 0, 8.0, 1.5)  # half pass min_SNR=5
    r_values = np.where(np.arange(K) % 3 == 0, 0.2, 0.95)  # two thirds pass rval_thr
    case = SourceResult(**{**_fields(fitted), "snr": snr, "r_values": r_values})
    either = cnmf.evaluate(case, min_SNR=5.0, rval_thr=0.85)
    both = cnmf.evaluate(case, min_SNR=5.0, rval_thr=0.85, require_both=True)
    np.testing.assert_array_equal(either.accepted, (snr >= 5) | (r_values >= 0.85))
    np.testing.assert_array_equal(both.accepted, (snr >= 5) & (r_values >= 0.85))
    assert both.accepted.sum() < either.accepted.sum()
    assert both.params.require_both and not either.params.require_both
    assert both.info["evaluation"]["require_both"] is True
    # CaImAn's rule is the default, and the option reaches the command line
    assert CNMFParams().require_both is False
    import argparse

    from napari_amnesia._fields import add_options, overrides

    parser = argparse.ArgumentParser()
    add_options(parser, CNMFParams)
    assert overrides(parser.parse_args(["--require-both", "true"]), CNMFParams) == {
        "require_both": True}


def spurious_scene(seed: int):
    """15 planted cells plus five structures that are not cells, in free space.

    Two blobs whose brightness is white noise (3 noise levels), a static bright
    blob (20 noise levels, no transient), a blob drifting slowly (a sine of 5 noise
    levels over the movie) and a thin neurite fragment flickering with white noise.
    Returns the movie, the truth and the centres of the five structures.
    """
    movie, truth = simulate(n_frames=T, shape=SHAPE, n_cells=N_CELLS, n_neurite_groups=0,
                            motion=False, rng=seed)
    movie = movie.astype(np.float32)
    rng = np.random.default_rng(100 + seed)
    taken = truth.footprints.max(axis=0) > 0.02 * truth.footprints.max()
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    noise = float(np.median(np.std(np.diff(movie, axis=0), axis=0))) / np.sqrt(2)

    def free_spot(r: int) -> tuple[int, int]:
        while True:
            cy, cx = (int(v) for v in rng.integers(r + 2, SHAPE[0] - r - 2, 2))
            box = (slice(cy - r - 2, cy + r + 2), slice(cx - r - 2, cx + r + 2))
            if not taken[box].any():
                taken[box] = True
                return cy, cx

    def blob(cy: int, cx: int) -> np.ndarray:
        return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0).astype(np.float32)

    spots = []
    for _ in range(2):
        spots.append(free_spot(5))
        movie += rng.normal(0, 3 * noise, (T, 1, 1)).astype(np.float32) * blob(*spots[-1])
    spots.append(free_spot(5))
    movie += 20 * noise * blob(*spots[-1])
    spots.append(free_spot(5))
    wave = 5 * noise * np.sin(np.linspace(0, 3 * np.pi, T))
    movie += wave[:, None, None].astype(np.float32) * blob(*spots[-1])
    spots.append(free_spot(7))
    cy, cx = spots[-1]
    line = np.zeros(SHAPE, np.float32)
    line[cy, cx - 7:cx + 8] = 1.0
    line[cy + 1, cx - 7:cx + 8] = 0.5
    movie += rng.normal(0, 3 * noise, (T, 1, 1)).astype(np.float32) * line
    return movie, truth, np.array(spots, float)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_evaluation_rejects_spurious_components_and_keeps_the_cells(seed):
    movie, truth, spots = spurious_scene(seed)
    result = cnmf.fit(movie, **{**FIT, "K": 25})
    every = score(result, truth, accepted=False)
    extra = np.setdiff1d(np.arange(result.K), every["found_index"])
    # the fit finds components on the planted structures (not only elsewhere)...
    assert extra.size, "the scene gave no spurious component: the test checks nothing"
    distance = np.linalg.norm(result.centers()[extra][:, None] - spots[None], axis=2)
    assert (distance.min(axis=1) < 3).any(), (result.centers()[extra], spots)
    # ...the evaluation rejects every component that is not a cell, on its metrics
    assert not result.accepted[extra].any(), (result.snr[extra], result.r_values[extra])
    assert np.all(result.snr[extra] < FIT["min_SNR"])
    # ...and keeps the cells
    assert every["recall"] == 1.0
    assert_accurate(result, truth)


# --------------------------------------------------------------------------- classifier
def _rule_only(fitted):
    """The fit as CaImAn's rule alone judges it (no classifier probabilities)."""
    plain = cnmf.evaluate(fitted, min_cell_probability=None)
    return replace(plain, info={k: v for k, v in plain.info.items() if k != "cell_probability"})


def test_apply_cell_probability_none_is_todays_rule(fitted):
    """Without a probability threshold nothing changes: the same object comes back."""
    from napari_amnesia.core.cnmf.evaluation import apply_cell_probability

    plain = _rule_only(fitted)
    assert apply_cell_probability(plain, min_cell_probability=None) is plain
    again = cnmf.evaluate(plain)
    assert apply_cell_probability(again) is again
    np.testing.assert_array_equal(again.accepted, plain.accepted)
    assert "cell_probability" not in again.info
    # the default is the classifier's own cut: the fit recorded its probabilities
    assert fitted.params.min_cell_probability == "auto"
    assert len(fitted.info["cell_probability"]) == fitted.K


def test_apply_cell_probability_narrows_and_refilters(sim, fitted):
    from napari_amnesia.core.cnmf.evaluation import apply_cell_probability

    movie, _ = sim
    fitted = _rule_only(fitted)
    out = apply_cell_probability(fitted, movie, min_cell_probability=0.5)
    prob = np.asarray(out.info["cell_probability"])
    assert prob.shape == (fitted.K,) and np.all((prob >= 0) & (prob <= 1))
    np.testing.assert_array_equal(out.accepted, fitted.accepted & (prob >= 0.5))
    assert out.info["evaluation"]["min_cell_probability"] == 0.5
    assert out.snr is fitted.snr and "cell_probability" not in fitted.info  # not modified
    # on these planted somata the classifier keeps nearly every accepted cell
    assert out.accepted.sum() >= 0.9 * fitted.accepted.sum()
    # re-filtering reuses the recorded probabilities (no movie needed)
    none = apply_cell_probability(out, min_cell_probability=1.0)
    np.testing.assert_array_equal(none.accepted, out.accepted & (prob >= 1.0))
    everything = apply_cell_probability(out, min_cell_probability=0.0)
    np.testing.assert_array_equal(everything.accepted, fitted.accepted)
    with pytest.raises(ValueError, match="needs the movie"):
        apply_cell_probability(fitted, min_cell_probability=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        apply_cell_probability(fitted, movie, min_cell_probability=1.5)
    bare = SourceResult(**{**_fields(fitted), "snr": None, "r_values": None})
    with pytest.raises(ValueError, match="evaluated"):
        apply_cell_probability(bare, movie, min_cell_probability=0.5)


def test_auto_cut_leaves_one_photon_results_to_the_rule(sim, fitted):
    """The shipped model knows two-photon fields: "auto" does not judge CNMF-E results."""
    from napari_amnesia.core.cnmf.evaluation import apply_cell_probability

    movie, _ = sim
    plain = _rule_only(fitted)
    one_photon = replace(plain, params=plain.params.replace(method_init="corr_pnr"))
    assert one_photon.params.one_photon
    assert apply_cell_probability(one_photon, movie, min_cell_probability="auto") is one_photon
    # a number is the user's explicit wish: it applies whatever the mode
    out = apply_cell_probability(one_photon, movie, min_cell_probability=0.5)
    assert len(out.info["cell_probability"]) == plain.K
