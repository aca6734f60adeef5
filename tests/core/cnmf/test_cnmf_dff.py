"""ΔF/F of CNMF components (napari_amnesia.core.cnmf.dff and cnmf.compute_dff).

The references are direct, obviously-correct implementations (one ``np.percentile``
per frame).
"""

from __future__ import annotations

import numpy as np
from cnmf_data import FIT, G1, ar_traces
from scipy import sparse

from napari_amnesia.core import cnmf
from napari_amnesia.core.cnmf.dff import detrend_df_f, mode_percentile, running_percentile


def ref_running_percentile(x, q, w):
    """Direct reference: for each frame, np.percentile of the window
    [t - w // 2, t - w // 2 + w) clipped to the recording."""
    T = x.size
    out = np.empty(T)
    for t in range(T):
        lo, hi = max(0, t - w // 2), min(T, t - w // 2 + w)
        out[t] = np.percentile(x[lo:hi], q)
    return out


def drifting_traces(K=3, T=1500, seed=80):
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    drift = 2.0 + 0.5 * np.sin(2 * np.pi * t / 900.0)[None] + 0.1 * rng.normal(size=(K, 1))
    spikes = (rng.random((K, T)) < 0.01) * 2.0
    calcium = np.array([np.convolve(s, 0.9 ** np.arange(60))[:T] for s in spikes])
    return drift + calcium + 0.2 * rng.normal(size=(K, T))


def test_running_percentile_matches_direct_reference():
    F = drifting_traces()
    q = np.array([8.0, 20.0, 50.0])
    exact = running_percentile(F, q, 200, step=1)
    ref = np.array([ref_running_percentile(F[k], q[k], 200) for k in range(3)])
    np.testing.assert_allclose(exact, ref, rtol=0, atol=1e-12)
    fast = running_percentile(F, q, 200)  # grid every 10 frames + interpolation
    err = np.abs(fast - ref)
    # well below the noise (0.2) and below the percentile's own sampling error
    assert err.max() < 0.05 and err.mean() < 0.01, (err.max(), err.mean())
    # a window longer than the trace: the percentile of the whole trace
    whole = running_percentile(F, q, 10_000)
    np.testing.assert_allclose(whole, np.array([[np.percentile(F[k], q[k])] for k in range(3)])
                               * np.ones((1, F.shape[1])))


def test_mode_percentile():
    rng = np.random.default_rng(90)
    x = np.r_[rng.normal(0, 1, 8000), rng.normal(6, 1, 2000)][None]
    prct, mode = mode_percentile(x)
    assert abs(mode[0]) < 0.25
    assert abs(prct[0] - 40.0) < 3  # half of the 80 % resting samples lie below the mode


def ref_detrend_df_f(A, b, C, f, YrA, q, w, detrend_only=False):
    A = np.asarray(A.toarray() if sparse.issparse(A) else A)
    nA = np.sqrt((A**2).sum(0))
    F = (C + YrA) * nA[:, None]
    B = (A / nA).T @ b @ f
    F0 = np.array([ref_running_percentile(F[k], q[k], w) for k in range(len(F))])
    B0 = np.array([ref_running_percentile(B[k], q[k], w) for k in range(len(F))])
    return F - F0 if detrend_only else (F - F0) / (F0 + B0)


def test_detrend_df_f_matches_direct_reference():
    rng = np.random.default_rng(100)
    K, T, npix = 3, 1200, 40
    A = sparse.random(npix, K, density=0.5, random_state=1, format="csc") * 3
    b = rng.uniform(1, 2, (npix, 2))
    f = np.vstack([np.ones(T), 1 + 0.2 * np.sin(np.arange(T) / 200)])
    C = drifting_traces(K, T, seed=101)
    YrA = 0.1 * rng.normal(size=(K, T))
    # fixed percentile
    got = detrend_df_f(A, b, C, f, YrA, quantile_min=10, frames_window=300, flag_auto=False,
                       step=1)
    ref = ref_detrend_df_f(A, b, C, f, YrA, np.full(K, 10.0), 300)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    # automatic percentile (lower-bounded by quantile_min) and a dense A
    F = (C + YrA) * np.sqrt(np.asarray(A.multiply(A).sum(0))).ravel()[:, None]
    q = np.maximum(mode_percentile(F)[0], 8.0)
    got = detrend_df_f(A.toarray(), b, C, f, YrA, quantile_min=8, frames_window=300, step=1)
    np.testing.assert_allclose(got, ref_detrend_df_f(A, b, C, f, YrA, q, 300), rtol=1e-10)
    # detrend_only, no residuals
    got = detrend_df_f(A, b, C, f, YrA, frames_window=300, flag_auto=False,
                       use_residuals=False, detrend_only=True, step=1)
    ref = ref_detrend_df_f(A, b, C, f, np.zeros_like(C), np.full(K, 8.0), 300, True)
    np.testing.assert_allclose(got, ref, atol=1e-12)
    # the default (interpolated) running percentile stays close to the reference: its
    # largest error is about the largest frame-to-frame jump of the exact running
    # percentile itself (a sample entering or leaving the window), and on average it
    # is a small fraction of the noise of the ΔF/F traces
    fast = detrend_df_f(A, b, C, f, YrA, quantile_min=10, frames_window=300, flag_auto=False)
    exact = detrend_df_f(A, b, C, f, YrA, quantile_min=10, frames_window=300, flag_auto=False,
                         step=1)
    F = (C + YrA) * np.sqrt(np.asarray(A.multiply(A).sum(0))).ravel()[:, None]
    F0 = running_percentile(F, 10.0, 300, step=1)
    den = (F - F0) / np.where(exact != 0, exact, np.nan)
    jumps = np.nanmax(np.abs(np.diff(F0, axis=1)) / den[:, 1:], axis=1)
    noise = np.std(np.diff(exact, axis=1), axis=1) / np.sqrt(2)
    err = np.abs(fast - exact)
    assert np.all(err.max(axis=1) <= 1.5 * jumps), (err.max(axis=1), jumps)
    assert np.all(err.mean(axis=1) < 0.03 * noise)


def test_detrend_df_f_quantile_min_is_a_lower_bound_of_the_auto_percentile():
    rng = np.random.default_rng(110)
    A = np.abs(rng.normal(size=(30, 2)))
    b = np.ones((30, 1))
    f = np.ones((1, 800))
    C = drifting_traces(2, 800, seed=111)
    auto_hi = detrend_df_f(A, b, C, f, quantile_min=90, frames_window=200, step=1)
    fixed_hi = detrend_df_f(A, b, C, f, quantile_min=90, frames_window=200, flag_auto=False,
                            step=1)
    np.testing.assert_allclose(auto_hi, fixed_hi)  # the mode's rank is below 90
    auto_lo = detrend_df_f(A, b, C, f, quantile_min=0, frames_window=200, step=1)
    fixed_lo = detrend_df_f(A, b, C, f, quantile_min=0, frames_window=200, flag_auto=False,
                            step=1)
    assert not np.allclose(auto_lo, fixed_lo)


def test_detrend_df_f_recovers_planted_dff():
    """A component over a known background: ΔF/F = c / (background under the
    footprint), the footprint normalised to unit norm."""
    rng = np.random.default_rng(120)
    T, npix = 2000, 25
    a = np.abs(rng.normal(size=(npix, 1))) + 0.1
    an = a / np.linalg.norm(a)
    background_level = 50.0
    b = background_level * an  # background under the footprint: 50 (after projection)
    f = np.ones((1, T))
    Y, C, S = ar_traces(1, T, G1, sn=0.0, baseline=0.0, seed=121)
    C = C * 10.0  # calcium in counts above rest
    dff = detrend_df_f(an, b, C, f, frames_window=500)
    np.testing.assert_allclose(dff[0], C[0] / background_level, atol=0.02)
    # with a footprint of norm 3 and a trace 3 times smaller: the same ΔF/F
    dff3 = detrend_df_f(3 * an, b, C / 3, f, frames_window=500)
    np.testing.assert_allclose(dff3, dff, atol=1e-9)
    # window longer than the recording: a constant baseline, no error
    assert np.all(np.isfinite(detrend_df_f(an, b, C, f, frames_window=10 * T)))
    # no background: the denominator is F0 alone
    F = C + 5.0
    got = detrend_df_f(an, None, F, None, frames_window=500, flag_auto=False, step=1)
    F0 = ref_running_percentile(F[0], 8, 500)
    np.testing.assert_allclose(got[0], (F[0] - F0) / F0, rtol=1e-10)
    # ... and where it is 0 the result is NaN, not infinite
    assert np.all(np.isnan(detrend_df_f(an, None, np.zeros((1, T)), None)))


# --------------------------------------------------------------------------- the fit's ΔF/F
def test_dff_and_short_movie(sim):
    movie, _ = sim
    short = movie[:300]
    result = cnmf.fit(short, **FIT)  # frames_window 500 > 300 frames
    assert result.dff.shape == (result.K, 300) and np.all(np.isfinite(result.dff))
    again = cnmf.compute_dff(result, frames_window=100, flag_auto=False)
    assert again.shape == result.dff.shape
