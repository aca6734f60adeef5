"""Quality metrics of motion correction (what users compare, as in CaImAn's demo).

* per-frame Pearson correlation with the template, before and after correction, over
  the frame interior (a ``max_shifts`` border excluded);
* crispness (Pnevmatikakis & Giovannucci 2017 [1]_): the Frobenius norm of the
  gradient of the mean image and of the local-correlation image, on the interior —
  sharper images after a good correction give larger values;
* before/after mean, max and local-correlation images (:mod:`..summary`).

References
----------
.. [1] Pnevmatikakis, E. A. & Giovannucci, A. (2017). NoRMCorre. J. Neurosci.
   Methods 291, 83-94 (section 3.3, "crispness").
"""

from __future__ import annotations

import os
from typing import Any

import numba
import numpy as np

from ..progress import Progress, ProgressGenerator
from ..summary import iter_local_correlations

__all__ = ["crispness", "frame_correlations", "iter_motion_metrics"]


def crispness(image: np.ndarray, border: tuple[int, int] = (0, 0)) -> float:
    """Frobenius norm of the image gradient over the interior (NaNs ignored)."""
    img = np.asarray(image, np.float64)
    by, bx = border
    img = img[by : img.shape[0] - by or None, bx : img.shape[1] - bx or None]
    gy, gx = np.gradient(img)
    return float(np.sqrt(np.nansum(gy**2 + gx**2)))


@numba.njit(cache=True, nogil=True)
def _frame_stats(frames, tc, by, bx, total, vmax, out):  # pragma: no cover - compiled
    """Correlate the frames with ``tc`` over the interior, and add to the sum and maximum.

    One pass over the frames: the running sum and maximum images are updated too
    (NaNs are left to the caller).
    """
    n, Y, X = frames.shape
    count = (Y - 2 * by) * (X - 2 * bx)
    for k in range(n):
        s1 = 0.0
        s2 = 0.0
        st = 0.0
        for y in range(Y):
            inside = by <= y < Y - by
            for x in range(X):
                v = frames[k, y, x]
                total[y, x] += v
                if v > vmax[y, x]:
                    vmax[y, x] = v
            if inside:
                for x in range(bx, X - bx):
                    v = np.float64(frames[k, y, x])
                    s1 += v
                    s2 += v * v
                    st += v * tc[y, x]
        var = s2 - s1 * s1 / count
        out[k] = st / np.sqrt(var) if var > 0 else np.nan


def _centred_template(template: np.ndarray, border: tuple[int, int]) -> tuple[np.ndarray, float]:
    by, bx = border
    t = np.asarray(template, np.float64)
    inner = t[by : t.shape[0] - by or None, bx : t.shape[1] - bx or None]
    tc = t - inner.mean()
    return tc, float(np.sqrt(np.sum((inner - inner.mean()) ** 2)))


def frame_statistics(frames: np.ndarray, template: np.ndarray, border: tuple[int, int],
                     total: np.ndarray, vmax: np.ndarray) -> np.ndarray:
    """Return :func:`frame_correlations` and update the sum and maximum images.

    ``total += frames.sum(0)``, ``vmax = max(...)``, in the same pass (float32 frames
    without NaN).
    """
    tc, tn = _centred_template(template, border)
    out = np.empty(len(frames), np.float64)
    by, bx = (min(int(b), (s - 1) // 2) for b, s in zip(border, template.shape, strict=True))
    _frame_stats(np.ascontiguousarray(frames, np.float32), tc, by, bx, total, vmax, out)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = out / tn
    return np.where(np.isfinite(r), r, 0.0).astype(np.float32)


def frame_correlations(frames: np.ndarray, template: np.ndarray,
                       border: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Pearson correlation of each frame with the template over the interior.

    The interior excludes ``border`` rows and columns on each side; a frame with
    NaNs or no variance gets 0.
    """
    frames = np.asarray(frames, np.float32)
    total = np.zeros(frames.shape[1:], np.float64)
    vmax = np.full(frames.shape[1:], -np.inf, np.float32)
    return frame_statistics(frames, template, border, total, vmax)


def iter_motion_metrics(
    raw: Any,
    corrected: Any,
    template: np.ndarray,
    *,
    border: tuple[int, int],
    before: dict[str, Any] | None = None,
    nonfinite: bool = False,
) -> ProgressGenerator[dict[str, Any]]:
    """Compute the metrics of a correction by streaming over the corrected movie.

    Parameters
    ----------
    raw : dask.array.Array, shape (T, Y, X)
        The movie as corrected (scan phase undone), for the "before" images.
    corrected : dask.array.Array
        The lazily corrected movie, border mode "copy" (no NaNs).
    template : ndarray, shape (Y, X)
    border : (int, int)
        Interior margin for correlations and crispness.
    before : dict, optional
        ``correlation_before``, ``mean_before``, ``max_before`` already accumulated
        during estimation (saves a pass).
    nonfinite : bool
        The movie has NaN/inf pixels: means and maxima skip them, and the
        local-correlation images are computed with them replaced by the frame mean.

    Returns
    -------
    dict
        ``correlation_before/after`` (T,), ``mean/max/corr_before/after`` images,
        ``crispness_mean_before/after``, ``crispness_corr_before/after`` and the mean
        correlations.
    """
    T = int(corrected.shape[0])
    # a few chunks per step, computed in parallel by dask's scheduler
    step_frames = max(1, int(corrected.chunks[0][0]) * max(1, os.cpu_count() or 1))
    spans = [(a, min(T, a + step_frames)) for a in range(0, T, step_frames)]
    corr_after = np.empty(T, np.float32)
    after = _Accumulator(corrected.shape[1:])
    n_steps = len(spans) * (1 if before else 2) + 2
    step = 0
    for a, b in spans:
        block = np.asarray(corrected[a:b].compute(), np.float32)
        if np.isfinite(block.sum(dtype=np.float64)):
            corr_after[a:b] = frame_statistics(block, template, border, after.total, after.vmax)
            after.n += len(block)
            if after.count is not None:
                after.count += len(block)
        else:
            corr_after[a:b] = frame_correlations(block, template, border)
            after.add(block)
        del block
        step += 1
        yield Progress(step, n_steps, "motion metrics")
    if before is None:
        before = {"correlation_before": np.empty(T, np.float32)}
        acc = _Accumulator(corrected.shape[1:])
        for a, b in spans:
            block = np.asarray(raw[a:b].compute(), np.float32)
            before["correlation_before"][a:b] = frame_correlations(block, template, border)
            acc.add(block)
            del block
            step += 1
            yield Progress(step, n_steps, "motion metrics")
        before["mean_before"], before["max_before"] = acc.result()
    out: dict[str, Any] = dict(before)
    out["correlation_after"] = corr_after
    out["mean_after"], out["max_after"] = after.result()
    if nonfinite:
        from .template import fill_nonfinite

        def fill(block: np.ndarray) -> np.ndarray:
            return fill_nonfinite(np.array(block, np.float32))[0]

        raw = raw.map_blocks(fill, dtype=np.float32)
        corrected = corrected.map_blocks(fill, dtype=np.float32)
    if T >= 2:
        # our chunk size, not the summary's default (256 MB, double-buffered): memory
        # stays a few chunks
        chunk = int(corrected.chunks[0][0])
        out["corr_before"] = yield from _quiet(iter_local_correlations(raw, chunk_frames=chunk))
        step += 1
        yield Progress(step, n_steps, "motion metrics")
        out["corr_after"] = yield from _quiet(
            iter_local_correlations(corrected, chunk_frames=chunk))
    else:
        out["corr_before"] = np.zeros(corrected.shape[1:], np.float32)
        out["corr_after"] = np.zeros(corrected.shape[1:], np.float32)
    step += 1
    yield Progress(step, n_steps, "motion metrics")
    for when in ("before", "after"):
        out[f"crispness_mean_{when}"] = crispness(out[f"mean_{when}"], border)
        out[f"crispness_corr_{when}"] = crispness(out[f"corr_{when}"], border)
        series = np.asarray(out[f"correlation_{when}"], np.float64)
        out[f"mean_correlation_{when}"] = (float(np.nanmean(series))
                                           if np.isfinite(series).any() else float("nan"))
    return out


class _Accumulator:
    """Streaming mean and max over frames, NaN-aware (NaN pixels are skipped)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.total = np.zeros(shape, np.float64)
        self.vmax = np.full(shape, -np.inf, np.float32)
        self.n = 0
        self.count: np.ndarray | None = None

    def add(self, block: np.ndarray) -> None:
        if np.isfinite(block.sum(dtype=np.float64)):
            self.total += block.sum(axis=0, dtype=np.float64)
            np.maximum(self.vmax, block.max(axis=0), out=self.vmax)
            if self.count is not None:
                self.count += len(block)
        else:
            finite = np.isfinite(block)
            if self.count is None:
                self.count = np.full(self.total.shape, self.n, np.int64)
            self.count += finite.sum(axis=0)
            self.total += np.where(finite, block, 0).sum(axis=0, dtype=np.float64)
            np.fmax(self.vmax, np.where(finite, block, -np.inf).max(axis=0), out=self.vmax)
        self.n += len(block)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.total / (self.n if self.count is None else self.count)
        vmax = np.where(np.isfinite(self.vmax), self.vmax, np.nan)
        return mean.astype(np.float32), vmax.astype(np.float32)


def _quiet(gen):
    """Run a sub-generator, dropping its progress (its totals differ from ours)."""
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value
    finally:
        gen.close()
    yield  # pragma: no cover - makes this a generator
