"""Motion correction on a real two-photon movie: before/after picture for docs/motion.md.

Corrects ``mouse2p_optinist_2000x128x128.tif`` (OptiNiSt's example mouse 2p movie,
2000 frames of 128 x 128) with the default parameters (rigid, then piecewise rigid)
and draws, with the same contrast before and after: the local-correlation image
(CaImAn's way of judging a correction: neurons become compact bright blobs when the
motion is gone), the mean image, and the estimated shifts. Prints the metrics.

Usage::

    python benchmarks/motion_real_data.py [MOVIE] [--out docs/images/motion_real.png]
    python benchmarks/motion_real_data.py ../shared/data/allen2p_100x100x100.tif \
        --out /tmp/allen.png                     # a 100 x 100 crop: adapted patch grid
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_MOVIE = HERE.parent.parent / "shared" / "data" / "mouse2p_optinist_2000x128x128.tif"


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_amnesia.core import motion
    from napari_amnesia.core.io import open_movie

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("movie", nargs="?", type=Path, default=DEFAULT_MOVIE)
    ap.add_argument("--out", type=Path, default=HERE.parent / "docs" / "images" / "motion_real.png")
    args = ap.parse_args(argv)

    movie = open_movie(args.movie)
    results = {}
    for name, pw in (("rigid", False), ("piecewise rigid", True)):
        t0 = time.perf_counter()
        results[name] = motion.correct(movie, pw_rigid=pw)
        elapsed = time.perf_counter() - t0
        m = results[name].metrics
        print(json.dumps({
            "mode": name, "seconds (with metrics)": round(elapsed, 2),
            "max |shift| (px)": np.abs(results[name].shifts).max(axis=0).round(2).tolist(),
            "rejected shifts": results[name].rejected_frames.tolist(),
            "patch grid": (list(results[name].shifts_pw.shape[1:3])
                           if results[name].shifts_pw is not None else None),
            **{k: round(float(m[k]), 4) for k in (
                "mean_correlation_before", "mean_correlation_after", "crispness_mean_before",
                "crispness_mean_after", "crispness_corr_before", "crispness_corr_after")},
        }))
    rigid, pw = results["rigid"], results["piecewise rigid"]
    m = rigid.metrics
    corr = [m["corr_before"], m["corr_after"], pw.metrics["corr_after"]]
    means = [m["mean_before"], m["mean_after"], pw.metrics["mean_after"]]
    clim = np.percentile(np.concatenate([c.ravel() for c in corr]), [1, 99.7])
    mlim = np.percentile(np.concatenate([c.ravel() for c in means]), [0.5, 99.8])

    fig = plt.figure(figsize=(11, 8.2), constrained_layout=True)
    grid = fig.add_gridspec(3, 3, height_ratios=[1, 1, 0.62])
    titles = ["before", "after (rigid)", "after (piecewise rigid)"]
    crisp = [m["crispness_corr_before"], m["crispness_corr_after"],
             pw.metrics["crispness_corr_after"]]
    for j in range(3):
        ax = fig.add_subplot(grid[0, j])
        ax.imshow(corr[j], cmap="magma", vmin=clim[0], vmax=clim[1])
        ax.set_title(f"local correlation, {titles[j]}\ncrispness {crisp[j]:.1f}", fontsize=9)
        ax.set_axis_off()
        ax = fig.add_subplot(grid[1, j])
        ax.imshow(means[j], cmap="gray", vmin=mlim[0], vmax=mlim[1])
        ax.set_title(f"mean image, {titles[j]}", fontsize=9)
        ax.set_axis_off()
    ax = fig.add_subplot(grid[2, :2])
    t = np.arange(len(rigid.shifts))
    ax.plot(t, rigid.shifts[:, 0], lw=0.7, label="dy (rows)")
    ax.plot(t, rigid.shifts[:, 1], lw=0.7, label="dx (columns)")
    ax.set_xlabel("frame")
    ax.set_ylabel("rigid shift (px)")
    ax.legend(fontsize=8, loc="upper right")
    ax = fig.add_subplot(grid[2, 2])
    ax.plot(t, m["correlation_before"], lw=0.5, label="before")
    ax.plot(t, m["correlation_after"], lw=0.5, label="after (rigid)")
    ax.set_xlabel("frame")
    ax.set_ylabel("correlation with template")
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{args.movie.name}: motion correction with the default parameters",
                 fontsize=10)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
