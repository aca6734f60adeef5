"""Rigid and piecewise-rigid shift estimation against a template (see ``_fourier``).

:class:`RigidRegistrar` and :class:`PatchRegistrar` precompute everything that
depends on the template (band-passed, windowed template spectra, DFT evaluation
matrices, the patch grid) once; their ``estimate`` methods then process a chunk of
frames with a handful of batched FFTs and matrix products.

Piecewise rigid (NoRMCorre [1]_): the frame is cut into patches of ``strides +
overlaps`` pixels, as many as CaImAn's layout gives, spread evenly (both end patches
flush with the frame edges, :func:`patch_grid`). Each patch of the band-passed frame
is correlated with the same patch of the windowed template, over displacements
within ``max_deviation_rigid`` of the frame's rigid shift (the patch read from the
frame is offset by the rounded rigid shift, so a patch FFT only needs
``max_deviation_rigid + 3`` extra pixels per side). Each patch shift maximises the
normalised cross-correlation (see :class:`PatchRegistrar`). A patch whose normalised
correlation is below ``min_patch_corr``, whose shift sits on the deviation bound or
whose template holds little structure is low-confidence. The field at the nominal
patch centres is then one weighted least-squares fit (:meth:`PatchRegistrar._field_map`):
each measured shift is attributed to the centroid of the template's gradient energy
inside its patch (where the measurement actually is), weighted by the patch's
texture and confidence (0 for low-confidence patches, which take the smooth
continuation of the others: the role of suite2p's SNR-adaptive smoothing of
correlation maps [2]_), with a curvature penalty scaled to the grid.

References
----------
.. [1] Pnevmatikakis, E. A. & Giovannucci, A. (2017). NoRMCorre: an online algorithm
   for piecewise rigid motion correction of calcium imaging data. J. Neurosci.
   Methods 291, 83-94.
.. [2] Pachitariu, M. et al. (2017). Suite2p: beyond 10,000 neurons with standard
   two-photon microscopy. bioRxiv 061507 (``registration.nonrigid``).
.. [3] Guizar-Sicairos, M., Thurman, S. T. & Fienup, J. R. (2008). Efficient subpixel
   image registration algorithms. Opt. Lett. 33, 156-158.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import scipy.fft as sfft

from ._fourier import (
    DFTWindow,
    bandpass,
    edge_window,
    irfft2,
    lowpass,
    peak_subpixel,
    phase_ramp,
    rfft2,
    whiten,
)
from .params import MotionParams

__all__ = ["RigidRegistrar", "PatchRegistrar", "patch_grid", "plan_patches"]

_DAMPING = 0.03  # pull of the centroid correction towards the raw patch shifts
_PATCH_BUDGET = 3_000_000  # patch pixels processed at once (bounds the temporaries)
_SMOOTHING = 0.05  # curvature penalty of an 8 x 8 patch grid (scaled, see _field_map)
_MIN_TEXTURE = 0.25  # patches below this fraction of the median template norm: no shift


def _taper(params: MotionParams) -> int:
    lo, hi = params.filter_sigmas
    return int(math.ceil(2.5 * hi)) if hi else int(math.ceil(3 * lo)) + 1


def patch_grid(n: int, stride: int, overlap: int, *, margin: int = 0) -> np.ndarray:
    """Return the starts of the patches along one axis: as many as CaImAn's, spread evenly.

    CaImAn puts a patch every ``stride`` pixels and a last one flush with the edge,
    so the last two centres can be a few pixels apart (192 px: starts 0, 64, 96,
    centres 24 px apart then 56); the same number of patches is spread evenly here
    (0, 48, 96), both ends flush, so the spline through the patch centres is evenly
    supported (with the smoothing scaled to the grid, see
    :meth:`PatchRegistrar._field_map`, the worst field error of ten simulated 256² x
    2000 movies with 2-3 px deformations of other spatial frequencies went from 0.233
    to 0.208 px, ``benchmarks/bench_motion.py --field-seeds 10``).
    The distance between starts is at most ``stride``.

    With ``margin`` (the pixels at each end that the template window leaves out, see
    :class:`PatchRegistrar`), a patch whose compared part ``[max(start, margin),
    min(start + size, n - margin))`` is the same as the previous patch's (within
    2 px) is dropped: on a small frame two patches can both cover everything the
    window leaves, and two patches measuring the same pixels at the same centre have
    no spline between them (that made an all-NaN template on 100-px frames).
    """
    size = min(stride + overlap, n)
    count = len(range(0, n - size, stride)) + 1
    starts = np.unique(np.rint(np.linspace(0, n - size, count)).astype(np.int64))
    if margin <= 0 or len(starts) < 2:
        return starts
    kept = [int(starts[0])]
    for s in starts[1:]:
        a0, b0 = max(kept[-1], margin), min(kept[-1] + size, n - margin)
        a1, b1 = max(int(s), margin), min(int(s) + size, n - margin)
        if abs(a1 - a0) + abs(b1 - b0) > 2:
            kept.append(int(s))
    return np.asarray(kept, np.int64)


_DEFAULT_GRID = ((64, 64), (32, 32))  # MotionParams' strides and overlaps
_GRID_CANDIDATES = (48, 40, 32)  # strides tried on small frames (overlaps = strides / 2)
_MIN_COMPARED = 24  # px of each patch the template window must leave on small frames


def _patch_margin(params: MotionParams, axis: int) -> int:
    """Pixels at each frame edge that patches never compare (PatchRegistrar.pad)."""
    return int(params.max_shifts[axis] + params.max_deviation_rigid + 3)


def _fitted_axis(n: int, margin: int) -> tuple[int, int] | None:
    """Largest candidate ``(stride, overlap)`` giving >= 2 distinct useful patches."""
    for stride in _GRID_CANDIDATES:
        overlap = stride // 2
        if stride + overlap > n:
            continue
        starts = patch_grid(n, stride, overlap)
        size = stride + overlap
        lo = np.maximum(starts, margin)
        hi = np.minimum(starts + size, n - margin)
        centres = (lo + hi) / 2
        if (len(starts) >= 2 and np.all(hi - lo >= _MIN_COMPARED)
                and np.all(np.diff(centres) >= stride / 2)):
            return stride, overlap
    return None


def plan_patches(frame_shape: tuple[int, int],
                 params: MotionParams) -> tuple[MotionParams, str | None]:
    """Return the parameters piecewise-rigid correction uses on frames of this shape.

    The default patch grid (``strides`` 64 + ``overlaps`` 32 = 96-px patches) suits
    frames of 192 px and more. On a smaller frame it holds a single patch along an
    axis (two patches that both cover all the pixels the template window leaves) or
    does not fit at all; there the default grid is replaced, axis by axis, by the
    largest of strides 48, 40 or 32 (overlaps half of it) that gives at least two
    patches, each comparing at least 24 px, with centres at least half a stride apart.
    When no grid holds two distinct patches along either axis (strides and overlaps
    set by hand to cover the frame, or a frame too small for the search margins), the
    correction falls back to rigid. Rigid correction (``pw_rigid=False``) is returned
    unchanged.

    Returns
    -------
    params : MotionParams
        ``params`` itself, or a copy with the fitted ``strides``/``overlaps``, or with
        ``pw_rigid=False``.
    message : str or None
        Why the parameters were changed (None when they were not).
    """
    if not params.pw_rigid:
        return params, None
    shape = tuple(int(n) for n in frame_shape)
    default = (params.strides, params.overlaps) == _DEFAULT_GRID
    strides, overlaps = list(params.strides), list(params.overlaps)
    counts = []
    for ax, n in enumerate(shape):
        margin = _patch_margin(params, ax)
        fits = strides[ax] + overlaps[ax] <= n
        single = not fits or len(patch_grid(n, strides[ax], overlaps[ax], margin=margin)) < 2
        if default and single:
            fitted = _fitted_axis(n, margin)
            if fitted is not None:
                strides[ax], overlaps[ax] = fitted
                single = False
            elif not fits:  # one patch as large as the frame along this axis
                strides[ax], overlaps[ax] = n - n // 3, n // 3
        counts.append(1 if single else len(patch_grid(n, strides[ax], overlaps[ax],
                                                       margin=margin)))
    size = "x".join(str(n) for n in shape)
    if counts == [1, 1]:
        patch = tuple(s + o for s, o in zip(params.strides, params.overlaps, strict=True))
        message = (f"piecewise-rigid correction needs at least two distinct patches along "
                   f"an axis, and frames of {size} px hold one patch of {patch[0]}x{patch[1]} "
                   f"px (strides + overlaps) inside the {_patch_margin(params, 0)}-px "
                   f"search margin (max_shifts + max_deviation_rigid + 3); corrected "
                   f"rigidly instead. Smaller strides and overlaps or a smaller max_shifts "
                   f"allow piecewise-rigid correction.")
        return params.replace(pw_rigid=False), message
    if (tuple(strides), tuple(overlaps)) == (params.strides, params.overlaps):
        return params, None
    message = (f"the default patch grid (strides {params.strides}, overlaps "
               f"{params.overlaps}) does not fit frames of {size} px: piecewise-rigid "
               f"correction uses strides {tuple(strides)} and overlaps {tuple(overlaps)} "
               f"({counts[0]}x{counts[1]} patches).")
    return params.replace(strides=tuple(strides), overlaps=tuple(overlaps)), message


_NOISE_BAND = 0.35  # cycles/px: frequencies above it measure a frame's pixel noise


def _noise_variance(spectra: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-frame variance of white pixel noise, from the spectrum's highest frequencies.

    Cell-scale structure has almost no power beyond 0.35 cycles/px, white noise the
    same power at every frequency: the mean ``|S(f)|² / (Y X)`` over those
    frequencies estimates the pixel noise variance. Noise that is not white (a
    compressed or interpolated movie) has less power there, which makes the
    estimate low and the shift test below lenient, never strict.
    """
    Y, X = shape
    fy = np.fft.fftfreq(Y)[:, None]
    fx = np.fft.rfftfreq(X)[None, :]
    band = (fy * fy + fx * fx) >= _NOISE_BAND**2
    if not band.any():
        return np.zeros(spectra.shape[0])
    power = np.abs(spectra[:, band]).astype(np.float64) ** 2
    return power.mean(axis=-1) / (Y * X)


class RigidRegistrar:
    """Rigid shifts of frames relative to ``template`` (``(dy, dx)`` of the content).

    Parameters
    ----------
    template : ndarray, shape (Y, X)
    params : MotionParams
    margin : int, optional
        Extra zero margin of the template window (used when the same window serves
        the patches).
    """

    def __init__(self, template: np.ndarray, params: MotionParams, *, margin: int = 0) -> None:
        template = np.asarray(template, np.float32)
        Y, X = template.shape
        self.shape = (Y, X)
        self.params = params
        ms = params.max_shifts
        lo, hi = params.filter_sigmas
        self.H = bandpass((Y, X), lo, hi)
        taper = _taper(params)
        self.window = np.outer(
            edge_window(Y, ms[0] + margin, taper), edge_window(X, ms[1] + margin, taper)
        ).astype(np.float32)
        t = template - np.float32(np.nanmean(template))
        t = np.nan_to_num(t)
        self.filtered_template = irfft2(rfft2(t) * self.H, (Y, X)) * self.window
        tspec = np.conj(rfft2(self.filtered_template))
        self.phase = params.phase_correlation
        if self.phase:
            self.W = tspec.astype(np.complex64)
            self.L = lowpass((Y, X), lo)
        else:
            self.W = (tspec * self.H).astype(np.complex64)
        self.rows = np.arange(-ms[0], ms[0] + 1) % Y
        self.cols = np.arange(-ms[1], ms[1] + 1) % X
        up = params.upsample_factor
        half = int(math.ceil(0.6 * up))  # the integer peak is within ±0.5 px
        fine = np.arange(-half, half + 1) / up
        self.fine = DFTWindow((Y, X), fine, fine)
        self.up = up
        self.half = half
        self.norm = float(np.sqrt(np.sum(self.filtered_template.astype(np.float64) ** 2)))
        # covariance of the correlation map under white pixel noise of unit variance:
        # Cov(c(a), c(b)) = K(a - b), K the inverse transform of |W|² (see _support)
        if not self.phase:
            K = sfft.irfft2(np.abs(self.W.astype(np.complex128)) ** 2, s=(Y, X))
            self.noise_cov = K[np.ix_(np.arange(-2 * ms[0], 2 * ms[0] + 1) % Y,
                                      np.arange(-2 * ms[1], 2 * ms[1] + 1) % X)]

    def spectra(self, frames: np.ndarray, workers: int = 1) -> np.ndarray:
        """rfft2 of the frames (complex64, ``(N, Y, X//2+1)``)."""
        return rfft2(frames, workers=workers)

    def filtered(self, spectra: np.ndarray, workers: int = 1) -> np.ndarray:
        """Band-passed frames in space from their spectra (float32)."""
        return irfft2(spectra * self.H, self.shape, workers=workers)

    def estimate(self, spectra: np.ndarray) -> np.ndarray:
        """Shifts ``(N, 2)`` float64 of frames given by their :meth:`spectra`."""
        return self.estimate_with_support(spectra)[0]

    def estimate_with_support(self, spectra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shifts ``(N, 2)`` and the support ``(N,)`` of each shift by its data.

        The support (see :meth:`_support`) says by how many noise standard deviations
        the correlation at the shift found beats the best correlation 3 px or more
        away from it (zero shift among them); :func:`~.correct.iter_correct` rejects
        shifts whose support is below ``min_shift_support``.
        """
        C = spectra * self.W
        if self.phase:
            whiten(C)
            C *= self.L
        ms = np.asarray(self.params.max_shifts, np.float64)
        # integer search on the inverse FFT (cheaper than a DFT over a wide window)
        full = irfft2(C, self.shape)
        coarse = full[:, self.rows][:, :, self.cols]  # (N, 2ms+1, 2ms+1)
        iy, ix, _ = peak_subpixel(coarse)
        support = self._support(coarse, np.rint(iy).astype(np.int64),
                                np.rint(ix).astype(np.int64), spectra)
        y0 = np.rint(iy).astype(np.int64) - int(ms[0])
        x0 = np.rint(ix).astype(np.int64) - int(ms[1])
        start = np.stack([y0, x0], axis=-1).astype(np.float64)
        ry, rx = phase_ramp(self.shape, start)
        C *= ry
        C *= rx
        fine = self.fine.evaluate(C)
        fy, fx, _ = peak_subpixel(fine)
        up, half = self.up, self.half
        shifts = start + np.stack([(fy - half) / up, (fx - half) / up], axis=-1)
        return np.clip(shifts, -ms, ms), support


    def _support(self, coarse: np.ndarray, iy: np.ndarray, ix: np.ndarray,
                 spectra: np.ndarray) -> np.ndarray:
        """Significance of each frame's correlation peak against other displacements.

        ``z = (c(p) - c(s)) / sd(c(p) - c(s))``: ``c`` the correlation map over the
        search window, ``p`` its integer peak, ``s`` the best displacement at least
        3 px (Chebyshev) from the peak — zero shift whenever the peak is 3 px or more
        from it — and the standard deviation that of the difference under the
        frame's pixel noise, ``σ² · 2 (K(0) - K(p - s))``, with ``K`` the map's noise
        autocovariance (known from the template and the band-pass) and ``σ²`` the
        frame's noise variance (:func:`_noise_variance`). On a frame without a real
        match to the template (no usable structure, or structure that is not the
        template's) the peak is one of many noise fluctuations and ``z`` is a few
        units at most; a frame that matches the template at one displacement gives
        tens to thousands.

        This is suite2p's signal-to-noise ratio of block phase-correlation maps
        (``registration.nonrigid.getSNR``: the peak over the largest value more than
        ``lpad`` = 3 px from it, blocks under ``snr_thresh`` smoothed with their
        neighbours [2]_) with a noise model instead of a fixed ratio, applied to the
        rigid shift of whole frames; NoRMCorre bounds patch shifts the same way with
        ``max_deviation_rigid`` [1]_. Phase correlation (whitened, so no such noise
        model) gives ``inf``: no test.
        """
        n = len(coarse)
        support = np.full(n, np.inf)
        if self.phase:
            return support
        Jy, Jx = coarse.shape[1:]
        uy = np.arange(Jy)
        ux = np.arange(Jx)
        far = (np.abs(uy[:, None] - iy[:, None, None]) > 2) | (
            np.abs(ux[None, :] - ix[:, None, None]) > 2)
        side = np.where(far, coarse, -np.inf).reshape(n, -1)
        arg = np.argmax(side, axis=1)
        ok = np.isfinite(side[np.arange(n), arg])
        if not ok.any():
            return support
        sy, sx = np.divmod(arg, Jx)
        peak = coarse[np.arange(n), iy, ix].astype(np.float64)
        other = side[np.arange(n), arg].astype(np.float64)
        ms = self.params.max_shifts
        K = self.noise_cov
        cy, cx = 2 * int(ms[0]), 2 * int(ms[1])  # zero lag in noise_cov
        lag = K[cy + (iy - sy), cx + (ix - sx)]
        sigma2 = _noise_variance(spectra[ok], self.shape)
        sd = np.sqrt(np.maximum(2.0 * sigma2 * (K[cy, cx] - lag[ok]), 1e-30))
        support[ok] = (peak[ok] - other[ok]) / sd
        return support


@numba.njit(cache=True)
def _gather(frames, y0, x0, out):  # pragma: no cover - compiled
    """out[n, i, j] = frames[n, y0[n, i]:+Ly, x0[n, j]:+Lx] (indices already in range)."""
    N, ny, nx, Ly, Lx = out.shape
    for n in range(N):
        for i in range(ny):
            ys = y0[n, i]
            for j in range(nx):
                xs = x0[n, j]
                for a in range(Ly):
                    for b in range(Lx):
                        out[n, i, j, a, b] = frames[n, ys + a, xs + b]


def _curvature_penalty(ny: int, nx: int) -> np.ndarray:
    """``LᵀL`` for ``L`` the graph Laplacian of the 4-neighbour ``ny × nx`` patch grid.

    ``|L f|²`` is a thin-plate-like (biharmonic) penalty on the patch field ``f``: a
    patch without data gets the smooth — near the edges, linear — continuation of its
    neighbours. This is the patch-grid counterpart of suite2p's SNR-dependent
    smoothing of the block correlation maps [2]_ and of NoRMCorre's smooth
    interpolation of patch shifts [1]_.
    """
    P = ny * nx
    lap = np.zeros((P, P))
    for i in range(ny):
        for j in range(nx):
            k = i * nx + j
            for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                if 0 <= a < ny and 0 <= b < nx:
                    lap[k, k] -= 1.0
                    lap[k, a * nx + b] += 1.0
    return lap.T @ lap


class PatchRegistrar:
    """Piecewise-rigid shifts at patch centres relative to ``template``.

    Each patch shift maximises the *normalised* cross-correlation

        ncc(τ) = Σ_o w(o) T(o) F(o + τ) / sqrt(Σ_o w(o) F(o + τ)²)

    over the patch (``w`` the template window restricted to the patch, ``T`` and
    ``F`` band-passed). The plain correlation is biased on patches: moving the patch
    window over bright content increases it even away from the true shift (the
    full-frame rigid search barely suffers from this, a 72-px patch does, by tenths
    of a pixel). The denominator removes that bias and any intensity scale change
    (bleaching, activity); numerator and denominator are both correlations, so they
    are evaluated from their spectra like the rest.

    Attributes
    ----------
    centers : ndarray, shape (ny, nx, 2)
        Patch centres (row, column): centroid of the template window inside each patch.
    starts_y, starts_x : ndarray of int
        Patch starts along rows and columns; patches are ``size`` pixels.
    """

    def __init__(self, template: np.ndarray, params: MotionParams,
                 rigid: RigidRegistrar | None = None) -> None:
        template = np.asarray(template, np.float32)
        Y, X = template.shape
        self.shape = (Y, X)
        self.params = params
        ms = params.max_shifts
        dev = params.max_deviation_rigid
        self.m = m = dev + 3
        self.size = size = (min(params.strides[0] + params.overlaps[0], Y),
                            min(params.strides[1] + params.overlaps[1], X))
        self.starts_y = patch_grid(Y, params.strides[0], params.overlaps[0],
                                   margin=ms[0] + m)
        self.starts_x = patch_grid(X, params.strides[1], params.overlaps[1],
                                   margin=ms[1] + m)
        ny, nx = len(self.starts_y), len(self.starts_x)
        self.pad = pad = (ms[0] + m, ms[1] + m)
        lo, hi = params.filter_sigmas
        self.H = rigid.H if rigid is not None else bandpass((Y, X), lo, hi)
        taper = _taper(params)
        wy = edge_window(Y, pad[0], taper)
        wx = edge_window(X, pad[1], taper)
        w = np.outer(wy, wx).astype(np.float32)
        t = np.nan_to_num(template - np.float32(np.nanmean(template)))
        tf = irfft2(rfft2(t) * self.H, (Y, X)) * w
        self.L = L = (sfft.next_fast_len(size[0] + 2 * m, real=True),
                      sfft.next_fast_len(size[1] + 2 * m, real=True))
        tpad = np.zeros((ny, nx, L[0], L[1]), np.float32)
        wpad = np.zeros((ny, nx, L[0], L[1]), np.float32)
        cy = np.empty(ny)
        cx = np.empty(nx)
        for i, ys in enumerate(self.starts_y):
            wi = wy[ys : ys + size[0]]
            cy[i] = ys + (np.sum(wi * np.arange(size[0])) / wi.sum() if wi.sum() > 0
                          else (size[0] - 1) / 2)
            for j, xs in enumerate(self.starts_x):
                sl = (slice(ys, ys + size[0]), slice(xs, xs + size[1]))
                tpad[i, j, m : m + size[0], m : m + size[1]] = tf[sl]
                wpad[i, j, m : m + size[0], m : m + size[1]] = w[sl]
        for j, xs in enumerate(self.starts_x):
            wj = wx[xs : xs + size[1]]
            cx[j] = xs + (np.sum(wj * np.arange(size[1])) / wj.sum() if wj.sum() > 0
                          else (size[1] - 1) / 2)
        # Effective centres: a patch's correlation peak measures the displacement
        # averaged over the patch with weights ~ the squared gradient of the windowed,
        # band-passed template along that axis (linearise Σ T(o) T(o + τ - d(o))
        # around the peak). Attributing each patch shift to that centroid instead of
        # the patch centre removes the first-order error of a displacement gradient
        # inside the patch; the values at the nominal centres then solve a small
        # linear system (the interpolating spline evaluated at the centroids).
        from ._warp import interpolation_weights

        gyy, gxx = np.gradient(tf.astype(np.float64))
        self.damping = _DAMPING
        self.solvers = []  # per axis: spline from nominal to effective centres
        self.effective = []
        for e in (gyy**2, gxx**2):
            pts = np.empty((ny, nx, 2))
            for i, ys in enumerate(self.starts_y):
                for j, xs in enumerate(self.starts_x):
                    blk = e[ys : ys + size[0], xs : xs + size[1]]
                    tot = blk.sum()
                    if tot > 0:
                        pts[i, j, 0] = ys + np.sum(blk.sum(1) * np.arange(size[0])) / tot
                        pts[i, j, 1] = xs + np.sum(blk.sum(0) * np.arange(size[1])) / tot
                    else:
                        pts[i, j] = cy[i], cx[j]
            by = interpolation_weights(cy, pts[..., 0].ravel())  # (P, ny)
            bx = interpolation_weights(cx, pts[..., 1].ravel())  # (P, nx)
            A = (by[:, :, None] * bx[:, None, :]).reshape(ny * nx, ny * nx)
            self.solvers.append(A)
            self.effective.append(pts)
        self.use_centroids = True
        energy = np.sum(tpad.astype(np.float64) ** 2, axis=(-2, -1))
        self.tnorm = np.sqrt(np.maximum(energy, 1e-30)).astype(np.float32)
        # texture: a patch whose band-passed template holds little structure compared
        # with the typical patch (an empty region, a vessel, the dark corner of a field
        # of view) gives a shift dominated by noise; it always takes its neighbours'
        tn = np.sqrt(energy)
        typical = float(np.median(tn[tn > 0])) if np.any(tn > 0) else 0.0
        self.valid = (energy > 1e-12 * max(float(energy.max()), 1e-30)) & (
            tn >= _MIN_TEXTURE * typical)
        self.centers = np.stack(np.broadcast_arrays(cy[:, None], cx[None, :]), axis=-1)
        # texture-weighted smoothing of the patch field (see _estimate): a patch's weight
        # grows with its template energy, up to 1 at the typical patch; patches without
        # texture (weight 0) take the smooth continuation of their neighbours
        self.weight = (np.clip((tn / max(typical, 1e-30)) ** 2, 0.0, 1.0) * self.valid).ravel()
        self.curvature = _curvature_penalty(ny, nx)
        self._field_maps: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self.tspec = np.conj(rfft2(tpad)).astype(np.complex64)  # (ny, nx, L0, K)
        self.phase = params.phase_correlation
        self.wspec = None if self.phase else np.conj(rfft2(wpad)).astype(np.complex64)
        self.lp = lowpass(L, lo) if self.phase else None
        # integer search: only the displacements the deviation bound allows (|u - frac|
        # <= dev + 1/2 with |frac| <= 1/2); phase correlation keeps the wider window its
        # sharpness needs (peak over the best value 2 px away)
        k = m if self.phase else dev + 1
        self.coarse_offsets = np.arange(-k, k + 1)
        self.coarse = DFTWindow(L, self.coarse_offsets, self.coarse_offsets)
        up = params.upsample_factor
        half = int(math.ceil(0.6 * up))
        fine = np.arange(-half, half + 1) / up
        self.fine = DFTWindow(L, fine, fine)
        self.half = half
        self.up = up
        per_frame = ny * nx * L[0] * L[1]
        self.batch = max(1, _PATCH_BUDGET // per_frame)

    @property
    def grid_shape(self) -> tuple[int, int]:
        return len(self.starts_y), len(self.starts_x)

    def estimate(self, filtered: np.ndarray, rigid: np.ndarray, workers: int = 1) -> np.ndarray:
        """Total displacements ``(N, ny, nx, 2)`` at the patch centres.

        Parameters
        ----------
        filtered : ndarray, shape (N, Y, X)
            Band-passed frames (:meth:`RigidRegistrar.filtered`).
        rigid : ndarray, shape (N, 2)
            Their rigid shifts.
        """
        N = filtered.shape[0]
        ny, nx = self.grid_shape
        out = np.empty((N, ny, nx, 2), np.float64)
        py, px = self.pad
        ey = self.L[0] - self.size[0] - 2 * self.m  # FFT length rounded up: extra room
        ex = self.L[1] - self.size[1] - 2 * self.m
        padded = np.pad(filtered, ((0, 0), (py, py + ey), (px, px + ex)))
        for b0 in range(0, N, self.batch):
            b1 = min(N, b0 + self.batch)
            out[b0:b1] = self._estimate(padded[b0:b1], np.asarray(rigid[b0:b1], np.float64),
                                        workers)
        return out

    def _score(self, window: DFTWindow, S: np.ndarray, E: np.ndarray | None) -> np.ndarray:
        cc = window.evaluate(S)
        if E is None:
            return cc
        e = window.evaluate(E)
        np.maximum(e, np.float32(1e-12) * np.abs(e).max(initial=0.0) + np.float32(1e-30), out=e)
        return cc / np.sqrt(e)

    def _estimate(self, padded: np.ndarray, rigid: np.ndarray, workers: int) -> np.ndarray:
        n = padded.shape[0]
        ny, nx = self.grid_shape
        m = self.m
        L = self.L
        dev = self.params.max_deviation_rigid
        r = np.rint(rigid).astype(np.int64)  # (n, 2)
        frac = rigid - r
        py, px = self.pad
        # every index is valid: |r| <= max_shifts and the padding covers the rest
        y0 = self.starts_y[None, :] - m + r[:, :1] + py
        x0 = self.starts_x[None, :] - m + r[:, 1:] + px
        regions = np.empty((n, ny, nx, L[0], L[1]), np.float32)
        _gather(padded, y0.astype(np.int64), x0.astype(np.int64), regions)
        S = rfft2(regions, workers=workers)
        S *= self.tspec
        if self.phase:
            E = None
            whiten(S)
            S *= self.lp
        else:
            np.square(regions, out=regions)
            E = rfft2(regions, workers=workers)
            E *= self.wspec
        del regions
        u = self.coarse_offsets.astype(np.float64)
        # allowed integer displacements: within dev (+ rounding) of the rigid shift
        my = np.abs(u[None, :] - frac[:, :1]) <= dev + 0.5  # (n, 2m+1)
        mx = np.abs(u[None, :] - frac[:, 1:]) <= dev + 0.5
        mask = (my[:, :, None] & mx[:, None, :])[:, None, None]  # (n,1,1,J,J)
        coarse = self._score(self.coarse, S, E)  # (n, ny, nx, J, J)
        iy, ix, pk = self._peaks(coarse, mask)
        k0 = -int(self.coarse_offsets[0])
        start = np.stack([np.rint(iy) - k0, np.rint(ix) - k0], axis=-1)  # (n, ny, nx, 2)
        ry, rx = phase_ramp(L, start)
        S *= ry
        S *= rx
        if E is not None:
            E *= ry
            E *= rx
        fine = self._score(self.fine, S, E)
        fy, fx, _ = peak_subpixel(fine)
        up, half = self.up, self.half
        total = start + np.stack([(fy - half) / up, (fx - half) / up], axis=-1)
        total += r[:, None, None, :]
        lo = rigid[:, None, None, :] - dev
        hi = rigid[:, None, None, :] + dev
        total = np.clip(total, lo, hi)
        # confidence: correlation coefficient of the patch with the template at the
        # peak, and the peak not on the deviation bound
        rho = pk / self.tnorm[None] if E is not None else self._sharpness(coarse, iy, ix, pk)
        edge = np.any(np.abs(total - rigid[:, None, None, :]) > dev - 0.05, axis=-1)
        good = (rho >= self.params.min_patch_corr) & ~edge & self.valid[None]
        self.last_confidence = rho
        dv = (total - rigid[:, None, None, :]).reshape(n, ny * nx, 2)
        dv = self._fit_field(dv, good.reshape(n, ny * nx))
        total = rigid[:, None, None, :] + dv.reshape(n, ny, nx, 2)
        return np.clip(total, lo, hi)

    def _field_map(self, good: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the linear maps (one per axis) from patch deviations to the fitted field.

        The field ``f`` at the nominal patch centres minimises

            Σ_p w_p [(A f - d)_p² + μ (f - d)_p²] + λ |L f|²

        with ``d`` the measured deviations from the rigid shift, ``A`` the spline
        that evaluates the field at each patch's effective centre (the centroid of
        its template's gradient energy, where the measurement is), ``w_p`` the
        patch's texture weight (0 without texture) times its confidence in this
        frame (0 for a low-confidence patch), ``μ`` = ``_DAMPING`` a pull towards the
        raw values and ``λ`` the curvature penalty (:func:`_curvature_penalty`),
        ``_SMOOTHING · (n / 8)⁴`` for a grid of ``n`` patches across: brain
        deformations are smooth at the scale of the field of view, and the squared
        second difference of such a field sampled ``n`` times across falls as
        ``n⁻⁴``, so the same prior on the field is a penalty that grows as ``n⁴`` on
        the grid (tuned at 8 x 8 on 512² movies; the 4 x 4 grid of 256² frames had
        been smoothed 16 times too much, which cost up to 0.05 px on deformations of
        two half cycles across the frame). One weighted least-squares problem does what
        three successive steps did before — replace low-confidence patches by their
        neighbours, smooth with texture weights, move the values from effective to
        nominal centres — so a patch without data constrains nothing: it gets the
        smooth continuation of the measured field at its own centre, and its empty
        effective centre no longer bends the spline through its neighbours (an empty
        corner cost its textured neighbours up to 1 px before).
        """
        key = np.packbits(good).tobytes()
        maps = self._field_maps.get(key)
        if maps is None:
            P = good.size
            w = self.weight * good
            W = np.diag(w)
            ny, nx = self.grid_shape
            lam = _SMOOTHING * (np.sqrt(ny * nx) / 8.0) ** 4 if P > 1 else 0.0
            maps = []
            for ax in range(2):
                A = self.solvers[ax] if self.use_centroids else np.eye(P)
                system = A.T @ W @ A + self.damping * W + lam * self.curvature
                system += 1e-9 * np.eye(P)
                maps.append(np.linalg.solve(system, A.T @ W + self.damping * W))
            maps = tuple(maps)
            if len(self._field_maps) < 4096:
                self._field_maps[key] = maps
        return maps

    def _fit_field(self, dev: np.ndarray, good: np.ndarray) -> np.ndarray:
        """Return the fitted deviations ``(n, P, 2)`` (see :meth:`_field_map`).

        Frames are grouped by their pattern of confident patches (usually a handful
        of patterns).
        """
        out = np.empty_like(dev)
        keys, inverse = np.unique(np.packbits(good, axis=1), axis=0, return_inverse=True)
        inverse = np.asarray(inverse).ravel()
        for k in range(len(keys)):
            idx = np.flatnonzero(inverse == k)
            maps = self._field_map(good[idx[0]])
            for ax in range(2):
                out[idx, :, ax] = dev[idx, :, ax] @ maps[ax].T
        return out

    @staticmethod
    def _sharpness(coarse, iy, ix, pk):
        """Phase correlation: peak over the best value more than 2 px away, minus 1."""
        J = coarse.shape[-1]
        u = np.arange(J)
        far = (np.abs(u[:, None] - iy[..., None, None]) > 2) | (
            np.abs(u[None, :] - ix[..., None, None]) > 2
        )
        other = np.where(far, coarse, -np.inf).max(axis=(-2, -1))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(other > 0, pk / other - 1.0, np.inf)

    @staticmethod
    def _peaks(coarse, mask):
        masked = np.where(mask, coarse, -np.inf)
        J = coarse.shape[-1]
        flat = masked.reshape(*masked.shape[:-2], -1)
        arg = np.argmax(flat, axis=-1)
        iy, ix = np.divmod(arg, J)
        pk = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
        return iy.astype(np.float64), ix.astype(np.float64), pk
