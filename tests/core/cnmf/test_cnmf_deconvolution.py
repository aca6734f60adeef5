"""OASIS deconvolution (napari_amnesia.core.cnmf.deconvolution), on planted AR(1)/AR(2)
traces: exact against NNLS, optimal (KKT), accurate, and its options.
"""

from __future__ import annotations

import numpy as np
import pytest
from cnmf_data import G1, G2, ar_traces
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import nnls

from napari_amnesia.core.cnmf.deconvolution import Deconvolved, deconvolve, deconvolve_many, oasis


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
