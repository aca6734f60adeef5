"""Templates: the reference image every frame is registered to.

The template is built from ``template_frames`` frames read in about ten contiguous
blocks spread over the movie (contiguous blocks touch few chunks of a lazily read
file, unlike every n-th frame):

1. **Initial template from the best-correlated frames** (as suite2p's
   ``compute_reference`` [2]_): the sampled frames are band-passed, the matrix of
   their pairwise correlations computed, the frame whose 20 best correlations are
   highest chosen as seed, and the template is the mean of the seed's 20
   best-correlated frames. Frames with bright transients or large motion correlate
   badly with the rest and are left out.
2. **Iterative refinement** (NoRMCorre [1]_): the sampled frames are registered to the
   template (rigid, ``niter_rig`` times; then piecewise rigid ``niter_els`` times when
   ``pw_rigid``), corrected, averaged per block, and the new template is the median of
   the block means, which is robust to transients confined to some blocks.
3. **Centring**: the template is finally moved to the median position of the sampled
   frames, so shifts are centred on zero and ``max_shifts`` bounds the motion around
   the typical position rather than around the seed frames'.

Memory: the sampled frames are held once (float32), with their spectra (complex64,
computed once and reused by every pass, when under 400 MB); every pass over them
(shifts, warping) runs in batches of a few megabytes and accumulates per-block
sums. None of it depends on the movie length.

References
----------
.. [1] Pnevmatikakis, E. A. & Giovannucci, A. (2017). NoRMCorre: an online algorithm
   for piecewise rigid motion correction of calcium imaging data. J. Neurosci.
   Methods 291, 83-94.
.. [2] Pachitariu, M. et al. (2017). Suite2p: beyond 10,000 neurons with standard
   two-photon microscopy. bioRxiv 061507.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..parallel import n_workers, thread_map
from ..progress import Progress, ProgressGenerator, drive
from ._fourier import bandpass, edge_window, irfft2, rfft2
from ._register import PatchRegistrar, RigidRegistrar, plan_patches
from ._warp import interpolation_matrix, shift_rows, warp_frames
from .params import MotionParams, resolve_params

__all__ = ["make_template", "iter_make_template", "sample_blocks", "read_blocks"]

_N_BLOCKS = 10


def _workers() -> int:
    return n_workers(4)


_TOP_K = 20
_BATCH_BYTES = 8 * 2**20  # float32 frames per batch of the template passes
_SPECTRA_BYTES = 400 * 2**20  # keep the frames' spectra across passes up to this size


def _batches(n: int, frame_shape: tuple[int, int]):
    """``(start, stop)`` batches of about ``_BATCH_BYTES`` of float32 frames."""
    size = max(1, _BATCH_BYTES // (4 * frame_shape[0] * frame_shape[1]))
    for a in range(0, n, size):
        yield a, min(n, a + size)


def fill_nonfinite(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace NaN/inf pixels by the mean of the frame's finite pixels (in place).

    Returns the frames and a boolean ``(n,)`` mask of frames with no finite pixel
    (those are set to 0). Only the registration sees the filled values; the
    corrected movie keeps the NaNs of the input.
    """
    n = len(frames)
    empty = np.zeros(n, bool)
    if frames.dtype.kind != "f" or np.isfinite(frames.sum(dtype=np.float64)):
        return frames, empty
    flat = frames.reshape(n, -1)
    for i in range(n):
        row = flat[i]
        bad = ~np.isfinite(row)
        if bad.any():
            if bad.all():
                row[:] = 0.0
                empty[i] = True
            else:
                row[bad] = row[~bad].mean(dtype=np.float64)
    return frames, empty


def sample_blocks(n_frames: int, n_sample: int, n_blocks: int = _N_BLOCKS) -> list[tuple[int, int]]:
    """``(start, stop)`` of about ``n_blocks`` contiguous blocks totalling ``n_sample``."""
    n_sample = min(int(n_sample), int(n_frames))
    n_blocks = max(1, min(n_blocks, n_sample // 5 or 1))
    size = int(np.ceil(n_sample / n_blocks))
    starts = np.linspace(0, n_frames - size, n_blocks).round().astype(int)
    blocks = []
    for s in starts:
        s = int(max(0, s))
        if blocks and s < blocks[-1][1]:
            s = blocks[-1][1]
        e = min(n_frames, s + size)
        if e > s:
            blocks.append((s, e))
    return blocks


def read_blocks(movie: Any, blocks: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Frames of the blocks as float32 ``(n, Y, X)`` and the block index of each.

    Frames with no finite pixel (dropped frames of a float movie) are left out; the
    NaN/inf pixels of the others are filled with the frame's mean (see
    :func:`fill_nonfinite`).

    Raises
    ------
    ValueError
        When no sampled frame has a finite pixel.
    """
    n = sum(e - s for s, e in blocks)
    frames = np.empty((n, *movie.shape[1:]), np.float32)  # one copy, filled in place
    groups = np.empty(n, np.int64)
    i = 0
    for g, (s, e) in enumerate(blocks):
        block = movie[s:e]
        if hasattr(block, "compute"):
            block = block.compute()
        frames[i : i + e - s] = block
        groups[i : i + e - s] = g
        i += e - s
    frames, empty = fill_nonfinite(frames)
    if empty.any():
        if empty.all():
            raise ValueError("the movie's sampled frames contain no finite pixel (all NaN "
                             "or infinite); cannot build a template.")
        frames, groups = frames[~empty], groups[~empty]
    return frames, groups


def _initial(frames: np.ndarray, params: MotionParams) -> np.ndarray:
    """Mean of the frames best correlated with the most typical one.

    The frames are binned to <= ~4096 pixels first and band-passed at that scale
    (the band-pass and window of the registration, scaled down): enough to tell
    frames apart, and it costs little more than reading them.
    """
    n = len(frames)
    if n <= 2:
        return frames.mean(axis=0)
    Y, X = frames.shape[1:]
    b = max(1, int(np.ceil(np.sqrt(Y * X / 4096))))
    Yb, Xb = Y // b, X // b
    lo, hi = params.filter_sigmas
    H = bandpass((Yb, Xb), lo / b, None if hi is None else hi / b)
    ms = params.max_shifts
    taper = max(1, int(np.ceil(2.5 * (hi or 3 * lo) / b)))
    window = np.outer(edge_window(Yb, min(int(np.ceil(ms[0] / b)), (Yb - 3) // 2), taper),
                      edge_window(Xb, min(int(np.ceil(ms[1] / b)), (Xb - 3) // 2), taper))
    z = np.empty((n, Yb * Xb), np.float32)
    for a, e in _batches(n, (Y, X)):
        binned = frames[a:e, : Yb * b, : Xb * b].reshape(e - a, Yb, b, Xb, b).mean(axis=(2, 4))
        filtered = irfft2(rfft2(binned) * H, (Yb, Xb)) * window
        z[a:e] = filtered.reshape(e - a, -1)
    z -= z.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    z /= np.where(norm > 0, norm, 1)
    corr = z @ z.T
    k = min(_TOP_K, n)
    top = -np.sort(-corr, axis=1)[:, :k]
    seed = int(np.argmax(top.mean(axis=1)))
    best = np.argsort(-corr[seed])[:k]
    return frames[best].mean(axis=0)


def _spectra(frames: np.ndarray) -> np.ndarray | None:
    """rfft2 of all sampled frames, kept across the template passes when small enough."""
    n, Y, X = frames.shape
    if n * Y * (X // 2 + 1) * 8 > _SPECTRA_BYTES:
        return None
    out = np.empty((n, Y, X // 2 + 1), np.complex64)
    for a, e in _batches(n, (Y, X)):
        out[a:e] = rfft2(frames[a:e], workers=_workers())
    return out


def _group_ids(frames: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Return the groups for the robust update: the blocks, or ~10 contiguous groups."""
    if len(np.unique(groups)) < 3:
        groups = np.arange(len(frames)) * min(10, len(frames)) // len(frames)
    return np.searchsorted(np.unique(groups), groups)


def _robust_mean(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median over groups of the per-group means (NoRMCorre's template update)."""
    means = sums / np.maximum(counts, 1)[:, None, None]
    return (np.median(means, axis=0) if len(means) >= 3 else means.mean(axis=0)).astype(
        np.float32)


def _shifts(frames: np.ndarray, reg: RigidRegistrar,
            spectra: np.ndarray | None = None) -> np.ndarray:
    """Rigid shifts of in-memory frames, batches in parallel."""
    def one(batch: tuple[int, int]) -> np.ndarray:
        a, e = batch
        spec = reg.spectra(frames[a:e]) if spectra is None else spectra[a:e]
        return reg.estimate(spec)

    parts = list(thread_map(one, _batches(len(frames), reg.shape), _workers()))
    return np.concatenate(parts) if parts else np.empty((0, 2))


def _refine(frames: np.ndarray, gid: np.ndarray, template: np.ndarray, params: MotionParams,
            piecewise: bool, spectra_all: np.ndarray | None = None) -> np.ndarray:
    """One template update: register, correct and average the frames.

    Batches of frames run in parallel (:func:`~napari_amnesia.core.parallel.thread_map`);
    each returns its per-group sums, added up here in batch order.
    """
    reg = RigidRegistrar(template, params)
    preg = PatchRegistrar(template, params, reg) if piecewise else None
    if preg is not None:
        my = interpolation_matrix(reg.shape[0], preg.centers[:, 0, 0])
        mx = interpolation_matrix(reg.shape[1], preg.centers[0, :, 1])
    n_groups = int(gid.max()) + 1
    sums = np.zeros((n_groups, *reg.shape), np.float64)
    counts = np.bincount(gid, minlength=n_groups)

    def one(batch: tuple[int, int]) -> list[tuple[int, np.ndarray]]:
        a, e = batch
        spectra = reg.spectra(frames[a:e]) if spectra_all is None else spectra_all[a:e]
        shifts = reg.estimate(spectra)
        if preg is None:
            corrected = warp_frames(frames[a:e], shifts, border="copy",
                                    interpolation=params.interpolation)
        else:
            pw = preg.estimate(reg.filtered(spectra), shifts)
            corrected = warp_frames(frames[a:e], pw, border="copy",
                                    interpolation=params.interpolation, my=my, mx=mx)
        return [(int(g), corrected[gid[a:e] == g].sum(axis=0, dtype=np.float64))
                for g in np.unique(gid[a:e])]

    for part in thread_map(one, _batches(len(frames), reg.shape), _workers()):
        for g, s in part:
            sums[g] += s
    return _robust_mean(sums, counts)


def iter_make_template(
    frames: np.ndarray,
    params: MotionParams,
    *,
    groups: np.ndarray | None = None,
    template: np.ndarray | None = None,
) -> ProgressGenerator[np.ndarray]:
    """Build (or refine) a template from in-memory frames, yielding progress.

    Parameters
    ----------
    frames : ndarray, shape (n, Y, X)
        Sampled frames (float32, scan phase already corrected).
    params : MotionParams
    groups : ndarray of int, shape (n,), optional
        Block of each frame (for the robust update); default: 10 contiguous groups.
    template : ndarray, shape (Y, X), optional
        Starting template instead of the best-correlated frames.

    Returns
    -------
    ndarray, shape (Y, X), float32
    """
    frames = np.asarray(frames, np.float32)
    if groups is None:
        groups = np.arange(len(frames)) * min(10, len(frames)) // max(len(frames), 1)
    gid = _group_ids(frames, np.asarray(groups))
    total = 1 + params.niter_rig + (params.niter_els if params.pw_rigid else 0)
    if template is None:
        template = _initial(frames, params)
    spectra = _spectra(frames)
    yield Progress(1, total, "template")
    step = 1
    for _ in range(params.niter_rig):
        template = _refine(frames, gid, template, params, piecewise=False, spectra_all=spectra)
        step += 1
        yield Progress(step, total, "template")
    if params.pw_rigid:
        for _ in range(params.niter_els):
            template = _refine(frames, gid, template, params, piecewise=True,
                               spectra_all=spectra)
            step += 1
            yield Progress(step, total, "template")
    return _centre(np.asarray(template, np.float32), frames, params, spectra)


def _centre(template: np.ndarray, frames: np.ndarray, params: MotionParams,
            spectra: np.ndarray | None = None) -> np.ndarray:
    """Move the template to the median position of the frames.

    The template starts where the seed frames were; shifting it by the median rigid
    shift of the sampled frames centres the shifts of the movie on zero, so the whole
    ``±max_shifts`` range is available to the motion around the typical position.
    """
    reg = RigidRegistrar(template, params)
    med = np.median(_shifts(frames, reg, spectra), axis=0)
    if np.all(np.abs(med) < 0.05):
        return template
    return warp_frames(template[None], -med[None], border="copy",
                       interpolation=params.interpolation)[0]


def make_template(
    movie: Any,
    params: MotionParams | Mapping[str, Any] | None = None,
    *,
    scan_phase: float = 0.0,
    **overrides: Any,
) -> np.ndarray:
    """Template of a movie: best-correlated frames, refined iteratively.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        numpy or dask array; only ``template_frames`` frames are read.
    params : MotionParams or dict, optional
    scan_phase : float
        Bidirectional scan offset to undo before (see :mod:`.scan_phase`).
    **overrides
        Parameters by name.

    Returns
    -------
    ndarray, shape (Y, X), float32

    Examples
    --------
    >>> from napari_amnesia.core.simulate import simulate
    >>> movie, truth = simulate(n_frames=60, shape=(64, 64), n_cells=6, rng=0)
    >>> make_template(movie, max_shifts=5).shape
    (64, 64)
    """
    params = resolve_params(params, overrides)
    T = int(movie.shape[0])
    params.check_shape(movie.shape[1:])
    params, _ = plan_patches(tuple(movie.shape[1:]), params)
    blocks = sample_blocks(T, params.template_frames)
    frames, groups = read_blocks(movie, blocks)
    frames = shift_rows(frames, scan_phase)
    return drive(iter_make_template(frames, params, groups=groups))
