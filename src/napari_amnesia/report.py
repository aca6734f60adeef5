"""Report pictures of a run (matplotlib, no display needed).

Kept out of :mod:`napari_amnesia.core` (which never imports matplotlib); the
command line calls it after the pipeline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["summary_report", "motion_report", "motion_figure", "skeleton_report", "cnmf_report",
           "cnmf_figure", "batch_figure", "batch_report"]


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


def motion_figure(result, *, truth_shifts=None, title: str = ""):
    """Return the motion report as a matplotlib Figure (see :func:`motion_report`).

    The right-hand panels show the **mean image** before and after correction with
    its crispness (Pnevmatikakis & Giovannucci 2017: the Frobenius norm of the
    gradient of the mean image). Motion blurs the mean image, so a correct
    correction raises it. The local-correlation image is not used for this: motion
    makes neighbouring pixels fluctuate together along every edge, which adds
    gradient to the correlation image, so its crispness *falls* when motion is
    removed and would read "worse" after a good correction.
    """
    from matplotlib.figure import Figure

    shifts = np.asarray(result.shifts, dtype=np.float64)
    metrics = getattr(result, "metrics", {}) or {}
    fig = Figure(figsize=(15, 4.4), dpi=110)
    grid = fig.add_gridspec(2, 4)
    ax = fig.add_subplot(grid[0, :2])
    frames = np.arange(len(shifts))
    for axis, (name, color) in enumerate((("dy", "tab:blue"), ("dx", "tab:orange"))):
        ax.plot(frames, shifts[:, axis], color=color, lw=0.8, label=f"{name} estimated")
        if truth_shifts is not None:
            true = np.asarray(truth_shifts, np.float64)[:, axis]
            ax.plot(frames, true - true.mean() + shifts[:, axis].mean(), color=color,
                    lw=0.8, ls="--", alpha=0.8, label=f"{name} true")
    ax.set_ylabel("shift (px)")
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    ax.set_title("rigid shifts (displacement of the content)", fontsize=10)
    ax2 = fig.add_subplot(grid[1, :2], sharex=ax)
    for when, color in (("before", "tab:gray"), ("after", "tab:green")):
        series = metrics.get(f"correlation_{when}")
        if series is not None:
            mean = metrics.get(f"mean_correlation_{when}")
            label = when if mean is None else f"{when} (mean {float(mean):.3f})"
            ax2.plot(frames, series, color=color, lw=0.8, label=label)
    ax2.set_xlabel("frame")
    ax2.set_ylabel("corr. with template")
    ax2.legend(fontsize=7, loc="lower right")
    images = [metrics.get(f"mean_{when}") for when in ("before", "after")]
    shown = [np.asarray(i, np.float32) for i in images if i is not None]
    lo, hi = (np.nanpercentile(np.concatenate([i.ravel() for i in shown]), [0.5, 99.8])
              if shown else (0.0, 1.0))
    for column, when, image in ((2, "before", images[0]), (3, "after", images[1])):
        if image is None:
            continue
        axi = fig.add_subplot(grid[:, column])
        axi.imshow(np.asarray(image), cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1,
                   interpolation="nearest")
        crisp = metrics.get(f"crispness_mean_{when}")
        text = f"mean image {when}"
        if crisp is not None:
            text += f"\ncrispness {float(crisp):.4g} (higher = sharper)"
        axi.set_title(text, fontsize=10)
        axi.set_xticks([])
        axi.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def motion_report(result, path, *, truth_shifts=None, title: str = "") -> Path:
    """Draw the shifts over time and the mean images before/after correction to a PNG.

    Parameters
    ----------
    result : MotionResult
    path : path
        The PNG to write.
    truth_shifts : ndarray (T, 2), optional
        Known shifts (simulated data), drawn dashed, aligned on the estimate's mean
        (the template is not the simulation's reference frame).
    title : str
    """
    fig = motion_figure(result, truth_shifts=truth_shifts, title=title)
    path = Path(path)
    fig.savefig(path)
    return path


def skeleton_report(result, path, *, title: str = "", truth: dict | None = None) -> Path:
    """Draw the equalized summary, the binary structure and the skeleton by branch.

    Parameters
    ----------
    result : SkeletonResult
    path : path
        The PNG to write.
    title : str
    truth : dict, optional
        The planted graph's figures (``n_segments``, ``neurite_length``,
        ``junction_f1``) shown under the skeleton panel.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    inter = getattr(result, "intermediates", {}) or {}
    base = inter.get("equalized", inter.get("summary"))
    fig = Figure(figsize=(13, 4.6), dpi=110)
    axes = fig.subplots(1, 3)
    panels = [(base, "equalized summary image", "gray"),
              (result.mask, "binary structure (active pixels)", "gray")]
    for ax, (image, label, cmap) in zip(axes[:2], panels, strict=True):
        if image is not None:
            ax.imshow(np.asarray(image), cmap=cmap, interpolation="nearest")
        ax.set_title(label, fontsize=10)
    ax = axes[2]
    if base is not None:
        ax.imshow(np.asarray(base), cmap="gray", alpha=0.5, interpolation="nearest")
    labels = np.asarray(result.branch_labels)
    if labels.any():
        rng = np.random.default_rng(0)
        colors = np.vstack([[0, 0, 0, 0], np.c_[rng.uniform(0.2, 1, (labels.max(), 3)),
                                                np.ones(labels.max())]])
        ax.imshow(labels, cmap=ListedColormap(colors), vmin=0, vmax=labels.max(),
                  interpolation="nearest")
    junctions = np.asarray(result.junctions).reshape(-1, 2)
    if len(junctions):
        ax.plot(junctions[:, 1], junctions[:, 0], "o", ms=4, mfc="none", mec="red")
    totals = result.totals
    text = (f"skeleton: {totals.get('n_branches', 0)} branches, "
            f"{totals.get('n_junctions', 0)} junctions (red)\n"
            f"total length {totals.get('total_length', 0):.0f} px")
    if truth:
        text += (f"\nplanted neurites: {truth.get('n_segments')} branches, "
                 f"{truth.get('neurite_length', 0):.0f} px, junction F1 "
                 f"{truth.get('junction_f1', float('nan')):.2f}")
    ax.set_title(text, fontsize=9)
    for a in axes:
        a.set_xticks([])
        a.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path


def cnmf_report(result, path, *, image=None, truth_labels=None, title: str = "",
                scores: dict | None = None, n_traces: int = 6) -> Path:
    """Draw the ROI outlines over a summary image and a few traces to a PNG.

    See :func:`cnmf_figure` for the parameters.
    """
    fig = cnmf_figure(result, image=image, truth_labels=truth_labels, title=title,
                      scores=scores, n_traces=n_traces)
    path = Path(path)
    fig.savefig(path)
    return path


def cnmf_figure(result, *, image=None, truth_labels=None, title: str = "",
                scores: dict | None = None, n_traces: int = 6):
    """Return the CNMF report as a matplotlib Figure: outlines, and traces with their spikes.

    Each trace row has its spikes below it as upward bars (height proportional to
    the inferred spike amplitude, normalized per ROI).

    Parameters
    ----------
    result : SourceResult
    image : ndarray (Y, X), optional
        Background of the outlines (e.g. the local-correlation image); default the
        result's mean image.
    truth_labels : ndarray of int, optional
        Ground-truth ROIs, outlined in white dashes.
    scores : dict, optional
        Figures against the ground truth (``f1``, ``median_trace_r``...) for the title.
    n_traces : int
        Accepted components with the highest SNR whose raw trace, calcium and spikes
        are drawn.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 5.2), dpi=110)
    grid = fig.add_gridspec(1, 2, width_ratios=[1, 1.5])
    ax = fig.add_subplot(grid[0])
    background = image if image is not None else result.mean_image
    if background is not None:
        background = np.asarray(background, np.float32)
        lo, hi = np.nanpercentile(background, [0.5, 99.8])
        ax.imshow(background, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1,
                  interpolation="nearest")
    accepted = np.asarray(result.accepted, bool)
    outlines = result.contours(accepted_only=False)
    for k, outline in enumerate(outlines):
        if len(outline):
            ax.plot(outline[:, 1], outline[:, 0], lw=0.8,
                    color="tab:orange" if accepted[k] else "tab:blue",
                    alpha=1.0 if accepted[k] else 0.6)
    if truth_labels is not None:
        from skimage.measure import find_contours

        for value in np.unique(truth_labels):
            if value:
                for c in find_contours((np.asarray(truth_labels) == value).astype(float), 0.5):
                    ax.plot(c[:, 1], c[:, 0], color="white", lw=0.5, ls="--")
    ax.set_xlim(-0.5, result.shape[1] - 0.5)
    ax.set_ylim(result.shape[0] - 0.5, -0.5)
    text = (f"{int(accepted.sum())} accepted (orange), {int((~accepted).sum())} rejected "
            f"(blue)")
    if truth_labels is not None:
        text += "\nwhite dashes: planted cells"
    if scores:
        text += (f"\nF1 {scores.get('f1', float('nan')):.3f}, median trace r "
                 f"{scores.get('median_trace_r') or float('nan'):.3f}, spike r "
                 f"{scores.get('median_spike_r') or float('nan'):.3f}")
    ax.set_title(text, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    tx = fig.add_subplot(grid[1])
    chosen = np.flatnonzero(accepted)
    if result.snr is not None and len(chosen):
        chosen = chosen[np.argsort(-np.asarray(result.snr)[chosen])]
    chosen = chosen[:n_traces]
    offset = 0.0
    spike_band = 0.25  # height of the spike bars, below each trace
    for k in chosen:
        raw = result.raw_traces[k]
        scale = float(np.ptp(raw)) or 1.0
        top = offset + spike_band + 0.05
        tx.plot((raw - raw.min()) / scale + top, color="0.6", lw=0.6)
        tx.plot((result.traces[k] - raw.min()) / scale + top, color="tab:orange", lw=0.9)
        s = np.asarray(result.spikes[k], np.float64)
        if s.max() > 0:
            at = np.flatnonzero(s > 0)
            tx.vlines(at, offset, offset + spike_band * s[at] / s.max(), color="tab:green",
                      lw=0.8)
        tx.text(0, top + 0.7, f"ROI {int(result.label_values[k])}", fontsize=7)
        offset = top + 1.15
    tx.set_yticks([])
    tx.set_xlabel("frame")
    tx.set_title("raw (grey), calcium C (orange), spikes S (green bars below) — "
                 "highest-SNR ROIs", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def batch_figure(rows, cells=(), totals=(), *, title: str = ""):
    """Return a figure of a batch: counts and rates per recording, side by side.

    Parameters
    ----------
    rows : list of dict
        ``batch.csv``'s rows (:class:`~napari_amnesia.core.batch.BatchResult`).
    cells : list of dict
        ``cells.csv``'s rows (one per component: ``recording``, ``accepted``,
        ``event_rate``, ``snr``); the accepted components' spread is drawn as a box
        per recording.
    totals : list of dict
        ``recordings.csv``'s rows (one per recording): the components found and
        accepted (bars) and the mean event rate and SNR of the accepted cells
        (diamonds on the boxes); with the skeleton's totals
        (``skeleton_n_branches``, ``skeleton_total_length``), a fourth panel. Without
        them, the counts come from ``rows``.
    title : str
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("status") in ("done", "skipped")]
    names = [str(r["name"]) for r in ok]
    by_recording = {str(t.get("recording")): t for t in totals}
    counts = [by_recording.get(name, row) for name, row in zip(names, ok, strict=True)]
    skeleton = any(_number(t.get("skeleton_n_branches")) >= 0 for t in counts)
    x = np.arange(len(ok))
    fig, axes = plt.subplots(1, 4 if skeleton else 3,
                             figsize=(max(9.0, 1.1 * len(ok) + 6) * (1.3 if skeleton else 1),
                                      3.6), constrained_layout=True)
    found = [_number(r.get("components")) for r in counts]
    accepted = [_number(r.get("accepted")) for r in counts]
    axes[0].bar(x - 0.2, found, 0.4, label="components", color="tab:blue")
    axes[0].bar(x + 0.2, accepted, 0.4, label="accepted", color="tab:orange")
    axes[0].set_title("components per recording")
    axes[0].legend(frameon=False, fontsize=8)
    by_name: dict[str, list[dict]] = {}
    for cell in cells:
        if str(cell.get("accepted")).lower() in ("true", "1"):
            by_name.setdefault(str(cell.get("recording")), []).append(cell)
    for ax, key, label in ((axes[1], "event_rate", "event rate (events/s)"),
                           (axes[2], "snr", "SNR")):
        values = [[_number(c.get(key)) for c in by_name.get(name, [])] for name in names]
        values = [[v for v in vs if np.isfinite(v)] or [np.nan] for vs in values]
        ax.boxplot(values, positions=x, widths=0.6, showfliers=False)
        means = [_number(t.get(f"mean_{key}")) for t in counts]
        if totals and np.isfinite(means).any():
            ax.plot(x, means, "D", color="tab:red", markersize=4, label="mean")
            ax.legend(frameon=False, fontsize=8)
        ax.set_title(f"{label} of accepted cells")
    if skeleton:
        branches = [_number(t.get("skeleton_n_branches")) for t in counts]
        length = [_number(t.get("skeleton_total_length")) for t in counts]
        axes[3].bar(x, branches, 0.6, color="tab:green")
        axes[3].set_title("skeleton branches (bars), total length (line)", fontsize=9)
        twin = axes[3].twinx()
        twin.plot(x, length, "o-", color="tab:purple")
        twin.set_ylabel("total length (px)", fontsize=8)
    for ax in axes:
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    failed = len(rows) - len(ok)
    fig.suptitle((title + "  " if title else "")
                 + f"{len(ok)} recording(s)" + (f", {failed} failed" if failed else ""))
    return fig


def batch_report(rows, cells, path, *, totals=(), title: str = "") -> Path:
    """Draw :func:`batch_figure` to a PNG (written atomically, as the package's own)."""
    import matplotlib.pyplot as plt

    from .core.files import atomic_file

    fig = batch_figure(rows, cells, totals, title=title)
    path = Path(path)
    try:
        with atomic_file(path, overwrite=True) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path

