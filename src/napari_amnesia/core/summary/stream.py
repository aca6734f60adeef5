"""The one streaming pass that computes every summary image.

:func:`_run` reads the movie one time chunk at a time (:mod:`.reading`), filters it
when asked (:mod:`.spatial_filter`), feeds the Welch noise segments (:mod:`.noise`)
and accumulates the moments of the correlation images (:mod:`.correlation`), then
finishes the images.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numba as nb
import numpy as np

from ..parallel import numba_threads
from ..progress import Progress, ProgressGenerator
from .correlation import (
    _EIGHT,
    _F_MAX,
    _F_THR,
    _RAW_CORR,
    _RAW_MAX,
    _ROWS_PER_TASK,
    _accumulate,
    _exact_in_float32,
    _Moments,
    _time_bins,
)
from .noise import _band_bins, _band_power_sum
from .params import SummaryParams, check_movie
from .reading import _auto_lengths, _check_finite, _read_chunks
from .spatial_filter import _filter_frames, _filter_taps

logger = logging.getLogger(__name__)

_MESSAGE = "summary images"


def _run(
    movie: Any, params: SummaryParams, *, filtered: bool,
) -> ProgressGenerator[dict[str, Any]]:
    """Compute the images in one pass over ``movie``, yielding progress after each chunk.

    ``filtered=False`` computes only what the local correlation image needs.
    Returns a dict of the images with ``params`` (chunk and segment lengths
    resolved), ``info``, ``n_frames`` and ``elapsed``.
    """
    start = time.perf_counter()
    check_movie(movie)
    sig = params.gsig_pair
    eight_neighbours, center_psf = params.eight_neighbours, params.center_psf
    bin_size, noise_max_frames = params.bin_size, params.noise_max_frames
    noise_range, corr_pnr_threshold = params.noise_range, params.corr_pnr_threshold
    noise_frames, chunk_frames = params.noise_frames, params.chunk_frames
    eight = bool(eight_neighbours)
    n, ny, nx = (int(s) for s in movie.shape)
    seg_len, chunk = _auto_lengths((n, ny, nx), noise_frames, chunk_frames)
    noise_range = (float(noise_range[0]), float(noise_range[1]))
    shape2 = (ny, nx)
    d2 = np.zeros((1, 1))  # placeholders for the arrays a kernel call does not use
    d2f = np.zeros((1, 1), np.float32)
    d3 = np.zeros((1, 1, 1))
    bins = _time_bins(n, bin_size)
    boundaries = sorted({b for pair in bins for b in pair} | {n})
    real_bins = set(bins)
    taps = _filter_taps(sig, bool(center_psf)) if (filtered and sig is not None) else None
    # Without a spatial filter the "filtered" movie IS the raw movie: its sum and
    # maximum are the raw ones, and only the thresholded products need their own
    # accumulators, filled in the same sweep as the raw ones.
    eight_bit = _EIGHT if eight else 0

    # raw movie
    vmax = np.full(shape2, -np.inf, np.float32)
    center: np.ndarray | None = None
    center32 = d2f
    exact = True
    whole = _Moments(shape2)
    part = _Moments(shape2)
    part_start = 0
    max_corr = np.full(shape2, -np.inf, np.float32)
    # filtered movie
    fmax = np.full(shape2, -np.inf, np.float32)
    gmom = _Moments(shape2)
    power = np.zeros(shape2)
    n_bins_used = 0
    seg_buf: np.ndarray | None = None
    # provisional (mean, mean as float32, threshold as float32) of corr_pnr
    provisional: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    pending: list[np.ndarray] = []
    fbuf: np.ndarray | None = None  # the filtered chunk, reused
    n_segments = -(-n // seg_len)
    max_segments = max(1, noise_max_frames // seg_len)
    used_segments = set(
        np.unique(np.round(np.linspace(0, n_segments - 1, min(n_segments, max_segments))))
        .astype(int).tolist()
    )

    def threshold_stats(frames: np.ndarray) -> None:
        mu, mu32, thr32 = provisional
        fexact = _exact_in_float32(frames.dtype)
        with numba_threads(), nb.parallel_chunksize(_ROWS_PER_TASK):
            _accumulate(frames, frames, 0, len(frames), _F_THR | eight_bit, d2, d2f, True,
                        d2f, d3, mu, mu32, thr32, fexact, d2f, gmom.sums)
        gmom.n += len(frames)

    def segment_done(seg: np.ndarray, seg_start: int) -> None:
        nonlocal n_bins_used, provisional
        band = _band_bins(len(seg), noise_range)
        _band_power_sum(seg, power, band)
        n_bins_used += band[1] - band[0]
        if seg_start == 0:
            means = seg.mean(axis=0, dtype=np.float64)
            nb_ = max(1, band[1] - band[0])
            sigma = np.sqrt(power / nb_)
            thr = np.where(sigma > 0, corr_pnr_threshold * sigma, np.inf)
            provisional = (means, means.astype(np.float32), thr.astype(np.float32))

    def feed_segments(frames: np.ndarray, t0: int, t1: int) -> None:
        nonlocal seg_buf
        s0 = (t0 // seg_len) * seg_len - seg_len
        while s0 + seg_len < t1:
            s0 += seg_len
            if s0 // seg_len not in used_segments:
                continue
            s1_ = min(s0 + seg_len, n)
            a, b = max(s0, t0), min(s1_, t1)
            if a == s0 and b == s1_:
                segment_done(frames[a - t0 : b - t0], s0)
            else:
                if seg_buf is None:
                    seg_buf = np.empty((seg_len, ny, nx), np.float32)
                seg_buf[a - s0 : b - s0] = frames[a - t0 : b - t0]
                if b == s1_:
                    segment_done(seg_buf[: s1_ - s0], s0)

    for t0, t1, frames in _read_chunks(movie, chunk):
        if center is None:
            # the centre must be a float32 value for the float32 differences
            center = frames[0].astype(np.float32).astype(np.float64)
            center32 = center.astype(np.float32)
            exact = _exact_in_float32(frames.dtype)
            if not exact:
                center = frames[0].astype(np.float64)
        ffr = frames
        if filtered:
            if taps is not None:
                if fbuf is None:
                    fbuf = np.empty((chunk, ny, nx), np.float32)
                ffr = fbuf[: t1 - t0]
                with numba_threads(), nb.parallel_chunksize(2):
                    _filter_frames(frames, ffr, taps.gy, taps.gx, taps.widths, taps.wi,
                                   np.float32(taps.m), taps.use_box)
            # the noise first: the first segment gives the corr_pnr threshold
            feed_segments(ffr, t0, t1)
            if provisional is not None and pending:
                for p in pending:
                    threshold_stats(p)
                pending.clear()
        warm = filtered and provisional is not None
        what = _RAW_CORR | eight_bit | (_RAW_MAX if filtered else 0)  # no max for corr only
        if taps is not None:
            what |= _F_MAX
        if warm:
            what |= _F_THR
        mu, mu32, thr32 = provisional if warm else (d2, d2f, d2f)
        fexact = _exact_in_float32(ffr.dtype)
        # --- one fused sweep, split at the max_corr bin boundaries
        pos = t0
        while pos < t1:
            stop = min(t1, next(b for b in boundaries if b > pos))
            with numba_threads(), nb.parallel_chunksize(_ROWS_PER_TASK):
                _accumulate(frames, ffr, pos - t0, stop - t0, what, center, center32,
                            exact, vmax, part.sums, mu, mu32, thr32, fexact, fmax,
                            gmom.sums)
            part.n += stop - pos
            if warm:
                gmom.n += stop - pos
            if frames.dtype.kind == "f":
                _check_finite(part.s2, frames, t0)  # NaN, inf or overflow
            pos = stop
            if stop in boundaries:
                if (part_start, stop) in real_bins:
                    np.maximum(max_corr, part.image(eight), out=max_corr)
                whole.add(part)
                part.reset()
                part_start = stop
        if filtered and not warm:  # (the buffers are reused: keep a copy)
            pending.append(ffr.copy())
        del frames, ffr
        yield Progress(t1, n, _MESSAGE)

    whole.add(part)
    mean = (center + whole.s1 / n).astype(np.float32)
    var = np.maximum(whole.s2 / n - (whole.s1 / n) ** 2, 0.0)
    out: dict[str, Any] = {
        "mean": mean,
        "max": vmax,
        "std": np.sqrt(var).astype(np.float32),
        "corr": whole.image(eight),
        "max_corr": max_corr,
    }
    if filtered:
        noise = np.sqrt(power / max(1, n_bins_used))
        if taps is None:  # the filtered movie is the raw one
            fmean = center + whole.s1 / n
            fmax = vmax
        else:
            # the filter is linear: the mean of the filtered movie is the
            # filtered mean image (same kernel, same replicated borders)
            from scipy import ndimage

            fmean = ndimage.correlate(center + whole.s1 / n, taps.kernel.astype(np.float64),
                                      mode="nearest")
        peak = fmax.astype(np.float64) - fmean
        pnr = np.divide(peak, noise, out=np.zeros(shape2), where=noise > 0)
        pnr[pnr < 0] = 0
        out["pnr"] = pnr.astype(np.float32)
        out["corr_pnr"] = gmom.image(eight)
        out["noise"] = noise.astype(np.float32)
    out["params"] = params.replace(chunk_frames=chunk, noise_frames=seg_len)
    out["info"] = {"corr_pnr_exact": n <= seg_len}
    out["n_frames"] = n
    out["elapsed"] = time.perf_counter() - start
    logger.debug("summary images of %s frames in %.2f s", n, out["elapsed"])
    return out
