"""Scenes the shipped cell classifier learns from: planted cells against what is not one.

:func:`training_scene` simulates a two-photon field
(:func:`~napari_amnesia.core.simulate.simulate`), adds what real fields of view
hold besides somata and neurite trees and the simulator does not draw, fits it
generously with CNMF and labels every component: a component matched one to one
to a planted soma is a cell, anything else is not. The additions (each on request,
drawn from the seed) are:

* **dark regions** (:func:`dark_regions`): a band along one edge where the scan
  leaves the tissue or is blanked, and the shadows of blood vessels crossing the
  field. Fluorescence there drops to a few percent, to read noise; because CNMF
  normalises every pixel by its own noise, faint correlated residue in such places
  can look like a cell (on real recordings these are a large share of the false
  positives, e.g. the blanked left edge of the neurofinder fields);
* **puncta** (:func:`add_puncta`): small bright active spots one to two pixels
  across — apical dendrites and axons crossing the imaging plane, seen in section.
  They fire like cells and are as compact as cells, but far smaller than a soma.

The ranges of these additions were chosen from what the simulator's scenes and
published descriptions of two-photon fields show (a scan edge of 3-12 % of the
width, vessels 3-8 px wide, dendrite sections of 1-2 px radius), not tuned to any
labelled recording.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage, signal

__all__ = ["add_puncta", "dark_regions", "training_scene"]


def dark_regions(shape: tuple[int, int], rng: Any, *, edge: bool = True,
                 n_vessels: int = 1) -> np.ndarray:
    """Return a multiplicative map of a field's dark places: a scan edge and vessels.

    Parameters
    ----------
    shape : tuple of int
        Frame shape ``(Y, X)``.
    rng : numpy.random.Generator or int
        Source of the band's side, width and depth and the vessels' paths.
    edge : bool
        Darken a band along one edge (3-12 % of the frame across, down to 2-10 %
        of the fluorescence, with a soft transition of 2-5 px).
    n_vessels : int
        Vessel shadows: smooth random curves 3-8 px wide where fluorescence falls
        to 20-50 %.

    Returns
    -------
    ndarray, shape (Y, X), float64
        1 in ordinary tissue, smaller in the dark places.

    Examples
    --------
    >>> m = dark_regions((64, 64), 0, n_vessels=0)
    >>> bool(m.min() < 0.15 and np.median(m) == 1.0)
    True
    """
    rng = np.random.default_rng(rng)
    Y, X = shape
    out = np.ones(shape)
    if edge:
        side = int(rng.integers(4))
        across = (X if side < 2 else Y)
        width = rng.uniform(0.03, 0.12) * across
        soft = rng.uniform(2.0, 5.0)
        floor = rng.uniform(0.02, 0.10)
        d = np.arange(across, dtype=np.float64)
        if side % 2:
            d = d[::-1]
        profile = floor + (1 - floor) / (1 + np.exp(-(d - width) / (soft / 4)))
        out *= profile[None, :] if side < 2 else profile[:, None]
    yy, xx = np.mgrid[:Y, :X]
    for _ in range(int(n_vessels)):
        # a gently bending curve across the field, as distance to a polyline
        t = np.linspace(0, 1, 40)
        a = rng.uniform(0, 2 * np.pi)
        c = np.array([rng.uniform(0.2, 0.8) * Y, rng.uniform(0.2, 0.8) * X])
        length = 1.5 * max(Y, X)
        bend = rng.normal(0, 0.15 * min(Y, X)) * np.sin(np.pi * t)
        pts = c + (t[:, None] - 0.5) * length * np.array([np.sin(a), np.cos(a)]) \
            + bend[:, None] * np.array([np.cos(a), -np.sin(a)])
        dist = np.full(shape, np.inf)
        for p in pts:
            dist = np.minimum(dist, np.hypot(yy - p[0], xx - p[1]))
        half = rng.uniform(1.5, 4.0)
        depth = rng.uniform(0.5, 0.8)
        out *= 1 - depth * np.exp(-0.5 * (dist / half) ** 4)
    return out


def add_puncta(movie: np.ndarray, rng: Any, n: int, *, frame_rate: float, decay_time: float,
               avoid: Any = None, avoid_distance: float = 8.0) -> np.ndarray:
    """Add ``n`` small active spots (dendrites or axons in section) to a movie, in place.

    Each spot is a Gaussian of 0.8-1.6 px standard deviation with a resting level
    of 0.2-1 times the local mean and its own Poisson spikes (0.05-0.5 Hz, a
    ΔF/F of 0.5-2 per spike, decaying with ``decay_time``).

    Parameters
    ----------
    movie : ndarray, shape (T, Y, X), float
        Modified in place.
    rng : numpy.random.Generator or int
    n : int
        Number of spots.
    frame_rate, decay_time : float
        Hz and seconds, as the movie's cells.
    avoid : array_like, shape (K, 2), optional
        Centres (row, col) the spots keep ``avoid_distance`` pixels away from
        (the planted somata, so that a spot never sits on a cell).
    avoid_distance : float

    Returns
    -------
    ndarray, shape (n, 2)
        The spots' centres.

    Examples
    --------
    >>> m = np.full((50, 32, 32), 10.0, np.float32)
    >>> centres = add_puncta(m, 0, 3, frame_rate=10.0, decay_time=0.5)
    >>> centres.shape, bool(m.max() > 10.0)
    ((3, 2), True)
    """
    rng = np.random.default_rng(rng)
    T, Y, X = movie.shape
    avoid = np.zeros((0, 2)) if avoid is None else np.asarray(avoid, np.float64).reshape(-1, 2)
    mean = movie.mean(axis=0)
    g = np.exp(-1.0 / max(decay_time * frame_rate, 1e-6))
    centres = []
    for _ in range(200 * max(int(n), 1)):
        if len(centres) == n:
            break
        c = rng.uniform([3, 3], [Y - 3, X - 3])
        if len(avoid) and np.min(np.hypot(*(avoid - c).T)) < avoid_distance:
            continue
        if centres and np.min(np.hypot(*(np.asarray(centres) - c).T)) < 4:
            continue
        centres.append(c)
    yy, xx = np.mgrid[:Y, :X]
    for c in centres:
        s = rng.uniform(0.8, 1.6)
        shape = np.exp(-0.5 * ((yy - c[0]) ** 2 + (xx - c[1]) ** 2) / s ** 2)
        level = rng.uniform(0.2, 1.0) * float(mean[int(c[0]), int(c[1])])
        spikes = rng.poisson(rng.uniform(0.05, 0.5) / frame_rate, T).astype(np.float64)
        spikes *= rng.uniform(0.5, 2.0)
        calcium = signal.lfilter([1.0], [1.0, -g], spikes)
        trace = level * (1.0 + calcium)
        box = shape > 1e-3
        movie[:, box] += (trace[:, None] * shape[box][None, :]).astype(movie.dtype)
    return np.asarray(centres).reshape(-1, 2)


def training_scene(seed: int, *, shape: tuple[int, int] = (96, 96), n_frames: int = 600,
                   frame_rate: float = 15.0, cell_density: float = 1.4e-3,
                   n_neurite_groups: int = 4, out_of_focus: int = 6,
                   gSig: float = 4.0, k_factor: float = 1.6,  # noqa: N803
                   decay_error: float = 1.0, irregularity: float = 0.0,
                   spike_amplitude: float | None = None, dark_edge: bool = False,
                   n_vessels: int = 0, n_puncta: int = 0,
                   patches: bool = False) -> dict[str, Any]:
    """Simulate a scene, fit it generously and label each component (cell or not).

    The movie (:func:`~napari_amnesia.core.simulate.simulate`, two-photon, no
    motion) holds ``cell_density * Y * X`` somata, ``n_neurite_groups`` neurite
    trees, neuropil and background, somata as ragged as ``irregularity`` asks
    (the simulator's ``soma_irregularity``), and ``out_of_focus`` broad, dim,
    blurred cells of another plane (the simulator's ``n_out_of_focus``: twice the
    cells' radius, blur 3 px, a quarter of their brightness, their own spikes);
    then, on request, a dark scan edge and vessel shadows (:func:`dark_regions`)
    and ``n_puncta`` dendrite sections (:func:`add_puncta`). CNMF then runs with
    low thresholds, so that it also finds what is not a cell: on the whole field
    with ``K = k_factor`` times the somata present, or (``patches=True``) with the
    package's automatic patches, as a user's fit runs. The decay time it is given
    is the planted one times ``decay_error`` (a user's guess is seldom exact). A
    component matched one to one to a planted soma
    (:func:`~napari_amnesia.core.metrics.match_components`) is a cell; any other
    is not.

    Parameters
    ----------
    seed : int
        Seeds the simulation and the additions.
    shape, n_frames, frame_rate, cell_density, n_neurite_groups, out_of_focus
        The scene.
    irregularity : float
        The simulator's ``soma_irregularity`` (0: smooth ellipses).
    spike_amplitude : float, optional
        Mean ΔF/F of one spike (default: the simulator's).
    dark_edge, n_vessels, n_puncta
        The additions.
    gSig, k_factor, decay_error, patches
        The fit.

    Returns
    -------
    dict
        ``result`` (SourceResult, evaluated), ``movie``, ``correlation_image``,
        ``features`` ``(K, n_features)``, ``is_cell`` (bool, ``(K,)``) and ``truth``.
    """
    from ..metrics import match_components
    from ..simulate import simulate
    from ..summary import local_correlations
    from . import fit
    from .features import component_features

    n_cells = max(2, int(round(cell_density * shape[0] * shape[1])))
    movie, truth = simulate(n_frames=n_frames, shape=shape, n_cells=n_cells,
                            n_neurite_groups=n_neurite_groups, motion=False,
                            frame_rate=frame_rate, dtype="float32", rng=seed,
                            soma_irregularity=irregularity, n_out_of_focus=out_of_focus,
                            out_of_focus_brightness=0.25, spike_amplitude=spike_amplitude)
    movie = np.array(movie, np.float32)
    rng = np.random.default_rng([seed, 14])
    decay = float(truth.params["decay_time"])
    if n_puncta:
        add_puncta(movie, rng, n_puncta, frame_rate=frame_rate, decay_time=decay,
                   avoid=truth.centers, avoid_distance=2.5 * gSig)
    if dark_edge or n_vessels:
        offset = float(truth.params.get("offset", 0.0))
        edge = dark_regions(shape, rng, edge=dark_edge, n_vessels=0)
        dark = (edge * dark_regions(shape, rng, edge=False, n_vessels=n_vessels))
        noise = float(np.median(np.std(np.diff(movie[:50], axis=0), axis=0))) / np.sqrt(2)
        movie = offset + (movie - offset) * dark.astype(np.float32)[None]
        # where the light goes, read noise stays, and a scan edge keeps streaks of
        # correlated flicker (the turning scanner samples the same line again)
        streaks = ndimage.gaussian_filter(rng.standard_normal(movie.shape), (0, 3.0, 1.0))
        streaks /= max(float(streaks.std()), 1e-12)
        movie += (0.3 * rng.standard_normal(movie.shape) * (noise * (1 - dark))[None]
                  + 0.3 * streaks * (noise * (1 - edge))[None]).astype(np.float32)
    if patches:
        result = fit(movie, gSig=gSig, fr=frame_rate, decay_time=decay_error * decay,
                     min_SNR=1.0, rval_thr=0.5, compute_dff=False)
    else:
        K = max(2, int(np.ceil(k_factor * n_cells)))
        result = fit(movie, rf=None, gSig=gSig, K=K, fr=frame_rate,
                     decay_time=decay_error * decay, min_SNR=1.0, rval_thr=0.5,
                     compute_dff=False)
    ci = local_correlations(movie)
    is_cell = np.zeros(result.K, bool)
    if result.K:
        m = match_components(result.footprint_images(), truth.footprints)
        is_cell[m["pairs"][:, 0]] = True
    F = component_features(result, movie, correlation_image=ci)
    return {"result": result, "movie": movie, "correlation_image": ci, "features": F,
            "is_cell": is_cell, "truth": truth}
