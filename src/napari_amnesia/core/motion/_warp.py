"""Applying shifts: rigid and piecewise-rigid warps without wrap-around (numba).

A frame whose content is displaced by ``d(o)`` (``frame[o] = reference[o - d(o)]``) is
corrected by sampling it at ``q + d(q)``: ``corrected[q] = frame[q + d(q)]``. For a
rigid shift ``d`` is constant; for piecewise-rigid correction it is the smooth field
obtained by cubic-spline interpolation of the patch shifts through the patch centres
(separable, constant beyond the outermost centres), evaluated at every pixel: no
patch seams, no blocking (NoRMCorre [1]_ reaches the same goal by upsampling the
patch grid and blending overlapping patches).

Values are interpolated with Keys' cubic convolution (``a = -0.5``, exact for
linear ramps, no overshoot on steps beyond a few percent) or bilinearly. A sample
position outside the frame is filled according to ``border``: ``copy`` takes the
nearest position inside the frame (no wrap-around, unlike ``np.roll``), ``nan``,
``min`` (frame minimum) or ``zero``.

References
----------
.. [1] Pnevmatikakis, E. A. & Giovannucci, A. (2017). NoRMCorre. J. Neurosci.
   Methods 291, 83-94.
.. [2] Keys, R. (1981). Cubic convolution interpolation for digital image
   processing. IEEE Trans. Acoust. Speech Signal Process. 29, 1153-1160.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.interpolate import CubicSpline

__all__ = ["warp_frames", "interpolation_matrix", "BORDER_CODES", "shift_rows"]

BORDER_CODES = {"copy": 0, "nan": 1, "min": 2, "zero": 3}
_TOL = 1e-3  # sample positions this close outside the frame count as inside


@numba.njit(cache=True, nogil=True, inline="always")
def _cubic_weights(t):  # pragma: no cover - compiled
    a = -0.5
    t1 = 1.0 + t
    t2 = t
    t3 = 1.0 - t
    t4 = 2.0 - t
    w0 = a * t1 * t1 * t1 - 5 * a * t1 * t1 + 8 * a * t1 - 4 * a
    w1 = (a + 2) * t2 * t2 * t2 - (a + 3) * t2 * t2 + 1
    w2 = (a + 2) * t3 * t3 * t3 - (a + 3) * t3 * t3 + 1
    w3 = a * t4 * t4 * t4 - 5 * a * t4 * t4 + 8 * a * t4 - 4 * a
    return w0, w1, w2, w3


@numba.njit(cache=True, nogil=True)
def _remap(frames, gy, gx, my, mx, mins, border, cubic, out):  # pragma: no cover - compiled
    n_frames, Y, X = frames.shape
    ny = my.shape[1]
    nx = mx.shape[1]
    ymax = Y - 1.0
    xmax = X - 1.0
    for job in range(n_frames * Y):
        n = job // Y
        y = job - n * Y
        ay = np.zeros(nx, np.float64)
        ax = np.zeros(nx, np.float64)
        for i in range(ny):
            wi = my[y, i]
            if wi != 0.0:
                for j in range(nx):
                    ay[j] += wi * gy[n, i, j]
                    ax[j] += wi * gx[n, i, j]
        for x in range(X):
            dy = 0.0
            dx = 0.0
            for j in range(nx):
                wj = mx[x, j]
                dy += ay[j] * wj
                dx += ax[j] * wj
            sy = y + dy
            sx = x + dx
            if sy < -_TOL or sy > ymax + _TOL or sx < -_TOL or sx > xmax + _TOL:
                if border == 1:
                    out[n, y, x] = np.nan
                    continue
                elif border == 2:
                    out[n, y, x] = mins[n]
                    continue
                elif border == 3:
                    out[n, y, x] = 0.0
                    continue
            sy = min(max(sy, 0.0), ymax)
            sx = min(max(sx, 0.0), xmax)
            iy = int(np.floor(sy))
            ix = int(np.floor(sx))
            if iy > Y - 2:
                iy = max(Y - 2, 0)
            if ix > X - 2:
                ix = max(X - 2, 0)
            fy = sy - iy
            fx = sx - ix
            if cubic:
                wy0, wy1, wy2, wy3 = _cubic_weights(fy)
                wx0, wx1, wx2, wx3 = _cubic_weights(fx)
                acc = 0.0
                for k in range(4):
                    r = min(max(iy - 1 + k, 0), Y - 1)
                    wy = wy0 if k == 0 else (wy1 if k == 1 else (wy2 if k == 2 else wy3))
                    c0 = frames[n, r, min(max(ix - 1, 0), X - 1)]
                    c1 = frames[n, r, min(ix, X - 1)]
                    c2 = frames[n, r, min(ix + 1, X - 1)]
                    c3 = frames[n, r, min(ix + 2, X - 1)]
                    acc += wy * (wx0 * c0 + wx1 * c1 + wx2 * c2 + wx3 * c3)
                out[n, y, x] = acc
            else:
                r1 = min(iy + 1, Y - 1)
                c1 = min(ix + 1, X - 1)
                top = frames[n, iy, ix] * (1 - fx) + frames[n, iy, c1] * fx
                bot = frames[n, r1, ix] * (1 - fx) + frames[n, r1, c1] * fx
                out[n, y, x] = top * (1 - fy) + bot * fy


@numba.njit(cache=True, nogil=True)
def _shift_rows(frames, shift, parity, out):  # pragma: no cover - compiled
    """out[n, r, x] = frames[n, r, x + shift] (cubic, edge-clamped) on rows of ``parity``."""
    n_frames, Y, X = frames.shape
    for job in range(n_frames * Y):
        n = job // Y
        r = job - n * Y
        if r % 2 != parity:
            for x in range(X):
                out[n, r, x] = frames[n, r, x]
            continue
        for x in range(X):
            sx = min(max(x + shift, 0.0), X - 1.0)
            ix = int(np.floor(sx))
            if ix > X - 2:
                ix = max(X - 2, 0)
            fx = sx - ix
            w0, w1, w2, w3 = _cubic_weights(fx)
            out[n, r, x] = (
                w0 * frames[n, r, min(max(ix - 1, 0), X - 1)]
                + w1 * frames[n, r, ix]
                + w2 * frames[n, r, min(ix + 1, X - 1)]
                + w3 * frames[n, r, min(ix + 2, X - 1)]
            )


def shift_rows(frames: np.ndarray, phase: float) -> np.ndarray:
    """Undo a bidirectional scan phase: odd rows sampled at ``x + phase`` (float32)."""
    frames = np.ascontiguousarray(frames, np.float32)
    if not phase:
        return frames
    out = np.empty_like(frames)
    _shift_rows(frames, float(phase), 1, out)
    return out


def interpolation_matrix(n: int, centers: np.ndarray) -> np.ndarray:
    """``(n, k)`` float64 matrix mapping values at ``k`` centres to ``n`` pixels.

    Natural cubic spline through the centres (linear for two, constant for one),
    constant beyond the outermost centres.
    """
    return interpolation_weights(centers, np.arange(n, dtype=np.float64))


def interpolation_weights(centers: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``(len(pos), k)`` weights of the values at ``k`` centres at positions ``pos``."""
    c = np.asarray(centers, np.float64).ravel()
    k = c.size
    n = len(pos)
    if k == 1:
        return np.ones((n, 1))
    pos = np.clip(np.asarray(pos, np.float64), c[0], c[-1])
    if k == 2:
        t = (pos - c[0]) / (c[1] - c[0])
        return np.stack([1 - t, t], axis=1)
    spline = CubicSpline(c, np.eye(k), bc_type="natural", axis=0)
    return spline(pos)


def warp_frames(
    frames: np.ndarray,
    shifts: np.ndarray,
    *,
    border: str = "copy",
    interpolation: str = "cubic",
    my: np.ndarray | None = None,
    mx: np.ndarray | None = None,
    workers: int = 1,
) -> np.ndarray:
    """Correct frames displaced by ``shifts``; float32 ``(N, Y, X)`` out.

    Parameters
    ----------
    frames : ndarray, shape (N, Y, X)
    shifts : ndarray, shape (N, 2) or (N, ny, nx, 2)
        Rigid displacements, or displacements at a grid of patch centres (then ``my``
        and ``mx`` from :func:`interpolation_matrix` are required).
    border : {"copy", "nan", "min", "zero"}
    interpolation : {"cubic", "linear"}
    workers : int
        Threads to split the frames over (the kernel releases the GIL).
    """
    frames = np.ascontiguousarray(frames, np.float32)
    N, Y, X = frames.shape
    s = np.asarray(shifts, np.float64)
    if s.ndim == 2:
        s = s[:, None, None, :]
        my = np.ones((Y, 1))
        mx = np.ones((X, 1))
    if my is None or mx is None:
        raise ValueError("piecewise shifts need the interpolation matrices my and mx.")
    gy = np.ascontiguousarray(s[..., 0])
    gx = np.ascontiguousarray(s[..., 1])
    code = BORDER_CODES[border]
    if code == 2 and N:
        mins = np.nanmin(frames.reshape(N, -1), axis=1).astype(np.float64)
    else:
        mins = np.zeros(N, np.float64)
    out = np.empty_like(frames)
    my = np.ascontiguousarray(my, np.float64)
    mx = np.ascontiguousarray(mx, np.float64)
    cubic = interpolation == "cubic"

    def run(a: int, b: int) -> None:
        _remap(frames[a:b], gy[a:b], gx[a:b], my, mx, mins[a:b], code, cubic, out[a:b])

    workers = max(1, min(int(workers), N))
    if workers == 1:
        if N:
            run(0, N)
        return out
    # the kernel releases the GIL: split the frames over threads
    from concurrent.futures import ThreadPoolExecutor

    edges = np.linspace(0, N, workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, edges[:-1], edges[1:]))
    return out
