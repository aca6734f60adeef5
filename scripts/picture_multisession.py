"""Draw docs/images/multisession.png: a registration of planted multi-day data.

One standard field (issue 17's held-out-like set) imaged in 5 sessions is registered with
the defaults; the figure shows two sessions' templates overlaid (magenta / green) before
and after alignment into the common space, the tracks on the common template coloured by
how many sessions hold them, and the tracks' confidence histogram with the pair F1
against the planted identity.

Usage::

    python scripts/picture_multisession.py [--out docs/images/multisession.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402

from napari_amnesia.core.multisession import pair_scores, register  # noqa: E402
from napari_amnesia.core.simulate.sessions import simulate_sessions  # noqa: E402


def _scaled(image: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(image, [1, 99.5])
    return np.clip((image - lo) / max(hi - lo, 1e-12), 0, 1)


def _overlay(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = _scaled(a), _scaled(b)
    return np.stack([a, b, a], axis=-1)  # magenta / green: white where they agree


def main() -> None:
    """Simulate, register and draw."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/multisession.png"))
    args = parser.parse_args()
    data = simulate_sessions(5, preset="standard", rng=100)
    result = register(data.footprints, data.templates)
    score = pair_scores(result.assignments, data.identity)
    S = result.n_sessions
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.6),
                             gridspec_kw={"width_ratios": [1, 1, 1.15, 0.9]})
    axes[0].imshow(_overlay(data.templates[0], data.templates[4]))
    axes[0].set_title("days 1 (magenta) and 5 (green), as recorded", fontsize=10)
    axes[1].imshow(_overlay(result.aligned_templates[0], result.aligned_templates[4]))
    axes[1].set_title("aligned into the common space", fontsize=10)
    labels = result.labels()
    counts = np.concatenate([[0], result.counts()]).astype(float)[labels]
    counts[labels == 0] = np.nan
    axes[2].imshow(result.template, cmap="gray")
    colours = plt.get_cmap("viridis", S)
    shown = axes[2].imshow(counts, cmap=ListedColormap(colours(np.arange(S))),
                           norm=BoundaryNorm(np.arange(0.5, S + 1), S), alpha=0.6,
                           interpolation="nearest")
    bar = fig.colorbar(shown, ax=axes[2], ticks=np.arange(1, S + 1), fraction=0.046)
    bar.set_label("sessions holding the track")
    axes[2].set_title(f"{result.n_tracks} tracks on the common template", fontsize=10)
    for ax in axes[:3]:
        ax.axis("off")
    axes[3].hist(result.confidence, bins=np.linspace(0, 1, 21), color="tab:blue")
    axes[3].set_xlabel("track confidence")
    axes[3].set_ylabel("tracks")
    axes[3].set_title(f"confidence; pair F1 {score['f1']:.3f} vs planted", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"pair F1 {score['f1']:.4f}, {result.n_tracks} tracks → {args.out}")


if __name__ == "__main__":
    main()
