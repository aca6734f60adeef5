"""Motion correction of a whole movie, out of core: :func:`correct` / :func:`iter_correct`.

Steps
-----
1. Read ``template_frames`` frames in contiguous blocks; estimate the bidirectional
   scan phase when asked.
2. Build the template (:mod:`.template`) unless one is given.
3. Stream the movie in time chunks of ``num_frames_split`` frames; each chunk is one
   dask task (read, rfft2, rigid search, and for piecewise rigid one inverse FFT and
   the patch search) run on dask's scheduler — the local threads by default, a
   ``dask.distributed`` cluster when one is active. Memory is a few chunks whatever
   the movie length.
4. Wrap the shifts into a lazy corrected movie (:func:`.apply.apply_shifts`).
5. Optionally compute the quality metrics (:mod:`.metrics`), streaming again.

The generator yields :class:`~napari_amnesia.core._progress.Progress` after each batch
of chunks, so a cancel (closing the generator) takes effect within a batch and leaves
nothing behind (nothing is written to disk).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import dask
import numpy as np

from .._progress import Progress, ProgressGenerator, drive
from ._register import PatchRegistrar, RigidRegistrar
from ._warp import shift_rows
from .apply import apply_shifts, as_dask_movie, default_chunk_frames
from .metrics import frame_correlations, iter_motion_metrics
from .params import MotionParams, resolve_params
from .result import MotionResult
from .scan_phase import estimate_scan_phase
from .template import iter_make_template, read_blocks, sample_blocks

__all__ = ["correct", "iter_correct", "estimate_shifts"]

logger = logging.getLogger(__name__)


def _n_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _estimate_chunk(frames: np.ndarray, rigid: RigidRegistrar, patches: PatchRegistrar | None,
                    phase: float, template: np.ndarray, border: tuple[int, int]) -> dict:
    x = shift_rows(np.asarray(frames, np.float32), phase)
    spectra = rigid.spectra(x)
    shifts = rigid.estimate(spectra)
    out = {"shifts": shifts}
    if patches is not None:
        out["shifts_pw"] = patches.estimate(rigid.filtered(spectra), shifts)
    out["correlation"] = frame_correlations(x, template, border)
    out["sum"] = x.sum(axis=0, dtype=np.float64)
    out["max"] = x.max(axis=0)
    return out


def iter_correct(
    movie: Any,
    params: MotionParams | Mapping[str, Any] | None = None,
    *,
    template: np.ndarray | None = None,
    compute_metrics: bool = True,
    **overrides: Any,
) -> ProgressGenerator[MotionResult]:
    """Generator twin of :func:`correct`: yields progress, returns the result."""
    t_start = time.perf_counter()
    params = resolve_params(params, overrides)
    shape = tuple(int(n) for n in getattr(movie, "shape", ()))
    if len(shape) != 3:
        raise ValueError(f"movie should be a (T, Y, X) array, got shape {shape}.")
    T, Y, X = shape
    if T < 1:
        raise ValueError("movie has no frames.")
    params.check_shape((Y, X))
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
    corr_before = np.empty(T, np.float32)
    total = np.zeros((Y, X), np.float64)
    vmax = np.full((Y, X), -np.inf, np.float32)
    batch = 2 * _n_workers()
    for b0 in range(0, len(delayed_chunks), batch):
        idx = range(b0, min(len(delayed_chunks), b0 + batch))
        results = dask.compute(*[task(delayed_chunks[i], rigid, patches, phase, template, border)
                                 for i in idx])
        for i, res in zip(idx, results, strict=True):
            a, b = starts[i], starts[i + 1]
            shifts[a:b] = res["shifts"]
            if shifts_pw is not None:
                shifts_pw[a:b] = res["shifts_pw"]
            corr_before[a:b] = res["correlation"]
            total += res["sum"]
            np.maximum(vmax, res["max"], out=vmax)
        yield Progress(int(starts[idx[-1] + 1]), T, "estimating shifts")
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
            "input_shape": list(shape),
            "input_dtype": str(np.dtype(movie_d.dtype)),
            "chunk_frames": int(chunk),
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
        before = {"correlation_before": corr_before, "mean_before": (total / T).astype(np.float32),
                  "max_before": vmax}
        result.metrics = yield from iter_motion_metrics(raw, copy_corrected, result.template,
                                                        border=border, before=before)
        timings["metrics"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
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
        Called with each :class:`~napari_amnesia.core._progress.Progress`.
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
