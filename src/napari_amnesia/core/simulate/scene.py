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
from .rendering import _Renderer
from .truth import GroundTruth


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
    bg_canvas, bg_temporal, background_spatial = draw_background(
        rng, p, pad, traces, amplitudes, group_traces)
    bleaching = bleaching_curve(p)
    oof_footprints, oof_traces = plant_out_of_focus(seed, p, g, h_peak)  # own stream
    pixel_noise_sd, noise_sd = noise_summary(
        p, bleaching, baseline, footprints, branch_baseline, branch_footprints, bg_temporal,
        background_spatial)

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
