"""Applying shifts lazily: the corrected movie as a dask array.

:func:`apply_shifts` turns a movie and shifts (or a :class:`~.result.MotionResult`)
into a lazy ``(T, Y, X)`` float32 dask array with one task per time chunk of the
input: nothing is computed until a frame is viewed or the movie saved, computing
frame ``t`` reads and warps only the chunk holding ``t``, and the same graph runs on
dask's threaded scheduler or a ``dask.distributed`` cluster. Shifts found on one
movie (a structural channel, a previous session) apply to any other movie with the
same number of frames and frame shape (CaImAn's ``apply_shifts_movie``).
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from ._warp import interpolation_matrix, shift_rows, warp_frames
from .params import BORDER_MODES

__all__ = ["apply_shifts", "as_dask_movie", "default_chunk_frames"]

_CHUNK_BYTES = 32 * 2**20


def default_chunk_frames(frame_shape: tuple[int, int]) -> int:
    """Frames per chunk for about 32 MB of float32."""
    Y, X = (int(n) for n in frame_shape)
    return int(max(1, min(1000, _CHUNK_BYTES // (4 * Y * X))))


def as_dask_movie(movie: Any, chunk_frames: int | None = None) -> da.Array:
    """Return a ``(T, Y, X)`` movie as a dask array chunked along time only.

    A dask input keeps its graph (re-chunked lazily when ``chunk_frames`` differs);
    a numpy array (or memmap) is wrapped without copying.
    """
    shape = tuple(getattr(movie, "shape", ()))
    if len(shape) != 3:
        raise ValueError(f"movie should be a (T, Y, X) array, got shape {shape}.")
    if shape[0] < 1:
        raise ValueError("movie has no frames.")
    dtype = np.dtype(getattr(movie, "dtype", np.float32))
    if dtype.kind not in "uifb":
        raise ValueError(f"movie should hold real numbers, got dtype {dtype}.")
    n = int(chunk_frames) if chunk_frames else default_chunk_frames(shape[1:])
    if isinstance(movie, da.Array):
        if movie.chunks[1] != (shape[1],) or movie.chunks[2] != (shape[2],) or any(
            c != n for c in movie.chunks[0][:-1]
        ):
            movie = movie.rechunk((n, shape[1], shape[2]))
        return movie
    return da.from_array(movie, chunks=(n, shape[1], shape[2]), asarray=True,
                         name="amnesia-input-" + tokenize(id(movie), shape, str(dtype), n))


def _is_result(shifts: Any) -> bool:
    """Return whether ``shifts`` is a result of motion correction, not an array of shifts.

    A :class:`~.result.MotionResult` is recognised by what it carries (``shifts``,
    ``params``, ``shifts_pw``), so that this module does not import :mod:`.result`,
    which imports this one to apply its shifts.
    """
    return all(hasattr(shifts, name) for name in ("shifts", "params", "shifts_pw"))


def _check_pw(shifts_pw, patch_centers, T, frame_shape):
    pw = np.asarray(shifts_pw, np.float64)
    c = np.asarray(patch_centers, np.float64)
    if pw.ndim != 4 or pw.shape[-1] != 2 or pw.shape[0] != T:
        raise ValueError(f"shifts_pw should have shape ({T}, ny, nx, 2), got {pw.shape}.")
    if c.shape != pw.shape[1:]:
        raise ValueError(
            f"patch_centers should have shape {pw.shape[1:]} to match shifts_pw, got {c.shape}."
        )
    cy, cx = c[:, 0, 0], c[0, :, 1]
    if not (np.allclose(c[..., 0], cy[:, None]) and np.allclose(c[..., 1], cx[None, :])):
        raise ValueError(
            "patch_centers should form a grid (one row per row, one column per column)."
        )
    if np.any(np.diff(cy) <= 0) or np.any(np.diff(cx) <= 0):
        raise ValueError("patch_centers should increase along rows and columns.")
    Y, X = frame_shape
    if cy[0] < -0.5 or cy[-1] > Y - 0.5 or cx[0] < -0.5 or cx[-1] > X - 0.5:
        raise ValueError(f"patch_centers lie outside frames of {Y}x{X} pixels.")
    return pw, cy, cx


def apply_shifts(
    movie: Any,
    shifts: Any,
    *,
    shifts_pw: np.ndarray | None = None,
    patch_centers: np.ndarray | None = None,
    border_nan: str | bool | None = None,
    interpolation: str | None = None,
    scan_phase: float | None = None,
    chunk_frames: int | None = None,
) -> da.Array:
    """Correct a movie with known shifts, lazily.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        numpy or dask array of any real dtype.
    shifts : ndarray, shape (T, 2), or MotionResult
        Rigid displacements ``(dy, dx)`` of the content (the convention of
        :attr:`MotionResult.shifts`); a :class:`~.result.MotionResult` brings its
        piecewise shifts, patch centres, scan phase, border mode and interpolation
        (each can still be overridden here).
    shifts_pw : ndarray, shape (T, ny, nx, 2), optional
        Displacements at patch centres (piecewise rigid); used instead of ``shifts``.
    patch_centers : ndarray, shape (ny, nx, 2), optional
        Required with ``shifts_pw``.
    border_nan : {"copy", "nan", "min", "zero"} or bool, optional
        Border mode (default "copy").
    interpolation : {"cubic", "linear"}, optional
        Default "cubic".
    scan_phase : float, optional
        Bidirectional scan offset to undo first (default 0).
    chunk_frames : int, optional
        Frames per dask task (default about 32 MB of float32).

    Returns
    -------
    dask.array.Array, shape (T, Y, X), float32

    Examples
    --------
    >>> movie = np.zeros((4, 16, 16), np.float32); movie[:, 8, 8] = 1
    >>> out = apply_shifts(movie, np.tile([1.0, 0.0], (4, 1)), border_nan="zero")
    >>> float(out[0, 7, 8].compute())
    1.0
    """
    if _is_result(shifts):  # a MotionResult (recognised without importing .result)
        res = shifts
        shifts = res.shifts
        if shifts_pw is None and res.shifts_pw is not None:
            shifts_pw, patch_centers = res.shifts_pw, res.patch_centers
        if border_nan is None:
            border_nan = res.params.border_nan
        if interpolation is None:
            interpolation = res.params.interpolation
        if scan_phase is None:
            scan_phase = res.scan_phase
    border = "copy" if border_nan is None else border_nan
    if isinstance(border, bool):
        border = "nan" if border else "copy"
    if border not in BORDER_MODES:
        raise ValueError(
            f'border_nan should be one of "nan", "copy", "min", "zero", got {border_nan!r}.'
        )
    interpolation = interpolation or "cubic"
    if interpolation not in ("cubic", "linear"):
        raise ValueError(f'interpolation should be "cubic" or "linear", got {interpolation!r}.')
    phase = float(scan_phase or 0.0)
    movie_d = as_dask_movie(movie, chunk_frames)
    T, Y, X = movie_d.shape
    s = np.asarray(shifts, np.float64)
    if s.shape != (T, 2):
        raise ValueError(f"shifts should have shape ({T}, 2) for a movie of {T} frames, "
                         f"got {s.shape}.")
    if not np.all(np.isfinite(s)):
        raise ValueError("shifts contain NaN or infinite values.")
    if shifts_pw is not None:
        if patch_centers is None:
            raise ValueError("shifts_pw needs patch_centers.")
        pw, cy, cx = _check_pw(shifts_pw, patch_centers, T, (Y, X))
        my, mx = interpolation_matrix(Y, cy), interpolation_matrix(X, cx)
        used = pw
    else:
        my = mx = None
        used = s

    def block(frames: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        t0, t1 = block_info[0]["array-location"][0]
        x = shift_rows(np.asarray(frames, np.float32), phase)
        return warp_frames(x, used[t0:t1], border=border, interpolation=interpolation,
                           my=my, mx=mx)

    name = "amnesia-motion-" + tokenize(movie_d.name, used, border, interpolation, phase)
    return movie_d.map_blocks(block, dtype=np.float32, name=name,
                              meta=np.empty((0, 0, 0), np.float32))
