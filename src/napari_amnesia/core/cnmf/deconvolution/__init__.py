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

Modules: :mod:`.oasis` (the pool kernels), :mod:`.solve` (noise constraint,
thresholds, decay refit), :mod:`.api` (checks, estimates, batches of rows); the
noise and AR estimates are in :mod:`napari_amnesia.core.cnmf.noise`.

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

from .api import Deconvolved, deconvolve, deconvolve_many

__all__ = ["Deconvolved", "deconvolve", "deconvolve_many"]
