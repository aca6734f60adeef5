"""Tests of the temporal half of CNMF: noise and AR estimation, OASIS deconvolution,
ΔF/F and component evaluation (napari_amnesia.core.cnmf.{noise, deconvolution, dff,
evaluation}).

Ground truth is planted: AR(1)/AR(2) calcium traces with known coefficients
(``core.simulate.ar_coefficients``, GCaMP6f-like kinetics at 30 Hz), Poisson spikes,
baseline and Gaussian noise; movies built from known footprints and traces. The
references for ΔF/F are direct, obviously-correct implementations (one
``np.percentile`` per frame).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import nnls

from napari_amnesia.core.cnmf.deconvolution import Deconvolved, deconvolve, deconvolve_many, oasis
from napari_amnesia.core.cnmf.dff import detrend_df_f, mode_percentile, running_percentile
from napari_amnesia.core.cnmf.evaluation import (
    activity_frames,
    decide,
    event_snr,
    half_sample_mode,
    remove_duplicates,
    spatial_r_values,
)
from napari_amnesia.core.cnmf.noise import estimate_ar, estimate_ar_many, estimate_noise
from napari_amnesia.core.simulate import ar_coefficients

FRAME_RATE = 30.0
G1 = ar_coefficients(decay_time=0.4, frame_rate=FRAME_RATE)  # [0.920]
G2 = ar_coefficients(decay_time=0.4, rise_time=0.05, frame_rate=FRAME_RATE, ar_order=2)


def ar_traces(n, T, g, *, sn=0.25, rate=0.5, baseline=1.0, seed=0, amplitude=(0.7, 1.3)):
    """``baseline + c + noise`` with ``c`` an AR(p) process driven by Poisson spikes.

    Returns (Y, C, S); the peak SNR of one spike (amplitude / sn) is about 3-5.
    """
    rng = np.random.default_rng(seed)
    g = np.atleast_1d(np.asarray(g, float))
    S = rng.poisson(rate / FRAME_RATE, (n, T)) * rng.uniform(*amplitude, (n, T))
    C = np.zeros((n, T))
    for t in range(T):
        C[:, t] = S[:, t]
        for i, gi in enumerate(g):
            if t - 1 - i >= 0:
                C[:, t] += gi * C[:, t - 1 - i]
    b = np.broadcast_to(np.asarray(baseline, float), (n,))
    Y = b[:, None] + C + sn * rng.standard_normal((n, T))
    return Y, C, S


def rows_r(A, B):
    A = A - A.mean(1, keepdims=True)
    B = B - B.mean(1, keepdims=True)
    return (A * B).sum(1) / np.sqrt((A * A).sum(1) * (B * B).sum(1))


def kernel_matrix(g, T):
    """Dense convolution matrix ``K`` with ``c = K s`` for AR coefficients ``g``."""
    h = np.zeros(T)
    h[0] = 1.0
    for k in range(1, T):
        h[k] = sum(g[i] * h[k - 1 - i] for i in range(len(g)) if k - 1 - i >= 0)
    K = np.zeros((T, T))
    for j in range(T):
        K[j:, j] = h[: T - j]
    return K


# =========================================================================== noise
@pytest.mark.parametrize("method", ["mean", "median", "logmexp"])
def test_noise_white_within_5_percent(method):
    rng = np.random.default_rng(1)
    Y = rng.normal(0.0, 2.0, (4, 3, 4000)).astype(np.float32)
    sn = estimate_noise(Y, noise_method=method)
    assert sn.shape == (4, 3)
    assert np.all(np.abs(sn / 2.0 - 1) < 0.05)


def test_noise_of_calcium_traces_within_10_percent():
    """The spectral estimate also sees the transients' own high-frequency power: with
    an instantaneous rise (AR(1)) at 0.5 Hz and a peak SNR of 4 it is biased up by
    about 4.5 % (2.5 % with a 50 ms rise, AR(2)), CaImAn's estimate alike; its
    spread over traces of 3000 frames is about 2.5 %."""
    for g, worst in ((G2, 0.10), (G1, 0.12)):
        Y, _, _ = ar_traces(20, 3000, g, sn=0.25, seed=2)
        err = np.abs(estimate_noise(Y) / 0.25 - 1)
        assert np.median(err) < 0.06 and np.all(err < worst), err
    # without activity the estimate is unbiased
    Y, C, _ = ar_traces(20, 3000, G1, sn=0.25, seed=2)
    err = estimate_noise(Y - C) / 0.25 - 1
    assert abs(np.median(err)) < 0.01 and np.all(np.abs(err) < 0.10)


def test_noise_debias_false_is_caimans_definition():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(2, 1001))
    T = y.shape[1]
    psd = np.abs(np.fft.rfft(y, axis=1)) ** 2 / T
    f = np.arange(psd.shape[1]) / T
    band = psd[:, (f > 0.25) & (f <= 0.5)]
    expected = {
        "mean": np.sqrt(band.mean(1)),
        "median": np.sqrt(np.median(band, 1)),
        "logmexp": np.sqrt(np.exp(np.log(band).mean(1))),
    }
    for method, ref in expected.items():
        got = estimate_noise(y, noise_method=method, debias=False)
        np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_noise_edge_cases_and_chunks():
    rng = np.random.default_rng(4)
    Y = rng.normal(size=(7, 500))
    Y[2] = 5.0  # constant
    Y[4, 10] = np.nan
    sn = estimate_noise(Y)
    assert sn[2] == 0
    assert np.isnan(sn[4])
    others = np.delete(np.arange(7), [2, 4])
    chunked = estimate_noise(Y, chunk_bytes=1)
    np.testing.assert_allclose(chunked[others], sn[others])
    np.testing.assert_array_equal(estimate_noise(np.zeros(64)), 0.0)
    import dask.array as da

    np.testing.assert_allclose(
        estimate_noise(da.from_array(Y[others], chunks=(2, 500))), sn[others]
    )
    with pytest.raises(ValueError, match="noise_method"):
        estimate_noise(Y, noise_method="max")
    with pytest.raises(ValueError, match="noise_range"):
        estimate_noise(Y, noise_range=(0.3, 0.2))
    with pytest.raises(ValueError, match="too short|no frequency bin"):
        estimate_noise(np.ones(1))


# =========================================================================== AR
def test_estimate_ar1_within_5_percent():
    Y, _, _ = ar_traces(10, 5000, G1, sn=0.25, seed=5)
    g = estimate_ar_many(Y, p=1, fudge_factor=1.0)
    assert g.shape == (10, 1)
    assert np.all(np.abs(g[:, 0] / G1[0] - 1) < 0.05), g.ravel()
    # the single-trace function is the same computation
    np.testing.assert_allclose(estimate_ar(Y[3], p=1, fudge_factor=1.0), g[3])
    # fudge_factor shrinks the pole
    np.testing.assert_allclose(estimate_ar(Y[3], p=1, fudge_factor=0.9), 0.9 * g[3])


def test_estimate_ar2_decay_within_5_percent():
    """AR(2): the decay pole is well determined, the rise pole much less (it
    carries little power), so g2 is checked loosely."""
    Y, _, _ = ar_traces(10, 5000, G2, sn=0.25, seed=6)
    g = estimate_ar_many(Y, p=2, lags=10, fudge_factor=1.0)
    decay = np.array([np.max(np.roots([1.0, -a, -b]).real) for a, b in g])
    assert np.all(np.abs(decay / 0.92 - 1) < 0.05), decay
    assert np.all(np.abs(np.median(g, axis=0) / G2 - 1) < 0.15)


def test_estimate_ar_edge_cases():
    assert estimate_ar(np.arange(50.0), p=0).shape == (0,)
    np.testing.assert_array_equal(estimate_ar(np.full(100, 3.0), p=2), [0.0, 0.0])
    with pytest.raises(ValueError, match="too short"):
        estimate_ar(np.arange(5.0), p=1, lags=5)
    with pytest.raises(ValueError, match="NaN"):
        estimate_ar(np.r_[np.arange(50.0), np.nan], p=1)
    with pytest.raises(ValueError, match="fudge_factor"):
        estimate_ar(np.arange(50.0), fudge_factor=1.5)
    with pytest.raises(ValueError, match="p \\(AR order\\)"):
        estimate_ar(np.arange(50.0), p=-1)


# =========================================================================== OASIS
@pytest.mark.parametrize("g", [G1, G2], ids=["AR1", "AR2"])
def test_oasis_is_exact_against_nnls(g):
    """The inner solver reaches the optimum of min 1/2|x - Ks|^2, s >= 0 (lam folded)."""
    T = 240
    g1, g2 = g[0], (g[1] if len(g) > 1 else 0.0)
    K = kernel_matrix(g, T)
    H, hh, hh1 = oasis._kernel(g1, g2, T)
    work = [np.empty(T, np.int64), np.empty(T, np.int64)] + [np.empty(T) for _ in range(4)]
    for seed in range(4):
        Y, _, _ = ar_traces(1, T, g, sn=0.3, baseline=0.0, seed=10 + seed)
        x = Y[0]
        s_ref, _ = nnls(K, x, maxiter=50 * T)
        c = np.empty(T)
        oasis._oasis(x, g1, g2, 0.0, H, hh, hh1, *work, c)
        np.testing.assert_allclose(c, K @ s_ref, atol=1e-8)


@pytest.mark.parametrize("g", [G1, G2], ids=["AR1", "AR2"])
def test_deconvolve_is_optimal_and_meets_the_noise_constraint(g):
    """KKT conditions of min 1/2|y-b-c|^2 + lam|s|_1 at the returned lam, and
    |y - b - c|^2 = sn^2 T."""
    T = 600
    Y, _, _ = ar_traces(1, T, g, sn=0.25, seed=20)
    y = Y[0]
    res = deconvolve(y, p=len(g), g=g, sn=0.25)
    assert isinstance(res, Deconvolved)
    r = y - res.baseline - res.c
    assert abs(np.sum(r**2) / (0.25**2 * T) - 1) < 2e-3
    assert res.lam > 0
    K = kernel_matrix(g, T)
    w = K.T @ r  # gradient of the fit term w.r.t. s is -w
    spikes = res.s > 1e-9
    np.testing.assert_allclose(w[spikes], res.lam, rtol=1e-5, atol=1e-6)
    assert np.all(w[~spikes] <= res.lam * (1 + 1e-5) + 1e-6)
    assert abs(np.mean(r)) < 1e-6  # optimal baseline: residual of zero mean
    # s and c agree with the AR model
    np.testing.assert_allclose(K @ res.s, res.c, atol=1e-8)


@pytest.mark.parametrize("g", [G1, G2], ids=["AR1", "AR2"])
def test_deconvolve_accuracy_on_planted_traces(g):
    """Everything estimated from the traces (sn, g, baseline). Spikes are compared
    after smoothing both trains with a Gaussian of 1 frame: the L1 solution spreads a
    spike over neighbouring frames and one-frame jitter is not an error."""
    p = len(g)
    Y, C, S = ar_traces(40, 3000, g, sn=0.25, baseline=np.linspace(0.5, 3, 40), seed=30)
    Ch, Sh, B, G, L = deconvolve_many(Y, p=p)
    assert Ch.shape == Sh.shape == Y.shape and G.shape == (40, p)
    rc = rows_r(Ch, C)
    rs = rows_r(gaussian_filter1d(Sh, 1.0, axis=1), gaussian_filter1d(S, 1.0, axis=1))
    assert np.median(rc) >= 0.97 and rc.min() >= 0.95, rc
    assert np.median(rs) >= 0.93 and rs.min() >= 0.9, rs
    assert np.all(np.abs(B - np.linspace(0.5, 3, 40)) < 0.15)
    decay = np.array([np.max(np.roots(np.r_[1.0, -gi]).real) for gi in G])
    assert abs(np.median(decay) / 0.92 - 1) < 0.05


def test_deconvolve_recovers_baseline_with_known_parameters():
    Y, C, S = ar_traces(10, 2000, G1, sn=0.2, baseline=np.linspace(-1, 4, 10), seed=40)
    _, _, B, _, _ = deconvolve_many(Y, p=1, g=G1, sn=0.2, bas_nonneg=False)
    np.testing.assert_allclose(B, np.linspace(-1, 4, 10), atol=0.06)
    _, _, Bn, _, _ = deconvolve_many(Y, p=1, g=G1, sn=0.2)
    assert Bn[0] == 0.0 and np.all(Bn >= 0)
    res = deconvolve(Y[5], p=1, g=G1, sn=0.2, baseline=1.5)
    assert res.baseline == 1.5


def test_s_min_options():
    Y, C, S = ar_traces(1, 3000, G1, sn=0.25, seed=50)
    y = Y[0]
    l1 = deconvolve(y, p=1, g=G1, sn=0.25)
    hard = deconvolve(y, p=1, g=G1, sn=0.25, s_min=0.4)
    nz = hard.s[hard.s > 0]
    assert nz.size > 0 and nz.min() >= 0.4 - 1e-9
    assert nz.size < np.count_nonzero(l1.s)
    scaled = deconvolve(y, p=1, g=G1, sn=0.25, s_min=-3.0)
    thr = 3.0 * 0.25 * np.sqrt(1 - G1[0])
    assert scaled.s[scaled.s > 0].min() >= thr - 1e-9
    # L0-like with an automatic threshold: within the noise, much sparser than L1,
    # and close to the true number of spiking frames
    l0 = deconvolve(y, p=1, g=G1, sn=0.25, penalty=0)
    assert l0.lam == 0.0
    assert np.sum((y - l0.baseline - l0.c) ** 2) <= 0.25**2 * 3000 * (1 + 1e-9)
    n_true = np.count_nonzero(S[0])
    assert abs(np.count_nonzero(l0.s) - n_true) <= 0.25 * n_true
    assert np.count_nonzero(l0.s) < 0.6 * np.count_nonzero(l1.s)
    assert np.corrcoef(l0.c, C[0])[0, 1] > 0.95


def test_optimize_g_refines_a_wrong_decay():
    Y, C, S = ar_traces(8, 3000, G1, sn=0.2, seed=60)
    _, _, _, G, _ = deconvolve_many(Y, p=1, g=[0.85], optimize_g=10)
    assert np.all(np.abs(G[:, 0] / G1[0] - 1) < 0.03), G.ravel()
    with pytest.raises(ValueError, match="optimize_g"):
        deconvolve(Y[0], p=2, optimize_g=5)


def test_deconvolve_edge_cases():
    res = deconvolve(np.full(200, 3.0))
    assert res.baseline == 3.0 and not res.c.any() and not res.s.any() and res.lam == 0.0
    res = deconvolve(np.zeros(200), p=2)
    assert res.baseline == 0.0 and not res.c.any()
    for p in (1, 2):  # very short traces still work
        res = deconvolve(np.array([1.0, 5, 3, 2, 1.5, 1.2, 1.1, 1.0]), p=p)
        assert np.all(np.isfinite(res.c)) and np.all(res.s >= 0) and res.g.shape == (p,)
    with pytest.raises(ValueError, match="too short"):
        deconvolve(np.ones(3), p=2)
    with pytest.raises(ValueError, match="NaN"):
        deconvolve(np.r_[np.ones(50), np.nan])
    with pytest.raises(ValueError, match="p \\(AR order\\)"):
        deconvolve(np.ones(50), p=3)
    with pytest.raises(ValueError, match="decaying"):
        deconvolve(np.ones(50), p=1, g=[1.2])
    with pytest.raises(ValueError, match="penalty"):
        deconvolve(np.ones(50), penalty=2)
    res = deconvolve(np.array([-1.0, 2.0, 0.5]), p=0)
    np.testing.assert_array_equal(res.c, [0.0, 2.0, 0.5])
    np.testing.assert_array_equal(res.s, res.c)
    assert res.g.shape == (0,)


def test_deconvolve_many_consistency_threads_and_progress():
    Y, _, _ = ar_traces(70, 500, G2, sn=0.25, seed=70)
    calls = []
    C1, S1, B1, G1_, L1 = deconvolve_many(Y, p=2, n_threads=1)
    C2, S2, B2, G2_, L2 = deconvolve_many(Y, p=2, n_threads=2,
                                          callback=lambda d, t: calls.append((d, t)))
    np.testing.assert_array_equal(C1, C2)
    np.testing.assert_array_equal(B1, B2)
    assert calls[-1] == (70, 70) and len(calls) > 1
    single = deconvolve(Y[33], p=2)
    np.testing.assert_allclose(single.c, C1[33])
    np.testing.assert_allclose(single.g, G1_[33])
    C32 = deconvolve_many(Y[:3].astype(np.float32), p=2)[0]
    assert C32.dtype == np.float32


# =========================================================================== ΔF/F
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


# =========================================================================== evaluation
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
