"""Report pictures of a run (matplotlib, no display needed).

Kept out of :mod:`napari_amnesia.core` (which never imports matplotlib); the
command line calls it after the pipeline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["summary_report"]


def _outline(ax, labels: np.ndarray, color: str = "tab:orange") -> None:
    from skimage.measure import find_contours

    for value in np.unique(labels):
        if value == 0:
            continue
        for contour in find_contours((labels == value).astype(np.float32), 0.5):
            ax.plot(contour[:, 1], contour[:, 0], color=color, lw=0.7)


def summary_report(summary, path, *, truth_labels=None, title: str = "", scores=None) -> Path:
    """Draw mean, max, local-correlation and PNR images side by side to a PNG.

    Parameters
    ----------
    summary : SummaryImages
    path : path
        The PNG to write.
    truth_labels : ndarray of int, optional
        Ground-truth ROIs, outlined on every panel.
    title : str
        Figure title.
    scores : dict, optional
        ``{attr: value}`` shown under each panel (e.g. ROI AUC against ground truth).
    """
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no display needed

    panels = [("mean", "mean"), ("max", "max"), ("corr", "local correlation"), ("pnr", "PNR")]
    fig = Figure(figsize=(4 * len(panels), 4.6), dpi=110)
    axes = fig.subplots(1, len(panels))
    for ax, (attr, label) in zip(axes, panels, strict=True):
        image = np.asarray(getattr(summary, attr), dtype=np.float32)
        finite = image[np.isfinite(image)]
        lo, hi = np.percentile(finite, [0.5, 99.8]) if finite.size else (0, 1)
        cmap = "gray" if attr in {"mean", "max"} else ("viridis" if attr == "corr" else "magma")
        im = ax.imshow(image, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1,
                       interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        if truth_labels is not None:
            _outline(ax, np.asarray(truth_labels))
        text = label
        if scores and attr in scores:
            text += f"\nROI AUC {scores[attr]:.3f}"
        ax.set_title(text, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=11)
    if truth_labels is not None:
        fig.text(0.01, 0.01, "orange: ground-truth ROI outlines", fontsize=8, color="tab:orange")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path
