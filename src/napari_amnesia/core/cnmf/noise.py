"""Noise level and autoregressive (AR) dynamics of fluorescence traces.

:func:`estimate_noise` measures the standard deviation of the white noise of each
row of an array from its power spectrum at high frequencies, where the slow calcium
signal has no power (Pnevmatikakis et al. 2016 [1]_, CaImAn's ``get_noise_fft`` [2]_).
:func:`estimate_ar` and :func:`estimate_ar_many` estimate the AR coefficients ``g``
of the calcium dynamics ``c[t] = g[0] c[t-1] + ... + g[p-1] c[t-p] + s[t]`` from the
autocovariance of the trace, corrected for the noise ([1]_, Methods).

Power spectrum method
---------------------
For a trace ``y`` of ``T`` samples, the periodogram is ``P_k = |Y_k|^2 / T`` with
``Y_k`` the discrete Fourier transform, at frequency ``k / T`` of the sampling
rate (Nyquist is 0.5). For white noise of variance ``sn^2``, ``E[P_k] = sn^2`` at
every ``k``; calcium transients only add power at low frequencies. The noise is read
from the bins with ``noise_range[0] < k / T <= noise_range[1]``, combined by

- ``"mean"``: ``sqrt(mean(P))``;
- ``"median"``: ``sqrt(median(P))``;
- ``"logmexp"``: ``sqrt(exp(mean(log(P))))`` (the geometric mean: robust to a few
  large bins).

For Gaussian noise, each ``P_k`` (``0 < k < T/2``) follows an exponential
distribution of mean ``sn^2``, whose median is ``sn^2 ln 2`` and whose geometric
mean is ``sn^2 exp(-gamma)`` (``gamma`` = Euler's constant). CaImAn returns the raw
values, so its ``"median"`` and ``"logmexp"`` noise levels are 17 % and 25 % below
the true standard deviation. Here, with ``debias=True`` (the default), those two are
divided by ``sqrt(ln 2)`` and ``exp(-gamma / 2)`` so that all three methods estimate
``sn`` without bias for Gaussian white noise; ``debias=False`` gives CaImAn's values.

References
----------
.. [1] Pnevmatikakis, E. A. et al. (2016). Simultaneous denoising, deconvolution,
   and demixing of calcium imaging data. Neuron 89, 285-299.
.. [2] Giovannucci, A. et al. (2019). CaImAn an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173 (``caiman.source_extraction.cnmf.
   pre_processing.get_noise_fft``, ``deconvolution.estimate_time_constant``).
.. [3] Friedrich, J., Zhou, P. & Paninski, L. (2017). Fast online deconvolution of
   calcium imaging data. PLoS Comput. Biol. 13, e1005423.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["estimate_noise", "estimate_ar", "estimate_ar_many", "check_noise_range"]

logger = logging.getLogger(__name__)

_METHODS = ("mean", "median", "logmexp")
_CHUNK_BYTES = 64 * 2**20  # float64 spectrum of one chunk of rows
# largest pole magnitude kept by estimate_ar: a root of 1 is a trace that never decays
_MAX_ROOT = 0.9999


def check_noise_range(noise_range: Sequence[float]) -> tuple[float, float]:
    """Validate ``noise_range`` and return it as a tuple of two floats."""
    try:
        lo, hi = (float(v) for v in noise_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"noise_range should be two frequencies (lo, hi), got {noise_range!r}."
        ) from None
    if not 0.0 <= lo < hi <= 0.5:
        raise ValueError(
            "noise_range should satisfy 0 <= lo < hi <= 0.5 (fractions of the sampling "
            f"rate, Nyquist = 0.5), got {noise_range!r}."
        )
    return lo, hi


def _band(n_frames: int, noise_range: tuple[float, float]) -> np.ndarray:
    """Return the indices of the rfft bins with ``lo < k / T <= hi``."""
    k = np.arange(n_frames // 2 + 1)
    f = k / n_frames
    idx = k[(f > noise_range[0]) & (f <= noise_range[1])]
    if idx.size == 0:
        raise ValueError(
            f"no frequency bin of a trace of {n_frames} frames lies in noise_range="
            f"{noise_range}: use longer traces or a wider noise_range."
        )
    return idx


def estimate_noise(
    Y: Any,
    noise_range: Sequence[float] = (0.25, 0.5),
    noise_method: str = "logmexp",
    *,
    debias: bool = True,
    chunk_bytes: int = _CHUNK_BYTES,
) -> np.ndarray:
    """Noise standard deviation of each row of ``Y`` by the power-spectrum method.

    Parameters
    ----------
    Y : array_like, shape (..., T)
        Traces, time along the last axis (any real dtype; numpy or dask). Rows are
        read and transformed in chunks of about ``chunk_bytes``.
    noise_range : tuple of float
        Frequency band ``(lo, hi)`` in fractions of the sampling rate (Nyquist =
        0.5); the bins with ``lo < f <= hi`` are averaged.
    noise_method : {"mean", "median", "logmexp"}
        How the power in the band is combined (see the module documentation).
    debias : bool
        Correct ``"median"`` and ``"logmexp"`` for their bias on Gaussian white
        noise (see the module documentation). ``False`` gives CaImAn's values.
    chunk_bytes : int
        Target size of the float64 spectrum of one chunk of rows.

    Returns
    -------
    ndarray, shape Y.shape[:-1], float64
        Noise standard deviation of each row (a 0-d array for a single trace).
        A constant row gives 0 (``"logmexp"`` also gives 0 for a row with a
        band bin of exactly zero power). A row holding NaN or infinity gives NaN;
        the functions that need a noise level (:func:`estimate_ar`,
        ``deconvolve``) reject such rows with a ValueError.

    Raises
    ------
    ValueError
        For an unknown ``noise_method``, a bad ``noise_range``, or traces too short
        to have any frequency bin in the band.

    References
    ----------
    .. [1] Pnevmatikakis, E. A. et al. (2016). Neuron 89, 285-299 (Methods: noise
       estimation from the power spectral density).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sn = estimate_noise(rng.normal(0, 2.0, (3, 5000)))
    >>> bool(np.all(np.abs(sn - 2.0) < 0.1))
    True
    """
    if noise_method not in _METHODS:
        raise ValueError(
            f'noise_method should be "mean", "median" or "logmexp", got {noise_method!r}.'
        )
    band_range = check_noise_range(noise_range)
    if not (hasattr(Y, "shape") and hasattr(Y, "dtype") and hasattr(Y, "reshape")):
        Y = np.asarray(Y)
    shape = tuple(Y.shape)
    if len(shape) == 0:
        raise ValueError("Y should have at least one dimension (time last), got a scalar.")
    T = int(shape[-1])
    lead = shape[:-1]
    n_rows = int(np.prod(lead, dtype=np.int64))
    out = np.zeros(n_rows, dtype=np.float64)
    if n_rows == 0:
        return out.reshape(lead)
    band = _band(T, band_range)
    lo, hi = int(band[0]), int(band[-1]) + 1  # contiguous bins
    dtype = np.dtype(Y.dtype)
    if dtype.kind not in "biuf":
        raise ValueError(f"Y should hold real numbers, got dtype {dtype}.")
    flat = Y.reshape(n_rows, T)
    rows_per_chunk = max(1, int(chunk_bytes // (8 * (T // 2 + 1))))
    from scipy import fft as sfft

    for r0 in range(0, n_rows, rows_per_chunk):
        r1 = min(n_rows, r0 + rows_per_chunk)
        block = np.asarray(flat[r0:r1])
        if block.dtype != np.float32:
            block = block.astype(np.float64, copy=False)
        spec = sfft.rfft(block, axis=-1)[:, lo:hi]
        power = spec.real.astype(np.float64) ** 2 + spec.imag.astype(np.float64) ** 2
        power /= T
        with np.errstate(divide="ignore", invalid="ignore"):
            if noise_method == "mean":
                var = power.mean(axis=1)
            elif noise_method == "median":
                var = np.median(power, axis=1)
                if debias:
                    var = var / math.log(2.0)
            else:
                var = np.exp(np.log(power).mean(axis=1))
                if debias:
                    var = var * math.exp(np.euler_gamma)
        bad = ~np.isfinite(block).all(axis=1)
        var[bad] = np.nan
        out[r0:r1] = np.sqrt(var)
    n_bad = int(np.isnan(out).sum())
    if n_bad:
        logger.warning("estimate_noise: %d row(s) hold NaN or infinity; noise set to NaN.", n_bad)
    return out.reshape(lead)


def _check_ar_args(p: int, lags: int, fudge_factor: float) -> tuple[int, int, float]:
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 0:
        raise ValueError(f"p (AR order) should be a non-negative integer, got {p!r}.")
    if isinstance(lags, bool) or not isinstance(lags, (int, np.integer)) or lags < 0:
        raise ValueError(f"lags should be a non-negative integer, got {lags!r}.")
    fudge_factor = float(fudge_factor)
    if not 0.0 < fudge_factor <= 1.0:
        raise ValueError(f"fudge_factor should be in (0, 1], got {fudge_factor!r}.")
    return int(p), int(lags), fudge_factor


def _autocovariance(Y: np.ndarray, max_lag: int) -> np.ndarray:
    """Biased autocovariance ``sum_t (y_t - m)(y_{t+k} - m) / T`` for k = 0..max_lag."""
    T = Y.shape[1]
    Yc = Y - Y.mean(axis=1, keepdims=True)
    out = np.empty((Y.shape[0], max_lag + 1))
    for k in range(max_lag + 1):
        out[:, k] = np.einsum("ij,ij->i", Yc[:, : T - k], Yc[:, k:]) / T
    return out


def _project_roots(g: np.ndarray, fudge_factor: float) -> np.ndarray:
    """Shrink the poles of an AR model by ``fudge_factor`` and keep them in [0, 1).

    The poles are the roots of ``z^p - g1 z^(p-1) - ... - gp``. A complex pair is
    replaced by a double real pole of the same magnitude (a rise-and-decay kernel),
    a negative pole by 0, and magnitudes are capped at 0.9999.
    """
    p = g.size
    if p == 0 or not np.all(np.isfinite(g)):
        return np.zeros(p)
    roots = np.roots(np.concatenate([[1.0], -g]))
    if np.iscomplexobj(roots) and np.any(np.abs(roots.imag) > 1e-12):
        roots = np.where(np.abs(roots.imag) > 1e-12, np.abs(roots), roots.real)
    roots = np.clip(np.real(roots) * fudge_factor, 0.0, _MAX_ROOT)
    return -np.poly(roots)[1:].real + 0.0  # no negative zeros


def estimate_ar_many(
    traces: Any,
    p: int = 1,
    lags: int = 5,
    sn: Any = None,
    fudge_factor: float = 0.96,
    *,
    noise_range: Sequence[float] = (0.25, 0.5),
    noise_method: str = "logmexp",
) -> np.ndarray:
    """AR coefficients of many traces at once (vectorised :func:`estimate_ar`).

    Parameters
    ----------
    traces : array_like, shape (N, T)
        Fluorescence traces, one per row.
    p, lags, fudge_factor
        As in :func:`estimate_ar`.
    sn : float or array_like of shape (N,), optional
        Noise standard deviation of each trace; estimated by :func:`estimate_noise`
        (with ``noise_range`` and ``noise_method``) when None.
    noise_range, noise_method
        Passed to :func:`estimate_noise` when ``sn`` is None.

    Returns
    -------
    ndarray, shape (N, p)
        AR coefficients of each trace.

    Raises
    ------
    ValueError
        For bad parameters or traces holding NaN or infinity.
    """
    p, lags, fudge_factor = _check_ar_args(p, lags, fudge_factor)
    Y = np.asarray(traces, dtype=np.float64)
    if Y.ndim != 2:
        raise ValueError(f"traces should have shape (N, T), got shape {Y.shape}.")
    N, T = Y.shape
    if p == 0 or N == 0:
        return np.zeros((N, p))
    if not np.isfinite(Y).all():
        bad = np.flatnonzero(~np.isfinite(Y).all(axis=1))
        raise ValueError(f"traces hold NaN or infinity (rows {bad[:10].tolist()}...).")
    max_lag = p + lags
    if T <= max_lag:
        raise ValueError(
            f"traces of {T} frames are too short to estimate an AR({p}) model with "
            f"lags={lags}: need more than p + lags = {max_lag} frames."
        )
    if sn is None:
        sn = estimate_noise(Y, noise_range, noise_method)
    sn = np.broadcast_to(np.asarray(sn, dtype=np.float64), (N,))
    if not np.all(np.isfinite(sn)) or np.any(sn < 0):
        raise ValueError("sn should be finite and non-negative.")
    xc = _autocovariance(Y, max_lag)  # (N, max_lag + 1)
    # Yule-Walker-type least squares (Pnevmatikakis et al. 2016, Methods): for lags
    # k = 1 .. p + lags, xc[k] = sum_j g_j (xc[|k - j|] - sn^2 [k == j]), the noise
    # variance being removed from the zero lag only.
    ks = np.arange(1, max_lag + 1)
    js = np.arange(1, p + 1)
    lagidx = np.abs(ks[:, None] - js[None, :])  # (max_lag, p)
    A = xc[:, lagidx]  # (N, max_lag, p)
    diag = ks[:, None] == js[None, :]
    A = A - (sn**2)[:, None, None] * diag[None]
    rhs = xc[:, 1:]
    # normal equations per trace (p is 1 or 2: tiny, well-posed unless the trace is flat)
    AtA = np.einsum("nkp,nkq->npq", A, A)
    Atb = np.einsum("nkp,nk->np", A, rhs)
    g = np.zeros((N, p))
    scale = np.einsum("npp->n", AtA)
    ok = scale > 0
    if np.any(ok):
        reg = 1e-12 * scale[ok][:, None, None] * np.eye(p)[None]
        g[ok] = np.linalg.solve(AtA[ok] + reg, Atb[ok][..., None])[..., 0]
    for i in range(N):
        g[i] = _project_roots(g[i], fudge_factor)
    return g


def estimate_ar(
    trace: Any,
    p: int = 1,
    lags: int = 5,
    sn: float | None = None,
    fudge_factor: float = 0.96,
    *,
    noise_range: Sequence[float] = (0.25, 0.5),
    noise_method: str = "logmexp",
) -> np.ndarray:
    """AR(p) coefficients of a fluorescence trace from its autocovariance.

    With ``y = c + noise`` and ``c`` an AR(p) process, the autocovariance satisfies
    ``C_y(k) = sum_j g_j C_y(k - j)`` for ``k >= 1``, except that ``C_y(0)`` holds the
    noise variance ``sn^2`` on top of ``C_c(0)``. The coefficients solve these
    equations for ``k = 1 .. p + lags`` in the least-squares sense, with ``sn^2``
    subtracted from the zero lag ([1]_, Methods). The poles of the fitted model (the
    roots of ``z^p - g1 z^(p-1) - ... - gp``) are then multiplied by
    ``fudge_factor`` to counter the upward bias of the estimate [1]_ [2]_, and kept
    in ``[0, 0.9999]`` so that the kernel decays (a complex pair becomes a double
    real pole of the same magnitude; a negative pole becomes 0).

    Parameters
    ----------
    trace : array_like, shape (T,)
        Fluorescence trace.
    p : int
        AR order (0 returns an empty array).
    lags : int
        Number of lags beyond ``p`` used in the least squares.
    sn : float, optional
        Noise standard deviation; estimated by :func:`estimate_noise` when None.
    fudge_factor : float
        Shrinkage of the poles, in (0, 1] (1: none).
    noise_range, noise_method
        Passed to :func:`estimate_noise` when ``sn`` is None.

    Returns
    -------
    ndarray, shape (p,)
        ``g`` such that ``c[t] = g[0] c[t-1] + ... + g[p-1] c[t-p] + s[t]``.

    Raises
    ------
    ValueError
        For a bad parameter, a trace with NaN/infinity, or one shorter than
        ``p + lags + 1`` frames.

    References
    ----------
    .. [1] Pnevmatikakis, E. A. et al. (2016). Neuron 89, 285-299.
    .. [2] Giovannucci, A. et al. (2019). eLife 8, e38173
       (``estimate_time_constant``, ``fudge_factor``).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> s = rng.random(20000) < 0.05
    >>> c = np.zeros(20000)
    >>> for t in range(1, 20000):
    ...     c[t] = 0.9 * c[t - 1] + s[t]
    >>> g = estimate_ar(c + rng.normal(0, 0.2, 20000), p=1, fudge_factor=1.0)
    >>> bool(abs(g[0] - 0.9) < 0.02)
    True
    """
    y = np.asarray(trace, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"trace should be one-dimensional, got shape {y.shape}.")
    if sn is not None:
        sn = float(sn)
        if not math.isfinite(sn) or sn < 0:
            raise ValueError(f"sn should be finite and non-negative, got {sn!r}.")
    return estimate_ar_many(
        y[None],
        p,
        lags,
        None if sn is None else np.array([sn]),
        fudge_factor,
        noise_range=noise_range,
        noise_method=noise_method,
    )[0]
