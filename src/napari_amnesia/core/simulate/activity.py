"""Activity of the scene: Poisson spikes and the calcium they cause.

Calcium follows the autoregressive model ``c[t] = sum_i g[i] * c[t - 1 - i] + s[t]``
(:func:`ar_coefficients`); somata fire independently, the branches of a neurite tree
share their group's activity plus a little of their own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import signal

from .params import _check_positive

__all__ = ["ar_coefficients"]


def ar_coefficients(
    *, decay_time: float, frame_rate: float, ar_order: int = 1, rise_time: float | None = None
) -> np.ndarray:
    """AR coefficients of a calcium indicator with given kinetics.

    Parameters
    ----------
    decay_time : float
        Decay time constant in seconds (> 0).
    frame_rate : float
        Frames per second (> 0).
    ar_order : {1, 2}
        Order of the autoregressive model.
    rise_time : float, optional
        Rise time constant in seconds, required for ``ar_order=2`` and smaller than
        ``decay_time``.

    Returns
    -------
    ndarray, shape (ar_order,)
        ``g`` such that ``c[t] = sum_i g[i] * c[t - 1 - i] + s[t]``.

    Examples
    --------
    >>> ar_coefficients(decay_time=1.0, frame_rate=10.0).round(4)
    array([0.9048])
    >>> ar_coefficients(decay_time=1.0, rise_time=0.1, frame_rate=10.0, ar_order=2).round(4)
    array([ 1.2727, -0.3329])
    """
    if ar_order not in (1, 2):
        raise ValueError(f"ar_order must be 1 or 2, got {ar_order!r}.")
    _check_positive("decay_time", decay_time)
    _check_positive("frame_rate", frame_rate)
    d = math.exp(-1.0 / (decay_time * frame_rate))
    if ar_order == 1:
        return np.array([d])
    if rise_time is None:
        raise ValueError("rise_time is required for ar_order=2, got None.")
    _check_positive("rise_time", rise_time)
    if not rise_time < decay_time:
        raise ValueError(
            f"rise_time must be smaller than decay_time ({decay_time!r}), got {rise_time!r}."
        )
    r = math.exp(-1.0 / (rise_time * frame_rate))
    return np.array([d + r, -d * r])


def _ar_filter(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    return signal.lfilter([1.0], np.concatenate([[1.0], -np.asarray(g, float)]), x, axis=-1)


def _impulse_peak(g: np.ndarray) -> float:
    n = 1
    while True:
        n *= 4
        impulse = np.zeros(n)
        impulse[0] = 1.0
        h = _ar_filter(impulse, g)
        if int(np.argmax(h)) < n - 1 or n > 10**6:
            return float(h.max())


def soma_activity(
    rng: np.random.Generator, p: dict[str, Any], footprints: np.ndarray, g: np.ndarray,
    h_peak: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Resting level, spike amplitude, spikes and calcium of every soma.

    Returns ``baseline`` (K,), ``amplitudes`` (K,), ``spike_counts`` (K, T) int16,
    ``spikes`` and ``traces`` (K, T) float32.
    """
    K = p["n_cells"]
    T = p["n_frames"]
    fr = p["frame_rate"]
    brightness = p["brightness"] * rng.lognormal(0.0, 0.3, K)
    peaks = footprints.reshape(K, -1).max(axis=1) if K else np.zeros(0)
    baseline = brightness / np.where(peaks > 0, peaks, 1)
    dff = p["spike_amplitude"] * rng.lognormal(0.0, 0.25, K)
    amplitudes = dff * baseline / h_peak
    rates = p["spike_rate"] * rng.lognormal(-0.125, 0.5, K)
    spike_counts = rng.poisson(np.broadcast_to((rates / fr)[:, None], (K, T))).astype(np.int16)
    spikes = (spike_counts * amplitudes[:, None]).astype(np.float32)
    traces = _ar_filter(spikes.astype(np.float64), g).astype(np.float32)
    return baseline, amplitudes, spike_counts, spikes, traces


def neurite_activity(
    rng: np.random.Generator, p: dict[str, Any], branch_footprints: np.ndarray,
    branch_groups: np.ndarray, g: np.ndarray, h_peak: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shared activity of each coactive group and the resulting branch traces.

    Returns ``group_spikes`` (G, T) int16, ``group_traces`` (G, T) float32,
    ``branch_baseline`` (B,) and ``branch_traces`` (B, T) float32.
    """
    T = p["n_frames"]
    fr = p["frame_rate"]
    B = len(branch_footprints)
    G = p["n_neurite_groups"]
    group_spikes = rng.poisson(p["spike_rate"] / fr, size=(G, T)).astype(np.int16)
    group_traces = (_ar_filter(group_spikes.astype(np.float64), g) / h_peak).astype(np.float32)
    bpeaks = branch_footprints.reshape(B, -1).max(axis=1) if B else np.zeros(0)
    branch_baseline = (
        0.6 * p["brightness"] * rng.lognormal(0, 0.2, B) / np.where(bpeaks > 0, bpeaks, 1)
    )
    branch_amp = p["spike_amplitude"] * rng.lognormal(0, 0.2, B) * branch_baseline
    own = _ar_filter(rng.standard_normal((B, T)), g[:1])
    if B:
        own /= max(float(own.std()), 1e-12)
    gstd = group_traces.std(axis=1) if G else np.zeros(0)
    gstd = np.where(gstd > 0, gstd, 0.1)
    branch_traces = np.zeros((B, T), np.float32)
    for b in range(B):
        gid = branch_groups[b]
        branch_traces[b] = branch_amp[b] * (
            group_traces[gid] + p["branch_noise"] * gstd[gid] * own[b]
        )
    return group_spikes, group_traces, branch_baseline, branch_traces
