"""OASIS pool kernels: the active-set pools of AR(1)/AR(2) calcium traces (numba).

The pool-adjacent-violators pass of Friedrich, Zhou & Paninski (2017) for a fixed
sparsity ``lam`` (:func:`_oasis`), the exact active-set refinement of the AR(2)
pools (:func:`_refine`), and the linear model of the residual in ``(lam, b)`` that
the noise-constrained solve of :mod:`.solve` iterates on. See the package
documentation (:mod:`napari_amnesia.core.cnmf.deconvolution`) for the algorithm.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def _kernel(g1, g2, T):  # pragma: no cover - compiled
    """Impulse response ``H[k + 1] = h[k]`` (``H[0] = h[-1] = 0``) and its sums.

    ``hh[l] = sum_{k<l} h[k]^2`` and ``hh1[l] = sum_{k<l} h[k] h[k-1]``.
    """
    H = np.zeros(T + 2)
    hh = np.zeros(T + 1)
    hh1 = np.zeros(T + 1)
    H[1] = 1.0
    for k in range(1, T + 1):
        H[k + 1] = g1 * H[k] + g2 * H[k - 1]
    for n in range(1, T + 1):
        hk = H[n]  # h[n-1]
        hh[n] = hh[n - 1] + hk * hk
        hh1[n] = hh1[n - 1] + hk * H[n - 1]
    return H, hh, hh1


@nb.njit(cache=True, nogil=True, inline="always")
def _pool_value(k, v, u, g2, H):  # pragma: no cover - compiled
    """Calcium at offset ``k >= -1`` of a pool of value ``v`` after ``u``."""
    if k < 0:
        return u
    return H[k + 1] * v + g2 * H[k] * u


@nb.njit(cache=True, nogil=True)
def _pools(x, g1, g2, smin, H, hh, hh1, ts, ls, num, num1, vs, us):  # pragma: no cover
    """OASIS forward pass on ``x`` (baseline and ``lam * mu`` already removed).

    Fills the pools (start ``ts``, length ``ls``, value ``vs``, previous value ``us``
    and the two sums) and returns their number. The first pool's value is used as
    ``max(v, 0)`` (``c[0] >= 0``; 0 when below ``smin``); other pools start with
    activity ``>= smin``.
    """
    T = x.shape[0]
    n = 0
    # the first pool's value c[0] = s[0] is kept only if >= smin (and > 0)
    smin0 = smin if smin > 0.0 else 0.0
    if g2 == 0.0:  # AR(1): pools decouple, c = v g^k; s at a pool start = v_j - g^l v_i
        for t in range(T):
            ts[n] = t
            ls[n] = 1
            num[n] = x[t]
            num1[n] = 0.0
            us[n] = 0.0
            vs[n] = x[t]
            n += 1
            while n > 1:
                i = n - 2
                li = ls[i]
                vi = vs[i]
                if i == 0 and vi < smin0:
                    vi = 0.0
                if vs[n - 1] - H[li + 1] * vi >= smin:
                    break
                num[i] += H[li + 1] * num[n - 1]
                L = li + ls[n - 1]
                ls[i] = L
                vs[i] = num[i] / hh[L]
                n -= 1
        return n
    for t in range(T):
        # last value of the previous pool (the new pool's u)
        if n == 0:
            u = 0.0
        else:
            i = n - 1
            v = vs[i]
            if i == 0 and v < smin0:
                v = 0.0
            u = _pool_value(ls[i] - 1, v, us[i], g2, H)
        ts[n] = t
        ls[n] = 1
        num[n] = x[t]
        num1[n] = 0.0
        us[n] = u
        vs[n] = x[t]
        n += 1
        while n > 1:
            i = n - 2
            j = n - 1
            li = ls[i]
            vi = vs[i]
            if i == 0 and vi < smin0:
                vi = 0.0
            c_end = _pool_value(li - 1, vi, us[i], g2, H)
            c_end1 = _pool_value(li - 2, vi, us[i], g2, H)
            sj = vs[j] - g1 * c_end - g2 * c_end1
            if sj >= smin:
                break
            # merge pool j into pool i
            numj = num[j]
            num1j = num1[j]
            num[i] = num[i] + H[li + 1] * numj + g2 * H[li] * num1j
            num1[i] = num1[i] + H[li] * numj + g2 * H[li - 1] * num1j
            L = li + ls[j]
            ls[i] = L
            vs[i] = (num[i] - g2 * us[i] * hh1[L]) / hh[L]
            n -= 1
    return n


@nb.njit(cache=True, nogil=True)
def _fill(n, active0, g2, H, ts, ls, vs, us, c):  # pragma: no cover - compiled
    """Calcium of the pools (the first pool is 0 unless ``active0``)."""
    for i in range(n):
        v = vs[i]
        if i == 0 and (not active0 or v < 0.0):
            v = 0.0
        u = us[i]
        t = ts[i]
        for k in range(ls[i]):
            c[t + k] = H[k + 1] * v + g2 * H[k] * u


@nb.njit(cache=True, nogil=True)
def _exact(x, n, active0, g2, H, hh, hh1, ts, ls, vs, us, wa, wb, wp):  # pragma: no cover
    """Least-squares pool values for a fixed pool structure, all pools jointly.

    Pool ``i`` contributes ``|x_i - v_i h - u_i g2 h[.-1]|^2``, a quadratic in
    ``(v_i, u_i)``, and ``u_{i+1} = h[l_i - 1] v_i + g2 h[l_i - 2] u_i``: a chain, solved
    exactly by a backward Riccati recursion on the quadratic cost-to-go in ``u``
    followed by a forward pass (dynamic programming, O(number of pools)). For AR(1)
    (``g2 = 0``) the pools decouple and ``v_i = sum_k g^k x / sum_k g^2k`` as in [1]_.
    """
    R = 0.0
    S = 0.0
    for i in range(n - 1, -1, -1):
        t = ts[i]
        L = ls[i]
        P = 0.0
        Q1 = 0.0
        for k in range(L):
            xv = x[t + k]
            P += H[k + 1] * xv
            Q1 += H[k] * xv
        al = H[L]
        be = g2 * H[L - 1]
        ap = hh[L] + R * al * al
        bc = g2 * hh1[L] + R * al * be
        pp = P + S * al
        wa[i] = ap
        wb[i] = bc
        wp[i] = pp
        R, S = g2 * g2 * hh[L - 1] + R * be * be - bc * bc / ap, g2 * Q1 + S * be - bc * pp / ap
    u = 0.0
    for i in range(n):
        if i == 0 and not active0:
            v = 0.0
        else:
            v = (wp[i] - wb[i] * u) / wa[i]
        vs[i] = v
        us[i] = u
        L = ls[i]
        u = H[L] * v + g2 * H[L - 1] * u


@nb.njit(cache=True, nogil=True)
def _structure(is_start, ts, ls):  # pragma: no cover - compiled
    """Pools from the start flags (``is_start[0]`` is always set)."""
    T = is_start.shape[0]
    n = 0
    for t in range(T):
        if is_start[t]:
            ts[n] = t
            n += 1
    for i in range(n - 1):
        ls[i] = ts[i + 1] - ts[i]
    ls[n - 1] = T - ts[n - 1]
    return n


@nb.njit(cache=True, nogil=True, inline="always")
def _spike_at(c, t, g1, g2):  # pragma: no cover - compiled
    cm1 = c[t - 1] if t >= 1 else 0.0
    cm2 = c[t - 2] if t >= 2 else 0.0
    return c[t] - g1 * cm1 - g2 * cm2


@nb.njit(cache=True, nogil=True, inline="always")
def _objective(x, c):  # pragma: no cover - compiled
    f = 0.0
    for t in range(x.shape[0]):
        f += (x[t] - c[t]) ** 2
    return f


@nb.njit(cache=True, nogil=True)
def _refine(x, g1, g2, H, hh, hh1, n, active0, ts, ls, vs, us, c):  # pragma: no cover
    """Exact solution of ``min 1/2 |x - c|^2, s = G c >= 0`` from a feasible point.

    ``c`` must be feasible (``s >= 0``) with its spikes on the pool starts (the
    greedy AR(2) pools, or the solution for a nearby ``lam``: feasibility does not
    depend on ``x``). This is an active-set method on the spike positions in the
    manner of Lawson & Hanson's NNLS [5]_, each least-squares step solved in O(T) by
    :func:`_exact`:

    1. least squares on the current pools; while some spike is negative, drop those
       pools and solve again; keep the result if it improves the objective,
       otherwise take Lawson-Hanson steps (move from the feasible point towards the
       least-squares point until a spike reaches zero, drop it, repeat);
    2. add, in every pool, the position that most violates the optimality condition
       ``w_t = sum_k h_k (x - c)_{t+k} <= 0`` (``w`` by the reversed AR filter);
       stop when there is none, or when adding them no longer lowers the objective
       (violations at the level of rounding errors).

    The objective decreases at every step, so the method terminates at the optimum.
    Returns ``(n, active0)``; ``vs``, ``us`` and ``c`` hold the solution.
    """
    T = x.shape[0]
    is_start = np.zeros(T, np.bool_)
    backup = np.zeros(T, np.bool_)
    for i in range(n):
        is_start[ts[i]] = True
    w = np.empty(T + 2)
    c_new = np.empty(T)
    wa = np.empty(T)
    wb = np.empty(T)
    wp = np.empty(T)
    scale = 0.0
    for t in range(T):
        scale += x[t] * x[t]
    tol = 1e-9 * math.sqrt(scale * hh[T]) + 1e-300
    zero = 1e-12 * math.sqrt(scale / T) + 1e-300
    f_old = _objective(x, c)
    for _outer in range(4 * T):
        f_prev = f_old
        # 1a. least squares on the pools, dropping those whose spike is negative
        for t in range(T):
            backup[t] = is_start[t]
        active_backup = active0
        feasible = False
        for _k in range(T):
            _exact(x, n, active0, g2, H, hh, hh1, ts, ls, vs, us, wa, wb, wp)
            _fill(n, active0, g2, H, ts, ls, vs, us, c_new)
            feasible = True
            for i in range(n):
                if i == 0 and not active0:
                    continue
                if _spike_at(c_new, ts[i], g1, g2) < 0.0:
                    feasible = False
                    if i == 0:
                        active0 = False
                    else:
                        is_start[ts[i]] = False
            if feasible:
                break
            n = _structure(is_start, ts, ls)
        f_new = _objective(x, c_new)
        if feasible and f_new < f_old * (1.0 - 1e-14):
            for t in range(T):
                c[t] = c_new[t]
            f_old = f_new
        else:
            # 1b. Lawson-Hanson steps from the feasible point c
            for t in range(T):
                is_start[t] = backup[t]
            active0 = active_backup
            n = _structure(is_start, ts, ls)
            for _inner in range(T):
                _exact(x, n, active0, g2, H, hh, hh1, ts, ls, vs, us, wa, wb, wp)
                _fill(n, active0, g2, H, ts, ls, vs, us, c_new)
                alpha = 1.0
                for i in range(n):
                    if i == 0 and not active0:
                        continue
                    t = ts[i]
                    s_new = _spike_at(c_new, t, g1, g2)
                    if s_new < 0.0:
                        s_old = max(_spike_at(c, t, g1, g2), 0.0)
                        a = s_old / (s_old - s_new)
                        if a < alpha:
                            alpha = a
                if alpha >= 1.0:
                    for t in range(T):
                        c[t] = c_new[t]
                    break
                for t in range(T):
                    c[t] = c[t] + alpha * (c_new[t] - c[t])
                for i in range(n):
                    t = ts[i]
                    if _spike_at(c, t, g1, g2) <= zero:
                        if i == 0:
                            active0 = False
                            c[0] = 0.0
                        else:
                            is_start[t] = False
                n = _structure(is_start, ts, ls)
            f_old = _objective(x, c)
        if _outer > 0 and f_old >= f_prev * (1.0 - 1e-13):
            break  # the positions added did not help: optimal up to rounding
        # 2. optimality: w_t = sum_k h_k (x - c)_{t+k} <= 0 wherever s_t = 0
        w[T] = 0.0
        w[T + 1] = 0.0
        for t in range(T - 1, -1, -1):
            w[t] = x[t] - c[t] + g1 * w[t + 1] + g2 * w[t + 2]
        added = False
        if not active0 and w[0] > tol:
            active0 = True
            added = True
        for i in range(n):
            best = tol
            pos = -1
            for t in range(ts[i] + 1, ts[i] + ls[i]):
                if w[t] > best:
                    best = w[t]
                    pos = t
            if pos >= 0:
                is_start[pos] = True
                added = True
        if not added:
            break
        n = _structure(is_start, ts, ls)
    # pool values consistent with c
    for i in range(n):
        t = ts[i]
        vs[i] = c[t]
        us[i] = c[t - 1] if t >= 1 else 0.0
    return n, active0


@nb.njit(cache=True, nogil=True)
def _oasis(x, g1, g2, smin, H, hh, hh1, ts, ls, num, num1, vs, us, c):  # pragma: no cover
    """Solve the penalised problem on ``x``; return ``(n, active0)``.

    Greedy pools, then (AR(2) without a threshold) the exact active-set refinement.
    """
    n = _pools(x, g1, g2, smin, H, hh, hh1, ts, ls, num, num1, vs, us)
    active0 = vs[0] > 0.0 and vs[0] >= smin
    _fill(n, active0, g2, H, ts, ls, vs, us, c)
    if g2 != 0.0 and smin <= 0.0:
        n, active0 = _refine(x, g1, g2, H, hh, hh1, n, active0, ts, ls, vs, us, c)
    return n, active0


@nb.njit(cache=True, nogil=True)
def _linear_model(y, mu, n, active0, g2, H, hh, hh1, ts, ls, wa, wb, wp):  # pragma: no cover
    """Model the residual ``r(lam, b) = a - b e + lam d`` of a fixed pool structure.

    With the pools fixed, ``c = P (y - b - lam mu)`` for the linear least-squares map
    ``P`` of :func:`_exact`, so ``a = y - P y``, ``e = 1 - P 1`` and ``d = P mu``. The
    three maps are computed in one pass (the Riccati gains are shared); returns the
    inner products ``(aa, ad, dd, ae, de, ee, sum a, sum d, sum e)``.
    """
    # backward pass, three right-hand sides: y, 1, mu
    R = 0.0
    Sy = 0.0
    S1 = 0.0
    Sm = 0.0
    for i in range(n - 1, -1, -1):
        t = ts[i]
        L = ls[i]
        Py = 0.0
        P1 = 0.0
        Pm = 0.0
        Qy = 0.0
        Q1 = 0.0
        Qm = 0.0
        for k in range(L):
            hk = H[k + 1]
            hk1 = H[k]
            yv = y[t + k]
            mv = mu[t + k]
            Py += hk * yv
            P1 += hk
            Pm += hk * mv
            Qy += hk1 * yv
            Q1 += hk1
            Qm += hk1 * mv
        al = H[L]
        be = g2 * H[L - 1]
        ap = hh[L] + R * al * al
        bc = g2 * hh1[L] + R * al * be
        wa[i] = ap
        wb[i] = bc
        wp[0, i] = Py + Sy * al
        wp[1, i] = P1 + S1 * al
        wp[2, i] = Pm + Sm * al
        R = g2 * g2 * hh[L - 1] + R * be * be - bc * bc / ap
        Sy = g2 * Qy + Sy * be - bc * wp[0, i] / ap
        S1 = g2 * Q1 + S1 * be - bc * wp[1, i] / ap
        Sm = g2 * Qm + Sm * be - bc * wp[2, i] / ap
    aa = 0.0
    ad = 0.0
    dd = 0.0
    ae = 0.0
    de = 0.0
    ee = 0.0
    sa = 0.0
    sd = 0.0
    se = 0.0
    uy = 0.0
    u1 = 0.0
    um = 0.0
    for i in range(n):
        t = ts[i]
        L = ls[i]
        if i == 0 and not active0:
            vy = 0.0
            v1 = 0.0
            vm = 0.0
        else:
            vy = (wp[0, i] - wb[i] * uy) / wa[i]
            v1 = (wp[1, i] - wb[i] * u1) / wa[i]
            vm = (wp[2, i] - wb[i] * um) / wa[i]
        for k in range(L):
            hk = H[k + 1]
            qk = g2 * H[k]
            a = y[t + k] - (hk * vy + qk * uy)
            e = 1.0 - (hk * v1 + qk * u1)
            d = hk * vm + qk * um
            aa += a * a
            ad += a * d
            dd += d * d
            ae += a * e
            de += d * e
            ee += e * e
            sa += a
            sd += d
            se += e
        hl = H[L]
        ql = g2 * H[L - 1]
        uy, u1, um = hl * vy + ql * uy, hl * v1 + ql * u1, hl * vm + ql * um
    return aa, ad, dd, ae, de, ee, sa, sd, se


@nb.njit(cache=True, nogil=True, inline="always")
def _root(A, B, D, target):  # pragma: no cover - compiled
    """Smallest ``lam >= 0`` with ``A + 2 B lam + D lam^2 = target`` (or the minimiser)."""
    if D <= 0.0:
        return np.nan
    disc = B * B - D * (A - target)
    if disc < 0.0:
        lam = -B / D
    else:
        lam = (-B + math.sqrt(disc)) / D
    return max(lam, 0.0)


@nb.njit(cache=True, nogil=True)
def _activity(n, g1, g2, H, ts, ls, vs, us, c, s):  # pragma: no cover - compiled
    """``s`` from the pools: non-zero only at pool starts."""
    s[:] = 0.0
    for i in range(n):
        t = ts[i]
        val = _spike_at(c, t, g1, g2)
        s[t] = val if val > 0.0 else 0.0
