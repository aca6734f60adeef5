"""Pictures of CNMF-E on the real miniscope movie (docs/cnmfe.md).

Fits ``cnmf.fit(movie, mode="one_photon", gSig=4, gSiz=17, fr=20, min_corr=0.9,
min_pnr=15)`` on
``../shared/data/miniscope1p_minian_500x240x376.tif`` and draws one figure:

- the correlation and PNR images the fit seeds from
  (:func:`~napari_amnesia.core.cnmf.initialization.corr_pnr.correlation_pnr`) with the
  seeds (:func:`~napari_amnesia.core.cnmf.initialization.seeds.find_seeds` at the
  fit's ``min_corr`` and ``min_pnr``);
- the accepted components' outlines (footprints at 0.2 x their maximum) on the mean
  image;
- the traces of a few accepted components (the highest SNR ones, ΔF/F).

Usage::

    python scripts/picture_cnmfe.py [--out docs/images/cnmfe_miniscope.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "miniscope1p_minian_500x240x376.tif"
#: the preset's min_corr 0.7 and min_pnr 5 pass nearly every pixel of this movie: it is
#: 8-bit and H.264-compressed, which smooths its noise away (correlation about 0.9
#: everywhere, PNR inflated), so the thresholds are raised as one would with the seed
#: picker, to where the seeds sit on the somata of the PNR image
SETTINGS = {"mode": "one_photon", "gSig": 4, "gSiz": 17, "fr": 20, "min_corr": 0.9,
            "min_pnr": 15}


def main(argv: list[str] | None = None) -> int:
    """Fit, draw, save; print what was found."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_amnesia.core import cnmf
    from napari_amnesia.core.cnmf.initialization.corr_pnr import correlation_pnr
    from napari_amnesia.core.cnmf.initialization.seeds import find_seeds
    from napari_amnesia.core.io import open_movie

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path,
                    default=HERE.parent / "docs" / "images" / "cnmfe_miniscope.png")
    ap.add_argument("--movie", type=Path, default=DATA)
    args = ap.parse_args(argv)
    if not args.movie.exists():
        print(f"no movie at {args.movie}", file=sys.stderr)
        return 1
    movie = open_movie(args.movie)
    result = cnmf.fit(movie, **SETTINGS)
    p = result.params
    corr, pnr = correlation_pnr(movie, gSig=p.gSig, center_psf=p.center_psf)
    seeds = find_seeds(corr, pnr, min_corr=p.min_corr, min_pnr=p.min_pnr, gSig=p.gSig)
    accepted = np.flatnonzero(result.accepted)
    fig = plt.figure(figsize=(15, 9.5))
    grid = fig.add_gridspec(2, 3, height_ratios=[1, 0.9])
    ax = [fig.add_subplot(grid[0, i]) for i in range(3)]
    ax[0].imshow(corr, cmap="gray", vmin=0, vmax=1)
    ax[0].set_title(f"correlation image (gSig {p.gSig[0]:g}); {len(seeds)} seeds "
                    f"(corr ≥ {p.min_corr:g}, PNR ≥ {p.min_pnr:g})")
    ax[1].imshow(pnr, cmap="magma", vmin=0, vmax=np.percentile(pnr, 99.5))
    ax[1].set_title("peak-to-noise ratio (PNR) image")
    for a in ax[:2]:
        a.plot(seeds[:, 1], seeds[:, 0], "o", ms=3.5, mfc="none", mec="#00e5ff", mew=0.9)
    mean = np.asarray(result.mean_image)
    ax[2].imshow(mean, cmap="gray", vmin=np.percentile(mean, 1),
                 vmax=np.percentile(mean, 99.5))
    for contour in result.contours(accepted_only=True):
        for piece in (contour if isinstance(contour, list) else [contour]):
            piece = np.asarray(piece)
            if piece.ndim == 2 and len(piece) > 2:
                ax[2].plot(piece[:, 1], piece[:, 0], "-", color="#ff4081", lw=0.8)
    ax[2].set_title(f"mean image, {len(accepted)} accepted of {result.K} components")
    for a in ax:
        a.set_axis_off()
    tr = fig.add_subplot(grid[1, :])
    best = accepted[np.argsort(-result.snr[accepted])][:8] if len(accepted) else []
    dff = result.dff if result.dff is not None else result.traces
    t = np.arange(result.n_frames) / p.fr
    for i, k in enumerate(best):
        y = dff[k] / max(float(np.abs(dff[k]).max()), 1e-9)
        tr.plot(t, y + 1.2 * i, lw=0.8)
        tr.text(t[-1] + 0.3, 1.2 * i, f"#{result.label_values[k]}", fontsize=8, va="bottom")
    tr.set_xlabel("time (s, at the 20 Hz the settings assume)")
    tr.set_yticks([])
    tr.set_title("ΔF/F of the eight accepted components of highest SNR (each scaled to "
                 "its maximum)")
    fig.suptitle(f"CNMF-E on the real miniscope movie {args.movie.name} "
                 f"({' '.join(f'{k}={v}' for k, v in SETTINGS.items())})")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    info = result.info
    print(f"{result.K} components, {len(accepted)} accepted, {len(seeds)} seeds, "
          f"{info.get('n_patches')} patches, ring share "
          f"{info.get('ring', {}).get('background_share', float('nan')):.2f}, "
          f"{info['timings']['total']:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
