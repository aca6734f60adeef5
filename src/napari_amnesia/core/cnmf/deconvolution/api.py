"""The deconvolution API: :func:`deconvolve` (one trace) and :func:`deconvolve_many`.

Checks the options and the traces, estimates what is missing (noise level, AR
coefficients, baselines, thresholds: :mod:`..noise`), then runs the compiled
per-trace solve (:mod:`.solve`) on batches of rows as dask tasks
(:func:`~napari_amnesia.core.parallel.thread_map`), reporting progress by a callback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ...parallel import n_workers, thread_map
from ..noise import check_noise_range, estimate_ar_many, estimate_noise
from .solve import _deconvolve_rows

__all__ = ["Deconvolved", "deconvolve", "deconvolve_many"]

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
