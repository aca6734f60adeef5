"""Scores of results against planted ground truth, shared by tests, demo and benchmarks."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["roi_auc", "match_points"]


def roi_auc(image: np.ndarray, labels: np.ndarray, *, margin: int = 2) -> float:
    """How well an image separates ROI pixels from background pixels.

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
