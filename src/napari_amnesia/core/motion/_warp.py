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

Speed: a rigid shift has the same interpolation weights at every pixel of a frame,
so the interior is resampled in two vectorised passes (rows, then columns: 8
multiply-adds per pixel); a piecewise-rigid field is evaluated row by row and the
pixels whose 4 x 4 taps lie inside the frame skip the clamping and border tests.
Only the pixels near the edges take the general path.

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

from ..parallel import split_map

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


@numba.njit(cache=True, nogil=True, inline="always")
def _sample(frame, sy, sx, vmin, border, cubic):  # pragma: no cover - compiled
    """Value of one frame at ``(sy, sx)``, any position (border rules, clamped taps)."""
    Y, X = frame.shape
    ymax = Y - 1.0
    xmax = X - 1.0
    if sy < -_TOL or sy > ymax + _TOL or sx < -_TOL or sx > xmax + _TOL:
        if border == 1:
            return np.nan
        elif border == 2:
            return vmin
        elif border == 3:
            return 0.0
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
            c0 = frame[r, min(max(ix - 1, 0), X - 1)]
            c1 = frame[r, min(ix, X - 1)]
            c2 = frame[r, min(ix + 1, X - 1)]
            c3 = frame[r, min(ix + 2, X - 1)]
            acc += wy * (wx0 * c0 + wx1 * c1 + wx2 * c2 + wx3 * c3)
        return acc
    r1 = min(iy + 1, Y - 1)
    c1 = min(ix + 1, X - 1)
    top = frame[iy, ix] * (1 - fx) + frame[iy, c1] * fx
    bot = frame[r1, ix] * (1 - fx) + frame[r1, c1] * fx
    return top * (1 - fy) + bot * fy


@numba.njit(cache=True, nogil=True)
def _remap(frames, gy, gx, my, mxt, mins, border, cubic, out):  # pragma: no cover - compiled
    """Piecewise-rigid warp: per-pixel displacement from the patch grid (separable).

    ``mxt`` is the column interpolation matrix transposed, ``(nx, X)``. The
    displacement of a row is computed first (a vectorised pass), then each pixel
    is interpolated; pixels whose 4 x 4 taps lie inside the frame skip clamping
    and border tests.
    """
    n_frames, Y, X = frames.shape
    ny = my.shape[1]
    nx = mxt.shape[0]
    ay = np.zeros(nx, np.float64)
    ax = np.zeros(nx, np.float64)
    sy_row = np.empty(X, np.float64)
    sx_row = np.empty(X, np.float64)
    for n in range(n_frames):
        frame = frames[n]
        for y in range(Y):
            ay[:] = 0.0
            ax[:] = 0.0
            for i in range(ny):
                wi = my[y, i]
                if wi != 0.0:
                    for j in range(nx):
                        ay[j] += wi * gy[n, i, j]
                        ax[j] += wi * gx[n, i, j]
            for x in range(X):
                sy_row[x] = y
                sx_row[x] = x
            for j in range(nx):
                cy = ay[j]
                cx = ax[j]
                for x in range(X):
                    w = mxt[j, x]
                    sy_row[x] += cy * w
                    sx_row[x] += cx * w
            for x in range(X):
                sy = sy_row[x]
                sx = sx_row[x]
                # interior fast path: all taps inside the frame, no clamping, no border
                if cubic and sy >= 1.0 and sy < Y - 2.0 and sx >= 1.0 and sx < X - 2.0:
                    iy = int(sy)
                    ix = int(sx)
                    wy0, wy1, wy2, wy3 = _cubic_weights(sy - iy)
                    wx0, wx1, wx2, wx3 = _cubic_weights(sx - ix)
                    a = ix - 1
                    acc = wy0 * (wx0 * frame[iy - 1, a] + wx1 * frame[iy - 1, a + 1]
                                 + wx2 * frame[iy - 1, a + 2] + wx3 * frame[iy - 1, a + 3])
                    acc += wy1 * (wx0 * frame[iy, a] + wx1 * frame[iy, a + 1]
                                  + wx2 * frame[iy, a + 2] + wx3 * frame[iy, a + 3])
                    acc += wy2 * (wx0 * frame[iy + 1, a] + wx1 * frame[iy + 1, a + 1]
                                  + wx2 * frame[iy + 1, a + 2] + wx3 * frame[iy + 1, a + 3])
                    acc += wy3 * (wx0 * frame[iy + 2, a] + wx1 * frame[iy + 2, a + 1]
                                  + wx2 * frame[iy + 2, a + 2] + wx3 * frame[iy + 2, a + 3])
                    out[n, y, x] = acc
                else:
                    out[n, y, x] = _sample(frame, sy, sx, mins[n], border, cubic)


@numba.njit(cache=True, nogil=True)
def _shift_rigid(frames, shifts, mins, border, cubic, out):  # pragma: no cover - compiled
    """Rigid warp: constant interpolation weights per frame, separable.

    Rows and columns whose taps all lie inside the frame (the interior) take a
    two-pass path: the four source rows are combined with the row weights, then
    the column weights are applied along the row (both loops vectorise). Pixels
    near the edges go through :func:`_sample` (border modes, clamped taps).
    """
    n_frames, Y, X = frames.shape
    tmp = np.empty(X, np.float32)
    for n in range(n_frames):
        frame = frames[n]
        dy = shifts[n, 0]
        dx = shifts[n, 1]
        oy = int(np.floor(dy))
        ox = int(np.floor(dx))
        fy = dy - oy
        fx = dx - ox
        if cubic:
            a0, a1, a2, a3 = _cubic_weights(fy)
            b0, b1, b2, b3 = _cubic_weights(fx)
        else:
            a0, a1, a2, a3 = 0.0, 1.0 - fy, fy, 0.0
            b0, b1, b2, b3 = 0.0, 1.0 - fx, fx, 0.0
        wy0 = np.float32(a0)
        wy1 = np.float32(a1)
        wy2 = np.float32(a2)
        wy3 = np.float32(a3)
        wx0 = np.float32(b0)
        wx1 = np.float32(b1)
        wx2 = np.float32(b2)
        wx3 = np.float32(b3)
        # interior columns: x + ox - 1 >= 0 and x + ox + 2 <= X - 1
        xa = max(0, 1 - ox)
        xb = min(X, X - 2 - ox)
        for y in range(Y):
            iy = y + oy
            if iy < 1 or iy + 2 > Y - 1 or xb <= xa:
                for x in range(X):
                    out[n, y, x] = _sample(frame, y + dy, x + dx, mins[n], border, cubic)
                continue
            r0 = frame[iy - 1]
            r1 = frame[iy]
            r2 = frame[iy + 1]
            r3 = frame[iy + 2]
            lo = xa + ox - 1
            hi = xb + ox + 2
            for c in range(lo, hi):
                tmp[c] = wy0 * r0[c] + wy1 * r1[c] + wy2 * r2[c] + wy3 * r3[c]
            for x in range(xa, xb):
                c = x + ox - 1
                out[n, y, x] = wx0 * tmp[c] + wx1 * tmp[c + 1] + wx2 * tmp[c + 2] + wx3 * tmp[c + 3]
            for x in range(0, xa):
                out[n, y, x] = _sample(frame, y + dy, x + dx, mins[n], border, cubic)
            for x in range(xb, X):
                out[n, y, x] = _sample(frame, y + dy, x + dx, mins[n], border, cubic)


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
    if k > 1 and not np.all(np.diff(c) > 0):
        # two patches at the same centre have no spline between them (their weights
        # would be NaN and so would every warped frame)
        raise ValueError(f"patch centres should increase strictly, got {c.round(2).tolist()}.")
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
    rigid = s.ndim == 2
    if rigid:
        s = np.ascontiguousarray(s)
    elif my is None or mx is None:
        raise ValueError("piecewise shifts need the interpolation matrices my and mx.")
    code = BORDER_CODES[border]
    if code == 2 and N:
        mins = np.nanmin(frames.reshape(N, -1), axis=1).astype(np.float64)
    else:
        mins = np.zeros(N, np.float64)
    out = np.empty_like(frames)
    cubic = interpolation == "cubic"
    if rigid:
        def run(a: int, b: int) -> None:
            _shift_rigid(frames[a:b], s[a:b], mins[a:b], code, cubic, out[a:b])
    else:
        gy = np.ascontiguousarray(s[..., 0])
        gx = np.ascontiguousarray(s[..., 1])
        my = np.ascontiguousarray(my, np.float64)
        mxt = np.ascontiguousarray(np.asarray(mx, np.float64).T)

        def run(a: int, b: int) -> None:
            _remap(frames[a:b], gy[a:b], gx[a:b], my, mxt, mins[a:b], code, cubic, out[a:b])

    # the kernel releases the GIL: parts of the frames as dask tasks
    split_map(run, N, workers)
    return out
