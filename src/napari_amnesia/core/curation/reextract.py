"""Re-extraction of the traces of edited ROIs: one component per label value."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import sparse

from ..progress import Progress, ProgressGenerator, drive
from .edits import _check_labels, _values, changed_labels
from .table import _as_table, table_from_labels

__all__ = ["curated_result", "iter_reextract", "reextract"]

logger = logging.getLogger(__name__)


def curated_result(result: Any, table: Any, *, labels: Any = None) -> Any:
    """Return the result's components of the table's ROIs, with the table's decisions.

    Gives what to export (:func:`~.cnmf.export.export`): the components in table
    order, ``accepted`` = the table's. A deleted ROI is left out.

    Raises
    ------
    ValueError
        If a ROI of the table has no component in ``result`` or is ``stale`` (edited
        since the extraction): re-extract first.
    """
    t = _as_table(table)
    if labels is not None:
        t = table_from_labels(labels, t)
    comp = {int(v): k for k, v in enumerate(np.asarray(result.label_values))}
    missing = [int(v) for v, s in zip(t["index"], t["stale"], strict=True)
               if s or int(v) not in comp]
    if missing:
        raise ValueError(f"ROI(s) {missing[:10]}{'...' if len(missing) > 10 else ''} were "
                         "edited or added since the extraction; re-extract first.")
    picked = result.select([comp[int(v)] for v in t["index"]])
    return replace(picked, accepted=t["accepted"].copy())


# --------------------------------------------------------------------------- re-extract
def _seed_stack(labels: np.ndarray, values: np.ndarray, result: Any, reference: Any
                ) -> tuple[np.ndarray, list[int]]:
    """Seeds ``(K, Y, X)``: previous footprints for unchanged ROIs, masks for the others."""
    seeds = np.stack([(labels == v) for v in values]).astype(np.float32)
    reused: list[int] = []
    if result is None:
        return seeds, reused
    if reference is None:
        reference = result.labels(0.2, accepted_only=False)
    changed = set(changed_labels(labels, reference).tolist())
    comp = {int(v): k for k, v in enumerate(np.asarray(result.label_values))}
    for j, v in enumerate(values.tolist()):
        k = comp.get(v)
        if k is None or v in changed:
            continue
        image = result.footprint_images([k])[0]
        top = float(image.max())
        if top > 0:
            seeds[j] = np.maximum(image / top, 0)
            reused.append(v)
    return seeds, reused


def iter_reextract(
    movie: Any,
    labels: Any,
    *,
    result: Any = None,
    reference: Any = None,
    update_footprints: bool = False,
    params: Any = None,
    **overrides: Any,
) -> ProgressGenerator[Any]:
    """Yield the progress of :func:`reextract` (its generator twin); return the result."""
    from ..cnmf import CNMFParams, compute_dff, evaluate, iter_fit
    from ..cnmf.patches import iter_fit_components
    from ..cnmf.result import SourceResult
    from ..cnmf.updates import Frames, normalize_components

    t_start = time.perf_counter()
    labels = _check_labels(labels)
    if getattr(movie, "ndim", None) != 3 or tuple(movie.shape[1:]) != labels.shape:
        raise ValueError(f"the movie should be (T, {labels.shape[0]}, {labels.shape[1]}) "
                         f"like the ROIs, got shape {getattr(movie, 'shape', None)}.")
    values = _values(labels)
    if values.size == 0:
        raise ValueError("there is no ROI to extract (the label image is empty).")
    base = params if params is not None else (None if result is None else result.params)
    params = CNMFParams.resolve(base, overrides)
    seeds, reused = _seed_stack(labels, values, result, reference)
    seeded = yield from iter_fit(
        movie, params if update_footprints else params.replace(compute_dff=False),
        seeds=seeds)
    info = dict(seeded.info)
    info.update(reextracted=True, update_footprints=bool(update_footprints),
                reused_footprints=reused)
    if update_footprints:
        new = replace(seeded, label_values=values, info=info)
    else:
        # footprints fixed to the seeds; the background of the seeded fit; traces again
        A0 = sparse.csc_matrix(seeds.reshape(len(seeds), -1).T)
        A0, C0 = normalize_components(A0, np.zeros((len(values), seeded.n_frames)))
        mean = None if seeded.mean_image is None else seeded.mean_image.ravel()
        frames = Frames(movie, chunk_frames=params.chunk_frames, fill=mean)
        out = yield from iter_fit_components(
            frames, A0, seeded.traces, seeded.background_footprints,
            seeded.background_traces, seeded.sn.ravel(), params, rounds=0, merge=False,
            first_temporal=True, fallback=A0, label="fixed footprints: ")
        new = SourceResult(
            footprints=out["A"], traces=out["C"], spikes=out["S"],
            residual_traces=out["YrA"], background_footprints=out["b"],
            background_traces=out["f"], baseline=out["baseline"], g=out["g"],
            lam=out["lam"], sn=seeded.sn, shape=seeded.shape, params=params,
            label_values=values, mean_image=seeded.mean_image, info=info)
        if params.evaluate and seeded.evaluated:
            # event SNR of the new traces; the spatial correlation of the footprint
            # refined inside each ROI (that of a flat mask is undefined)
            from ..cnmf.evaluation import event_snr

            yield Progress(0, 1, "evaluating components")
            snr = event_snr(new.raw_traces, n_events=params.event_frames)
            snr = np.asarray(snr[0] if isinstance(snr, tuple) else snr, np.float64)
            new = evaluate(replace(new, snr=snr, r_values=seeded.r_values))
            yield Progress(1, 1, "evaluating components")
        if params.compute_dff:
            new.dff = compute_dff(new)
    new.info.setdefault("timings", {})["reextract"] = time.perf_counter() - t_start
    logger.info("re-extracted %d ROIs (%d with their previous footprint) in %.1f s",
                len(values), len(reused), time.perf_counter() - t_start)
    return new


def reextract(
    movie: Any,
    labels: Any,
    *,
    result: Any = None,
    reference: Any = None,
    update_footprints: bool = False,
    params: Any = None,
    progress: Any = None,
    **overrides: Any,
) -> Any:
    """Extract the traces of edited ROIs again: one component per label.

    Component ``k`` of the returned result is the ``k``-th smallest label of
    ``labels`` (``result.label_values`` holds the labels), so every ROI keeps its
    identity. ROIs unchanged since ``result`` (same pixels as in ``reference``) start
    from their previous footprint; edited and new ROIs from their mask.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        The movie the ROIs were drawn on (numpy or dask).
    labels : array_like of int, shape (Y, X)
        The curated ROIs.
    result : SourceResult, optional
        The previous extraction (its parameters are the defaults; its footprints
        seed the unchanged ROIs). It is not modified.
    reference : array_like, optional
        The label image ``result`` was shown as (default: ``result.labels(0.2,
        accepted_only=False)``, as the *Source extraction* dock draws it).
    update_footprints : bool
        False (default): the footprints stay the seeds (masks or previous
        footprints) and only the traces, spikes, background and metrics are fitted
        again. True: a seeded CNMF also refines each footprint inside its seed.
    params : CNMFParams or dict, optional
        Parameters (default: the result's, else the defaults).
    progress : callable, optional
    **overrides
        Parameters by name (``p=2, min_SNR=3``).

    Returns
    -------
    SourceResult
        Evaluated (with the parameters' thresholds) and with ΔF/F when the
        parameters say so. With fixed footprints, ``snr`` is that of the new
        traces and ``r_values`` that of the footprints a seeded fit refines inside
        each ROI (the spatial correlation of a flat mask is undefined).
    """
    return drive(iter_reextract(movie, labels, result=result, reference=reference,
                                update_footprints=update_footprints, params=params,
                                **overrides), progress)
