"""Noise of the recording: photon shot noise and camera read noise.

Shot noise has the Poisson variance ``gain * expected counts`` (drawn from a normal
distribution, or exactly Poisson); read noise is Gaussian. The noise of frame ``t``
comes from its own seeded stream, so the pixels do not depend on how a movie is
chunked or scheduled.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_NOISE_KEY = 0x5EED  # spawn key of the per-frame noise streams


def noise_summary(
    p: dict[str, Any], bleaching: np.ndarray, baseline: np.ndarray, footprints: np.ndarray,
    branch_baseline: np.ndarray, branch_footprints: np.ndarray, bg_temporal: np.ndarray,
    background_spatial: np.ndarray, out_of_focus_footprints: np.ndarray | None = None,
    out_of_focus_traces: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise level at rest: per pixel (Y, X) and of each footprint-weighted trace (K,).

    Both are for the mean bleaching and no motion; out-of-focus cells count with their
    mean level.
    """
    Y, X = p["shape"]
    shape = (Y, X)
    K = p["n_cells"]
    B = len(branch_footprints)
    gain = float(p["gain"])
    read = float(p["read_noise"])
    mean_bleach = float(bleaching.mean())
    rest = np.tensordot(baseline.astype(np.float32), footprints, axes=1) if K else np.zeros(shape)
    rest = rest + (
        np.tensordot(branch_baseline.astype(np.float32), branch_footprints, axes=1) if B else 0
    )
    rest = rest + np.tensordot(bg_temporal.mean(axis=1), background_spatial, axes=1)
    if out_of_focus_traces is not None and len(out_of_focus_traces):
        rest = rest + np.tensordot(out_of_focus_traces.mean(axis=1), out_of_focus_footprints,
                                   axes=1)
    shot = gain * mean_bleach * np.maximum(rest, 0) if p["photon_noise"] != "none" else 0
    pixel_var = shot + read**2
    pixel_noise_sd = np.sqrt(pixel_var * np.ones(shape)).astype(np.float32)
    noise_sd = (
        np.sqrt(np.tensordot(footprints**2, pixel_noise_sd**2, axes=([1, 2], [0, 1])))
        if K
        else np.zeros(0)
    )
    return pixel_noise_sd, noise_sd


def add_noise(frame: np.ndarray, t: int, *, seed: int, photon_noise: str, gain: float,
              read_noise: float) -> None:
    """Add shot and read noise to one frame ``t`` in place (per-frame seeded stream)."""
    if photon_noise == "none" and read_noise == 0:
        return
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(_NOISE_KEY, t)))
    )
    if photon_noise == "poisson":
        lam = np.maximum(frame, 0) / np.float32(gain)
        frame[...] = rng.poisson(lam).astype(np.float32) * np.float32(gain)
        if read_noise:
            frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(
                read_noise
            )
        return
    z = rng.standard_normal(frame.shape, dtype=np.float32)
    if photon_noise == "gaussian":
        # normal approximation of the shot noise: variance = gain * expected counts
        sd = np.maximum(frame, 0)
        if gain != 1:
            sd *= np.float32(gain)
        if read_noise:
            sd += np.float32(read_noise**2)
        np.sqrt(sd, out=sd)
        z *= sd
    else:
        z *= np.float32(read_noise)
    frame += z
