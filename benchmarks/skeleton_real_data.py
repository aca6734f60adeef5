"""Skeleton of a real two-photon movie with neurites, for the docs (run by hand).

Runs the skeleton stage on ``../shared/data/allen2p_100x100x100.tif`` (somata and
neurites, Allen Institute) with the defaults and with a lower threshold offset for its
faint neurites, and draws ``docs/images/skeleton_real.png`` (somata outlined in
yellow, junctions in red). Prints the totals and any warning.

    .venv/bin/python benchmarks/skeleton_real_data.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MOVIE = ROOT.parent / "shared" / "data" / "allen2p_100x100x100.tif"


def main() -> int:
    import numpy as np
    from matplotlib.figure import Figure

    from napari_amnesia.core.io import open_movie
    from napari_amnesia.core.skeleton import skeletonize

    if not MOVIE.is_file():
        print(f"{MOVIE} is absent; nothing to do.")
        return 0
    movie = open_movie(MOVIE)
    runs = {
        "defaults": {},
        "threshold_offset=0.05": {"threshold_offset": 0.05},
    }
    fig = Figure(figsize=(12, 4.9), dpi=110)
    axes = fig.subplots(1, 3)
    results = {name: skeletonize(movie, **kw) for name, kw in runs.items()}
    first = next(iter(results.values()))
    axes[0].imshow(first.intermediates["equalized"], cmap="gray")
    axes[0].set_title("allen2p 100×100×100: equalized mean", fontsize=9)
    for ax, (name, result) in zip(axes[1:], results.items(), strict=True):
        t = result.totals
        print(f"{name}: {t['n_branches']} branches, {t['n_junctions']} junctions, "
              f"length {t['total_length']:.0f} px, {t['n_components']} pieces, "
              f"{t['n_somata']} somata, structure {t['mask_area']} px")
        for message in result.info.get("warnings", []):
            print(f"  warning: {message}")
        ax.imshow(first.intermediates["equalized"], cmap="gray", alpha=0.6)
        labels = np.ma.masked_equal(result.branch_labels, 0)
        ax.imshow(labels, cmap="tab20", interpolation="nearest")
        if result.somata.any():
            ax.contour(result.somata > 0, [0.5], colors="yellow", linewidths=1)
        j = np.asarray(result.junctions).reshape(-1, 2)
        if len(j):
            ax.plot(j[:, 1], j[:, 0], "o", ms=4, mfc="none", mec="red")
        ax.set_title(f"{name}\n{t['n_branches']} branches, {t['n_junctions']} junctions, "
                     f"{t['total_length']:.0f} px, {t['n_somata']} soma(ta) (yellow)",
                     fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out = ROOT / "docs" / "images" / "skeleton_real.png"
    fig.savefig(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
