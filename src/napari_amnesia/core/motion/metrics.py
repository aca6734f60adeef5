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

from typing import Any

import numpy as np

from .._progress import Progress, ProgressGenerator
from ..summary import iter_local_correlations

__all__ = ["crispness", "frame_correlations", "iter_motion_metrics"]


def crispness(image: np.ndarray, border: tuple[int, int] = (0, 0)) -> float:
    """Frobenius norm of the image gradient over the interior (NaNs ignored)."""
    img = np.asarray(image, np.float64)
    by, bx = border
    img = img[by : img.shape[0] - by or None, bx : img.shape[1] - bx or None]
    gy, gx = np.gradient(img)
    return float(np.sqrt(np.nansum(gy**2 + gx**2)))


def frame_correlations(frames: np.ndarray, template: np.ndarray,
                       border: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Pearson correlation of each frame with the template over the interior."""
    by, bx = border
    sl = (slice(by, template.shape[0] - by or None), slice(bx, template.shape[1] - bx or None))
    t = np.asarray(template, np.float64)[sl].ravel()
    t = t - t.mean()
    tn = np.linalg.norm(t)
    f = np.asarray(frames, np.float32)[(slice(None),) + sl].reshape(len(frames), -1)
    f = f - f.mean(axis=1, keepdims=True)
    fn = np.linalg.norm(f, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (f @ t.astype(np.float32)) / (fn * tn)
    return np.where(np.isfinite(r), r, 0.0).astype(np.float32)


def iter_motion_metrics(
    raw: Any,
    corrected: Any,
    template: np.ndarray,
    *,
    border: tuple[int, int],
    before: dict[str, Any] | None = None,
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

    Returns
    -------
    dict
        ``correlation_before/after`` (T,), ``mean/max/corr_before/after`` images,
        ``crispness_mean_before/after``, ``crispness_corr_before/after`` and the mean
        correlations.
    """
    T = int(corrected.shape[0])
    chunks = corrected.chunks[0]
    corr_after = np.empty(T, np.float32)
    total = np.zeros(corrected.shape[1:], np.float64)
    vmax = np.full(corrected.shape[1:], -np.inf, np.float32)
    n_steps = len(chunks) * (1 if before else 2) + 2
    step = 0
    t0 = 0
    for c in chunks:
        block = np.asarray(corrected[t0 : t0 + c].compute(), np.float32)
        corr_after[t0 : t0 + c] = frame_correlations(block, template, border)
        total += block.sum(axis=0, dtype=np.float64)
        np.maximum(vmax, block.max(axis=0), out=vmax)
        t0 += c
        step += 1
        yield Progress(step, n_steps, "motion metrics")
    if before is None:
        before = {"correlation_before": np.empty(T, np.float32)}
        btotal = np.zeros(corrected.shape[1:], np.float64)
        bmax = np.full(corrected.shape[1:], -np.inf, np.float32)
        t0 = 0
        for c in chunks:
            block = np.asarray(raw[t0 : t0 + c].compute(), np.float32)
            before["correlation_before"][t0 : t0 + c] = frame_correlations(block, template, border)
            btotal += block.sum(axis=0, dtype=np.float64)
            np.maximum(bmax, block.max(axis=0), out=bmax)
            t0 += c
            step += 1
            yield Progress(step, n_steps, "motion metrics")
        before["mean_before"] = (btotal / T).astype(np.float32)
        before["max_before"] = bmax
    out: dict[str, Any] = dict(before)
    out["correlation_after"] = corr_after
    out["mean_after"] = (total / T).astype(np.float32)
    out["max_after"] = vmax
    if T >= 2:
        out["corr_before"] = yield from _quiet(iter_local_correlations(raw))
        step += 1
        yield Progress(step, n_steps, "motion metrics")
        out["corr_after"] = yield from _quiet(iter_local_correlations(corrected))
    else:
        out["corr_before"] = np.zeros(corrected.shape[1:], np.float32)
        out["corr_after"] = np.zeros(corrected.shape[1:], np.float32)
    step += 1
    yield Progress(step, n_steps, "motion metrics")
    for when in ("before", "after"):
        out[f"crispness_mean_{when}"] = crispness(out[f"mean_{when}"], border)
        out[f"crispness_corr_{when}"] = crispness(out[f"corr_{when}"], border)
        out[f"mean_correlation_{when}"] = float(np.mean(out[f"correlation_{when}"]))
    return out


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
