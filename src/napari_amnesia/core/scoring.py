"""What each stage writes into a results folder and says in ``summary.json``.

The registry (:mod:`napari_amnesia.core.stages`) names these functions: a stage's
``write(result, folder, context)`` writes its sub-folder (files beyond
``result.save``: the corrected movie, the exports) and its ``record(result,
context)`` returns its entries of ``summary.json`` — counts, speeds and, when the
input is a simulation (``context.truth``), scores against the planted ground truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .files import jsonable

__all__ = ["shift_rmse", "score_sources", "write_motion", "record_motion", "record_summary",
           "write_cnmf", "record_cnmf", "record_skeleton"]


def _elapsed(result: Any) -> float:
    return float((getattr(result, "provenance", None) or {}).get("elapsed_s", 0.0) or 0.0)


def shift_rmse(estimated: np.ndarray, true: np.ndarray) -> float:
    """RMS error (pixels) of estimated shifts, up to the constant offset of the template.

    The template is not the simulation's reference frame, so estimated and true
    shifts differ by a constant (the template's own displacement); it is removed by
    centring both series before comparing.

    Examples
    --------
    >>> shift_rmse(np.array([[1.0, 0.0], [2.0, 0.0]]), np.array([[0.0, 0.0], [1.0, 0.0]]))
    0.0
    """
    estimated = np.asarray(estimated, np.float64)
    true = np.asarray(true, np.float64)
    error = (estimated - estimated.mean(axis=0)) - (true - true.mean(axis=0))
    return float(np.sqrt(np.mean(np.sum(error**2, axis=-1))))


# ------------------------------------------------------------------------------- motion
def write_motion(result: Any, folder: Path, context: Any):
    """Write shifts, template, metrics and the corrected movie; hand on the corrected movie.

    Later stages read the corrected movie from ``motion/corrected.tif``.
    """
    from .io import open_movie

    yield from result.iter_save(folder, corrected=True)
    context.movie = open_movie(Path(folder) / "corrected.tif")


def record_motion(result: Any, context: Any) -> dict[str, Any]:
    """Speed, largest shift, rejected shifts, crispness; shift error against the truth.

    With a ground truth, the true ROIs (``context.truth_labels``) are moved to the
    motion template, where the corrected movie lies.
    """
    elapsed = _elapsed(result)
    record: dict[str, Any] = {
        "frames_per_s": round(len(result.shifts) / elapsed, 1) if elapsed > 0 else None,
        "max_abs_shift": [round(float(v), 3) for v in np.abs(result.shifts).max(axis=0)],
        "rejected_shifts": len(result.rejected_frames),
        "messages": result.messages,
    }
    metrics = getattr(result, "metrics", {}) or {}
    for key in ("crispness_mean_before", "crispness_mean_after", "crispness_corr_before",
                "crispness_corr_after", "mean_correlation_before", "mean_correlation_after"):
        if key in metrics:
            record[key] = round(float(metrics[key]), 4)
    truth = context.truth
    if truth is not None and getattr(truth, "shifts", None) is not None:
        record["rigid_shift_rmse_px"] = round(shift_rmse(result.shifts, truth.shifts), 4)
        # the corrected movie is aligned to the template, which sits at the mean offset
        # of the true shifts minus the estimated ones: move the true ROIs there too
        offset = np.mean(np.asarray(truth.shifts) - np.asarray(result.shifts), axis=0)
        record["template_offset_px"] = [round(float(v), 3) for v in offset]
        context.results["template_offset"] = offset
        if context.truth_labels is not None:
            from scipy import ndimage

            from .simulate import label_footprints

            footprints = getattr(truth, "footprints", None)
            if footprints is not None and np.array_equal(context.truth_labels,
                                                         truth.labels()):
                # the planted footprints moved by the sub-pixel offset, then labelled
                # as GroundTruth.labels does (a nearest-pixel shift of the label image
                # would misplace every outline by up to half a pixel)
                moved = np.stack([ndimage.shift(f, offset, order=1, mode="constant")
                                  for f in np.asarray(footprints, np.float32)])
                context.truth_labels = label_footprints(moved)
            else:
                context.truth_labels = ndimage.shift(context.truth_labels, offset, order=0,
                                                     mode="constant")
    return record


# ------------------------------------------------------------------------------ summary
def record_summary(result: Any, context: Any) -> dict[str, Any]:
    """Speed; with ground truth, the ROI AUC of each summary image."""
    from .metrics import roi_auc

    elapsed = _elapsed(result)
    n_frames = int(getattr(result, "n_frames", 0) or 0)
    record: dict[str, Any] = {
        "frames_per_s": round(n_frames / elapsed, 1) if elapsed > 0 else None}
    info = getattr(result, "info", None) or {}
    for key in ("corr_pnr_exact", "noise_mean_frame"):  # how the images were made
        if key in info:
            record[key] = info[key]
    labels = context.truth_labels
    if labels is not None and np.asarray(labels).any():
        record["roi_auc"] = {
            attr: round(roi_auc(getattr(result, attr), labels), 4)
            for attr in ("mean", "max", "std", "corr", "pnr", "corr_pnr", "max_corr")
            if getattr(result, attr, None) is not None
        }
    return record


# --------------------------------------------------------------------------------- cnmf
def score_sources(result: Any, truth: Any, offset: Any = (0.0, 0.0)) -> dict:
    """Score the accepted components of a CNMF result against the planted cells.

    Footprints are matched one to one (:func:`~.metrics.match_components`: IoU >= 0.3
    or centroids < 4 px apart); for matched pairs, the Pearson correlation of the
    calcium trace with the true calcium and of the deconvolved activity with the true
    spikes. ``offset`` moves the true footprints first (the motion template's).

    Planted neurites are real sources too, but the somata are what is scored: an
    unmatched component with most of its footprint weight on planted neurite pixels
    is counted in ``neurite_components`` and left out of the precision (neither a
    hit nor a false positive). Likewise, in a one-photon scene, a detection of an
    out-of-focus cell (:func:`~.metrics.score_in_focus`) is counted in
    ``out_of_focus_components``.
    """
    from scipy import ndimage

    from .metrics import match_components, score_in_focus

    def moved(images: Any) -> np.ndarray:
        images = np.asarray(images, np.float32)
        if len(images) and np.any(np.abs(np.asarray(offset, float)) > 1e-3):
            images = np.stack([ndimage.shift(f, offset, order=1, mode="constant")
                               for f in images])
        return images

    true = moved(truth.footprints)
    chosen = np.flatnonzero(result.accepted)
    match = match_components(result.footprint_images(chosen), true)

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        a, b = a - a.mean(), b - b.mean()
        d = np.sqrt((a * a).sum() * (b * b).sum())
        return float((a * b).sum() / d) if d > 0 else float("nan")

    pairs = match["pairs"]
    r_c = [corr(result.traces[chosen[i]], truth.traces[j]) for i, j in pairs]
    r_s = [corr(result.spikes[chosen[i]], truth.spikes[j]) for i, j in pairs]
    n_neurite = 0
    branches = getattr(truth, "branch_footprints", None)
    if branches is not None and len(branches) and len(chosen):
        neurite = np.asarray(branches).max(axis=0)
        if np.any(np.abs(np.asarray(offset, float)) > 1e-3):
            neurite = ndimage.shift(neurite, offset, order=1, mode="constant")
        neurite = (neurite > 0.2 * neurite.max()).ravel()
        unmatched = np.setdiff1d(np.arange(len(chosen)), pairs[:, 0])
        A = result.footprints[:, chosen[unmatched]]
        on = np.asarray(A[neurite].sum(axis=0)).ravel()
        total = np.asarray(A.sum(axis=0)).ravel()
        n_neurite = int(np.count_nonzero(on > 0.5 * np.maximum(total, 1e-30)))
    n_oof = 0
    oof = getattr(truth, "out_of_focus_footprints", None)
    if oof is not None and len(oof) and len(chosen):
        n_oof = score_in_focus(result.footprint_images(chosen), true, moved(oof),
                               found_traces=result.traces[chosen],
                               out_of_focus_traces=truth.out_of_focus_traces)["out_of_focus"]
    matched = int(match["matched"])
    scored = len(chosen) - n_neurite - n_oof
    precision = matched / scored if scored else float(matched == 0)
    recall = match["recall"]
    f1 = 2 * precision * recall / (precision + recall) if matched else 0.0
    return {"n_true": int(len(true)), "n_accepted": int(len(chosen)),
            "neurite_components": n_neurite, "out_of_focus_components": n_oof,
            "matched": matched, "precision": round(precision, 4),
            "recall": round(recall, 4), "f1": round(f1, 4),
            "median_trace_r": round(float(np.nanmedian(r_c)), 4) if r_c else None,
            "median_spike_r": round(float(np.nanmedian(r_s)), 4) if r_s else None}


def write_cnmf(result: Any, folder: Path, context: Any):
    """Write ``cnmf/result/`` (reloadable) and ``cnmf/exports/`` (labels, CSVs, ImageJ)."""
    from .cnmf.export import export

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result.save(folder / "result")
    export(result, folder / "exports")
    return None
    yield  # a generator, like every stage writer


def record_cnmf(result: Any, context: Any) -> dict[str, Any]:
    """Components found and accepted, timings; F1 and trace correlations against the truth."""
    record: dict[str, Any] = {
        "n_components": int(result.K),
        "n_accepted": int(np.count_nonzero(result.accepted)),
        "timings": jsonable(result.info.get("timings", {})),
    }
    truth = context.truth
    if truth is not None and getattr(truth, "footprints", None) is not None:
        offset = context.results.get("template_offset", (0.0, 0.0))
        record["truth"] = score_sources(result, truth, offset)
    return record


# ----------------------------------------------------------------------------- skeleton
def record_skeleton(result: Any, context: Any) -> dict[str, Any]:
    """Totals of the skeleton; with planted neurites, their length and the junction F1."""
    from .metrics import match_points

    record: dict[str, Any] = {"totals": jsonable(result.totals)}
    truth = context.truth
    graph = getattr(truth, "branch_graph", None) if truth is not None else None
    if graph is not None and len(getattr(truth, "branch_paths", [])):
        # planted neurites, moved like the true ROIs to the motion template if any
        offset = np.asarray(context.results.get("template_offset", (0.0, 0.0)))
        true_length = float(sum(
            np.sum(np.hypot(*np.diff(np.asarray(p, float), axis=0).T))
            for p in truth.branch_paths))
        junctions = np.asarray(graph.get("junctions", np.zeros((0, 2))), float).reshape(-1, 2)
        match = match_points(result.junctions, junctions + offset, max_distance=3.0)
        record["truth"] = {
            "n_segments": int(graph.get("n_segments", len(truth.branch_paths))),
            "n_junctions": int(len(junctions)),
            "neurite_length": round(true_length, 1),
            "junction_f1": round(match["f1"], 3),
            "note": "the simulated somata are part of the image's skeleton too; the planted "
                    "graph covers the neurites only",
        }
    return record
