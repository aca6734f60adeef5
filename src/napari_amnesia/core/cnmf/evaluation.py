"""Quality metrics of CNMF components and the rule that accepts or rejects them.

The metrics follow CaImAn's component evaluation (Giovannucci et al. 2019 [1]_,
section "Automated component evaluation and classification"), re-derived from the
paper:

- :func:`event_snr`: how exceptional the largest transient of a trace is under a
  noise model fitted to the trace's lower half ("event exceptionality");
- :func:`spatial_r_values`: how well the footprint matches the data in the frames
  where the component is most active (the spatial correlation "r value");
- :func:`decide`: CaImAn's acceptance rule on these metrics, kept separate so that
  re-filtering with new thresholds never recomputes the metrics;
- :func:`remove_duplicates` (from :mod:`.duplicates`): pairs of components with
  overlapping footprints and correlated traces (duplicates from overlapping patches);
- :func:`apply_cell_probability`: on request, also require the probability of the
  shipped cell classifier (:mod:`.classifier`, on the features of :mod:`.features`).

References
----------
.. [1] Giovannucci, A. et al. (2019). CaImAn an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173 (``caiman.components_evaluation``:
   ``compute_event_exceptionality``, ``classify_components_ep``,
   ``select_components_from_metrics``).
.. [2] Bickel, D. R. & Frühwirth, R. (2006). On a fast, robust estimator of the mode.
   Comput. Stat. Data Anal. 50, 3500-3530 (half-sample mode).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numba as nb
import numpy as np
from scipy import sparse, special

from .duplicates import _as_csc, remove_duplicates

__all__ = [
    "event_snr",
    "half_sample_mode",
    "spatial_r_values",
    "decide",
    "describe_rule",
    "footprint_widths",
    "MIN_REFERENCE_CELLS",
    "remove_duplicates",
    "activity_frames",
    "apply_cell_probability",
    "classifier_cut",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- SNR
@nb.njit(cache=True, nogil=True)
def _hsm_sorted(x):  # pragma: no cover - compiled
    """Half-sample mode of a sorted 1-d array (Bickel & Frühwirth 2006)."""
    lo = 0
    n = x.shape[0]
    while n > 3:
        half = (n + 1) // 2
        best = np.inf
        best_i = lo
        for i in range(lo, lo + n - half + 1):
            w = x[i + half - 1] - x[i]
            if w < best:
                best = w
                best_i = i
        lo = best_i
        n = half
    if n == 3:
        if x[lo + 1] - x[lo] < x[lo + 2] - x[lo + 1]:
            return 0.5 * (x[lo] + x[lo + 1])
        if x[lo + 1] - x[lo] > x[lo + 2] - x[lo + 1]:
            return 0.5 * (x[lo + 1] + x[lo + 2])
        return x[lo + 1]
    if n == 2:
        return 0.5 * (x[lo] + x[lo + 1])
    return x[lo]


@nb.njit(cache=True, nogil=True)
def _hsm_rows(S, out):  # pragma: no cover - compiled
    for k in range(S.shape[0]):
        out[k] = _hsm_sorted(S[k])


def half_sample_mode(traces: Any) -> np.ndarray:
    """Robust mode of each row: the half-sample mode [2]_ (CaImAn's ``mode_robust``).

    The shortest interval holding half of the (sorted) values is kept, recursively,
    until two or three values remain.

    Parameters
    ----------
    traces : array_like, shape (K, T) or (T,)

    Returns
    -------
    ndarray, shape (K,) (or a 0-d array for one trace)

    Examples
    --------
    >>> float(half_sample_mode(np.array([0.0, 1.0, 1.5, 2.0, 5.0, 9.0])))
    1.5
    """
    x = np.asarray(traces, dtype=np.float64)
    one = x.ndim == 1
    X = np.atleast_2d(x)
    if X.shape[1] == 0:
        raise ValueError("traces should have at least one frame.")
    out = np.empty(X.shape[0])
    _hsm_rows(np.sort(X, axis=1), out)
    return out[0] if one else out


def event_snr(
    traces: Any,
    n_events: int = 5,
    robust_std: bool = False,
    *,
    sigma_factor: float = 3.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Signal-to-noise ratio of each trace by event exceptionality.

    For each trace ``x`` (in CaImAn, ``C + YrA``: denoised trace plus residual):

    1. ``m`` = the half-sample mode of ``x`` (its resting level);
    2. the noise ``sd`` is estimated from the values *below* the mode only
       (activity is positive): ``sqrt(mean((m - x)^2))`` over ``x < m``, or with
       ``robust_std`` the median of ``m - x`` over ``x < m`` divided by 0.6745 (the
       median of a half-normal distribution is 0.6745 sigma);
    3. ``z = (x - m) / (sigma_factor * sd)`` and ``log p_t = log(1 - Phi(z_t))``, the
       log-probability of a value at least as large under the noise model;
    4. the lowest sum of ``log p`` over ``n_events`` consecutive frames, ``L`` (the
       log-likelihood of the most exceptional event);
    5. ``SNR = -Phi^-1(exp(L / n_events))``: the z-score whose tail probability is
       the geometric mean of the event's per-frame probabilities.

    This is CaImAn's ``compute_event_exceptionality`` followed by its
    ``-norm.ppf(exp(fitness / N))`` [1]_, with two numerical refinements: ``log(1 -
    Phi)`` and ``Phi^-1(exp(.))`` are computed in log space (``log_ndtr``,
    ``ndtri_exp``) so very large events give a large finite SNR instead of
    infinity, and only complete windows of ``n_events`` frames are summed (CaImAn
    also counts partial windows at the start of the trace).

    Parameters
    ----------
    traces : array_like, shape (K, T)
        Traces, one per row (a single trace of shape (T,) is accepted).
    n_events : int
        Number of consecutive frames of an event (CaImAn's ``N``).
    robust_std : bool
        Estimate ``sd`` from the median rather than the root mean square.
    sigma_factor : float
        Scale of the z-scores in units of ``sd`` (CaImAn's default, 3).

    Returns
    -------
    snr : ndarray, shape (K,)
        SNR of each trace (0 for a constant trace, NaN for a trace with NaN).
    log_likelihood : ndarray, shape (K,)
        ``L``, CaImAn's ``fitness`` (lower is more exceptional).
    noise : ndarray, shape (K,)
        ``sd``.
    mode : ndarray, shape (K,)
        ``m``.

    Raises
    ------
    ValueError
        For ``n_events < 1`` or ``sigma_factor <= 0``.

    References
    ----------
    .. [1] Giovannucci, A. et al. (2019). eLife 8, e38173.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(0, 1, (2, 3000))
    >>> x[0, 1000:1010] += 15
    >>> snr = event_snr(x)[0]
    >>> bool(snr[0] > 2 > snr[1])
    True
    """
    if isinstance(n_events, bool) or int(n_events) != n_events or n_events < 1:
        raise ValueError(f"n_events should be a positive integer, got {n_events!r}.")
    n_events = int(n_events)
    if not float(sigma_factor) > 0:
        raise ValueError(f"sigma_factor should be positive, got {sigma_factor!r}.")
    X = np.atleast_2d(np.asarray(traces, dtype=np.float64))
    if X.ndim != 2:
        raise ValueError(f"traces should have shape (K, T), got shape {X.shape}.")
    K, T = X.shape
    snr = np.zeros(K)
    fit = np.zeros(K)
    sd = np.zeros(K)
    md = np.zeros(K)
    if K == 0 or T == 0:
        return snr, fit, sd, md
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        logger.warning("event_snr: %d trace(s) hold NaN or infinity: SNR is NaN.",
                       int((~finite).sum()))
    Xf = X[finite]
    md_f = half_sample_mode(Xf) if len(Xf) else np.zeros(0)
    below = np.clip(md_f[:, None] - Xf, 0.0, None)  # (m - x) where x < m, else 0
    count = np.count_nonzero(below > 0, axis=1)
    if robust_std:
        sd_f = np.zeros(len(Xf))
        for i, row in enumerate(below):
            pos = row[row > 0]
            sd_f[i] = np.median(pos) / 0.6745 if pos.size else 0.0
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            sd_f = np.sqrt((below**2).sum(axis=1) / np.maximum(count, 1))
    w = min(n_events, T)
    fit_f = np.zeros(len(Xf))
    ok = sd_f > 0
    if np.any(ok):
        z = (Xf[ok] - md_f[ok, None]) / (float(sigma_factor) * sd_f[ok, None])
        logp = special.log_ndtr(-z)  # log(1 - Phi(z))
        cs = np.concatenate([np.zeros((logp.shape[0], 1)), np.cumsum(logp, axis=1)], axis=1)
        window = cs[:, w:] - cs[:, :-w]
        fit_f[ok] = window.min(axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        snr_f = np.where(ok, -special.ndtri_exp(np.minimum(fit_f / w, 0.0)), 0.0)
    snr[finite], fit[finite], sd[finite], md[finite] = snr_f, fit_f, sd_f, md_f
    snr[~finite] = fit[~finite] = sd[~finite] = md[~finite] = np.nan
    return snr, fit, sd, md


# --------------------------------------------------------------------------- r values
def activity_frames(
    traces: Any,
    n_peaks: int = 5,
    t_before: int = 3,
    t_after: int = 10,
    peak_threshold: float = 0.3,
) -> list[np.ndarray]:
    """Frames around the largest peaks of each trace (CaImAn's activity intervals).

    A peak is a local maximum (``x[t-1] <= x[t] > x[t+1]``) at least
    ``min + peak_threshold * (max - min)``; the ``n_peaks`` highest are kept and
    each contributes the frames ``t - t_before .. t + t_after - 1`` (clipped to the
    recording).

    Returns
    -------
    list of ndarray
        Sorted frame indices for each trace (empty for a constant trace).
    """
    X = np.atleast_2d(np.asarray(traces, dtype=np.float64))
    K, T = X.shape
    out: list[np.ndarray] = []
    offsets = np.arange(-int(t_before), int(t_after))
    for k in range(K):
        x = X[k]
        lo, hi = np.nanmin(x) if T else 0.0, np.nanmax(x) if T else 0.0
        if T < 3 or not hi > lo:
            out.append(np.zeros(0, np.int64))
            continue
        mid = x[1:-1]
        interior = (mid >= x[:-2]) & (mid > x[2:]) & (mid >= lo + peak_threshold * (hi - lo))
        peaks = np.flatnonzero(interior) + 1
        if peaks.size == 0:
            peaks = np.array([int(np.nanargmax(x))])
        peaks = peaks[np.argsort(x[peaks])[::-1][: int(n_peaks)]]
        frames = np.unique(np.clip((peaks[:, None] + offsets[None]).ravel(), 0, T - 1))
        out.append(frames.astype(np.int64))
    return out


def spatial_r_values(
    movie: Any,
    footprints: Any,
    traces: Any,
    background: tuple[Any, Any] | None = None,
    *,
    n_peaks: int = 5,
    t_before: int = 3,
    t_after: int = 10,
    peak_threshold: float = 0.3,
    overlap_thr: float = 0.1,
    subtract_others: bool = True,
    chunk_frames: int = 64,
    callback: Callable[[int, int], Any] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Spatial correlation ("r value") of each footprint with the data where it is active.

    For component ``k`` (CaImAn's ``classify_components_ep`` [1]_):

    1. its active frames are the windows around the ``n_peaks`` largest peaks of its
       trace (:func:`activity_frames`); frames also active in a component whose
       footprint overlaps it (normalised inner product of the footprints above
       ``overlap_thr``) are left out, unless that leaves none;
    2. the mean of the movie over these frames is taken on the footprint's support
       (pixels where it is > 0), minus the background ``b f`` (when given) and, with
       ``subtract_others``, minus the other components ``sum_j a_j c_j`` (their mean
       over the same frames) — the data that component ``k`` should explain;
    3. the r value is the Pearson correlation of that mean image with the footprint
       over the support (0 for a support of fewer than 3 pixels or a flat image).

    The movie is streamed: only the frames some component needs are read, in
    sorted order and in blocks of ``chunk_frames``, so a lazy dask movie is never
    loaded as a whole.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        The (motion-corrected) movie, numpy, memmap or dask.
    footprints : array_like or sparse matrix, shape (Y * X, K)
        Spatial components; pixel index ``row * X + column`` (C order, the order of
        ``frame.ravel()``).
    traces : array_like, shape (K, T)
        Temporal components (CaImAn's ``C``) used to pick the frames and for
        ``subtract_others``.
    background : tuple (b, f), optional
        Background ``b`` of shape (Y * X, nb) and ``f`` of shape (nb, T).
    n_peaks, t_before, t_after, peak_threshold
        Frame selection (:func:`activity_frames`; CaImAn's ``Npeaks``, ``-tB``,
        ``tA``, ``thres``).
    overlap_thr : float
        Overlap above which the frames of a neighbour are excluded (CaImAn's
        ``Athresh``).
    subtract_others : bool
        Remove the other components' contribution from the mean image.
    chunk_frames : int
        Frames read at once.
    callback : callable, optional
        Called as ``callback(done, total)`` (frames read) after every block.

    Returns
    -------
    r_values : ndarray, shape (K,)
    frames : list of ndarray
        The frames used for each component.

    References
    ----------
    .. [1] Giovannucci, A. et al. (2019). eLife 8, e38173.
    """
    A = _as_csc(footprints)
    n_pix, K = A.shape
    if len(getattr(movie, "shape", ())) != 3:
        raise ValueError(f"movie should have shape (T, Y, X), got {getattr(movie, 'shape', None)}.")
    T, Ny, Nx = (int(v) for v in movie.shape)
    if Ny * Nx != n_pix:
        raise ValueError(
            f"footprints have {n_pix} pixels but the movie's frames have {Ny}x{Nx}={Ny * Nx}."
        )
    C = np.asarray(traces.toarray() if sparse.issparse(traces) else traces, dtype=np.float64)
    if C.shape != (K, T):
        raise ValueError(f"traces should have shape ({K}, {T}), got {C.shape}.")
    if background is not None:
        b, f = background
        b = np.asarray(b.toarray() if sparse.issparse(b) else b, dtype=np.float64)
        b = b.reshape(n_pix, -1)
        f = np.asarray(f, dtype=np.float64).reshape(b.shape[1], -1)
        if f.shape[1] != T:
            raise ValueError(f"background f should have {T} frames, got shape {f.shape}.")
    if isinstance(chunk_frames, bool) or int(chunk_frames) < 1:
        raise ValueError(f"chunk_frames should be a positive integer, got {chunk_frames!r}.")
    r_values = np.zeros(K)
    if K == 0:
        return r_values, []
    # 1. frames
    loc = activity_frames(C, n_peaks, t_before, t_after, peak_threshold)
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=0)).ravel())
    safe = np.where(norms > 0, norms, 1.0)
    AA = (A.T @ A).toarray() / np.outer(safe, safe)
    np.fill_diagonal(AA, 0.0)
    frames: list[np.ndarray] = []
    for k in range(K):
        fr = loc[k]
        neighbours = np.flatnonzero(AA[:, k] > overlap_thr)
        if fr.size and neighbours.size:
            busy = np.concatenate([loc[j] for j in neighbours])
            keep = np.setdiff1d(fr, busy)
            if keep.size == 0:
                logger.debug("component %d is only active together with a neighbour", k)
                keep = fr
            fr = keep
        frames.append(fr)
    # 2. the mean image of each component over its frames, streamed over the movie
    supports = [A.indices[A.indptr[k] : A.indptr[k + 1]][A.data[A.indptr[k] : A.indptr[k + 1]] > 0]
                for k in range(K)]
    sums = [np.zeros(s.size) for s in supports]
    needed = np.unique(np.concatenate([fr for fr in frames if fr.size] or [np.zeros(0, int)]))
    users: dict[int, list[int]] = {}
    for k, fr in enumerate(frames):
        if supports[k].size >= 3:
            for t in fr:
                users.setdefault(int(t), []).append(k)
    needed = np.array([t for t in needed if int(t) in users], dtype=np.int64)
    total = needed.size
    for i0 in range(0, total, int(chunk_frames)):
        idx = needed[i0 : i0 + int(chunk_frames)]
        block = movie[idx]
        block = np.asarray(block.compute() if hasattr(block, "compute") else block)
        block = block.reshape(len(idx), n_pix)
        for j, t in enumerate(idx):
            row = block[j]
            for k in users[int(t)]:
                sums[k] += row[supports[k]]
        if callback is not None:
            callback(min(i0 + int(chunk_frames), total), total)
    # 3. corrections (means over the same frames) and correlations
    for k in range(K):
        px = supports[k]
        fr = frames[k]
        if px.size < 3 or fr.size == 0:
            if px.size < 3:
                logger.debug("component %d has fewer than 3 pixels: r value 0", k)
            continue
        mean_img = sums[k] / fr.size
        if background is not None:
            mean_img = mean_img - b[px] @ f[:, fr].mean(axis=1)
        if subtract_others:
            cm = C[:, fr].mean(axis=1)
            cm[k] = 0.0
            rows = A[px]
            mean_img = mean_img - np.asarray(rows @ cm).ravel()
        a = np.asarray(A[px, k].toarray()).ravel()
        if np.std(mean_img) == 0 or np.std(a) == 0:
            continue
        r_values[k] = float(np.corrcoef(mean_img, a)[0, 1])
    return r_values, frames


# --------------------------------------------------------------------------- decision
def decide(
    snr: Any,
    r_values: Any,
    sizes: Any = None,
    *,
    min_SNR: float = 2.0,
    SNR_lowest: float = 0.5,
    rval_thr: float = 0.85,
    rval_lowest: float = -1.0,
    min_size: int | None = None,
    max_size: int | None = None,
    require_both: bool = False,
    joint_SNR: float | None = None,
    joint_rval: float | None = None,
    widths: Any = None,
    max_width_ratio: float | None = None,
) -> np.ndarray:
    """CaImAn's acceptance rule on precomputed metrics.

    A component is **rejected** when any metric is at or below its lowest threshold
    (``snr <= SNR_lowest`` or ``r_value <= rval_lowest``) or its size is outside
    ``[min_size, max_size]``; otherwise it is **accepted** when at least one metric
    reaches its high threshold (``snr >= min_SNR`` or ``r_value >= rval_thr``), and
    rejected when none does ([1]_, ``select_components_from_metrics``, without the
    CNN classifier). With ``require_both`` both must reach their high threshold
    (``snr >= min_SNR`` and ``r_value >= rval_thr``): a high r-value alone no longer
    accepts a weak trace. With ``joint_SNR`` and ``joint_rval`` both given, a
    component is also accepted when its metrics reach this weaker pair *together*
    (``snr >= joint_SNR`` and ``r_value >= joint_rval``): a dim cell whose SNR and
    spatial correlation are each short of the high thresholds but both well above
    what noise and background give (the one-photon preset's rule; see
    ``docs/cnmfe.md``). With ``max_width_ratio``, a component whose footprint is
    wider (:func:`footprint_widths`) than ``max_width_ratio`` times the median
    width of the clear cells (both ``snr >= min_SNR`` and ``r_value >= rval_thr``)
    is rejected: in a one-photon movie the somata in focus have similar sizes, and a
    footprint much wider than theirs is a blurred out-of-focus cell or a patch of
    background (no rule when fewer than :data:`MIN_REFERENCE_CELLS` clear cells give
    the reference). A NaN metric satisfies no comparison, so it neither accepts
    nor rejects by itself (and never passes ``require_both``). The metrics are
    inputs: filtering again with other thresholds costs nothing.

    Parameters
    ----------
    snr, r_values : array_like, shape (K,)
        From :func:`event_snr` and :func:`spatial_r_values`.
    sizes : array_like, shape (K,), optional
        Footprint sizes in pixels (used only with ``min_size``/``max_size``).
    min_SNR, SNR_lowest, rval_thr, rval_lowest : float
        Thresholds (CaImAn's names and defaults, except ``min_SNR`` = 2.0).
    min_size, max_size : int, optional
        Size limits in pixels.
    require_both : bool
        Both high thresholds must be reached (default: either one, as CaImAn).
    joint_SNR, joint_rval : float, optional
        A weaker pair of thresholds that accepts when both are reached (None, the
        default: no such pair, CaImAn's rule; the pair works only with both given).
    widths : array_like, shape (K,), optional
        Footprint widths (:func:`footprint_widths`; needed with ``max_width_ratio``).
    max_width_ratio : float, optional
        Widest accepted footprint, as a multiple of the clear cells' median width.

    Returns
    -------
    ndarray of bool, shape (K,)

    Examples
    --------
    >>> decide([3.0, 1.0, 1.0, 0.2], [0.5, 0.9, 0.5, 0.99]).tolist()
    [True, True, False, False]
    >>> decide([3.0, 1.0, 3.0], [0.5, 0.9, 0.9], require_both=True).tolist()
    [False, False, True]
    >>> decide([1.5, 1.5, 1.0], [0.7, 0.5, 0.7], joint_SNR=1.3, joint_rval=0.6).tolist()
    [True, False, False]
    >>> decide([5.0] * 6, [0.9] * 6, widths=[4, 4, 4, 4, 4, 7],
    ...        max_width_ratio=1.3).tolist()
    [True, True, True, True, True, False]
    """
    snr = np.asarray(snr, dtype=np.float64).ravel()
    r = np.asarray(r_values, dtype=np.float64).ravel()
    if snr.shape != r.shape:
        raise ValueError(f"snr and r_values should have the same length, got {snr.size} "
                         f"and {r.size}.")
    with np.errstate(invalid="ignore"):
        bad = (snr <= SNR_lowest) | (r <= rval_lowest)
        good = ((snr >= min_SNR) & (r >= rval_thr)) if require_both else \
            ((snr >= min_SNR) | (r >= rval_thr))
        if joint_SNR is not None and joint_rval is not None:
            good |= (snr >= joint_SNR) & (r >= joint_rval)
        if max_width_ratio is not None:
            if widths is None:
                raise ValueError("widths are needed with max_width_ratio.")
            wd = np.asarray(widths, dtype=np.float64).ravel()
            if wd.shape != snr.shape:
                raise ValueError(f"widths should have length {snr.size}, got {wd.size}.")
            clear = (snr >= min_SNR) & (r >= rval_thr) & ~bad & np.isfinite(wd)
            if np.count_nonzero(clear) >= MIN_REFERENCE_CELLS:
                bad |= wd > float(max_width_ratio) * np.median(wd[clear])
    if min_size is not None or max_size is not None:
        if sizes is None:
            raise ValueError("sizes are needed with min_size or max_size.")
        sz = np.asarray(sizes, dtype=np.float64).ravel()
        if sz.shape != snr.shape:
            raise ValueError(f"sizes should have length {snr.size}, got {sz.size}.")
        if min_size is not None:
            bad |= sz < min_size
        if max_size is not None:
            bad |= sz > max_size
    return good & ~bad


#: Fewest clear cells whose median width is the reference of ``max_width_ratio``.
MIN_REFERENCE_CELLS = 5


def footprint_widths(footprints: Any, shape: tuple[int, int]) -> np.ndarray:
    """Width of each footprint: the RMS distance of its weight from its centre, in pixels.

    ``sqrt(sum_p a_p |p - c|^2 / sum_p a_p)`` with ``c`` the footprint-weighted
    centre (the radius of gyration; a disc of radius R gives R/sqrt(2), a Gaussian
    of width sigma gives sigma*sqrt(2)). Negative weights count as zero; an empty
    footprint has width NaN.

    Parameters
    ----------
    footprints : sparse or array_like, shape (Y * X, K)
        Footprints, pixels in C order.
    shape : tuple of int
        Frame shape ``(Y, X)``.

    Returns
    -------
    ndarray, shape (K,)

    Examples
    --------
    >>> disc = np.zeros((21, 21)); yy, xx = np.mgrid[:21, :21]
    >>> disc[(yy - 10) ** 2 + (xx - 10) ** 2 <= 36] = 1.0
    >>> float(np.round(footprint_widths(disc.reshape(-1, 1), (21, 21))[0], 1))
    4.2
    """
    A = _as_csc(footprints)
    A = A.multiply(A > 0).tocsc() if A.nnz and A.data.min() < 0 else A
    Y, X = (int(v) for v in shape)
    if A.shape[0] != Y * X:
        raise ValueError(f"footprints have {A.shape[0]} pixels, the frame {Y}x{X}.")
    rows, cols = np.divmod(np.arange(Y * X, dtype=np.float64), X)
    w = np.asarray(A.sum(axis=0)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = (A.T @ rows) / w
        cx = (A.T @ cols) / w
        second = (A.T @ (rows**2 + cols**2)) / w
        var = second - cy**2 - cx**2
    return np.sqrt(np.clip(var, 0.0, None))


def describe_rule(
    *,
    min_SNR: float = 2.0,
    SNR_lowest: float = 0.5,
    rval_thr: float = 0.85,
    rval_lowest: float = -1.0,
    min_size: int | None = None,
    max_size: int | None = None,
    require_both: bool = False,
    min_cell_probability: float | str | None = None,
    joint_SNR: float | None = None,
    joint_rval: float | None = None,
    max_width_ratio: float | None = None,
    one_photon: bool = False,
) -> str:
    """Describe the rule of :func:`decide` in words, for the thresholds given.

    ``min_cell_probability`` adds the cell classifier's condition
    (:func:`apply_cell_probability`), except "auto" for a one-photon fit
    (``one_photon``), which the shipped model leaves to the rule.

    Examples
    --------
    >>> describe_rule(min_SNR=2.5, rval_thr=0.85)
    'accepted if SNR ≥ 2.5 or r ≥ 0.85; never if SNR ≤ 0.5; any size'
    >>> describe_rule(min_SNR=5, rval_thr=0.9, rval_lowest=0.1, require_both=True,
    ...               min_size=10)
    'accepted if SNR ≥ 5 and r ≥ 0.9; never if SNR ≤ 0.5 or r ≤ 0.1; size ≥ 10 px'
    >>> describe_rule(min_SNR=2, joint_SNR=1.3, joint_rval=0.6)
    'accepted if SNR ≥ 2 or r ≥ 0.85, or if SNR ≥ 1.3 and r ≥ 0.6; never if SNR ≤ 0.5; any size'
    >>> describe_rule(max_width_ratio=1.3).split("; ")[1]
    'never if SNR ≤ 0.5 or wider than 1.3 × the clear cells'
    >>> describe_rule(min_cell_probability=0.5)
    'accepted if SNR ≥ 2 or r ≥ 0.85; never if SNR ≤ 0.5; any size; cell probability ≥ 0.5'
    >>> describe_rule(min_cell_probability="auto").endswith(f"≥ {classifier_cut():.2f} (auto)")
    True
    >>> describe_rule(min_cell_probability="auto", one_photon=True).endswith("any size")
    True
    """
    join = "and" if require_both else "or"
    text = f"accepted if SNR ≥ {min_SNR:g} {join} r ≥ {rval_thr:g}"
    if joint_SNR is not None and joint_rval is not None:
        text += f", or if SNR ≥ {joint_SNR:g} and r ≥ {joint_rval:g}"
    never = [f"SNR ≤ {SNR_lowest:g}"]
    if rval_lowest > -1.0:
        never.append(f"r ≤ {rval_lowest:g}")
    if max_width_ratio is not None:
        never.append(f"wider than {max_width_ratio:g} × the clear cells")
    text += "; never if " + " or ".join(never)
    if min_size is not None and max_size is not None:
        size = f"size {min_size}–{max_size} px"
    elif min_size is not None:
        size = f"size ≥ {min_size} px"
    elif max_size is not None:
        size = f"size ≤ {max_size} px"
    else:
        size = "any size"
    min_cell_probability = _cut(min_cell_probability)
    if min_cell_probability == "auto" and one_photon:
        pass  # the shipped model knows two-photon fields only (apply_cell_probability)
    elif min_cell_probability == "auto":
        size += f"; cell probability ≥ {classifier_cut():.2f} (auto)"
    elif min_cell_probability is not None:
        size += f"; cell probability ≥ {min_cell_probability:g}"
    return f"{text}; {size}"


def _cut(value: Any) -> float | str | None:
    """Read a min_cell_probability as typed (a text box) or given: None, "auto" or a number."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "none", "null"):
            return None
        return "auto" if text == "auto" else float(text)
    return value


def classifier_cut() -> float:
    """Return the shipped classifier's own cut: what ``min_cell_probability="auto"`` means.

    The highest probability that still keeps 99 % of the planted cells of the
    classifier's training scenes (``benchmarks/train_classifier.py``), so that on
    simulated data it costs almost no cell.

    Examples
    --------
    >>> 0.0 < classifier_cut() < 0.5
    True
    """
    from .classifier import load_model

    return float(load_model().get("cut", 0.5))


# --------------------------------------------------------------------------- classifier
def apply_cell_probability(
    result: Any,
    movie: Any = None,
    *,
    min_cell_probability: float | str | None = None,
    correlation_image: Any = None,
    recompute: bool = False,
) -> Any:
    """Also require the cell classifier's probability of an evaluated result.

    With ``min_cell_probability=None`` the result is returned as it is (the same
    object: CaImAn's rule alone). With a number, the probability that each
    component is a cell (:func:`.classifier.classify`) is computed — or taken from
    ``result.info["cell_probability"]`` when present, unless ``recompute`` — and a
    component stays accepted only if CaImAn's rule accepted it *and* its probability
    is at least ``min_cell_probability``. Silent cells proposed from the mean image
    (``result.anatomical``) are not scored (their probability is recorded as None)
    and keep their flag: they are proposals of another kind, for the user to judge.

    Parameters
    ----------
    result : SourceResult
        Evaluated: ``snr``, ``r_values`` and ``accepted`` by :func:`decide`.
    movie : array_like, shape (T, Y, X), optional
        Needed to compute the probabilities (the first time, or with ``recompute``).
    min_cell_probability : float in [0, 1] or "auto", optional
        Lowest probability of an accepted component ("auto": :func:`classifier_cut`
        for two-photon results; the model was trained on two-photon fields only, so
        "auto" leaves one-photon results to CaImAn's rule); None: the classifier is
        not used.
    correlation_image : array_like, shape (Y, X), optional
        The movie's local correlation image, if already computed (else computed from
        ``movie``).
    recompute : bool
        Compute the probabilities again even if recorded.

    Returns
    -------
    SourceResult
        A new result with ``accepted`` narrowed, ``info["cell_probability"]`` (a list
        of K floats) and ``info["evaluation"]["min_cell_probability"]``.

    Raises
    ------
    ValueError
        For a threshold outside [0, 1], an unevaluated result, or no movie when the
        probabilities must be computed.
    """
    min_cell_probability = _cut(min_cell_probability)
    if min_cell_probability is None:
        return result
    if min_cell_probability == "auto" and getattr(result.params, "one_photon", False):
        return result  # the shipped model knows two-photon fields only
    from dataclasses import replace

    thr = classifier_cut() if min_cell_probability == "auto" else float(min_cell_probability)
    if not 0.0 <= thr <= 1.0:
        raise ValueError(f"min_cell_probability should be in [0, 1] or None, got "
                         f"{min_cell_probability!r}.")
    if result.snr is None or result.r_values is None:
        raise ValueError("the cell classifier needs an evaluated result (snr and r_values).")
    info = dict(result.info)
    prob = info.get("cell_probability")
    if prob is None or recompute or len(prob) != result.K:
        if movie is None:
            raise ValueError("the cell classifier needs the movie to compute the cell "
                             "probabilities the first time (evaluate(result, movie, "
                             "min_cell_probability=...)).")
        from .classifier import classify

        prob = classify(result, movie, correlation_image=correlation_image)
    prob = np.asarray(prob, np.float64).reshape(result.K)
    # silent cells of the mean image (anatomical=True) are proposals of another kind,
    # marked for the user to keep or drop: the classifier neither scores nor drops them
    exempt = np.zeros(result.K, bool) if result.anatomical is None \
        else np.asarray(result.anatomical, bool).reshape(result.K)
    prob[exempt] = np.nan
    info["cell_probability"] = [None if np.isnan(v) else float(v) for v in prob]
    info["evaluation"] = {**info.get("evaluation", {}), "min_cell_probability": thr}
    accepted = np.asarray(result.accepted, bool) & ((prob >= thr) | exempt)
    return replace(result, accepted=accepted, info=info)
