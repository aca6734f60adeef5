"""Spike inference by OASIS: sparse non-negative deconvolution of calcium traces.

A fluorescence trace is modelled as ``y[t] = b + c[t] + noise`` with the calcium
``c`` following an autoregressive model driven by non-negative activity ``s``::

    s[t] = c[t] - g[0] c[t-1] - ... - g[p-1] c[t-p] >= 0       (c[t < 0] = 0)

:func:`deconvolve` solves the *noise-constrained* problem of CaImAn's
``constrained_foopsi(method="oasis")`` [2]_ [3]_::

    minimize |s|_1   subject to   |y - b - c|^2 <= sn^2 T,   s >= 0,   b >= 0

for ``p`` = 1 or 2, by the OASIS active-set algorithm of Friedrich, Zhou & Paninski
[1]_, implemented here from the paper in numba. :func:`deconvolve_many` runs it on
the rows of a matrix on several threads.

Algorithm
---------
*Penalised problem.* For a fixed multiplier ``lam``, ``min 1/2 |x - c|^2 + lam |s|_1``
equals ``min 1/2 |x - lam mu - c|^2`` where ``mu`` is the weight of each ``c[t]`` in
``|s|_1 = sum_t mu[t] c[t]`` (``1 - g1 - g2`` except ``1 - g1`` at ``T-2`` and 1 at
``T-1``). OASIS solves it in one forward pass: time points are gathered in *pools*,
intervals without activity after their first point; a new point opens a new pool,
and while the activity at the start of the last pool violates its constraint the
last two pools are merged (pool-adjacent-violators, [1]_ Algorithm 1). Within a pool
starting at ``t`` with value ``v = c[t]``, the calcium is ``c[t + k] = h[k] v + g2
h[k-1] u`` with ``h`` the impulse response of the AR model and ``u = c[t-1]`` the last
value of the previous pool, so every pool keeps the two sums ``sum_k h[k] x[t+k]`` and
``sum_k h[k-1] x[t+k]``; merging two pools updates them in O(1) thanks to the shift
identity ``h[l+k] = h[l] h[k] + g2 h[l-1] h[k-1]``, and the optimal value of a pool
given ``u`` is a ratio of these sums. For AR(1) (``g2 = 0``) this is exactly the
algorithm of [1]_ and the solution is the exact optimum. For AR(2) the value of a
pool is optimised with the previous pools held fixed, the greedy AR(2)
generalisation of [1]_ (section "Generalization to AR(p)"), which is not exact
(it tends to detect a spike one frame late). Its pools are therefore only the
starting point of an exact active-set method (Lawson & Hanson's NNLS [5]_ on the
spike positions) in which every least-squares step costs O(T): with the pools
fixed, the values of all pools are coupled only through ``u``, a chain solved by
a backward Riccati recursion and a forward pass. The AR(2) solution is the exact
optimum too (the tests compare both with ``scipy.optimize.nnls``).

*Noise constraint.* With the pools fixed, ``c`` is a linear function of ``(lam,
b)``, so the residual ``|y - b - c|^2`` is a quadratic function of them: each
iteration solves that quadratic for the ``lam`` (and the optimal ``b``, below) that
gives ``|y - b - c|^2 = sn^2 T``, then runs OASIS again with them, until the pools
stop changing ([1]_, "Hyperparameter optimization": warm-started ``lam`` updates).
The first pool's value is constrained to be non-negative (``s[0] = c[0] >= 0``).
The optimal baseline makes the residual's mean zero (the derivative of the
penalised objective in ``b``), which fixes ``b`` as a linear function of ``lam`` in
the same update; with ``bas_nonneg`` a negative ``b`` is set to 0. Typically 3 to 5
OASIS passes are needed (AR(2) passes after the first start from the previous
solution). When even ``c = 0`` fits the trace within the noise, the solution is
``c = 0`` and the reported ``lam`` is 0 (the noise constraint is then inactive).

*Minimal spike size (s_min).* OASIS can require every non-zero activity to be at
least ``s_min`` ([1]_, "Thresholding"): a pool whose starting activity is below
``s_min`` is merged with its predecessor. This makes the problem non-convex; the
pool algorithm gives a good local solution. The options are, with ``sn`` the noise
level and ``g`` the AR coefficients:

- ``penalty=1`` (default, L1): ``lam`` is set by the noise constraint; with
  ``s_min > 0`` every non-zero ``s[t]`` is at least ``s_min``; with ``s_min < 0`` the
  threshold is ``|s_min| * sn * sqrt(1 - sum(g))`` (CaImAn's scale: ``sqrt(1 - g)``
  for AR(1)); ``s_min = 0``: no threshold. When the threshold alone already makes
  the residual exceed ``sn^2 T``, ``lam`` is 0.
- ``penalty=0`` (L0-like, OASIS's ``penalty=0``): no L1 penalty (``lam = 0``), the
  sparsity comes from the threshold alone: ``s_min > 0`` or ``< 0`` as above, and
  ``s_min = 0`` chooses it automatically: the largest threshold, among the spike
  sizes of the L1 solution, whose solution still satisfies ``|y - b - c|^2 <= sn^2
  T`` (bisection).

In CaImAn, ``s_min=None`` is our ``penalty=1, s_min=0`` and a number ``s_min=x`` is
our ``penalty=0, s_min=x``.

*Decay time (optimize_g).* With ``optimize_g = n > 0`` (AR(1) only), after a first
solution the ``n`` largest isolated events (spikes followed by at least one decay
time without a comparable spike) are refitted with a free decay factor: each event
window is fitted by ``v g^k + beta`` (free amplitude and offset, so that a biased
baseline does not bias the decay) and ``g`` minimises the total residual (a
one-dimensional search); the problem is then solved again with it, up to three
times.

References
----------
.. [1] Friedrich, J., Zhou, P. & Paninski, L. (2017). Fast online deconvolution of
   calcium imaging data. PLoS Comput. Biol. 13, e1005423.
.. [2] Pnevmatikakis, E. A. et al. (2016). Simultaneous denoising, deconvolution,
   and demixing of calcium imaging data. Neuron 89, 285-299.
.. [3] Giovannucci, A. et al. (2019). CaImAn an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173.
.. [4] Vogelstein, J. T. et al. (2010). Fast nonnegative deconvolution for spike
   train inference from population calcium imaging. J. Neurophysiol. 104, 3691-3704.
.. [5] Lawson, C. L. & Hanson, R. J. (1974). Solving Least Squares Problems.
   Prentice-Hall (chapter 23, non-negative least squares).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numba as nb
import numpy as np

from ..parallel import n_workers, thread_map
from .noise import check_noise_range, estimate_ar_many, estimate_noise

__all__ = ["Deconvolved", "deconvolve", "deconvolve_many"]

logger = logging.getLogger(__name__)

_MAX_ITER = 30  # lam/b updates of the noise-constrained solve
_RTOL = 1e-3  # relative tolerance on |y - b - c|^2 = sn^2 T
_ROWS_PER_TASK = 32


class Deconvolved(NamedTuple):
    """Result of :func:`deconvolve`.

    Attributes
    ----------
    c : ndarray, shape (T,)
        Denoised calcium trace (baseline removed).
    s : ndarray, shape (T,)
        Deconvolved activity, ``s[t] = c[t] - sum_i g[i] c[t-1-i]``.
    baseline : float
        Baseline ``b`` of the trace.
    g : ndarray, shape (p,)
        AR coefficients used (estimated or optimised when not given).
    lam : float
        Sparsity penalty ``lam`` of the equivalent penalised problem
        ``1/2 |y - b - c|^2 + lam |s|_1`` (0 when no activity was found).
    """

    c: np.ndarray
    s: np.ndarray
    baseline: float
    g: np.ndarray
    lam: float


# --------------------------------------------------------------------------- kernels
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
    """Solve the penalised problem on ``x``: greedy pools, then (AR(2) without a
    threshold) the exact active-set refinement. Returns ``(n, active0)``."""
    n = _pools(x, g1, g2, smin, H, hh, hh1, ts, ls, num, num1, vs, us)
    active0 = vs[0] > 0.0 and vs[0] >= smin
    _fill(n, active0, g2, H, ts, ls, vs, us, c)
    if g2 != 0.0 and smin <= 0.0:
        n, active0 = _refine(x, g1, g2, H, hh, hh1, n, active0, ts, ls, vs, us, c)
    return n, active0


@nb.njit(cache=True, nogil=True)
def _linear_model(y, mu, n, active0, g2, H, hh, hh1, ts, ls, wa, wb, wp):  # pragma: no cover
    """The residual ``r(lam, b) = a - b e + lam d`` of a fixed pool structure.

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
    """L0-like solution: the largest threshold (among the current spike sizes) whose
    ``lam = 0`` solution keeps ``|y - b - c|^2 <= sn^2 T``; fills ``c``, ``s``."""
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


# --------------------------------------------------------------------------- API
def _check_options(p, s_min, optimize_g, penalty, lags):
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p not in (0, 1, 2):
        raise ValueError(f"p (AR order) should be 0, 1 or 2, got {p!r}.")
    if penalty not in (0, 1):
        raise ValueError(f"penalty should be 1 (L1) or 0 (L0 with s_min), got {penalty!r}.")
    s_min = float(s_min)
    if not math.isfinite(s_min):
        raise ValueError(f"s_min should be a finite number, got {s_min!r}.")
    if isinstance(optimize_g, bool) or not isinstance(optimize_g, (int, np.integer)):
        raise ValueError(f"optimize_g should be a non-negative integer, got {optimize_g!r}.")
    if optimize_g < 0:
        raise ValueError(f"optimize_g should be a non-negative integer, got {optimize_g!r}.")
    if optimize_g > 0 and p != 1:
        raise ValueError(
            f"optimize_g is implemented for p=1 only, got optimize_g={optimize_g} with p={p}."
        )
    if isinstance(lags, bool) or not isinstance(lags, (int, np.integer)) or lags < 0:
        raise ValueError(f"lags should be a non-negative integer, got {lags!r}.")
    return int(p), s_min, int(optimize_g), int(penalty), int(lags)


def _as_traces(Y: Any, name: str) -> np.ndarray:
    arr = np.asarray(Y)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} should hold real numbers, got dtype {arr.dtype}.")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr.reshape(-1, arr.shape[-1])).all(axis=1))
        raise ValueError(
            f"{name} holds NaN or infinite values (row(s) {bad[:10].tolist()}); "
            "interpolate or drop those frames first."
        )
    return arr


def _resolve_g(G: Any, p: int, N: int) -> np.ndarray | None:
    if G is None:
        return None
    G = np.asarray(G, dtype=np.float64)
    if G.ndim <= 1:
        G = np.broadcast_to(G.reshape(1, -1), (N, G.size))
    if G.shape != (N, p):
        raise ValueError(f"g should hold {p} AR coefficient(s) per trace, got shape {G.shape}.")
    if not np.all(np.isfinite(G)):
        raise ValueError("g should be finite.")
    if p >= 1:
        # the model must decay: poles of z^2 - g1 z - g2 inside the unit circle
        g1 = G[:, 0]
        g2 = G[:, 1] if p == 2 else np.zeros(N)
        ok = (np.abs(g2) < 1) & (g2 + g1 < 1) & (g2 - g1 < 1) & (g1 >= 0)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise ValueError(
                f"g should describe a decaying non-negative kernel (poles in [0, 1)), "
                f"got {G[i].tolist()} for trace {i}."
            )
    return np.ascontiguousarray(G)


def _prepare(Y, p, g, sn, s_min, penalty, noise_range, noise_method, lags, fudge_factor,
             baseline):
    """Estimate what is missing for the rows of ``Y``: sn, g, baselines, thresholds."""
    N, T = Y.shape
    min_len = p + 2
    if T < max(2, min_len):
        raise ValueError(
            f"traces of {T} frame(s) are too short to deconvolve with p={p}: need at "
            f"least {max(2, min_len)} frames."
        )
    if sn is None:
        SN = estimate_noise(Y, noise_range, noise_method)
    else:
        SN = np.broadcast_to(np.asarray(sn, dtype=np.float64), (N,)).copy()
        if not np.all(np.isfinite(SN)) or np.any(SN < 0):
            raise ValueError(f"sn should be finite and non-negative, got {sn!r}.")
    G = _resolve_g(g, p, N)
    if G is None:
        G = estimate_ar_many(Y, p, min(lags, T - p - 1), SN, fudge_factor) if p else np.zeros(
            (N, 0)
        )
    if baseline is None:
        B0 = np.percentile(Y, 15, axis=1) if T else np.zeros(N)
    else:
        B0 = np.broadcast_to(np.asarray(baseline, dtype=np.float64), (N,)).copy()
        if not np.all(np.isfinite(B0)):
            raise ValueError(f"baseline should be finite, got {baseline!r}.")
    if s_min < 0:
        sg = G.sum(axis=1) if p else np.zeros(N)
        SMIN = -s_min * SN * np.sqrt(np.clip(1.0 - sg, 0.0, None))
    else:
        SMIN = np.full(N, s_min)
    return SN, G, B0, SMIN


def deconvolve(
    y: Any,
    p: int = 1,
    g: Sequence[float] | np.ndarray | None = None,
    sn: float | None = None,
    s_min: float = 0.0,
    optimize_g: int = 0,
    bas_nonneg: bool = True,
    penalty: int = 1,
    noise_range: Sequence[float] = (0.25, 0.5),
    lags: int = 5,
    *,
    baseline: float | None = None,
    fudge_factor: float = 0.98,
    noise_method: str = "logmexp",
) -> Deconvolved:
    """Infer calcium and activity from one trace (OASIS, noise-constrained).

    Solves ``min |s|_1  s.t.  |y - b - c|^2 <= sn^2 T``, ``s = G c >= 0``, ``b >= 0``
    (see the module documentation for the algorithm and the ``s_min``/``penalty``
    options); the equivalent of CaImAn's ``constrained_foopsi(method="oasis")``.

    Parameters
    ----------
    y : array_like, shape (T,)
        Fluorescence trace (any real dtype).
    p : {0, 1, 2}
        Order of the AR model. ``p=0``: no dynamics, ``c = max(y - b, 0)``, ``s = c``
        (``b`` = ``baseline`` or 0).
    g : sequence of float, optional
        AR coefficients (``p`` of them); estimated by
        :func:`~napari_amnesia.core.cnmf.noise.estimate_ar` when None.
    sn : float, optional
        Noise standard deviation; estimated by
        :func:`~napari_amnesia.core.cnmf.noise.estimate_noise` when None.
    s_min : float
        Minimal size of a non-zero activity: 0 none (``penalty=1``) or automatic
        (``penalty=0``); > 0 in trace units; < 0 in units of ``sn * sqrt(1 - sum(g))``.
    optimize_g : int
        Number of large isolated events used to refine the decay (``p=1`` only;
        0: keep ``g``).
    bas_nonneg : bool
        Constrain the baseline ``b`` to be non-negative.
    penalty : {1, 0}
        1: L1 sparsity with ``lam`` set by the noise constraint; 0: threshold only.
    noise_range : tuple of float
        Band of the noise estimate (fractions of the sampling rate).
    lags : int
        Extra autocovariance lags of the AR estimate.
    baseline : float, optional
        Fixed baseline; estimated jointly with ``c`` when None.
    fudge_factor : float
        Shrinkage of the estimated AR poles, in (0, 1] (used when ``g`` is None).
        The default, 0.98, is that of OASIS's ``deconvolve``; CaImAn's CNMF uses
        0.96. It compensates the upward bias of the estimated decay caused by the
        calcium transients' own power in the noise band (which inflates ``sn``).
    noise_method : {"mean", "median", "logmexp"}
        Averaging of the noise estimate.

    Returns
    -------
    Deconvolved
        ``(c, s, baseline, g, lam)``; ``c`` and ``s`` are float32 for float32 input,
        float64 otherwise.

    Raises
    ------
    ValueError
        For a bad parameter, a trace holding NaN or infinity, or one too short
        (fewer than ``p + 2`` frames, or 2).

    References
    ----------
    .. [1] Friedrich, J., Zhou, P. & Paninski, L. (2017). PLoS Comput. Biol. 13,
       e1005423.
    .. [2] Pnevmatikakis, E. A. et al. (2016). Neuron 89, 285-299.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> spikes = (rng.random(2000) < 0.02).astype(float)
    >>> calcium = np.zeros(2000)
    >>> for t in range(2000):
    ...     calcium[t] = 0.95 * calcium[t - 1] * (t > 0) + spikes[t]
    >>> y = 2.0 + calcium + rng.normal(0, 0.2, 2000)
    >>> res = deconvolve(y, p=1)
    >>> bool(np.corrcoef(res.c, calcium)[0, 1] > 0.95), bool(abs(res.baseline - 2.0) < 0.3)
    (True, True)
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"y should be one-dimensional (T,), got shape {arr.shape}.")
    C, S, B, G, L = deconvolve_many(
        arr[None],
        p=p,
        g=None if g is None else np.asarray(g, dtype=np.float64).reshape(1, -1),
        sn=sn,
        s_min=s_min,
        optimize_g=optimize_g,
        bas_nonneg=bas_nonneg,
        penalty=penalty,
        noise_range=noise_range,
        lags=lags,
        baseline=baseline,
        fudge_factor=fudge_factor,
        noise_method=noise_method,
        n_threads=1,
    )
    return Deconvolved(C[0], S[0], float(B[0]), G[0], float(L[0]))


def deconvolve_many(
    Y: Any,
    p: int = 1,
    g: Any = None,
    sn: Any = None,
    s_min: float = 0.0,
    optimize_g: int = 0,
    bas_nonneg: bool = True,
    penalty: int = 1,
    noise_range: Sequence[float] = (0.25, 0.5),
    lags: int = 5,
    *,
    baseline: Any = None,
    fudge_factor: float = 0.98,
    noise_method: str = "logmexp",
    callback: Callable[[int, int], Any] | None = None,
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`deconvolve` every row of ``Y``, on several threads.

    Parameters
    ----------
    Y : array_like, shape (N, T)
        Traces, one per row.
    p, s_min, optimize_g, bas_nonneg, penalty, noise_range, lags, fudge_factor, \
noise_method
        As in :func:`deconvolve` (the same for every row).
    g : array_like, shape (p,) or (N, p), optional
        AR coefficients, shared or per row; estimated per row when None.
    sn, baseline : float or array_like of shape (N,), optional
        Noise levels and fixed baselines, shared or per row; estimated when None.
    callback : callable, optional
        Called as ``callback(done, total)`` (rows) as batches of rows complete.
    n_threads : int, optional
        Threads to use (default: the CPUs available). The compiled solver releases
        the GIL.

    Returns
    -------
    C, S : ndarray, shape (N, T)
        Calcium and activity (float32 for float32 input, float64 otherwise).
    baselines : ndarray, shape (N,)
    G : ndarray, shape (N, p)
        AR coefficients used per row.
    lams : ndarray, shape (N,)
        Sparsity penalties.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> C, S, b, G, lam = deconvolve_many(rng.normal(0, 1, (3, 500)), p=1)
    >>> C.shape, G.shape
    ((3, 500), (3, 1))
    """
    p, s_min, optimize_g, penalty, lags = _check_options(p, s_min, optimize_g, penalty, lags)
    check_noise_range(noise_range)
    if noise_method not in ("mean", "median", "logmexp"):
        raise ValueError(
            f'noise_method should be "mean", "median" or "logmexp", got {noise_method!r}.'
        )
    raw = np.asarray(Y)
    if raw.ndim != 2:
        raise ValueError(f"Y should have shape (N, T), got shape {raw.shape}.")
    out_dtype = np.float32 if raw.dtype == np.float32 else np.float64
    arr = _as_traces(raw, "Y")
    N, T = arr.shape
    if N == 0:
        z = np.zeros((0, T), out_dtype)
        return z, z.copy(), np.zeros(0), np.zeros((0, p)), np.zeros(0)
    if p == 0:
        B = (
            np.zeros(N)
            if baseline is None
            else np.broadcast_to(np.asarray(baseline, np.float64), (N,)).copy()
        )
        C = np.maximum(arr - B[:, None], 0.0).astype(out_dtype)
        if callback is not None:
            callback(N, N)
        return C, C.copy(), B, np.zeros((N, 0)), np.zeros(N)
    SN, G, B0, SMIN = _prepare(arr, p, g, sn, s_min, penalty, noise_range, noise_method, lags,
                               fudge_factor, baseline)
    Gfull = np.zeros((N, 2))
    Gfull[:, :p] = G
    C = np.empty((N, T), out_dtype)
    S = np.empty((N, T), out_dtype)
    B = np.empty(N)
    Gout = Gfull.copy()
    L = np.empty(N)
    optimize_b = baseline is None
    rows = _ROWS_PER_TASK

    def work(r0: int) -> int:
        r1 = min(N, r0 + rows)
        c = np.empty((r1 - r0, T))
        s = np.empty((r1 - r0, T))
        _deconvolve_rows(arr[r0:r1], Gfull[r0:r1], SN[r0:r1], B0[r0:r1], optimize_b,
                         bool(bas_nonneg), SMIN[r0:r1], penalty, optimize_g, c, s, B[r0:r1],
                         Gout[r0:r1], L[r0:r1])
        C[r0:r1] = c
        S[r0:r1] = s
        return r1 - r0

    workers = n_workers(n_threads) if N > rows else 1
    done = 0
    for k in thread_map(work, range(0, N, rows), workers):
        done += k
        if callback is not None:
            callback(done, N)
    return C, S, B, Gout[:, :p].copy(), L
