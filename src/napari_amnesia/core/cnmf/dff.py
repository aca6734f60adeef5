"""ΔF/F of CNMF components with a running-percentile baseline.

:func:`detrend_df_f` turns the temporal components of a CNMF decomposition into
ΔF/F traces the way CaImAn's ``detrend_df_f`` does [1]_, from the published
definition, without two of its defects (see Notes):

1. Each footprint ``a_k`` is scaled to unit L2 norm and its trace scaled the other
   way, so that ``a_k c_k`` is unchanged; the fluorescence of the component is
   ``F_k = c_k (+ its residual trace when use_residuals)``.
2. The background under the component is ``B_k = (a_k / |a_k|)^T b f``, the
   projection of the background model on the normalised footprint.
3. ``F0_k``, the baseline of ``F_k``, and ``B0_k``, that of ``B_k``, are running
   percentiles over ``frames_window`` frames (the whole trace when the window is
   longer than the recording).
4. ``ΔF/F_k = (F_k - F0_k) / (F0_k + B0_k)``; with ``detrend_only`` (one-photon data,
   where the background is not a meaningful F0) the result is ``F_k - F0_k``.

The percentile is ``quantile_min`` or, with ``flag_auto``, chosen for each trace
as the percentile rank of its mode (the most frequent value, which is the resting
level of a mostly silent trace), estimated by a Gaussian kernel density on a grid;
``quantile_min`` is then a *lower bound* of the automatic percentile (so that a
trace dominated by activity, whose mode sits in its low tail, still gets a sensible
baseline).

Running percentile
------------------
The exact running percentile costs one partial sort per frame. Here it is evaluated
on a grid of window centres every ``step`` frames (``frames_window // 20`` by
default; ``step=1`` gives the exact filter) and linearly interpolated in between:
the baseline drifts slowly, so the interpolation error is far below the noise. At
both ends the window is truncated to the frames that exist (it is not reflected),
i.e. frame ``t`` uses frames ``max(0, t - w // 2) .. min(T, t - w // 2 + w) - 1``.

References
----------
.. [1] Giovannucci, A. et al. (2019). CaImAn an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173 (``caiman.source_extraction.cnmf.utilities.
   detrend_df_f``, ``df_percentile``).
.. [2] Pnevmatikakis, E. A. et al. (2016). Simultaneous denoising, deconvolution, and
   demixing of calcium imaging data. Neuron 89, 285-299.
.. [3] Silverman, B. W. (1986). Density Estimation for Statistics and Data Analysis.
   Chapman & Hall (rule-of-thumb bandwidth).

Notes
-----
Differences from CaImAn's ``detrend_df_f``: its ``use_fast=True`` path divides by the
detrended trace rather than by the baseline, and its ``flag_auto=True`` ignores
``quantileMin`` silently; CaImAn also takes the automatic percentile from the first
``frames_window`` frames only, here it is taken from the whole trace. Components
whose denominator ``F0 + B0`` is not positive get NaN (with a logged warning)
rather than an infinite or sign-flipped ΔF/F.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numba as nb
import numpy as np
from scipy import sparse

from ..parallel import n_workers, thread_map

__all__ = ["detrend_df_f", "running_percentile", "mode_percentile"]

logger = logging.getLogger(__name__)

_N_BINS = 512


# --------------------------------------------------------------------------- percentile
@nb.njit(cache=True, nogil=True)
def _running_percentile_rows(F, q, window, step, out):  # pragma: no cover - compiled
    """Compute a running percentile of each row on a grid of centres, interpolated."""
    K, T = F.shape
    h = window // 2
    n_grid = (T - 1) // step + 1
    if (n_grid - 1) * step != T - 1:
        n_grid += 1
    centres = np.empty(n_grid, np.int64)
    for j in range(n_grid):
        centres[j] = min(j * step, T - 1)
    vals = np.empty(n_grid)
    buf = np.empty(min(window, T))
    for k in range(K):
        qk = q[k]
        for j in range(n_grid):
            t = centres[j]
            lo = max(0, t - h)
            hi = min(T, t - h + window)
            m = hi - lo
            for i in range(m):
                buf[i] = F[k, lo + i]
            srt = np.sort(buf[:m])
            # numpy's default ("linear") percentile definition
            pos = qk / 100.0 * (m - 1)
            i0 = int(math.floor(pos))
            i1 = min(i0 + 1, m - 1)
            frac = pos - i0
            vals[j] = srt[i0] + frac * (srt[i1] - srt[i0])
        j = 0
        for t in range(T):
            while j + 1 < n_grid and centres[j + 1] < t:
                j += 1
            if centres[j] == t or j + 1 >= n_grid:
                out[k, t] = vals[j]
            else:
                t0 = centres[j]
                t1 = centres[j + 1]
                w1 = (t - t0) / (t1 - t0)
                out[k, t] = (1.0 - w1) * vals[j] + w1 * vals[j + 1]


def running_percentile(
    F: Any,
    q: Any,
    frames_window: int,
    *,
    step: int | None = None,
    n_threads: int | None = None,
) -> np.ndarray:
    """Return the running percentile of each row of ``F`` over ``frames_window`` frames.

    Parameters
    ----------
    F : array_like, shape (K, T)
        Traces.
    q : float or array_like of shape (K,)
        Percentile(s) in [0, 100], one per row or shared.
    frames_window : int
        Window length in frames (>= 1). A window longer than ``T`` gives the
        percentile of the whole trace at every frame.
    step : int, optional
        Spacing of the window centres where the percentile is computed exactly
        (default ``max(1, frames_window // 20)``); linear interpolation in between.
        ``step=1`` is the exact running percentile.
    n_threads : int, optional
        Threads (default: the CPUs available).

    Returns
    -------
    ndarray, shape (K, T), float64

    Examples
    --------
    >>> F = np.arange(10.0)[None]
    >>> running_percentile(F, 50, 3, step=1)[0].tolist()
    [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 8.5]
    """
    F = np.ascontiguousarray(np.atleast_2d(np.asarray(F, dtype=np.float64)))
    if F.ndim != 2:
        raise ValueError(f"F should have shape (K, T), got shape {F.shape}.")
    K, T = F.shape
    q = np.broadcast_to(np.asarray(q, dtype=np.float64), (K,)).copy()
    if np.any(~np.isfinite(q)) or np.any((q < 0) | (q > 100)):
        raise ValueError(f"percentiles should be in [0, 100], got {q.min()} .. {q.max()}.")
    if isinstance(frames_window, bool) or int(frames_window) != frames_window or frames_window < 1:
        raise ValueError(f"frames_window should be a positive integer, got {frames_window!r}.")
    frames_window = int(frames_window)
    out = np.empty((K, T))
    if K == 0 or T == 0:
        return out
    if frames_window >= T:
        # one window holds every frame: a constant baseline
        base = np.array([np.percentile(row, qk) for row, qk in zip(F, q, strict=True)])
        out[:] = base[:, None]
        return out
    if step is None:
        step = max(1, frames_window // 20)
    if isinstance(step, bool) or int(step) != step or step < 1:
        raise ValueError(f"step should be a positive integer, got {step!r}.")
    rows = max(1, int(np.ceil(K / max(1, 4 * n_workers(n_threads)))))

    def work(r0: int) -> None:
        r1 = min(K, r0 + rows)
        _running_percentile_rows(F[r0:r1], q[r0:r1], frames_window, int(step), out[r0:r1])

    for _ in thread_map(work, range(0, K, rows), n_workers(n_threads) if K > rows else 1):
        pass
    return out


def mode_percentile(F: Any, *, n_bins: int = _N_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Mode of each row and its percentile rank (the automatic ΔF/F percentile).

    The density of each row is estimated by a Gaussian kernel (bandwidth by
    Silverman's rule [3]_, ``0.9 min(sd, IQR / 1.34) n^(-1/5)``) evaluated by binning
    the values on ``n_bins`` points and smoothing the histogram; the mode is the
    grid point of highest density and its percentile rank is ``100 * mean(F <=
    mode)``.

    Parameters
    ----------
    F : array_like, shape (K, T)
    n_bins : int
        Grid points of the density.

    Returns
    -------
    percentile : ndarray, shape (K,)
        Percentile rank of the mode, in [0, 100].
    mode : ndarray, shape (K,)
        The mode.

    References
    ----------
    .. [3] Silverman, B. W. (1986). Density Estimation for Statistics and Data
       Analysis. Chapman & Hall.
    """
    from scipy.ndimage import gaussian_filter1d

    F = np.atleast_2d(np.asarray(F, dtype=np.float64))
    K, T = F.shape
    prct = np.zeros(K)
    modes = np.zeros(K)
    if T == 0:
        return prct, modes
    lo = F.min(axis=1)
    hi = F.max(axis=1)
    q25, q75 = np.percentile(F, [25, 75], axis=1)
    sd = F.std(axis=1)
    spread = np.minimum(sd, (q75 - q25) / 1.34)
    spread = np.where(spread > 0, spread, sd)
    bw = 0.9 * spread * T ** (-0.2)
    for k in range(K):
        if not hi[k] > lo[k]:
            modes[k] = lo[k]
            prct[k] = 50.0
            continue
        width = (hi[k] - lo[k]) / (n_bins - 1)
        idx = np.rint((F[k] - lo[k]) / width).astype(np.int64)
        hist = np.bincount(idx, minlength=n_bins).astype(np.float64)
        sigma = bw[k] / width if bw[k] > 0 else 1.0
        dens = gaussian_filter1d(hist, max(sigma, 0.5), mode="constant")
        modes[k] = lo[k] + width * int(np.argmax(dens))
        prct[k] = 100.0 * np.count_nonzero(F[k] <= modes[k]) / T
    return prct, modes


# --------------------------------------------------------------------------- ΔF/F
def _dense(x: Any) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


def detrend_df_f(
    A: Any,
    b: Any,
    C: Any,
    f: Any,
    YrA: Any = None,
    quantile_min: float = 8,
    frames_window: int | None = 500,
    flag_auto: bool = True,
    use_residuals: bool = True,
    detrend_only: bool = False,
    *,
    step: int | None = None,
    n_threads: int | None = None,
) -> np.ndarray:
    """ΔF/F of CNMF components, baseline by a running percentile.

    Parameters
    ----------
    A : array_like or sparse matrix, shape (n_pixels, K)
        Footprints (CaImAn's ``A``).
    b : array_like or sparse matrix, shape (n_pixels, nb), or None
        Spatial background components (None or ``nb = 0``: no background).
    C : array_like, shape (K, T)
        Temporal components (CaImAn's ``C``).
    f : array_like, shape (nb, T), or None
        Temporal background components.
    YrA : array_like, shape (K, T), optional
        Residual traces (CaImAn's ``YrA``), added to ``C`` when ``use_residuals``.
    quantile_min : float
        Baseline percentile in [0, 100]; with ``flag_auto`` the lower bound of the
        automatic percentile.
    frames_window : int or None
        Window of the running percentile in frames; None or a window longer than
        the recording uses the whole trace (a constant baseline).
    flag_auto : bool
        Choose the percentile of each trace from the percentile rank of its mode
        (see the module documentation).
    use_residuals : bool
        Add ``YrA`` to ``C`` (ignored when ``YrA`` is None).
    detrend_only : bool
        Return ``F - F0`` (no division), for one-photon data.
    step : int, optional
        Grid spacing of the running percentile (see :func:`running_percentile`).
    n_threads : int, optional
        Threads for the running percentiles.

    Returns
    -------
    ndarray, shape (K, T), float64
        ΔF/F (or the detrended traces). Components whose denominator
        ``F0 + B0`` is not positive somewhere get NaN there.

    Raises
    ------
    ValueError
        For inconsistent shapes or a parameter out of range.

    References
    ----------
    .. [1] Giovannucci, A. et al. (2019). eLife 8, e38173.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> A = np.abs(rng.normal(size=(50, 2))); b = np.ones((50, 1)); f = np.ones((1, 300))
    >>> C = np.abs(rng.normal(size=(2, 300)))
    >>> detrend_df_f(A, b, C, f, frames_window=100).shape
    (2, 300)
    """
    A = sparse.csc_matrix(A) if sparse.issparse(A) else np.asarray(A, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"A should have shape (n_pixels, K), got shape {A.shape}.")
    n_pix, K = A.shape
    C = np.asarray(_dense(C), dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != K:
        raise ValueError(f"C should have shape ({K}, T) to match A's {K} columns, got {C.shape}.")
    T = C.shape[1]
    if not 0 <= float(quantile_min) <= 100:
        raise ValueError(f"quantile_min should be in [0, 100], got {quantile_min!r}.")
    if frames_window is not None and (
        isinstance(frames_window, bool) or int(frames_window) != frames_window
        or frames_window < 1
    ):
        raise ValueError(f"frames_window should be a positive integer or None, got "
                         f"{frames_window!r}.")
    if sparse.issparse(A):
        norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=0)).ravel())
    else:
        norms = np.sqrt((A * A).sum(axis=0))
    empty = norms == 0
    if np.any(empty):
        logger.warning("detrend_df_f: %d empty footprint(s); their ΔF/F is NaN.", empty.sum())
    safe = np.where(empty, 1.0, norms)
    F = C * norms[:, None]
    if use_residuals and YrA is not None:
        R = np.asarray(_dense(YrA), dtype=np.float64)
        if R.shape != C.shape:
            raise ValueError(f"YrA should have the shape of C {C.shape}, got {R.shape}.")
        F = F + R * norms[:, None]
    # background projected on each normalised footprint: (A / |A|)^T b f
    if b is None or f is None or (hasattr(b, "shape") and b.shape[-1] == 0):
        B = np.zeros((K, T))
    else:
        bd = _dense(b).astype(np.float64).reshape(n_pix, -1)
        fd = np.asarray(_dense(f), dtype=np.float64).reshape(bd.shape[1], -1)
        if fd.shape[1] != T:
            raise ValueError(f"f should have {T} frames like C, got shape {fd.shape}.")
        Atb = np.asarray(A.T @ bd) / safe[:, None]  # (K, nb)
        B = Atb @ fd
    if flag_auto:
        prct, _ = mode_percentile(F)
        q = np.maximum(prct, float(quantile_min))
    else:
        q = np.full(K, float(quantile_min))
    window = T if frames_window is None else min(int(frames_window), T)
    F0 = running_percentile(F, q, window, step=step, n_threads=n_threads)
    dF = F - F0
    if detrend_only:
        out = dF
    else:
        B0 = running_percentile(B, q, window, step=step, n_threads=n_threads)
        den = F0 + B0
        bad = ~(den > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(bad, np.nan, dF / np.where(bad, 1.0, den))
        n_bad = int(np.any(bad, axis=1).sum())
        if n_bad:
            logger.warning(
                "detrend_df_f: %d component(s) have a non-positive baseline F0 + B0 "
                "somewhere; ΔF/F set to NaN there.", n_bad
            )
    out[empty] = np.nan
    return out
