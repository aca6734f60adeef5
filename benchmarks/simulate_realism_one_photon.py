"""How miniscope-like are the simulated one-photon movies? The table of docs/simulate.md.

Measures the same statistics on the real miniscope movie of ``../shared/data``
(``miniscope1p_minian_500x240x376.tif``, minian's demo, 8-bit and H.264-compressed)
and on planted movies of the two presets of ``core.simulate.one_photon``
(``ONE_PHOTON_PRESETS``: "standard", 256 x 256 x 2000 at 20 Hz with 150 in-focus
cells, and "dense"), each over a few seeds. The planted movies are measured on their
first 500 frames, as many as the real one has (peak-to-noise ratios grow with the
number of frames).

- **background share**: after removing each pixel's temporal mean, the share of the
  movie's variance left in its spatial low-pass (Gaussian, sigma ``--lowpass`` px,
  default 12, wider than a soma): ``sum(G * D)^2 / sum(D^2)`` with ``D = movie -
  mean``. Near 1: the fluctuations are smooth background; cells, noise and other
  fine structure make up the rest.
- **PNR** and **local correlation (CNMF-E)**: percentiles 50/90/99 of the
  ``pnr`` and ``corr_pnr`` images of the summary stage with CNMF-E's filter
  (``summary_images(movie, gsig=4)``: a centred Gaussian of gSig 4 px, the
  correlation of the filtered movie thresholded at 3 noise levels, as CaImAn's
  ``correlation_pnr``), and of the raw local correlation ``corr``. Higher
  percentiles describe the cells: the lower they are, the harder the movie.
- **soma radius**: at the 40 strongest peaks of ``pnr * corr_pnr`` (at least 5 px
  apart), the area of the connected region whose high-passed traces (movie minus its
  Gaussian blur of sigma 10 px, then smoothed in time by a Gaussian of 2 frames)
  correlate with the mean trace of the peak's 3 x 3 pixels by 0.5 or more, as the
  radius of a disk of that area. On the planted movies the same number is given
  for the planted footprints (radius of the disk with the area above half their
  peak) to show what the estimate measures.
- **simulation**: seconds and peak memory (RSS) of a process that simulates one whole
  movie of the preset in memory (``simulate``; the uint16 movie alone is 262 MB).

The planted movies should be no easier than the real one: background share no
smaller, PNR and correlation percentiles no larger, somata of the same size.
With ``--picture`` it also draws docs/images/simulate_one_photon.png (a frame, the
mean, the CNMF-E correlation and PNR images of the real movie and a planted one of
each preset).

Usage::

    python benchmarks/simulate_realism_one_photon.py                 # seeds 0 1 2
    python benchmarks/simulate_realism_one_photon.py --seeds 0 --picture
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_MOVIE = HERE.parent.parent / "shared" / "data" / "miniscope1p_minian_500x240x376.tif"
PICTURE = HERE.parent / "docs" / "images" / "simulate_one_photon.png"
FRAMES = 500
GSIG = 4.0
PERCENTILES = (50, 90, 99)


def background_share(movie: np.ndarray, lowpass: float) -> float:
    """Share of the mean-removed movie's variance in its spatial low-pass."""
    from scipy import ndimage

    num = den = 0.0
    mean = movie.mean(axis=0, dtype=np.float64).astype(np.float32)
    for t0 in range(0, len(movie), 100):
        d = movie[t0:t0 + 100].astype(np.float32) - mean
        low = ndimage.gaussian_filter(d, (0, lowpass, lowpass))
        num += float(np.sum(low.astype(np.float64) ** 2))
        den += float(np.sum(d.astype(np.float64) ** 2))
    return num / den


def soma_radii(movie: np.ndarray, pnr: np.ndarray, corr_pnr: np.ndarray, *, n: int = 40,
               highpass: float = 10.0, smooth: float = 2.0, threshold: float = 0.5,
               box: int = 15) -> np.ndarray:
    """Radius (px) of the correlated region around the strongest CNMF-E peaks."""
    from scipy import ndimage
    from skimage.feature import peak_local_max

    peaks = peak_local_max(pnr * corr_pnr, min_distance=5, num_peaks=n,
                           exclude_border=box + 1)
    radii = []
    for r, c in peaks:
        patch = movie[:, r - box:r + box + 1, c - box:c + box + 1].astype(np.float32)
        patch = patch - ndimage.gaussian_filter(patch, (0, highpass, highpass))
        patch = ndimage.gaussian_filter1d(patch, smooth, axis=0)  # calcium is slow
        patch -= patch.mean(axis=0)
        z = patch.reshape(len(patch), -1)
        ref = patch[:, box - 1:box + 2, box - 1:box + 2].mean(axis=(1, 2))  # 3 x 3 centre
        cc = (ref @ z) / (np.linalg.norm(ref) * np.linalg.norm(z, axis=0) + 1e-9)
        lab, _ = ndimage.label(cc.reshape(patch.shape[1:]) >= threshold)
        radii.append(np.sqrt((lab == lab[box, box]).sum() / np.pi))
    return np.asarray(radii)


def measure(movie: np.ndarray, lowpass: float) -> tuple[dict, object]:
    """Every statistic of the table for one movie (T, Y, X), and its summary images."""
    from napari_amnesia.core.summary import summary_images

    images = summary_images(movie, gsig=GSIG)
    row = {"background share": background_share(movie, lowpass)}
    for name, image in (("PNR", images.pnr), ("corr (CNMF-E)", images.corr_pnr),
                        ("corr (raw)", images.corr)):
        for q, v in zip(PERCENTILES, np.percentile(image, PERCENTILES), strict=True):
            row[f"{name} p{q}"] = float(v)
    radii = soma_radii(movie, images.pnr, images.corr_pnr)
    row["soma radius (px), median"] = float(np.median(radii))
    row["soma radius (px), p25-p75"] = tuple(np.percentile(radii, [25, 75]).round(1))
    return row, images


def planted_radius(truth) -> float:
    """Median radius of the disks with the planted footprints' half-maximum areas."""
    fp = truth.footprints.reshape(truth.n_cells, -1)
    area = (fp >= 0.5 * fp.max(axis=1, keepdims=True)).sum(axis=1)
    return float(np.median(np.sqrt(area / np.pi)))


def _simulation_cost(preset: str, seed: int) -> str:
    """Seconds and peak memory (MB) of ``simulate`` of a whole preset movie, alone.

    The peak is the child's own (``VmHWM``: Linux keeps ``ru_maxrss`` across
    ``execve``, so it would report this process's peak).
    """
    code = ("import resource, time, sys; "
            "from napari_amnesia.core.simulate import simulate, one_photon_params; "
            "t = time.perf_counter(); "
            f"simulate(one_photon_params({preset!r}, rng={seed})); "
            "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')]; "
            "print(time.perf_counter() - t, int(hwm[0].split()[1]) / 1024 if hwm else "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    seconds, rss = (float(v) for v in done.stdout.split())
    return f"{seconds:.0f} / {rss:.0f}"


def _average(rows: list[dict]) -> dict:
    out = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if isinstance(values[0], tuple):
            out[key] = tuple(np.mean(values, axis=0).round(1))
        else:
            out[key] = float(np.mean(values))
    return out


def _fmt(v) -> str:
    if isinstance(v, tuple):
        return "-".join(f"{x:.1f}" for x in v)
    if isinstance(v, str):
        return v
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def main(argv: list[str] | None = None) -> int:
    from napari_amnesia.core.io import open_movie
    from napari_amnesia.core.simulate import simulate
    from napari_amnesia.core.simulate.one_photon import one_photon_params

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("movie", nargs="?", type=Path, default=DEFAULT_MOVIE)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--presets", nargs="+", default=["standard", "dense"])
    ap.add_argument("--lowpass", type=float, default=12.0,
                    help="sigma (px) of the spatial low-pass of the background share")
    ap.add_argument("--picture", action="store_true", help=f"draw {PICTURE}")
    ap.add_argument("--out", type=Path, default=PICTURE)
    args = ap.parse_args(argv)

    columns: dict[str, dict] = {}
    shown: dict[str, tuple] = {}
    if args.movie.exists():
        real = np.asarray(open_movie(args.movie)[:FRAMES], np.float32)
        row, images = measure(real, args.lowpass)
        row["planted soma radius (px), median"] = "-"
        row["simulation: s / peak RSS (MB)"] = "-"
        columns[f"real ({real.shape[1]}x{real.shape[2]}x{len(real)})"] = row
        shown["real miniscope movie"] = (real, images)
    else:
        print(f"{args.movie} not found: planted movies only")
    for preset in args.presets:
        rows = []
        for seed in args.seeds:
            movie, truth = simulate(one_photon_params(preset, rng=seed))
            part = np.asarray(movie[:FRAMES], np.float32)
            del movie
            row, images = measure(part, args.lowpass)
            row["planted soma radius (px), median"] = planted_radius(truth)
            rows.append(row)
            if seed == args.seeds[0]:
                shown[f"planted, {preset} (seed {seed})"] = (part, images)
            print(f"{preset} seed {seed} measured", flush=True)
        avg = _average(rows)
        avg["simulation: s / peak RSS (MB)"] = _simulation_cost(preset, args.seeds[0])
        p = one_photon_params(preset)
        columns[f"{preset} ({p.shape[0]}x{p.shape[1]}x{p.n_frames}, {len(args.seeds)} seeds)"] = avg
    names = list(columns)
    print()
    print("| statistic | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in columns[names[0]] if names else []:
        print(f"| {key} | " + " | ".join(_fmt(columns[n].get(key, "-")) for n in names) + " |")
    if args.picture:
        _picture(shown, args.out)
        print(f"\nwrote {args.out}")
    return 0


def _picture(shown: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(shown), 4, figsize=(13, 3.1 * len(shown)),
                             constrained_layout=True, squeeze=False)
    for row, (name, (movie, images)) in zip(axes, shown.items(), strict=True):
        frame = movie[len(movie) // 2]
        panels = [(frame, "gray", f"{name}: frame {len(movie) // 2}"),
                  (images.mean, "gray", "mean"),
                  (images.corr_pnr, "magma", "local correlation (CNMF-E, gSig 4)"),
                  (images.pnr, "magma", "PNR (gSig 4)")]
        for ax, (image, cmap, title) in zip(row, panels, strict=True):
            lo, hi = np.percentile(image, [0.5, 99.8])
            ax.imshow(image, cmap=cmap, vmin=lo, vmax=hi)
            ax.set_title(title, fontsize=9)
            ax.set_axis_off()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    raise SystemExit(main())
