"""Assemble the scene of a movie: everything planted, before any pixel is rendered.

One random stream (the seed's) draws, in this order, the somata, their activity, the
neurite groups' activity, the motion and the background; the neurite trees and the
frequencies of a non-rigid field come from streams of their own. The order is part of
the contract: a seed gives the same movie in every version that keeps it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .activity import _impulse_peak, ar_coefficients, neurite_activity, soma_activity
from .background import bleaching_curve, draw_background
from .cells import _overlapping_pairs, plant_somata
from .defocus import plant_out_of_focus
from .motion import draw_motion
from .neurites import branch_graph, plant_neurites
from .noise import noise_summary
from .one_photon import attenuate, plant_defocused
from .one_photon import draw_background as one_photon_background
from .rendering import _Renderer
from .truth import GroundTruth
from .vessels import plant_optics


def build(params: dict[str, Any], seed: int) -> GroundTruth:
    """Build the scene, activity and motion of a movie (everything but the pixels).

    Parameters
    ----------
    params : dict
        Resolved parameters (:meth:`SimulationParams.resolved` plus ``"rng"``).
    seed : int
        Seed of the random streams.

    Returns
    -------
    GroundTruth
        With its renderer attached.
    """
    p = params
    rng = np.random.default_rng(seed)
    T = p["n_frames"]
    Y, X = p["shape"]
    shape = (Y, X)
    fr = p["frame_rate"]

    g = ar_coefficients(
        decay_time=p["decay_time"],
        rise_time=p["rise_time"],
        frame_rate=fr,
        ar_order=p["ar_order"],
    )
    h_peak = _impulse_peak(g)

    centers, axes, has_nucleus, footprints = plant_somata(rng, p)
    baseline, amplitudes, spike_counts, spikes, traces = soma_activity(
        rng, p, footprints, g, h_peak)
    paths, branch_groups, edges, junctions, branch_footprints = plant_neurites(
        seed, p, centers, axes)
    group_spikes, group_traces, branch_baseline, branch_traces = neurite_activity(
        rng, p, branch_footprints, branch_groups, g, h_peak)
    shifts, modes, coef, pad = draw_motion(rng, p, seed)
    if p["mode"] == "one_photon":  # the miniscope's scene, from streams of its own
        (illumination, vessels, footprints, baseline, amplitudes, spikes, traces,
         branch_footprints, branch_baseline, branch_traces, oof_footprints, oof_traces,
         bg_canvas, bg_temporal, background_spatial) = _one_photon_scene(
            seed, p, pad, footprints, baseline, amplitudes, spikes, traces,
            branch_footprints, branch_baseline, branch_traces, g)
    else:
        bg_canvas, bg_temporal, background_spatial = draw_background(
            rng, p, pad, traces, amplitudes, group_traces)
        oof_footprints, oof_traces = plant_out_of_focus(seed, p, g, h_peak)  # own stream
        illumination = np.ones(shape, np.float32)
        vessels = np.zeros(shape, np.float32)
    bleaching = bleaching_curve(p)
    pixel_noise_sd, noise_sd = noise_summary(
        p, bleaching, baseline, footprints, branch_baseline, branch_footprints, bg_temporal,
        background_spatial,
        # one-photon: the out-of-focus population's light adds shot noise (two-photon
        # values kept as they always were)
        *((oof_footprints, oof_traces) if p["mode"] == "one_photon" else ()))

    truth = GroundTruth(
        mode=p["mode"],
        frame_rate=float(fr),
        shape=shape,
        n_frames=T,
        seed=seed,
        params=p,
        footprints=footprints,
        centers=centers,
        has_nucleus=has_nucleus,
        traces=traces,
        spikes=spikes,
        spike_counts=spike_counts,
        amplitudes=amplitudes,
        g=g,
        baseline=baseline,
        noise_sd=noise_sd,
        pixel_noise_sd=pixel_noise_sd,
        overlapping_pairs=_overlapping_pairs(footprints),
        branch_footprints=branch_footprints,
        branch_paths=[np.asarray(q, np.float64) for q in paths],
        branch_graph=branch_graph(paths, edges, junctions),
        branch_groups=branch_groups,
        branch_traces=branch_traces,
        branch_baseline=branch_baseline,
        group_traces=group_traces,
        group_spikes=group_spikes,
        background_spatial=background_spatial,
        background_temporal=bg_temporal,
        bleaching=bleaching,
        offset=float(p["offset"]),
        gain=float(p["gain"]),
        read_noise=float(p["read_noise"]),
        shifts=shifts.astype(np.float32),
        nonrigid_modes=modes,
        nonrigid_coefficients=coef.astype(np.float32),
        out_of_focus_footprints=oof_footprints,
        out_of_focus_traces=oof_traces,
        illumination=illumination,
        vessels=vessels,
    )
    truth._renderer = _Renderer(
        truth,
        pad=pad,
        background_canvas=bg_canvas,
        photon_noise=p["photon_noise"],
        motion=bool(p["motion"]),
        nonrigid=bool(p["motion"] and p["nonrigid"] and p["nonrigid_amplitude"] > 0),
    )
    return truth


def _one_photon_scene(seed: int, p: dict[str, Any], pad: int, footprints: np.ndarray,
                      baseline: np.ndarray, amplitudes: np.ndarray, spikes: np.ndarray,
                      traces: np.ndarray, branch_footprints: np.ndarray,
                      branch_baseline: np.ndarray, branch_traces: np.ndarray, g: np.ndarray
                      ) -> tuple[np.ndarray, ...]:
    """Optics, out-of-focus population and haze of a one-photon movie (:mod:`.one_photon`).

    Everything seen goes through the illumination and the vessels: the sources'
    footprints are those of the camera (unit norm again) and their levels carry the
    light lost.
    """
    Y, X = p["shape"]
    canvas_shape = (Y + 2 * pad, X + 2 * pad)
    illumination, absorption = plant_optics(seed, canvas_shape, (Y, X))
    transmission = illumination * (1.0 - absorption)
    inner = transmission[pad:pad + Y, pad:pad + X]
    footprints, baseline, amplitudes, spikes, traces = attenuate(
        footprints, inner, baseline, amplitudes, spikes, traces)
    branch_footprints, branch_baseline, branch_traces = attenuate(
        branch_footprints, inner, branch_baseline, branch_traces)
    oof_footprints, oof_traces, _ = plant_defocused(seed, p, g, inner)
    rest = oof_traces.min(axis=1, keepdims=True) if len(oof_traces) else 1.0
    activity = np.concatenate([
        traces / np.where(amplitudes > 0, amplitudes, 1)[:, None],
        oof_traces / np.maximum(rest, 1e-12) - 1.0,
    ])
    bg_canvas, bg_temporal, background_spatial = one_photon_background(
        seed, p, pad, activity, transmission)
    return (illumination[pad:pad + Y, pad:pad + X].copy(),
            absorption[pad:pad + Y, pad:pad + X].copy(), footprints, baseline, amplitudes,
            spikes, traces, branch_footprints, branch_baseline, branch_traces,
            oof_footprints, oof_traces, bg_canvas, bg_temporal, background_spatial)
