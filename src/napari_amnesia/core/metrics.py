"""Scores of results against planted ground truth, shared by tests, demo and benchmarks."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["roi_auc", "match_points", "match_components", "majority_labels"]


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
