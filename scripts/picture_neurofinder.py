"""Overlay picture: human-drawn regions against CNMF's accepted components (neurofinder).

Fits ``cnmf.fit(movie, gSig=(5, 5), fr=7, decay_time=0.7, **settings)`` on
``../shared/data/neurofinder_quadrant_600x256x256.tif`` and draws, on the quadrant's
mean image (left) and local-correlation image (right): the human regions' outlines
(silent ones in one colour, clearly active ones in another, ``metrics.active_regions``)
and the accepted components' outlines (footprints at 0.2 x their maximum). The title
gives the scores of ``metrics.score_regions`` (as ``benchmarks/bench_neurofinder.py``).

Usage::

    python scripts/picture_neurofinder.py --settings '{"rf": 20, "stride": 10, "K": 8}'
    python scripts/picture_neurofinder.py --out /tmp/default.png       # what a user knows
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
BASE = {"gSig": [5, 5], "fr": 7, "decay_time": 0.7}
COLOURS = {"silent": "#4fc3f7", "active": "#ffd54f", "found": "#ff4081"}


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from napari_amnesia.core import cnmf
    from napari_amnesia.core.io import open_movie
    from napari_amnesia.core.metrics import active_regions, regions_to_masks, score_regions
    from napari_amnesia.core.summary import summary_images

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", type=json.loads, default={},
                    help="JSON dict of extra CNMF parameters")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path,
                    default=HERE.parent / "docs" / "images" / "cnmf_neurofinder.png")
    args = ap.parse_args(argv)
    tif = args.data / "neurofinder_quadrant_600x256x256.tif"
    regions = args.data / "neurofinder_quadrant_regions.json"
    if not (tif.is_file() and regions.is_file()):
        print(f"skipped: the labelled neurofinder quadrant is not in {args.data}")
        return 0

    movie = open_movie(tif)
    true = regions_to_masks(regions, movie.shape[1:])
    active = active_regions(movie, true)
    summary = summary_images(movie)
    params = {**BASE, **args.settings}
    result = cnmf.fit(movie, **params)
    acc = np.flatnonzero(result.accepted)
    images = result.footprint_images(acc)
    peak = images.reshape(len(images), -1).max(axis=1)
    found = (images >= 0.2 * peak[:, None, None]) & (images > 0)
    s = score_regions(found, true, active=active)
    print(json.dumps({k: v for k, v in s.items() if k not in ("pairs", "iou")}),
          file=sys.stderr)

    fig, axes = plt.subplots(1, 2, figsize=(16, 8.6), dpi=100)
    for ax, (name, img) in zip(axes, (("mean image", summary.mean),
                                      ("local correlation", summary.corr)), strict=True):
        lo, hi = np.nanpercentile(img, [1, 99.7])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        for mask, is_active in zip(true, active, strict=True):
            ax.contour(mask, levels=[0.5], linewidths=1.6 if is_active else 1.1,
                       colors=COLOURS["active" if is_active else "silent"])
        for mask in found:
            ax.contour(mask, levels=[0.5], linewidths=1.0, colors=COLOURS["found"])
        ax.set_title(name)
        ax.set_axis_off()
    handles = [Line2D([], [], color=COLOURS["silent"], lw=1.5,
                      label=f"human region ({len(true) - int(active.sum())} not clearly active)"),
               Line2D([], [], color=COLOURS["active"], lw=2,
                      label=f"human region, clearly active ({int(active.sum())})"),
               Line2D([], [], color=COLOURS["found"], lw=1.5,
                      label=f"accepted CNMF component ({len(acc)} of {result.K})")]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, fontsize=12)
    extra = ", ".join(f"{k}={v}" for k, v in args.settings.items())
    fig.suptitle(f"neurofinder quadrant (600 x 256 x 256): cnmf.fit(gSig=(5, 5), fr=7, "
                 f"decay_time=0.7{', ' + extra if extra else ''})\n"
                 f"F1 {s['f1']:.2f}, precision {s['precision']:.2f}, recall {s['recall']:.2f}, "
                 f"active regions found {s['active_found']}/{s['n_active']} "
                 f"({s['active_recall']:.2f})", fontsize=13)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.9, bottom=0.06, wspace=0.02)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
