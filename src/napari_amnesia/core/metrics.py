"""Scores of results against planted ground truth, shared by tests, demo and benchmarks.

Against human labels (neurofinder's format): :func:`regions_to_masks` draws the
regions, :func:`active_regions` says which of them show a clear transient in the
movie, and :func:`score_regions` matches found ROIs to them one to one.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["roi_auc", "match_points", "match_components", "score_in_focus", "majority_labels",
           "regions_to_masks", "region_traces", "transient_scores", "active_regions",
           "score_regions"]


def roi_auc(image: np.ndarray, labels: np.ndarray, *, margin: int = 2) -> float:
    """Score how well an image separates ROI pixels from background pixels.

    The area under the ROC curve of the image's values, ROI pixels (``labels > 0``)
    against background pixels farther than ``margin`` pixels from any ROI: the
    probability that a random ROI pixel is brighter than a random background pixel.
    0.5 is chance, 1.0 perfect separation.

    Parameters
    ----------
    image : ndarray, shape (Y, X)
    labels : ndarray of int, shape (Y, X)
        0 = background.
    margin : int
        Pixels around ROIs left out of the background (soft footprint edges).

    Returns
    -------
    auc : float

    Examples
    --------
    >>> labels = np.zeros((8, 8), int)
    >>> labels[2:4, 2:4] = 1
    >>> roi_auc(labels * 5.0, labels)  # every ROI pixel brighter than the background
    1.0
    """
    from scipy import ndimage

    image = np.asarray(image, dtype=np.float64)
    labels = np.asarray(labels)
    if image.shape != labels.shape:
        raise ValueError(f"image shape {image.shape} differs from labels shape {labels.shape}.")
    inside = labels > 0
    outside = ~ndimage.binary_dilation(inside, iterations=margin) if margin else ~inside
    valid = np.isfinite(image)
    a, b = image[inside & valid], image[outside & valid]
    if a.size == 0 or b.size == 0:
        raise ValueError("roi_auc needs pixels both inside and outside the ROIs.")
    u = stats.mannwhitneyu(a, b, alternative="two-sided").statistic
    return float(u / (a.size * b.size))


def match_points(found, true, *, max_distance: float = 3.0) -> dict:
    """Match found points to true points one to one within ``max_distance`` pixels.

    Optimal assignment (Hungarian) of found to true points on their distances;
    pairs farther than ``max_distance`` do not count.

    Returns
    -------
    dict
        ``matched``, ``precision``, ``recall``, ``f1`` (1.0 when both sets are empty).

    Examples
    --------
    >>> match_points([[0, 0], [5, 5]], [[1, 0], [9, 9]])
    {'matched': 1, 'precision': 0.5, 'recall': 0.5, 'f1': 0.5}
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    found = np.asarray(found, np.float64).reshape(-1, 2)
    true = np.asarray(true, np.float64).reshape(-1, 2)
    if len(found) == 0 or len(true) == 0:
        empty = float(len(found) == len(true))
        return {"matched": 0, "precision": empty, "recall": empty, "f1": empty}
    distance = cdist(found, true)
    rows, cols = linear_sum_assignment(np.where(distance <= max_distance, distance, 1e9))
    matched = int(np.sum(distance[rows, cols] <= max_distance))
    precision = matched / len(found)
    recall = matched / len(true)
    f1 = 2 * precision * recall / (precision + recall) if matched else 0.0
    return {"matched": matched, "precision": precision, "recall": recall, "f1": f1}


def match_components(found_images, true_images, *, threshold: float = 0.2,
                     min_iou: float = 0.3, max_distance: float = 4.0) -> dict:
    """Match found footprints to true footprints one to one (Hungarian on IoU).

    Each footprint is binarised at ``threshold`` times its maximum. A found and a
    true footprint may be paired when their masks overlap with an intersection over
    union of at least ``min_iou``, or their centroids (footprint-weighted) are
    closer than ``max_distance`` pixels; among the allowed pairs, the assignment
    maximises the total IoU (ties broken by distance).

    Parameters
    ----------
    found_images, true_images : array_like, shape (K, Y, X)
        Footprints (any non-negative weights).
    threshold, min_iou, max_distance : float

    Returns
    -------
    dict
        ``pairs`` (``(n, 2)`` int array of (found, true) indices), ``iou`` of each
        pair, ``matched``, ``precision``, ``recall``, ``f1`` (1.0 when both sets
        are empty).

    Examples
    --------
    >>> true = np.zeros((2, 6, 6))
    >>> true[0, 1:3, 1:3] = 1
    >>> true[1, 4:6, 4:6] = 1
    >>> found = true[::-1]  # the same two footprints, in the other order
    >>> scores = match_components(found, true)
    >>> scores["pairs"].tolist(), scores["iou"].tolist(), scores["f1"]
    ([[0, 1], [1, 0]], [1.0, 1.0], 1.0)
    >>> match_components(true[:1], true)["recall"]  # one of the two found
    0.5
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    found = np.asarray(found_images, np.float64)
    true = np.asarray(true_images, np.float64)
    if found.ndim != 3 or true.ndim != 3 or (found.size and true.size
                                               and found.shape[1:] != true.shape[1:]):
        raise ValueError(f"footprints should be (K, Y, X) stacks of one frame shape, got "
                         f"{found.shape} and {true.shape}.")
    nf, nt = len(found), len(true)
    if nf == 0 or nt == 0:
        empty = float(nf == nt)
        return {"pairs": np.zeros((0, 2), int), "iou": np.zeros(0), "matched": 0,
                "precision": empty, "recall": empty, "f1": empty}

    def masks_and_centroids(stack):
        flat = stack.reshape(len(stack), -1)
        peak = flat.max(axis=1, keepdims=True)
        m = (flat >= threshold * peak) & (flat > 0)
        w = np.clip(flat, 0, None)
        total = w.sum(axis=1)
        rows, cols = np.indices(stack.shape[1:]).reshape(2, -1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cen = np.stack([(w * rows).sum(1) / total, (w * cols).sum(1) / total], axis=1)
        return m.astype(np.float64), np.nan_to_num(cen, nan=1e9)

    mf, cf = masks_and_centroids(found)
    mt, ct = masks_and_centroids(true)
    inter = mf @ mt.T
    union = mf.sum(1)[:, None] + mt.sum(1)[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    dist = cdist(cf, ct)
    allowed = (iou >= min_iou) | (dist < max_distance)
    cost = np.where(allowed, -(iou + 1e-3 / (1.0 + dist)), 1e6)
    rows, cols = linear_sum_assignment(cost)
    ok = allowed[rows, cols]
    pairs = np.stack([rows[ok], cols[ok]], axis=1).astype(int)
    matched = int(ok.sum())
    precision, recall = matched / nf, matched / nt
    f1 = 2 * precision * recall / (precision + recall) if matched else 0.0
    return {"pairs": pairs, "iou": iou[rows[ok], cols[ok]], "matched": matched,
            "precision": precision, "recall": recall, "f1": f1}


def score_in_focus(found_images, footprints, out_of_focus, *, found_traces=None,
                   out_of_focus_traces=None, inside: float = 0.5, min_trace_r: float = 0.5,
                   threshold: float = 0.2) -> dict:
    """Score detections against in-focus cells; detections of out-of-focus cells are ignored.

    The one-photon rule (issue 16): found footprints are matched one to one to the
    in-focus cells (:func:`match_components`); a found footprint that matches none
    and is a detection of an out-of-focus cell counts neither for nor against
    (it is left out of precision). It is one when :func:`match_components` pairs
    it with an out-of-focus footprint, or — with the traces given — when at least
    ``inside`` of its weight lies in an out-of-focus cell's mask (above
    ``threshold`` times its maximum), more of it there than in any in-focus
    cell's mask, and its trace follows that cell's (Pearson r >= ``min_trace_r``).
    A blurred cell is several times larger than a soma, so a detection of part of
    it overlaps it too little to be matched one to one; the blurred cells cover
    nearly the whole field, so the trace is what says which cell a detection saw
    (without traces, only one-to-one matches are ignored).

    Parameters
    ----------
    found_images, footprints, out_of_focus : array_like, shape (K, Y, X)
        Found footprints, in-focus and out-of-focus planted footprints.
    found_traces, out_of_focus_traces : array_like, shape (K, T), optional
        Traces of the found components and of the out-of-focus cells.
    inside : float
        Share of a detection's weight inside an out-of-focus cell.
    min_trace_r : float
        Correlation of a detection's trace with that cell's.
    threshold : float
        Masks are the footprints above this share of their maximum.

    Returns
    -------
    dict
        ``pairs``, ``matched``, ``counted`` (found minus ignored), ``precision``,
        ``recall``, ``f1``, ``out_of_focus`` (ignored detections), and
        ``strict_precision`` (only one-to-one matches to out-of-focus cells
        ignored).

    Examples
    --------
    >>> cell = np.zeros((1, 20, 20)); cell[0, 2:6, 2:6] = 1
    >>> blur = np.zeros((1, 20, 20)); blur[0, 8:20, 8:20] = 1
    >>> found = np.concatenate([cell, np.zeros((1, 20, 20))]); found[1, 9:12, 9:12] = 1
    >>> activity = np.array([[0, 1, 0, 2, 0, 1.0]])
    >>> s = score_in_focus(found, cell, blur, found_traces=np.r_[activity, activity],
    ...                    out_of_focus_traces=activity)
    >>> s["matched"], s["out_of_focus"], s["precision"], s["strict_precision"]
    (1, 1, 1.0, 0.5)
    >>> score_in_focus(found, cell, blur, found_traces=np.r_[activity, activity[:, ::-1]],
    ...                out_of_focus_traces=activity)["out_of_focus"]  # another activity
    0
    """
    found = np.asarray(found_images, np.float64)
    true = np.asarray(footprints, np.float64)
    oof = np.asarray(out_of_focus, np.float64)
    m = match_components(found, true, threshold=threshold)
    rest = np.setdiff1d(np.arange(len(found)), m["pairs"][:, 0])
    paired = np.zeros(0, np.int64)
    if len(rest) and len(oof):
        paired = rest[match_components(found[rest], oof, threshold=threshold)["pairs"][:, 0]]
    ignored = set(paired.tolist())
    if len(rest) and len(oof) and found_traces is not None and out_of_focus_traces is not None:
        def masks(images: np.ndarray) -> np.ndarray:
            flat = images.reshape(len(images), -1)
            peak = flat.max(axis=1, keepdims=True)
            return (flat > threshold * np.where(peak > 0, peak, np.inf)).astype(np.float64)

        def centred(x: Any) -> np.ndarray:
            x = np.asarray(x, np.float64)
            x = x - x.mean(axis=1, keepdims=True)
            return x / np.maximum(np.sqrt((x * x).sum(axis=1, keepdims=True)), 1e-300)

        w = np.maximum(found[rest].reshape(len(rest), -1), 0)
        w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
        in_oof = w @ masks(oof).T  # (rest, n_oof)
        in_cell = (w @ masks(true).T).max(axis=1) if len(true) else np.zeros(len(rest))
        r = centred(np.asarray(found_traces)[rest]) @ centred(out_of_focus_traces).T
        seen = (in_oof >= inside) & (in_oof > in_cell[:, None]) & (r >= min_trace_r)
        ignored |= set(rest[seen.any(axis=1)].tolist())
    matched = int(m["matched"])

    def prf(n_ignored: int) -> tuple[float, float, float]:
        counted = len(found) - n_ignored
        p = matched / counted if counted else 1.0
        rc = matched / len(true) if len(true) else 1.0
        return p, rc, (2 * p * rc / (p + rc) if p + rc else 0.0)

    p, rc, f1 = prf(len(ignored))
    return {"pairs": m["pairs"], "matched": matched, "counted": len(found) - len(ignored),
            "precision": p, "recall": rc, "f1": f1, "out_of_focus": len(ignored),
            "strict_precision": prf(len(paired))[0]}


def majority_labels(pixels, label_image) -> tuple[np.ndarray, np.ndarray]:
    """Return the label most of each element's pixels carry, and the fraction that carry it.

    Scores clusters of projected elements (skeleton pixels, branches) against planted
    labels: ``label_image`` holds, for each pixel, a planted label >= 0 or -1 (none).

    Parameters
    ----------
    pixels : sequence of (n_i, 2) int arrays
        Row, column of each element's pixels (``Projection.pixels``).
    label_image : ndarray of int, shape (Y, X)
        -1 where no label applies.

    Returns
    -------
    labels : ndarray of int64, shape (N,)
        The majority label of each element; -1 when none of its pixels has a label.
    purity : ndarray of float64, shape (N,)
        The fraction of the element's pixels with that label (0 when none).

    Examples
    --------
    >>> img = np.array([[0, 0, 1], [-1, 1, 1]])
    >>> majority_labels([np.array([[0, 0], [0, 1], [1, 1]]), np.array([[1, 0]])], img)
    (array([ 0, -1]), array([0.66666667, 0.        ]))
    """
    image = np.asarray(label_image)
    labels = np.full(len(pixels), -1, np.int64)
    purity = np.zeros(len(pixels), np.float64)
    for i, pix in enumerate(pixels):
        pix = np.asarray(pix).reshape(-1, 2)
        if not len(pix):
            continue
        g = image[pix[:, 0], pix[:, 1]]
        g = g[g >= 0]
        if len(g):
            counts = np.bincount(g)
            labels[i] = int(counts.argmax())
            purity[i] = counts.max() / len(pix)
    return labels, purity


def regions_to_masks(regions: Any, shape: tuple[int, int]) -> np.ndarray:
    """Draw regions in neurofinder's format as a boolean mask stack.

    Parameters
    ----------
    regions : list of dict, or str or path-like
        ``[{"coordinates": [[row, column], ...]}, ...]`` (neurofinder's
        ``regions.json``), or the path of such a JSON file.
    shape : tuple of int
        Frame shape ``(Y, X)``. Coordinates outside it are left out.

    Returns
    -------
    masks : ndarray of bool, shape (N, Y, X)
        One mask per region, in the order of ``regions``.

    Raises
    ------
    ValueError
        When a region has no ``"coordinates"`` or they are not (row, column) pairs.

    Examples
    --------
    >>> masks = regions_to_masks([{"coordinates": [[1, 1], [1, 2]]},
    ...                           {"coordinates": [[3, 0], [9, 9]]}], (4, 4))
    >>> masks.shape, masks.sum(axis=(1, 2)).tolist()
    ((2, 4, 4), [2, 1])
    >>> np.argwhere(masks[0]).tolist()
    [[1, 1], [1, 2]]
    """
    if isinstance(regions, (str, os.PathLike)):
        with open(regions, encoding="utf-8") as fh:
            regions = json.load(fh)
    shape = tuple(int(v) for v in shape)
    if len(shape) != 2:
        raise ValueError(f"shape should be (Y, X), got {shape}.")
    masks = np.zeros((len(regions), *shape), bool)
    for i, region in enumerate(regions):
        if not isinstance(region, dict) or "coordinates" not in region:
            raise ValueError(f"region {i} has no 'coordinates' (neurofinder's format: "
                             f"{{'coordinates': [[row, column], ...]}}).")
        coords = np.asarray(region["coordinates"])
        if coords.size == 0:
            continue
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise ValueError(f"region {i}: coordinates should be [[row, column], ...], got "
                             f"an array of shape {coords.shape}.")
        coords = np.round(coords).astype(np.int64)
        inside = ((coords >= 0) & (coords < shape)).all(axis=1)
        masks[i, coords[inside, 0], coords[inside, 1]] = True
    return masks


def region_traces(movie: Any, masks: Any, *, chunk_frames: int | None = None) -> np.ndarray:
    """Return the mean trace of each region, streaming over time chunks.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        numpy or dask array (or anything sliceable along time with a ``shape``);
        only ``movie[t0:t1]`` is read, ``chunk_frames`` frames at a time.
    masks : array_like of bool, shape (N, Y, X)
    chunk_frames : int, optional
        Frames per chunk (default: about 64 MB of float32 frames).

    Returns
    -------
    traces : ndarray of float64, shape (N, T)
        Mean of the movie over each mask's pixels; NaN for an empty mask.

    Examples
    --------
    >>> movie = np.arange(2 * 2 * 3, dtype=float).reshape(2, 2, 3)
    >>> masks = np.zeros((1, 2, 3), bool)
    >>> masks[0, 0, :2] = True
    >>> region_traces(movie, masks)
    array([[0.5, 6.5]])
    """
    from scipy import sparse

    masks = np.asarray(masks, bool)
    n_frames = int(movie.shape[0])
    if masks.ndim != 3 or tuple(masks.shape[1:]) != tuple(movie.shape[1:]):
        raise ValueError(f"masks should be (N, Y, X) with the movie's frame shape "
                         f"{tuple(movie.shape[1:])}, got {masks.shape}.")
    flat = masks.reshape(len(masks), -1)
    size = flat.sum(axis=1)
    weights = sparse.diags(1.0 / np.maximum(size, 1)) @ sparse.csr_matrix(flat, dtype=np.float64)
    n_pixels = flat.shape[1]
    step = int(chunk_frames or max(1, (64 << 20) // (4 * max(n_pixels, 1))))
    traces = np.zeros((len(masks), n_frames))
    for t0 in range(0, n_frames, step):
        block = np.asarray(movie[t0:t0 + step], np.float32).reshape(-1, n_pixels)
        traces[:, t0:t0 + len(block)] = weights @ block.T.astype(np.float64)
    traces[size == 0] = np.nan
    return traces


def transient_scores(traces: Any, *, window: int | None = None) -> np.ndarray:
    """Return the largest transient of each trace in robust noise units.

    The baseline is the median of the trace (``window=None``) or its running
    median over ``window`` frames (for long recordings with bleaching or drift).
    The robust σ is the frame-to-frame noise, which sparse transients and slow
    changes barely touch: ``1.4826 × MAD(diff(F)) / √2`` (for white Gaussian noise,
    its σ; like CaImAn's noise level ``sn``, it leaves slow fluctuations out).
    The score is ``max(F − baseline) / σ``. With ``window=None`` a drift of more
    than a few σ over the recording scores as a transient: give a window much
    longer than a transient (e.g. 30 s of frames) for such recordings.

    Parameters
    ----------
    traces : array_like, shape (N, T) or (T,)
    window : int, optional
        Frames of the running median; None or >= T: the median of the whole trace.

    Returns
    -------
    scores : ndarray of float64, shape (N,) (or a float for one trace)
        NaN for a trace that holds a NaN; 0 for a flat trace.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(size=(2, 500))
    >>> noise[1, 200:210] += 20.0  # a step of 20 sigma, on top of the noise
    >>> transient_scores(noise).round()  # pure noise reaches about 3 sigma in 500 frames
    array([ 3., 22.])
    """
    from scipy import ndimage

    f = np.asarray(traces, np.float64)
    one = f.ndim == 1
    f = np.atleast_2d(f)
    if f.ndim != 2:
        raise ValueError(f"traces should be (N, T), got an array of shape {f.shape}.")
    if window is None or window >= f.shape[1]:
        base = np.median(f, axis=1, keepdims=True)
    else:
        if int(window) < 1:
            raise ValueError(f"window should be a positive number of frames, got {window}.")
        base = ndimage.median_filter(f, size=(1, int(window)), mode="nearest")
    peak = np.max(f - base, axis=1)
    if f.shape[1] > 1:
        d = np.diff(f, axis=1)
        mad = np.median(np.abs(d - np.median(d, axis=1, keepdims=True)), axis=1)
        sigma = 1.4826 * mad / np.sqrt(2.0)
    else:
        sigma = np.zeros(len(f))
    with np.errstate(all="ignore"):
        scores = np.where(sigma > 0, peak / sigma, np.where(peak > 0, np.inf, 0.0))
    scores[~np.isfinite(f).all(axis=1)] = np.nan
    return float(scores[0]) if one else scores


def active_regions(movie: Any, masks: Any, *, threshold: float = 8.0,
                   window: int | None = None, chunk_frames: int | None = None) -> np.ndarray:
    """Say which regions are clearly active in a movie.

    A region is active when its mean trace (:func:`region_traces`, read one time
    chunk at a time: only the ``(N, T)`` traces are ever in memory) shows a
    transient more than ``threshold`` robust σ above its baseline
    (:func:`transient_scores`: baseline = median of the trace, σ = its
    frame-to-frame noise, 1.4826 × MAD of the differences / √2).

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
    masks : array_like of bool, shape (N, Y, X)
        E.g. :func:`regions_to_masks` of human-drawn regions.
    threshold : float
        In robust σ of the trace's baseline noise.
    window : int, optional
        Running-median baseline over this many frames (default: the whole trace).
    chunk_frames : int, optional
        Frames read at a time.

    Returns
    -------
    active : ndarray of bool, shape (N,)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> movie = rng.normal(100, 1, size=(200, 8, 8))
    >>> movie[50:60, :4, :4] += np.linspace(20, 2, 10)[:, None, None]  # a transient
    >>> masks = np.zeros((2, 8, 8), bool)
    >>> masks[0, :4, :4] = masks[1, 4:, 4:] = True
    >>> active_regions(movie, masks).tolist()
    [True, False]
    """
    traces = region_traces(movie, masks, chunk_frames=chunk_frames)
    return np.nan_to_num(transient_scores(traces, window=window), nan=0.0) > threshold


def score_regions(found_masks: Any, true_masks: Any, *, max_distance: float = 4.0,
                  min_iou: float = 0.3, active: Any = None) -> dict:
    """Score found regions against true (e.g. human-drawn) regions, one to one.

    The rule of neurofinder-style benchmarks: a found and a true region may be
    paired when their centroids are less than ``max_distance`` pixels apart or
    their masks overlap with an intersection over union of at least ``min_iou``;
    the Hungarian assignment then pairs them one to one, maximising the total IoU
    (:func:`match_components` on the masks, whose centroids are then the masks'
    centroids).

    Parameters
    ----------
    found_masks, true_masks : array_like of bool, shape (K, Y, X) and (N, Y, X)
        E.g. CNMF footprints thresholded at 0.2 × their maximum, and
        :func:`regions_to_masks` of the labels.
    max_distance, min_iou : float
    active : array_like of bool, shape (N,), optional
        Which true regions count as active (:func:`active_regions`).

    Returns
    -------
    dict
        ``f1``, ``precision``, ``recall``, ``matched``, ``pairs`` (``(n, 2)``
        (found, true) indices), ``iou`` of each pair, ``n_found``, ``n_true``;
        given ``active``: ``n_active``, ``active_found`` (active true regions
        matched) and ``active_recall`` (their fraction; NaN when none is active).

    Examples
    --------
    >>> true = np.zeros((2, 10, 10), bool)
    >>> true[0, 1:4, 1:4] = true[1, 6:9, 6:9] = True
    >>> found = np.zeros((1, 10, 10), bool)
    >>> found[0, 2:5, 2:5] = True  # centroid 1.4 px from the first region's
    >>> s = score_regions(found, true, active=[False, True])
    >>> s["pairs"].tolist(), s["precision"], s["recall"], round(s["f1"], 3)
    ([[0, 0]], 1.0, 0.5, 0.667)
    >>> s["active_found"], s["active_recall"]
    (0, 0.0)
    """
    found = np.asarray(found_masks).astype(bool)
    true = np.asarray(true_masks).astype(bool)
    if found.ndim == 3 and true.ndim == 3 and len(found) == 0:
        found = np.zeros((0, *true.shape[1:]), bool)
    scores = match_components(found.astype(np.float32), true.astype(np.float32),
                              threshold=0.5, min_iou=min_iou, max_distance=max_distance)
    out = {"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
           "matched": scores["matched"], "pairs": scores["pairs"], "iou": scores["iou"],
           "n_found": len(found), "n_true": len(true)}
    if active is not None:
        active = np.asarray(active, bool).ravel()
        if active.shape != (len(true),):
            raise ValueError(f"active should hold one flag per true region ({len(true)}), "
                             f"got {active.shape[0]}.")
        hit = np.zeros(len(true), bool)
        hit[scores["pairs"][:, 1]] = True
        n_active = int(active.sum())
        found_active = int((hit & active).sum())
        out.update(n_active=n_active, active_found=found_active,
                   active_recall=found_active / n_active if n_active else float("nan"))
    return out
