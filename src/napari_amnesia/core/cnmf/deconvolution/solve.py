"""Per-trace solves: the noise constraint, spike thresholds and the decay refit (numba).

:func:`_solve` iterates OASIS passes (:mod:`.oasis`) on the ``lam``/baseline that
meet ``|y - b - c|^2 = sn^2 T``; :func:`_fixed` and :func:`_auto_threshold` give the
L0-like solutions with a minimal spike size; :func:`_fit_decay` refits the AR(1)
decay on large isolated events; :func:`_deconvolve_rows` runs all of it on the rows
of a matrix (called by :func:`~.api.deconvolve_many`).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .oasis import _activity, _kernel, _linear_model, _oasis, _refine, _root

_MAX_ITER = 30  # lam/b updates of the noise-constrained solve
_RTOL = 1e-3  # relative tolerance on |y - b - c|^2 = sn^2 T


@nb.njit(cache=True, nogil=True)
def _solve(y, g1, g2, sn, b, optimize_b, b_nonneg, smin, lam0, c, s):  # pragma: no cover
    """Noise-constrained OASIS on one trace; fills ``c``, ``s``; returns (b, lam).

    ``b`` is the fixed baseline (``optimize_b`` False) or the starting value.
    """
    T = y.shape[0]
    thresh = sn * sn * T
    H, hh, hh1 = _kernel(g1, g2, T)
    mu = np.empty(T)
    mu[:] = 1.0 - g1 - g2
    if T >= 2:
        mu[T - 2] = 1.0 - g1
    mu[T - 1] = 1.0
    # c = 0 when it fits within the noise: |s|_1 = 0 is then optimal
    if optimize_b:
        bz = np.mean(y)
        if b_nonneg and bz < 0.0:
            bz = 0.0
    else:
        bz = b
    rss0 = 0.0
    for t in range(T):
        rss0 += (y[t] - bz) ** 2
    if rss0 <= thresh:
        c[:] = 0.0
        s[:] = 0.0
        return bz, 0.0
    ts = np.empty(T, np.int64)
    ls = np.empty(T, np.int64)
    num = np.empty(T)
    num1 = np.empty(T)
    vs = np.empty(T)
    us = np.empty(T)
    x = np.empty(T)
    wa = np.empty(T)
    wb = np.empty(T)
    wp = np.empty((3, T))
    lam = lam0
    lo = 0.0
    hi = np.inf
    n = 0
    active0 = False
    for _it in range(_MAX_ITER):
        for t in range(T):
            x[t] = y[t] - b - lam * mu[t]
        if _it == 0 or g2 == 0.0 or smin > 0.0:
            n, active0 = _oasis(x, g1, g2, smin, H, hh, hh1, ts, ls, num, num1, vs, us, c)
        else:  # warm start from the solution for the previous (lam, b)
            n, active0 = _refine(x, g1, g2, H, hh, hh1, n, active0, ts, ls, vs, us, c)
        rss = 0.0
        for t in range(T):
            rss += (y[t] - b - c[t]) ** 2
        # bracket of lam (valid while b is unchanged): used only when no pool is
        # active, where the quadratic model says nothing
        if rss < thresh:
            lo = max(lo, lam)
        else:
            hi = min(hi, lam)
        aa, ad, dd, ae, de, ee, sa, sd, se = _linear_model(
            y, mu, n, active0, g2, H, hh, hh1, ts, ls, wa, wb, wp
        )
        b_new = b
        if optimize_b and se > 1e-9 * T:
            # optimal b: residual of zero mean (d/db of the penalised objective), i.e.
            # b = (sa + lam sd) / se, substituted in the residual r = a' + lam d'
            ka = sa / se
            kd = sd / se
            lam_new = _root(
                aa - 2.0 * ka * ae + ka * ka * ee,
                ad - kd * ae - ka * de + ka * kd * ee,
                dd - 2.0 * kd * de + kd * kd * ee,
                thresh,
            )
            if lam_new == lam_new:
                b_new = ka + lam_new * kd
            if b_nonneg and b_new < 0.0:
                b_new = 0.0
                lam_new = _root(aa, ad, dd, thresh)
        else:
            lam_new = _root(aa - 2.0 * b * ae + b * b * ee, ad - b * de, dd, thresh)
        if not lam_new == lam_new:  # nothing active: lam too large, bisect
            lam_new = 0.5 * (lo + hi) if hi < np.inf else lam
            b_new = b
        done = abs(rss - thresh) <= _RTOL * thresh and abs(b_new - b) <= 1e-3 * sn
        if done or (lam_new == lam and b_new == b):
            break
        if abs(b_new - b) > 1e-3 * sn:
            lo = 0.0
            hi = np.inf
        lam = lam_new
        b = b_new
    _activity(n, g1, g2, H, ts, ls, vs, us, c, s)
    return b, lam


@nb.njit(cache=True, nogil=True)
def _fixed(y, g1, g2, b, lam, smin, c, s):  # pragma: no cover - compiled
    """OASIS at fixed ``b``, ``lam`` and ``smin``; returns the residual sum of squares."""
    T = y.shape[0]
    H, hh, hh1 = _kernel(g1, g2, T)
    ts = np.empty(T, np.int64)
    ls = np.empty(T, np.int64)
    num = np.empty(T)
    num1 = np.empty(T)
    vs = np.empty(T)
    us = np.empty(T)
    x = np.empty(T)
    for t in range(T):
        mu = 1.0 - g1 - g2
        if t == T - 2:
            mu = 1.0 - g1
        elif t == T - 1:
            mu = 1.0
        x[t] = y[t] - b - lam * mu
    n, _ = _oasis(x, g1, g2, smin, H, hh, hh1, ts, ls, num, num1, vs, us, c)
    _activity(n, g1, g2, H, ts, ls, vs, us, c, s)
    rss = 0.0
    for t in range(T):
        rss += (y[t] - b - c[t]) ** 2
    return rss


@nb.njit(cache=True, nogil=True)
def _auto_threshold(y, g1, g2, sn, b, c, s):  # pragma: no cover - compiled
    """Fill ``c``, ``s`` with the L0-like solution of the automatic threshold.

    The threshold is the largest (among the current spike sizes) whose ``lam = 0``
    solution keeps ``|y - b - c|^2 <= sn^2 T``.
    """
    T = y.shape[0]
    thresh = sn * sn * T
    sizes = np.sort(s[s > 1e-12])
    if sizes.size == 0:
        _fixed(y, g1, g2, b, 0.0, 0.0, c, s)
        return 0.0
    lo = 0  # index of a feasible threshold (the smallest spike: feasible or the best)
    hi = sizes.size - 1
    c2 = np.empty(T)
    s2 = np.empty(T)
    if _fixed(y, g1, g2, b, 0.0, sizes[hi], c2, s2) <= thresh:
        lo = hi
    else:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _fixed(y, g1, g2, b, 0.0, sizes[mid], c2, s2) <= thresh:
                lo = mid
            else:
                hi = mid
    _fixed(y, g1, g2, b, 0.0, sizes[lo], c, s)
    return sizes[lo]


@nb.njit(cache=True, nogil=True)
def _decay_rss(x, starts, lengths, g):  # pragma: no cover - compiled
    """Residual of ``x[t0 + k] ~ v g^k + beta`` (``v``, ``beta`` free) over the events."""
    total = 0.0
    for j in range(starts.shape[0]):
        t0 = starts[j]
        L = lengths[j]
        p = 1.0
        sh = 0.0
        shh = 0.0
        sx = 0.0
        shx = 0.0
        sxx = 0.0
        for k in range(L):
            xv = x[t0 + k]
            sh += p
            shh += p * p
            sx += xv
            shx += p * xv
            sxx += xv * xv
            p *= g
        det = shh * L - sh * sh
        if det <= 1e-12 * shh * L:
            total += sxx - sx * sx / L
            continue
        v = (shx * L - sh * sx) / det
        beta = (shh * sx - sh * shx) / det
        total += sxx - v * shx - beta * sx
    return total


@nb.njit(cache=True, nogil=True)
def _fit_decay(x, s, g, n_events):  # pragma: no cover - compiled
    """Re-estimate the AR(1) factor from the ``n_events`` largest isolated events.

    An event is a spike followed by at least ``max(5, tau)`` frames (``tau`` the
    current decay time in frames) without a spike of at least 30 % of its size; its
    window (at most ``10 tau`` frames) is fitted by ``v g^k + beta`` with a free
    amplitude and offset (robust to an error of the baseline), and ``g`` minimises
    the total residual: a search over a grid of time constants (tau / 3 .. 3 tau)
    refined by golden sections.
    """
    T = x.shape[0]
    tau = -1.0 / math.log(max(min(g, 0.9999), 1e-6))
    min_len = max(5, int(math.ceil(tau)))
    max_len = max(min_len, int(math.ceil(10.0 * tau)))
    idx = np.flatnonzero(s > 0)
    if idx.size == 0:
        return g
    order = np.argsort(-s[idx])
    st = np.empty(n_events, np.int64)
    ln = np.empty(n_events, np.int64)
    m = 0
    for j in order:
        if m >= n_events:
            break
        t0 = idx[j]
        if t0 == 0:
            continue  # the first frame may be in the middle of a transient
        size = s[t0]
        end = min(T, t0 + max_len)
        for t in range(t0 + 1, end):
            if s[t] >= 0.3 * size:
                end = t
                break
        if end - t0 >= min_len:
            st[m] = t0
            ln[m] = end - t0
            m += 1
    if m == 0:
        return g
    st = st[:m]
    ln = ln[:m]
    n_grid = 41
    best = np.inf
    best_k = 0
    taus = np.empty(n_grid)
    for k in range(n_grid):
        taus[k] = tau * math.exp(math.log(9.0) * (k / (n_grid - 1) - 0.5))
        e = _decay_rss(x, st, ln, math.exp(-1.0 / taus[k]))
        if e < best:
            best = e
            best_k = k
    a = math.log(taus[max(best_k - 1, 0)])
    bnd = math.log(taus[min(best_k + 1, n_grid - 1)])
    r = 0.5 * (math.sqrt(5.0) - 1.0)
    for _ in range(40):
        m1 = bnd - r * (bnd - a)
        m2 = a + r * (bnd - a)
        e1 = _decay_rss(x, st, ln, math.exp(-math.exp(-m1)))
        e2 = _decay_rss(x, st, ln, math.exp(-math.exp(-m2)))
        if e1 < e2:
            bnd = m2
        else:
            a = m1
    return math.exp(-math.exp(-0.5 * (a + bnd)))


@nb.njit(cache=True, nogil=True)
def _deconvolve_one(
    y, g1, g2, sn, b0, optimize_b, b_nonneg, smin, penalty, optimize_g, c, s
):  # pragma: no cover - compiled
    """Full per-trace solve (L1 or L0, optional decay refit); returns (b, g1, lam)."""
    thr = smin if penalty == 1 else 0.0
    b, lam = _solve(y, g1, g2, sn, b0, optimize_b, b_nonneg, thr, 0.0, c, s)
    if optimize_g > 0 and g2 == 0.0:
        x = y - b
        for _ in range(3):
            g_new = _fit_decay(x, s, g1, optimize_g)
            if abs(g_new - g1) < 1e-5:
                break
            g1 = g_new
            b, lam = _solve(y, g1, g2, sn, b, optimize_b, b_nonneg, thr, lam, c, s)
            x = y - b
    if penalty == 0:
        lam = 0.0
        if smin > 0.0:
            _fixed(y, g1, g2, b, 0.0, smin, c, s)
        else:
            _auto_threshold(y, g1, g2, sn, b, c, s)
    return b, g1, lam


@nb.njit(cache=True, nogil=True)
def _deconvolve_rows(Y, G, SN, B0, optimize_b, b_nonneg, SMIN, penalty, optimize_g, C, S,
                     B, Gout, LAM):  # pragma: no cover - compiled
    T = Y.shape[1]
    c = np.empty(T)
    s = np.empty(T)
    y = np.empty(T)
    for r in range(Y.shape[0]):
        for t in range(T):
            y[t] = Y[r, t]
        g1 = G[r, 0] if G.shape[1] > 0 else 0.0
        g2 = G[r, 1] if G.shape[1] > 1 else 0.0
        b, g1n, lam = _deconvolve_one(y, g1, g2, SN[r], B0[r], optimize_b, b_nonneg, SMIN[r],
                                      penalty, optimize_g, c, s)
        for t in range(T):
            C[r, t] = c[t]
            S[r, t] = s[t]
        B[r] = b
        LAM[r] = lam
        if G.shape[1] > 0:
            Gout[r, 0] = g1n
        if G.shape[1] > 1:
            Gout[r, 1] = g2
