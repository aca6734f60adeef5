"""Motion correction of a whole movie, out of core: :func:`correct` / :func:`iter_correct`.

Steps
-----
1. Read ``template_frames`` frames in contiguous blocks; estimate the bidirectional
   scan phase when asked.
2. Build the template (:mod:`.template`) unless one is given.
3. Stream the movie in time chunks of ``num_frames_split`` frames; each chunk is one
   dask task (read, rfft2, rigid search, and for piecewise rigid one inverse FFT and
   the patch search, a few megabytes of frames at a time) run on dask's scheduler —
   the local threads by default, a ``dask.distributed`` cluster when one is active.
   Memory is a few chunks whatever the movie length. NaN/inf pixels of float movies
   are ignored by the registration; frames without any finite pixel are named in a
   ``RuntimeWarning`` and get shifts interpolated from their neighbours.
4. Wrap the shifts into a lazy corrected movie (:func:`.apply.apply_shifts`).
5. Optionally compute the quality metrics (:mod:`.metrics`), streaming again.

The generator yields :class:`~napari_amnesia.core.progress.Progress` after each batch
of chunks, so a cancel (closing the generator) takes effect within a batch and leaves
nothing behind (nothing is written to disk).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import dask
import numpy as np

from ..parallel import blas_single_threaded, n_workers
from ..progress import Progress, ProgressGenerator, drive
from ._register import PatchRegistrar, RigidRegistrar, plan_patches
from ._warp import shift_rows
from .apply import apply_shifts, as_dask_movie, default_chunk_frames
from .metrics import frame_correlations, frame_statistics, iter_motion_metrics
from .params import MotionParams, resolve_params
from .result import MotionResult
from .scan_phase import estimate_scan_phase
from .template import fill_nonfinite, iter_make_template, read_blocks, sample_blocks

__all__ = ["correct", "iter_correct", "estimate_shifts"]

logger = logging.getLogger(__name__)


def _n_workers() -> int:
    return n_workers()


_SUB_BYTES = 4 * 2**20  # float32 frames registered at once inside a chunk task


def _estimate_chunk(frames: np.ndarray, rigid: RigidRegistrar, patches: PatchRegistrar | None,
                    phase: float, template: np.ndarray, border: tuple[int, int]) -> dict:
    """Shifts and 'before' statistics of one chunk (one dask task).

    The chunk is registered in sub-batches of a few megabytes, so the temporaries
    (spectra, correlation maps, patch regions) do not scale with the chunk size.
    NaN/inf pixels of float movies are filled with the frame mean for the
    registration (see :func:`.template.fill_nonfinite`); frames without any finite
    pixel are flagged in ``"empty"``.
    """
    n, Y, X = frames.shape
    sub = max(1, _SUB_BYTES // (4 * Y * X))
    out = {"shifts": np.empty((n, 2)), "support": np.empty(n),
           "correlation": np.empty(n, np.float32),
           "empty": np.zeros(n, bool), "sum": np.zeros((Y, X), np.float64),
           "count": None, "max": np.full((Y, X), -np.inf, np.float32)}
    if patches is not None:
        out["shifts_pw"] = np.empty((n, *patches.grid_shape, 2))
    check = np.dtype(frames.dtype).kind == "f"
    for a in range(0, n, sub):
        e = min(n, a + sub)
        x = shift_rows(np.asarray(frames[a:e], np.float32), phase)
        if check and not np.isfinite(x.sum(dtype=np.float64)):
            finite = np.isfinite(x)
            if out["count"] is None:
                out["count"] = np.full((Y, X), a, np.int64)
            out["count"] += finite.sum(axis=0)
            out["sum"] += np.where(finite, x, 0).sum(axis=0, dtype=np.float64)
            np.fmax(out["max"], np.where(finite, x, -np.inf).max(axis=0), out=out["max"])
            x, out["empty"][a:e] = fill_nonfinite(np.array(x))  # never the caller's data
            out["correlation"][a:e] = frame_correlations(x, template, border)  # filled
        else:
            if out["count"] is not None:
                out["count"] += e - a
            out["correlation"][a:e] = frame_statistics(x, template, border, out["sum"],
                                                       out["max"])
        spectra = rigid.spectra(x)
        shifts, out["support"][a:e] = rigid.estimate_with_support(spectra)
        out["shifts"][a:e] = shifts
        if patches is not None:
            out["shifts_pw"][a:e] = patches.estimate(rigid.filtered(spectra), shifts)
        del spectra
    return out


def _fill_empty_frames(empty: np.ndarray, *arrays: np.ndarray | None) -> None:
    """Shifts of frames without data: linear interpolation from the nearest frames."""
    good = np.flatnonzero(~empty)
    bad = np.flatnonzero(empty)
    for arr in arrays:
        if arr is None:
            continue
        flat = arr.reshape(len(arr), -1)
        for k in range(flat.shape[1]):
            flat[bad, k] = np.interp(bad, good, flat[good, k])


def iter_correct(
    movie: Any,
    params: MotionParams | Mapping[str, Any] | None = None,
    *,
    template: np.ndarray | None = None,
    compute_metrics: bool = True,
    **overrides: Any,
) -> ProgressGenerator[MotionResult]:
    """Correct motion, yielding progress (the generator twin of :func:`correct`)."""
    t_start = time.perf_counter()
    params = resolve_params(params, overrides)
    shape = tuple(int(n) for n in getattr(movie, "shape", ()))
    if len(shape) != 3:
        raise ValueError(f"movie should be a (T, Y, X) array, got shape {shape}.")
    T, Y, X = shape
    if T < 1:
        raise ValueError("movie has no frames.")
    params.check_shape((Y, X))
    # small frames: the default patch grid adapts, or piecewise rigid falls back to rigid
    params, grid_message = plan_patches((Y, X), params)
    messages = []
    if grid_message:
        logger.warning("motion: %s", grid_message)
        messages.append(grid_message)
    if template is not None:
        template = np.asarray(template, np.float32)
        if template.shape != (Y, X):
            raise ValueError(
                f"template should have the frame shape {(Y, X)}, got {template.shape}."
            )
        if not np.all(np.isfinite(template)):
            raise ValueError("template contains NaN or infinite values.")
    chunk = params.num_frames_split or default_chunk_frames((Y, X))
    movie_d = as_dask_movie(movie, chunk)
    timings: dict[str, float] = {}

    # 1. sampled frames, scan phase
    t0 = time.perf_counter()
    blocks = sample_blocks(T, params.template_frames)
    frames, groups = read_blocks(movie_d, blocks)
    yield Progress(0, T, "reading template frames")
    if params.scan_phase == "auto":
        max_phase = int(min(8, (X - 8) // 2))
        phase = estimate_scan_phase(frames.mean(axis=0), max_phase=max_phase)
        logger.info("motion: estimated scan phase %.2f px", phase)
    else:
        phase = float(params.scan_phase or 0.0)
    frames = shift_rows(frames, phase)

    # 2. template
    if template is None:  # a given template is used as is
        template = yield from iter_make_template(frames, params, groups=groups)
    del frames
    timings["template"] = time.perf_counter() - t0

    # 3. shifts, chunk by chunk as dask tasks
    t0 = time.perf_counter()
    rigid = RigidRegistrar(template, params)
    patches = PatchRegistrar(template, params, rigid) if params.pw_rigid else None
    border = tuple(int(m) for m in params.max_shifts)
    task = dask.delayed(_estimate_chunk, pure=False)
    delayed_chunks = movie_d.to_delayed().ravel()
    sizes = movie_d.chunks[0]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    shifts = np.empty((T, 2), np.float64)
    shifts_pw = (np.empty((T, *patches.grid_shape, 2), np.float64) if patches else None)
    support = np.empty(T, np.float64)
    corr_before = np.empty(T, np.float32)
    total = np.zeros((Y, X), np.float64)
    vmax = np.full((Y, X), -np.inf, np.float32)
    empty = np.zeros(T, bool)
    count = None
    # a few chunks per compute call: dask runs them on its workers (one chunk each at a
    # time; the results are small), and the generator yields between calls
    batch = 2 * _n_workers()
    for b0 in range(0, len(delayed_chunks), batch):
        idx = range(b0, min(len(delayed_chunks), b0 + batch))
        # dask's threads each register a chunk: BLAS must not add threads of its own
        with blas_single_threaded():
            results = dask.compute(*[task(delayed_chunks[i], rigid, patches, phase,
                                          template, border) for i in idx])
        for i, res in zip(idx, results, strict=True):
            a, b = starts[i], starts[i + 1]
            shifts[a:b] = res["shifts"]
            support[a:b] = res["support"]
            if shifts_pw is not None:
                shifts_pw[a:b] = res["shifts_pw"]
            corr_before[a:b] = res["correlation"]
            empty[a:b] = res["empty"]
            total += res["sum"]
            if res["count"] is not None or count is not None:
                if count is None:
                    count = np.full((Y, X), a, np.int64)
                count += res["count"] if res["count"] is not None else b - a
            np.fmax(vmax, res["max"], out=vmax)
        del results
        yield Progress(int(starts[idx[-1] + 1]), T, "estimating shifts")
    if empty.any():
        if empty.all():
            raise ValueError("the movie contains no finite pixel (all NaN or infinite).")
        bad = np.flatnonzero(empty)
        listed = ", ".join(str(int(t)) for t in bad[:20]) + (", ..." if len(bad) > 20 else "")
        message = (f"{len(bad)} frame(s) contain no finite pixel (all NaN or infinite): "
                   f"{listed}; their shifts are interpolated from the neighbouring frames "
                   f"and their corrected frames stay NaN.")
        # one warning, not a log line as well (the CLI and the docks show warnings)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        corr_before[empty] = np.nan
    # shifts the data do not support (see RigidRegistrar._support): interpolated from
    # the neighbouring frames' kept shifts, like the frames without data
    rejected = ~empty & (support < params.min_shift_support)
    if rejected.any():
        listed = ", ".join(str(int(t)) for t in np.flatnonzero(rejected)[:20]) + (
            ", ..." if rejected.sum() > 20 else "")
        message = (f"{int(rejected.sum())} of {T} frame(s) had a shift the data do not "
                   f"support (correlation peak less than min_shift_support="
                   f"{params.min_shift_support:g} noise standard deviations above every "
                   f"displacement 3 px or more away, zero shift included): {listed}; "
                   f"their shifts are interpolated from the neighbouring frames.")
        logger.warning("motion: %s", message)
        messages.append(message)
    if (empty | rejected).any():
        if (empty | rejected).all():
            shifts[:] = 0.0
            if shifts_pw is not None:
                shifts_pw[:] = 0.0
        else:
            _fill_empty_frames(empty | rejected, shifts, shifts_pw)
    timings["shifts"] = time.perf_counter() - t0

    # 4. lazy corrected movie
    corrected = apply_shifts(movie_d, shifts, shifts_pw=shifts_pw,
                             patch_centers=None if patches is None else patches.centers,
                             border_nan=params.border_nan, interpolation=params.interpolation,
                             scan_phase=phase, chunk_frames=chunk)
    from ... import __version__

    result = MotionResult(
        corrected=corrected,
        shifts=shifts,
        template=np.asarray(template, np.float32),
        params=params,
        shifts_pw=shifts_pw,
        patch_centers=None if patches is None else patches.centers.copy(),
        scan_phase=phase,
        provenance={
            "version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "input_shape": list(shape),
            "input_dtype": str(np.dtype(movie_d.dtype)),
            "chunk_frames": int(chunk),
            "nonfinite_frames": [int(t) for t in np.flatnonzero(empty)],
            "rejected_frames": [int(t) for t in np.flatnonzero(rejected)],
            "messages": messages,
            "timings": timings,
        },
    )

    # 5. metrics
    if compute_metrics:
        t0 = time.perf_counter()
        raw = movie_d.map_blocks(lambda x: shift_rows(np.asarray(x, np.float32), phase),
                                 dtype=np.float32) if phase else movie_d
        copy_corrected = corrected if params.border_nan == "copy" else apply_shifts(
            movie_d, shifts, shifts_pw=shifts_pw, patch_centers=result.patch_centers,
            border_nan="copy", interpolation=params.interpolation, scan_phase=phase,
            chunk_frames=chunk)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_before = (total / (T if count is None else count)).astype(np.float32)
        before = {"correlation_before": corr_before, "mean_before": mean_before,
                  "max_before": np.where(np.isfinite(vmax), vmax, np.nan).astype(np.float32)}
        result.metrics = yield from iter_motion_metrics(raw, copy_corrected, result.template,
                                                        border=border, before=before,
                                                        nonfinite=count is not None)
        timings["metrics"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    result.provenance["elapsed_s"] = timings["total"]
    logger.info("motion correction of %s frames in %.1f s", T, timings["total"])
    return result


def correct(
    movie: Any,
    params: MotionParams | Mapping[str, Any] | None = None,
    *,
    template: np.ndarray | None = None,
    compute_metrics: bool = True,
    progress: Any = None,
    **overrides: Any,
) -> MotionResult:
    """Rigid or piecewise-rigid motion correction of a movie (NoRMCorre-style).

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        numpy or dask array of any real dtype (e.g. from
        :func:`~napari_amnesia.core.io.open_movie`); read chunk by chunk.
    params : MotionParams or dict, optional
        Parameters (defaults: :class:`MotionParams`).
    template : ndarray, shape (Y, X), optional
        Reference image (another session, a structural channel). Default: built
        from the movie's best-correlated frames and refined.
    compute_metrics : bool
        Compute the quality metrics (two more streaming passes).
    progress : callable, optional
        Called with each :class:`~napari_amnesia.core.progress.Progress`.
    **overrides
        Parameters by name (``max_shifts=10, pw_rigid=True``).

    Returns
    -------
    MotionResult
        ``corrected`` (lazy dask ``(T, Y, X)`` float32), ``shifts`` ``(T, 2)``,
        ``shifts_pw``, ``patch_centers``, ``template``, ``metrics``, ``params``.

    Raises
    ------
    ValueError
        For a bad parameter (named with its value), a template of the wrong shape.

    References
    ----------
    .. [1] Pnevmatikakis, E. A. & Giovannucci, A. (2017). NoRMCorre. J. Neurosci.
       Methods 291, 83-94.
    .. [2] Guizar-Sicairos, M., Thurman, S. T. & Fienup, J. R. (2008). Efficient
       subpixel image registration algorithms. Opt. Lett. 33, 156-158.
    .. [3] Pachitariu, M. et al. (2017). Suite2p. bioRxiv 061507.

    Examples
    --------
    >>> from napari_amnesia.core.simulate import simulate
    >>> movie, truth = simulate(n_frames=100, shape=(64, 64), n_cells=8,
    ...                         nonrigid=False, rng=0)
    >>> result = correct(movie, max_shifts=6, compute_metrics=False)
    >>> result.shifts.shape, result.corrected.shape
    ((100, 2), (100, 64, 64))
    """
    return drive(iter_correct(movie, params, template=template,
                              compute_metrics=compute_metrics, **overrides), progress)


def estimate_shifts(
    movie: Any,
    template: np.ndarray,
    *,
    max_shifts: int | tuple[int, int] = 6,
    upsample_factor: int = 10,
    **overrides: Any,
) -> np.ndarray:
    """Rigid shifts of every frame relative to ``template`` (building block).

    Returns
    -------
    ndarray, shape (T, 2)
        ``(dy, dx)`` displacement of each frame's content.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> img = ndimage.gaussian_filter(np.random.default_rng(0).random((64, 64)), 2)
    >>> moved = ndimage.shift(img, (2.5, -1.25), order=3, mode="nearest")
    >>> estimate_shifts(moved[None], img).round(1)
    array([[ 2.5, -1.2]])
    """
    params = MotionParams(max_shifts=max_shifts, upsample_factor=upsample_factor, **overrides)
    result = correct(movie, params, template=template, compute_metrics=False)
    return result.shifts
