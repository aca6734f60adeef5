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

References
----------
.. [1] Pnevmatikakis, E. A. & Giovannucci, A. (2017). NoRMCorre: an online algorithm
   for piecewise rigid motion correction of calcium imaging data. J. Neurosci.
   Methods 291, 83-94.
.. [2] Pachitariu, M. et al. (2017). Suite2p: beyond 10,000 neurons with standard
   two-photon microscopy. bioRxiv 061507.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._progress import Progress, ProgressGenerator, drive
from ._fourier import irfft2, rfft2
from ._register import PatchRegistrar, RigidRegistrar
from ._warp import interpolation_matrix, shift_rows, warp_frames
from .params import MotionParams, resolve_params

__all__ = ["make_template", "iter_make_template", "sample_blocks", "read_blocks"]

_N_BLOCKS = 10


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))
_TOP_K = 20


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
    """Frames of the blocks as float32 ``(n, Y, X)`` and the block index of each."""
    frames, groups = [], []
    for g, (s, e) in enumerate(blocks):
        block = movie[s:e]
        if hasattr(block, "compute"):
            block = block.compute()
        frames.append(np.asarray(block, np.float32))
        groups.append(np.full(e - s, g))
    return np.concatenate(frames), np.concatenate(groups)


def _initial(frames: np.ndarray, reg: RigidRegistrar) -> np.ndarray:
    """Mean of the frames best correlated with the most typical one."""
    n = len(frames)
    if n <= 2:
        return frames.mean(axis=0)
    filtered = irfft2(rfft2(frames, workers=_workers()) * reg.H, reg.shape,
                      workers=_workers()) * reg.window
    # bin to <= ~4096 pixels: enough to tell frames apart, and the n x n correlation
    # matrix then costs milliseconds instead of seconds
    Y, X = reg.shape
    b = max(1, int(np.ceil(np.sqrt(Y * X / 4096))))
    Yb, Xb = Y // b, X // b
    binned = filtered[:, : Yb * b, : Xb * b].reshape(n, Yb, b, Xb, b).mean(axis=(2, 4))
    z = binned.reshape(n, -1).astype(np.float32)
    z -= z.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    z /= np.where(norm > 0, norm, 1)
    corr = z @ z.T
    k = min(_TOP_K, n)
    top = -np.sort(-corr, axis=1)[:, :k]
    seed = int(np.argmax(top.mean(axis=1)))
    best = np.argsort(-corr[seed])[:k]
    return frames[best].mean(axis=0)


def _robust_mean(frames: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Median over groups of the per-group means (NoRMCorre's template update)."""
    ids = np.unique(groups)
    if len(ids) < 3:  # split into ~10 contiguous groups instead
        groups = np.arange(len(frames)) * min(10, len(frames)) // len(frames)
        ids = np.unique(groups)
    means = np.stack([frames[groups == g].mean(axis=0) for g in ids])
    return np.median(means, axis=0) if len(ids) >= 3 else means.mean(axis=0)


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
    total = 1 + params.niter_rig + (params.niter_els if params.pw_rigid else 0)
    reg = RigidRegistrar(frames[0] if template is None else template, params)
    if template is None:
        template = _initial(frames, reg)
    yield Progress(1, total, "template")
    step = 1
    for _ in range(params.niter_rig):
        reg = RigidRegistrar(template, params)
        shifts = reg.estimate(reg.spectra(frames, workers=_workers()))
        corrected = warp_frames(frames, shifts, border="copy", interpolation=params.interpolation,
                                workers=_workers())
        template = _robust_mean(corrected, groups)
        step += 1
        yield Progress(step, total, "template")
    if params.pw_rigid:
        for _ in range(params.niter_els):
            reg = RigidRegistrar(template, params)
            preg = PatchRegistrar(template, params, reg)
            spectra = reg.spectra(frames, workers=_workers())
            shifts = reg.estimate(spectra)
            pw = preg.estimate(reg.filtered(spectra), shifts)
            my = interpolation_matrix(reg.shape[0], preg.centers[:, 0, 0])
            mx = interpolation_matrix(reg.shape[1], preg.centers[0, :, 1])
            corrected = warp_frames(frames, pw, border="copy",
                                    interpolation=params.interpolation, my=my, mx=mx,
                                    workers=_workers())
            template = _robust_mean(corrected, groups)
            step += 1
            yield Progress(step, total, "template")
    return _centre(np.asarray(template, np.float32), frames, params)


def _centre(template: np.ndarray, frames: np.ndarray, params: MotionParams) -> np.ndarray:
    """Move the template to the median position of the frames.

    The template starts where the seed frames were; shifting it by the median rigid
    shift of the sampled frames centres the shifts of the movie on zero, so the whole
    ``±max_shifts`` range is available to the motion around the typical position.
    """
    reg = RigidRegistrar(template, params)
    med = np.median(reg.estimate(reg.spectra(frames, workers=_workers())), axis=0)
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
    blocks = sample_blocks(T, params.template_frames)
    frames, groups = read_blocks(movie, blocks)
    frames = shift_rows(frames, scan_phase)
    return drive(iter_make_template(frames, params, groups=groups))
