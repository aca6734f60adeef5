"""Synthetic calcium-imaging movies with a complete ground truth.

:func:`simulate` builds a static scene (somata, neurite trees, neuropil and background),
draws activity for every source, then renders the movie frame by frame with
photobleaching, rigid and non-rigid motion, photon shot noise and read noise. The
returned :class:`GroundTruth` holds everything that was planted — footprints, traces,
spikes, AR coefficients, the branch graph and its coactive groups, background
components, shifts and the non-rigid displacement field — so every stage of
napari-amnesia can be tested by recovering it. :func:`write_simulated_movie` renders
the same movie straight to a TIFF file in bounded memory (benchmarks, ``amnesia demo``).

Image model
-----------
With footprints normalised to unit L2 norm (the CNMF convention), the expected movie
of frame ``t`` *before motion* is::

    scene_t = sum_k footprints[k] * (baseline[k] + traces[k, t])
            + sum_b branch_footprints[b] * (branch_baseline[b] + branch_traces[b, t])
            + sum_j background_spatial[j] * background_temporal[j, t]
    expected_t = offset + bleaching[t] * scene_t     (then moved, see below)

and the recorded frame adds photon shot noise of variance ``gain * bleaching[t] *
scene_t`` and Gaussian read noise of standard deviation ``read_noise`` (all values are
in movie counts).

Calcium follows the autoregressive model of Vogelstein et al. (2010) and Pnevmatikakis
et al. (2016): ``traces[k, t] = sum_i g[i] * traces[k, t - 1 - i] + spikes[k, t]``
exactly, with ``spikes`` the Poisson spike counts times a per-cell amplitude. For
``ar_order=1``, ``g = exp(-1 / (decay_time * frame_rate))``; for ``ar_order=2`` the
two roots are the decay and rise factors ``d = exp(-1 / (decay_time * frame_rate))``
and ``r = exp(-1 / (rise_time * frame_rate))``, ``g = (d + r, -d * r)`` (Friedrich,
Zhou & Paninski 2017).

Motion convention
-----------------
``shifts[t] = (dy, dx)`` is the displacement of the *content* of frame ``t`` relative
to the reference (unmoved) scene: an object at ``(r, c)`` in the reference appears at
``(r + dy, c + dx)`` in frame ``t``, i.e. ``frame_t = scipy.ndimage.shift(reference,
shifts[t])``. Motion correction undoes it by shifting frame ``t`` by ``-shifts[t]``.
The non-rigid part follows the same convention: ``GroundTruth.displacement(t)`` is the
total (rigid + non-rigid) displacement field ``d`` of frame ``t`` sampled on the pixel
grid *of that frame*, and the frame is rendered as ``frame_t[o] = reference[o - d(o)]``
for every pixel ``o`` (bilinear interpolation). The field is smooth (three
low-frequency cosine modes; NoRMCorre [5]_ models motion the same way, piecewise), so
``d(o)`` and ``d(o - d(o))`` differ by at most ``|grad d| * |d|`` (a few tenths of a
pixel at most): :meth:`GroundTruth.frame_to_reference` maps frame positions to the
reference exactly and :meth:`GroundTruth.reference_to_frame` inverts it.

References
----------
.. [1] Vogelstein, J. T. et al. (2010). Fast nonnegative deconvolution for spike train
   inference from population calcium imaging. J. Neurophysiol. 104, 3691-3704.
.. [2] Pnevmatikakis, E. A. et al. (2016). Simultaneous denoising, deconvolution, and
   demixing of calcium imaging data. Neuron 89, 285-299.
.. [3] Friedrich, J., Zhou, P. & Paninski, L. (2017). Fast online deconvolution of
   calcium imaging data. PLoS Comput. Biol. 13, e1005423.
.. [4] Zhou, P. et al. (2018). Efficient and accurate extraction of in vivo calcium
   signals from microendoscopic video data. eLife 7, e28728.
.. [5] Pnevmatikakis, E. A. & Giovannucci, A. (2017). NoRMCorre: an online algorithm
   for piecewise rigid motion correction of calcium imaging data. J. Neurosci. Methods
   291, 83-94.
.. [6] Chen, T.-W. et al. (2013). Ultrasensitive fluorescent proteins for imaging
   neuronal activity. Nature 499, 295-300.

Examples
--------
>>> movie, truth = simulate(n_frames=40, shape=(64, 64), n_cells=4, rng=1)
>>> movie.shape, movie.dtype.name
((40, 64, 64), 'uint16')
>>> truth.footprints.shape, truth.traces.shape
((4, 64, 64), (4, 40))
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage, signal, sparse
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from .files import jsonable
from .progress import Progress, drive

__all__ = [
    "attach_somata",
    "label_footprints",
    "GroundTruth",
    "simulate",
    "write_simulated_movie",
    "iter_write_simulated_movie",
    "ar_coefficients",
    "MODE_DEFAULTS",
]

logger = logging.getLogger(__name__)

_MODES = ("two_photon", "one_photon")
_DTYPES = ("uint16", "float32")
_PHOTON_NOISE = ("gaussian", "poisson", "none")
_BLOCK = 32  # frames rendered at once (bounded memory: ~32 canvas frames of float32)
_NOISE_KEY = 0x5EED  # spawn key of the per-frame noise streams
_TREE_KEY = 0x7EE5  # spawn key of the neurite trees' stream (independent of n_cells)
_NONRIGID_MODES = np.array([(1, 0), (0, 1), (1, 1)], dtype=np.int64)
_BIGTIFF_BYTES = 2**31

#: Defaults that depend on ``mode`` (used where the argument is None).
MODE_DEFAULTS: dict[str, dict[str, Any]] = {
    "two_photon": {
        "decay_time": 0.4,
        "rise_time": 0.05,
        "spike_amplitude": 0.6,
        "brightness": 40.0,
        "cell_radius": (4.0, 7.0),
        "cell_blur": 0.0,
        "background_brightness": 15.0,
        "n_background_components": 2,
        "read_noise": 2.0,
    },
    "one_photon": {
        "decay_time": 0.4,
        "rise_time": 0.05,
        "spike_amplitude": 0.5,
        "brightness": 40.0,
        "cell_radius": (6.0, 10.0),
        "cell_blur": 2.0,
        "background_brightness": 500.0,
        "n_background_components": 4,
        "read_noise": 5.0,
    },
}


# --------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------


@dataclass(eq=False, repr=False)
class GroundTruth:
    """Everything planted in a simulated movie.

    All images are in the reference (unmoved) frame, axes ``(row, column)``; time series
    have one column per frame. Fluorescence values are in movie counts above
    ``offset``, for footprints of unit L2 norm (see the module docstring).

    Attributes
    ----------
    mode : {"two_photon", "one_photon"}
        Imaging mode simulated.
    frame_rate : float
        Frames per second.
    shape : tuple of int
        ``(Y, X)`` frame shape.
    n_frames : int
        Number of frames ``T``.
    seed : int
        Seed that reproduces the movie: ``simulate(**params)`` with ``rng=seed``.
    params : dict
        The arguments of :func:`simulate` with mode defaults resolved (JSON-able).
    footprints : ndarray, shape (K, Y, X), float32
        Somata footprints, unit L2 norm each, non-negative.
    centers : ndarray, shape (K, 2)
        Soma centres (row, column).
    has_nucleus : ndarray, shape (K,), bool
        Somata drawn with a dark nucleus.
    traces : ndarray, shape (K, T), float32
        Calcium fluorescence above baseline; satisfies the AR model with ``spikes``.
    spikes : ndarray, shape (K, T), float32
        Input of the AR model: ``spike_counts * amplitudes[:, None]``.
    spike_counts : ndarray, shape (K, T), int16
        Number of spikes per frame.
    amplitudes : ndarray, shape (K,)
        Jump of ``traces`` caused by one spike.
    g : ndarray, shape (ar_order,)
        AR coefficients shared by all cells and neurite groups.
    baseline : ndarray, shape (K,)
        Resting fluorescence of each soma (so ΔF/F of cell k is
        ``traces[k] / baseline[k]`` when background is excluded).
    noise_sd : ndarray, shape (K,)
        Standard deviation of the noise of the footprint-weighted trace
        ``footprints[k] · frame`` at rest (mean bleaching, no motion).
    pixel_noise_sd : ndarray, shape (Y, X), float32
        Time-averaged noise standard deviation of each pixel.
    overlapping_pairs : ndarray, shape (n, 2), int
        Pairs ``(i, j)``, ``i < j``, of somata whose footprints both exceed 20 % of
        their peak on at least one common pixel.
    branch_footprints : ndarray, shape (B, Y, X), float32
        Neurite branch footprints (Gaussian tubes around ``branch_paths``), unit L2 norm.
    branch_paths : list of ndarray
        Centre line of each branch, ``(n_i, 2)`` (row, column) points 1 px apart.
        A child branch starts exactly on its parent's centre line.
    branch_graph : dict
        ``"edges"``: ``(E, 2)`` int array of (parent, child) branch indices;
        ``"junctions"``: ``(E, 2)`` junction coordinates (row, column);
        ``"endpoints"``: ``(N, 2)`` coordinates of the free ends;
        ``"n_segments"``: number of skeleton segments (junction-to-junction or
        junction-to-end pieces) = ``B + E``, since each junction splits its parent.
    branch_groups : ndarray, shape (B,), int
        Coactive group of each branch (0 .. G-1).
    branch_traces : ndarray, shape (B, T), float32
        Fluorescence above baseline of each branch: its group's activity times the
        branch amplitude plus small independent noise.
    branch_baseline : ndarray, shape (B,)
        Resting fluorescence of each branch.
    group_traces : ndarray, shape (G, T), float32
        Shared calcium activity of each coactive group (dimensionless, a single spike
        peaks at 1).
    group_spikes : ndarray, shape (G, T), int16
        Spike counts driving ``group_traces``.
    background_spatial : ndarray, shape (Nb, Y, X), float32
        Background / neuropil spatial components (counts).
    background_temporal : ndarray, shape (Nb, T), float32
        Their time courses (around 1).
    bleaching : ndarray, shape (T,), float32
        Multiplicative photobleaching factor of all fluorescence (1 at t = 0).
    offset, gain, read_noise : float
        Camera offset (counts), counts per photon, read-noise standard deviation.
    shifts : ndarray, shape (T, 2), float32
        Rigid displacement ``(dy, dx)`` of the content of each frame (see module doc).
    nonrigid_modes : ndarray, shape (M, 2), int
        Frequencies ``(a, b)`` of the non-rigid modes
        ``cos(pi * a * (y + 0.5) / Y) * cos(pi * b * (x + 0.5) / X)``.
    nonrigid_coefficients : ndarray, shape (T, 2, M), float32
        Amplitude of each mode along rows and columns in each frame.
    """

    mode: str
    frame_rate: float
    shape: tuple[int, int]
    n_frames: int
    seed: int
    params: dict[str, Any]
    footprints: np.ndarray
    centers: np.ndarray
    has_nucleus: np.ndarray
    traces: np.ndarray
    spikes: np.ndarray
    spike_counts: np.ndarray
    amplitudes: np.ndarray
    g: np.ndarray
    baseline: np.ndarray
    noise_sd: np.ndarray
    pixel_noise_sd: np.ndarray
    overlapping_pairs: np.ndarray
    branch_footprints: np.ndarray
    branch_paths: list[np.ndarray]
    branch_graph: dict[str, Any]
    branch_groups: np.ndarray
    branch_traces: np.ndarray
    branch_baseline: np.ndarray
    group_traces: np.ndarray
    group_spikes: np.ndarray
    background_spatial: np.ndarray
    background_temporal: np.ndarray
    bleaching: np.ndarray
    offset: float
    gain: float
    read_noise: float
    shifts: np.ndarray
    nonrigid_modes: np.ndarray
    nonrigid_coefficients: np.ndarray
    _renderer: _Renderer | None = field(default=None, repr=False)

    # -- sizes --------------------------------------------------------------------------

    @property
    def n_cells(self) -> int:
        """Number of somata ``K``."""
        return int(self.footprints.shape[0])

    @property
    def n_branches(self) -> int:
        """Number of neurite branches ``B``."""
        return int(self.branch_footprints.shape[0])

    @property
    def n_groups(self) -> int:
        """Number of coactive neurite groups ``G``."""
        return int(self.group_traces.shape[0])

    def __repr__(self) -> str:
        return (
            f"GroundTruth(mode={self.mode!r}, n_frames={self.n_frames}, shape={self.shape}, "
            f"n_cells={self.n_cells}, n_branches={self.n_branches}, "
            f"n_groups={self.n_groups}, seed={self.seed})"
        )

    # -- label images -------------------------------------------------------------------

    def labels(self, *, threshold: float = 0.2) -> np.ndarray:
        """Label image of the somata.

        A Labels image cannot hold overlapping footprints, so each pixel goes to one
        soma by this rule: footprint ``k`` *covers* a pixel where its value is at least
        ``threshold`` times its own peak; a covered pixel gets label ``k + 1`` of the
        covering footprint with the largest value relative to its peak
        (``footprints[k] / footprints[k].max()``); uncovered pixels are 0.

        Parameters
        ----------
        threshold : float
            Fraction of each footprint's peak above which it covers a pixel, in (0, 1].

        Returns
        -------
        ndarray, shape (Y, X), int32

        Examples
        --------
        >>> _, truth = simulate(n_frames=5, shape=(48, 48), n_cells=3, rng=0)
        >>> lab = truth.labels()
        >>> sorted(set(lab.ravel().tolist()) - {0})
        [1, 2, 3]
        """
        return label_footprints(self.footprints, threshold)

    def branch_labels(self, *, threshold: float = 0.2) -> np.ndarray:
        """Label image of the neurite branches (label ``b + 1`` = branch ``b``).

        Same rule as :meth:`labels`, applied to ``branch_footprints``.

        Parameters
        ----------
        threshold : float
            Fraction of each footprint's peak above which it covers a pixel, in (0, 1].

        Returns
        -------
        ndarray, shape (Y, X), int32
        """
        return label_footprints(self.branch_footprints, threshold)

    def group_maps(self) -> np.ndarray:
        """The planted spatial component of each coactive neurite group.

        A group's activity shows in each of its branches with that branch's own
        strength (brightness, amplitude): the map is the sum of the branch footprints,
        each weighted by the regression of the branch trace on the group trace. This
        is what a factorization of the movie should find for the group.

        Returns
        -------
        ndarray, shape (n_groups, Y, X), float32

        Examples
        --------
        >>> _, truth = simulate(n_frames=50, shape=(64, 64), n_cells=0,
        ...                     n_neurite_groups=2, branches_per_group=2, rng=0)
        >>> truth.group_maps().shape
        (2, 64, 64)
        """
        Y, X = self.shape
        out = np.zeros((self.n_groups, Y, X), np.float32)
        for k in range(self.n_groups):
            idx = np.flatnonzero(self.branch_groups == k)
            g = self.group_traces[k].astype(np.float64)
            var = float(g.var())
            if not len(idx) or var <= 0:
                continue
            g = g - g.mean()
            w = (self.branch_traces[idx].astype(np.float64) @ g) / (len(g) * var)
            out[k] = np.tensordot(w, self.branch_footprints[idx], axes=1)
        return out

    # -- motion -------------------------------------------------------------------------

    def displacement(self, t: int) -> np.ndarray:
        """Total (rigid + non-rigid) displacement field of frame ``t``.

        Parameters
        ----------
        t : int
            Frame index.

        Returns
        -------
        ndarray, shape (2, Y, X), float32
            ``(dy, dx)`` at every pixel ``o`` of frame ``t``: the content found at ``o``
            comes from ``o - d(o)`` in the reference, so ``frame_t[o] =
            reference[o - d(o)]``.

        Examples
        --------
        >>> _, truth = simulate(n_frames=5, shape=(32, 32), n_cells=2, rng=0)
        >>> truth.displacement(3).shape
        (2, 32, 32)
        """
        t = self._check_frame(t)
        modes = _mode_fields(self.nonrigid_modes, self.shape)  # (M, Y, X)
        return _field(self.nonrigid_coefficients[t], self.shifts[t], modes)

    def displacement_at(self, points: Any, t: int | Sequence[int] | np.ndarray) -> np.ndarray:
        """Total displacement at arbitrary points of frame(s) ``t``.

        Parameters
        ----------
        points : array_like, shape (n, 2)
            ``(row, column)`` positions in frame coordinates (sub-pixel allowed).
        t : int or array_like of int, shape (n,)
            Frame index, one for all points or one per point.

        Returns
        -------
        ndarray, shape (n, 2), float64
            ``(dy, dx)`` at each point, same convention as :meth:`displacement`.
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        frames = np.broadcast_to(np.asarray(t), (len(pts),)).astype(np.int64)
        for f in np.unique(frames):
            self._check_frame(int(f))
        Y, X = self.shape
        a = self.nonrigid_modes[:, 0][None, :]
        b = self.nonrigid_modes[:, 1][None, :]
        phi = np.cos(np.pi * a * (pts[:, :1] + 0.5) / Y) * np.cos(
            np.pi * b * (pts[:, 1:] + 0.5) / X
        )  # (n, M)
        coef = self.nonrigid_coefficients[frames].astype(np.float64)  # (n, 2, M)
        out = np.einsum("nam,nm->na", coef, phi)
        out += self.shifts[frames].astype(np.float64)
        return out

    def frame_to_reference(self, points: Any, t: int | Sequence[int] | np.ndarray) -> np.ndarray:
        """Reference position of the content seen at ``points`` of frame ``t``.

        Exact by construction: ``q = o - d(o)``.

        Parameters
        ----------
        points : array_like, shape (n, 2)
            ``(row, column)`` positions in frame ``t``.
        t : int or array_like of int, shape (n,)
            Frame index, one for all points or one per point.

        Returns
        -------
        ndarray, shape (n, 2)
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return pts - self.displacement_at(pts, t)

    def reference_to_frame(
        self, points: Any, t: int | Sequence[int] | np.ndarray, *, iterations: int = 8
    ) -> np.ndarray:
        """Where the reference ``points`` appear in frame ``t``.

        Solves ``o - d(o) = q`` by fixed-point iteration ``o <- q + d(o)``, which
        converges because the non-rigid field is smooth (its gradient is far below 1).
        For a rigid-only movie this is exactly ``q + shifts[t]``.

        Parameters
        ----------
        points : array_like, shape (n, 2)
            ``(row, column)`` positions in the reference.
        t : int or array_like of int, shape (n,)
            Frame index, one for all points or one per point.
        iterations : int
            Fixed-point iterations (each divides the error by about 1 / |grad d|).

        Returns
        -------
        ndarray, shape (n, 2)

        Examples
        --------
        >>> _, truth = simulate(n_frames=5, shape=(64, 64), n_cells=2, rng=0)
        >>> q = np.array([[20.0, 30.0]])
        >>> o = truth.reference_to_frame(q, 2)
        >>> bool(np.allclose(truth.frame_to_reference(o, 2), q, atol=1e-6))
        True
        """
        q = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        o = q + self.displacement_at(q, t)
        for _ in range(int(iterations)):
            o = q + self.displacement_at(o, t)
        return o

    def _check_frame(self, t: int) -> int:
        t = int(t)
        if not -self.n_frames <= t < self.n_frames:
            raise ValueError(f"t must be a frame index in [0, {self.n_frames}), got {t}.")
        return t % self.n_frames

    # -- noiseless renderings -----------------------------------------------------------

    def clean_frames(
        self, start: int = 0, stop: int | None = None, *, motion: bool = True
    ) -> np.ndarray:
        """Noise-free frames ``start:stop`` (offset + bleaching × scene, float32).

        Parameters
        ----------
        start, stop : int
            Frame range (``stop=None`` means the end).
        motion : bool
            Apply the planted motion (True) or render the reference, unmoved scene.

        Returns
        -------
        ndarray, shape (stop - start, Y, X), float32

        Examples
        --------
        >>> movie, truth = simulate(n_frames=6, shape=(32, 32), n_cells=2,
        ...                         photon_noise="none", read_noise=0, dtype="float32")
        >>> bool(np.allclose(truth.clean_frames(), movie, atol=1e-3))
        True
        """
        renderer = self._require_renderer()
        start, stop = self._check_range(start, stop)
        out = np.empty((stop - start, *self.shape), np.float32)
        for t0 in range(start, stop, _BLOCK):
            t1 = min(stop, t0 + _BLOCK)
            out[t0 - start : t1 - start] = renderer.render(t0, t1, motion=motion, noise=False)
        return out

    def mean_image(self) -> np.ndarray:
        """Expected temporal mean of the unmoved, noise-free movie (float32, (Y, X)).

        This is the ideal motion-correction template.
        """
        w = self.bleaching.astype(np.float64)
        act = (self.baseline * w.mean() + self.traces @ w / self.n_frames).astype(np.float32)
        bact = (self.branch_baseline * w.mean() + self.branch_traces @ w / self.n_frames).astype(
            np.float32
        )
        bg = (self.background_temporal @ w / self.n_frames).astype(np.float32)
        img = np.tensordot(act, self.footprints, axes=1) if self.n_cells else 0.0
        img = img + (np.tensordot(bact, self.branch_footprints, axes=1) if self.n_branches else 0)
        img = img + np.tensordot(bg, self.background_spatial, axes=1)
        return (np.asarray(img, np.float32) + np.float32(self.offset)).astype(np.float32)

    def render(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start:stop`` of the simulated movie itself (noisy, movie dtype).

        ``truth.render(a, b)`` equals ``simulate(...)[0][a:b]`` for the same arguments:
        any part of a movie can be regenerated without rendering the rest.

        Parameters
        ----------
        start, stop : int
            Frame range (``stop=None`` means the end).

        Returns
        -------
        ndarray, shape (stop - start, Y, X)
        """
        renderer = self._require_renderer()
        start, stop = self._check_range(start, stop)
        out = np.empty((stop - start, *self.shape), np.dtype(self.params["dtype"]))
        for t0 in range(start, stop, _BLOCK):
            t1 = min(stop, t0 + _BLOCK)
            out[t0 - start : t1 - start] = renderer.movie_block(t0, t1)
        return out

    def to_dask(self, *, chunk_frames: int = _BLOCK):
        """The simulated movie as a lazy dask array (rendered chunk by chunk on demand).

        Costs no memory until computed; any chunk equals the same frames of
        :func:`simulate`'s movie. Good for large sample data in napari.

        Parameters
        ----------
        chunk_frames : int
            Frames per dask chunk.

        Returns
        -------
        dask.array.Array, shape (T, Y, X)

        Examples
        --------
        >>> movie, truth = simulate(n_frames=40, shape=(32, 32), n_cells=2, rng=5)
        >>> lazy = truth.to_dask(chunk_frames=16)
        >>> lazy.chunks[0]
        (16, 16, 8)
        >>> bool((lazy[10:30].compute() == movie[10:30]).all())
        True
        """
        import dask.array as da
        from dask.base import tokenize

        chunk_frames = _check_int("chunk_frames", chunk_frames, 1)
        renderer = self._require_renderer()
        T, (Y, X) = self.n_frames, self.shape
        dtype = np.dtype(self.params["dtype"])
        sizes = tuple(min(chunk_frames, T - t0) for t0 in range(0, T, chunk_frames))

        def block(block_info: dict | None = None) -> np.ndarray:
            (t0, t1), _, _ = block_info[None]["array-location"]
            return renderer.movie_block(t0, t1)

        return da.map_blocks(
            block,
            chunks=(sizes, (Y,), (X,)),
            dtype=dtype,
            meta=np.empty((0, 0, 0), dtype),
            name="simulated-movie-" + tokenize(jsonable(self.params), chunk_frames),
        )

    def _check_range(self, start: int, stop: int | None) -> tuple[int, int]:
        stop = self.n_frames if stop is None else int(stop)
        start = int(start)
        if not 0 <= start <= stop <= self.n_frames:
            raise ValueError(f"start:stop must lie in [0, {self.n_frames}], got {start}:{stop}.")
        return start, stop

    def _require_renderer(self) -> _Renderer:
        if self._renderer is None:
            raise RuntimeError(
                "this GroundTruth has no renderer (it was loaded or copied without one); "
                "call simulate() again with the same params and seed."
            )
        return self._renderer

    # -- summaries ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: counts, shapes, AR coefficients, motion range and params.

        Examples
        --------
        >>> import json
        >>> _, truth = simulate(n_frames=5, shape=(32, 32), n_cells=2, rng=0)
        >>> json.loads(json.dumps(truth.to_dict()))["n_cells"]
        2
        """
        return {
            "mode": self.mode,
            "seed": int(self.seed),
            "n_frames": int(self.n_frames),
            "shape": [int(s) for s in self.shape],
            "frame_rate": float(self.frame_rate),
            "n_cells": self.n_cells,
            "n_branches": self.n_branches,
            "n_groups": self.n_groups,
            "n_junctions": int(len(self.branch_graph["edges"])),
            "n_segments": int(self.branch_graph["n_segments"]),
            "n_overlapping_pairs": int(len(self.overlapping_pairs)),
            "n_background_components": int(self.background_spatial.shape[0]),
            "g": [float(v) for v in self.g],
            "n_spikes": int(self.spike_counts.sum()),
            "max_abs_shift": float(np.abs(self.shifts).max()) if self.n_frames else 0.0,
            "max_abs_nonrigid": float(
                np.abs(self.nonrigid_coefficients).sum(axis=-1).max() if self.n_frames else 0
            ),
            "final_bleaching": float(self.bleaching[-1]),
            "offset": float(self.offset),
            "gain": float(self.gain),
            "read_noise": float(self.read_noise),
            "params": jsonable(self.params),
        }


def label_footprints(footprints: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """Label image of footprints ``(K, Y, X)``: pixel → footprint ``k + 1`` where it is at
    least ``threshold`` of that footprint's peak and relatively strongest (the rule of
    :meth:`GroundTruth.labels`)."""
    threshold = float(threshold)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}.")
    shape = footprints.shape[1:]
    labels = np.zeros(shape, np.int32)
    best = np.zeros(shape, np.float32)
    for k, fp in enumerate(footprints):
        peak = float(fp.max())
        if peak <= 0:
            continue
        rel = fp / peak
        take = (rel >= threshold) & (rel > best)
        labels[take] = k + 1
        best[take] = rel[take]
    return labels


# --------------------------------------------------------------------------------------
# Renderer: the single code path that turns a GroundTruth into frames
# --------------------------------------------------------------------------------------


class _Renderer:
    """Renders frames of a GroundTruth on a padded canvas (so motion never shows edges)."""

    def __init__(
        self,
        truth: GroundTruth,
        *,
        pad: int,
        background_canvas: np.ndarray,
        photon_noise: str,
        motion: bool,
        nonrigid: bool,
    ) -> None:
        Y, X = truth.shape
        self.truth = truth
        self.pad = pad
        self.canvas_shape = (Y + 2 * pad, X + 2 * pad)
        self.photon_noise = photon_noise
        self.motion = motion
        self.nonrigid = nonrigid
        Yp, Xp = self.canvas_shape
        # sparse (K + B, P) matrix of all source footprints placed on the canvas
        stacked = [truth.footprints, truth.branch_footprints]
        rows, cols, vals = [], [], []
        offset = 0
        for block in stacked:
            for i, fp in enumerate(block):
                r, c = np.nonzero(fp)
                rows.append(np.full(r.size, offset + i, np.int64))
                cols.append((r + pad) * Xp + (c + pad))
                vals.append(fp[r, c])
            offset += block.shape[0]
        n_src = offset
        if n_src:
            # (Pu, K + B) over the Pu canvas pixels that some source covers
            all_cols = np.concatenate(cols)
            self.support, inverse = np.unique(all_cols, return_inverse=True)
            self.sources = sparse.csr_matrix(
                (np.concatenate(vals), (inverse.ravel(), np.concatenate(rows))),
                shape=(self.support.size, n_src),
                dtype=np.float32,
            )
        else:
            self.sources = None
        self.background = background_canvas.reshape(len(background_canvas), -1).astype(np.float32)
        if nonrigid:
            self.mode_fields = _mode_fields(truth.nonrigid_modes, truth.shape)
            grid = np.mgrid[0:Y, 0:X].astype(np.float32)
            self.grid = grid + np.float32(pad)

    def scene(self, start: int, stop: int) -> np.ndarray:
        """Bleached, unmoved, noise-free scene on the canvas, (n, Yp, Xp) float32."""
        tr = self.truth
        n = stop - start
        bleach = tr.bleaching[start:stop].astype(np.float32)
        # bleaching folded into the (small) time courses rather than the frames
        temporal = (tr.background_temporal[:, start:stop] * bleach).T.astype(np.float32)
        scene = temporal @ self.background
        if self.sources is not None:
            act = np.concatenate(
                [
                    tr.baseline[:, None] + tr.traces[:, start:stop],
                    tr.branch_baseline[:, None] + tr.branch_traces[:, start:stop],
                ]
            ).astype(np.float32)
            act *= bleach
            scene[:, self.support] += (self.sources @ act).T
        return scene.reshape(n, *self.canvas_shape)

    def warp(self, canvas: np.ndarray, t: int, out: np.ndarray, *, motion: bool = True) -> None:
        """Sample one canvas frame at the displaced coordinates of frame ``t``."""
        Y, X = self.truth.shape
        p = self.pad
        if not (self.motion and motion):
            out[...] = canvas[p : p + Y, p : p + X]
            return
        if self.nonrigid:
            field_ = _field(
                self.truth.nonrigid_coefficients[t], self.truth.shifts[t], self.mode_fields
            )
            # bilinear gather (5x faster than ndimage.map_coordinates, same values);
            # the canvas padding exceeds any displacement, the clip is only a guard
            Yp, Xp = self.canvas_shape
            coords = self.grid - field_
            base = np.floor(coords)
            coords -= base  # now the fractional parts
            iy = np.clip(base[0].astype(np.intp), 0, Yp - 2)
            ix = np.clip(base[1].astype(np.intp), 0, Xp - 2)
            idx = iy * Xp + ix
            flat = canvas.reshape(-1)
            a, b = flat.take(idx), flat.take(idx + 1)
            top = b - a
            top *= coords[1]
            top += a
            a, b = flat.take(idx + Xp), flat.take(idx + Xp + 1)
            b -= a
            b *= coords[1]
            b += a  # bottom row
            b -= top
            b *= coords[0]
            np.add(top, b, out=out)
            return
        # rigid: bilinear interpolation by four shifted slices (fast)
        sy = p - float(self.truth.shifts[t, 0])
        sx = p - float(self.truth.shifts[t, 1])
        iy, ix = math.floor(sy), math.floor(sx)
        fy, fx = np.float32(sy - iy), np.float32(sx - ix)
        one = np.float32(1)
        np.multiply(canvas[iy : iy + Y, ix : ix + X], (one - fy) * (one - fx), out=out)
        out += canvas[iy : iy + Y, ix + 1 : ix + 1 + X] * ((one - fy) * fx)
        out += canvas[iy + 1 : iy + 1 + Y, ix : ix + X] * (fy * (one - fx))
        out += canvas[iy + 1 : iy + 1 + Y, ix + 1 : ix + 1 + X] * (fy * fx)

    def add_noise(self, frame: np.ndarray, t: int) -> None:
        """Add shot and read noise to one frame in place (per-frame seeded stream)."""
        tr = self.truth
        if self.photon_noise == "none" and tr.read_noise == 0:
            return
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(tr.seed, spawn_key=(_NOISE_KEY, t)))
        )
        if self.photon_noise == "poisson":
            lam = np.maximum(frame, 0) / np.float32(tr.gain)
            frame[...] = rng.poisson(lam).astype(np.float32) * np.float32(tr.gain)
            if tr.read_noise:
                frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(
                    tr.read_noise
                )
            return
        z = rng.standard_normal(frame.shape, dtype=np.float32)
        if self.photon_noise == "gaussian":
            # normal approximation of the shot noise: variance = gain * expected counts
            sd = np.maximum(frame, 0)
            if tr.gain != 1:
                sd *= np.float32(tr.gain)
            if tr.read_noise:
                sd += np.float32(tr.read_noise**2)
            np.sqrt(sd, out=sd)
            z *= sd
        else:
            z *= np.float32(tr.read_noise)
        frame += z

    def render(self, start: int, stop: int, *, motion: bool = True, noise: bool = True):
        """Frames ``start:stop`` as float32 ``(n, Y, X)`` (offset included)."""
        scene = self.scene(start, stop)
        out = np.empty((stop - start, *self.truth.shape), np.float32)
        for i in range(stop - start):
            self.warp(scene[i], start + i, out[i], motion=motion)
            if noise:
                self.add_noise(out[i], start + i)
        out += np.float32(self.truth.offset)
        return out

    def movie_block(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` of the movie, noisy, in the movie dtype.

        Thread-safe: blocks share only read-only arrays, and each frame's noise comes
        from its own seeded stream.
        """
        return _convert(self.render(start, stop), self.truth.params["dtype"])


def _field(coef: np.ndarray, shift: np.ndarray, mode_fields: np.ndarray) -> np.ndarray:
    """Total displacement field (2, Y, X) float32 from mode coefficients (2, M) and the
    rigid shift (a loop of axpy: BLAS is slow for this (2, M) @ (M, P) shape)."""
    out = np.empty((2, *mode_fields.shape[1:]), np.float32)
    for axis in range(2):
        out[axis] = np.float32(shift[axis])
        for m in range(len(mode_fields)):
            c = np.float32(coef[axis, m])
            if c:
                out[axis] += mode_fields[m] * c
    return out


def _deformation_modes(seed: int, frequency: int, n_frames: int,
                       frame_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Three distinct cosine modes up to ``frequency`` and their time courses.

    Drawn from a random stream of their own (``[seed, 1729]``). Returns the modes
    ``(3, 2)`` int and unscaled coefficients ``(T, 2, 3)``.
    """
    rng = np.random.default_rng([seed, 1729])
    choices = [(a, b) for a in range(frequency + 1) for b in range(frequency + 1)
               if (a, b) != (0, 0)]
    pick = rng.choice(len(choices), size=3, replace=False)
    modes = np.array([choices[i] for i in pick], dtype=np.int64)
    coef = _ou(rng, 6, n_frames, 1.0 * frame_rate).reshape(2, 3, n_frames).transpose(2, 0, 1)
    return modes, coef


def _mode_fields(modes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Spatial non-rigid modes, (M, Y, X) float32, each with values in [-1, 1]."""
    Y, X = shape
    y = (np.arange(Y, dtype=np.float64) + 0.5) / Y
    x = (np.arange(X, dtype=np.float64) + 0.5) / X
    out = np.empty((len(modes), Y, X), np.float32)
    for m, (a, b) in enumerate(modes):
        out[m] = np.cos(np.pi * a * y)[:, None] * np.cos(np.pi * b * x)[None, :]
    return out


def _convert(frames: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "float32":
        return frames
    np.rint(frames, out=frames)
    np.clip(frames, 0, np.iinfo(np.uint16).max, out=frames)
    return frames.astype(np.uint16)


# --------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------


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


def _ou(rng: np.random.Generator, size: int, n: int, tau: float) -> np.ndarray:
    """``size`` stationary Ornstein-Uhlenbeck series of unit variance, time constant
    ``tau`` frames, shape (size, n)."""
    rho = math.exp(-1.0 / max(tau, 1e-6))
    x0 = rng.standard_normal((size, 1))
    e = rng.standard_normal((size, n)) * math.sqrt(1 - rho * rho)
    y, _ = signal.lfilter([1.0], [1.0, -rho], e, axis=-1, zi=rho * x0)
    return y


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Smooth random field in [0, 1] (Gaussian-filtered white noise, via FFT)."""
    noise = rng.standard_normal(shape)
    f = np.fft.irfft2(ndimage.fourier_gaussian(np.fft.rfft2(noise), sigma, n=shape[1]), s=shape)
    f -= f.min()
    top = f.max()
    return f / top if top > 0 else f


def _soma_footprint(
    shape: tuple[int, int],
    center: np.ndarray,
    axes: tuple[float, float],
    angle: float,
    *,
    nucleus: bool,
    blur: float,
    edge: float = 0.7,
) -> np.ndarray:
    """Soft ellipse (optionally with a dark nucleus), zero far from the cell."""
    Y, X = shape
    a, b = axes
    half = int(math.ceil(max(a, b) + 4 * blur + 3))
    cy, cx = center
    r0, r1 = max(0, int(cy) - half), min(Y, int(cy) + half + 2)
    c0, c1 = max(0, int(cx) - half), min(X, int(cx) + half + 2)
    rr, cc = np.mgrid[r0:r1, c0:c1].astype(np.float64)
    dy, dx = rr - cy, cc - cx
    u = dy * math.cos(angle) + dx * math.sin(angle)
    v = -dy * math.sin(angle) + dx * math.cos(angle)
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    scale = min(a, b) / edge
    f = 1.0 / (1.0 + np.exp(-(1.0 - rho) * scale))  # soft edge about `edge` px wide
    f *= 1.0 - 0.25 * np.clip(rho, 0, 1) ** 2  # slightly brighter centre
    if nucleus:
        f *= 1.0 - 0.6 / (1.0 + np.exp(-(0.45 - rho) * scale))
    if blur > 0:
        f = ndimage.gaussian_filter(f, blur, mode="constant")
    out = np.zeros(shape, np.float32)
    f[f < 1e-3 * f.max()] = 0
    out[r0:r1, c0:c1] = f
    return out


def _tube_footprint(shape: tuple[int, int], path: np.ndarray, width: float) -> np.ndarray:
    """Gaussian tube of standard deviation ``width`` around a polyline."""
    Y, X = shape
    # dense resampling so point-to-point distance approximates point-to-curve distance
    seg = np.diff(path, axis=0)
    lengths = np.hypot(seg[:, 0], seg[:, 1])
    s = np.concatenate([[0], np.cumsum(lengths)])
    fine = np.arange(0, s[-1] + 1e-9, 0.2)
    dense = np.column_stack([np.interp(fine, s, path[:, 0]), np.interp(fine, s, path[:, 1])])
    reach = 4.0 * width + 1
    r0 = max(0, int(np.floor(dense[:, 0].min() - reach)))
    r1 = min(Y, int(np.ceil(dense[:, 0].max() + reach)) + 1)
    c0 = max(0, int(np.floor(dense[:, 1].min() - reach)))
    c1 = min(X, int(np.ceil(dense[:, 1].max() + reach)) + 1)
    rr, cc = np.mgrid[r0:r1, c0:c1]
    pix = np.column_stack([rr.ravel(), cc.ravel()]).astype(np.float64)
    dist, _ = cKDTree(dense).query(pix, distance_upper_bound=reach)
    near = np.isfinite(dist)  # query() returns inf beyond `reach`
    vals = np.zeros(dist.shape)
    vals[near] = np.exp(-0.5 * (dist[near] / width) ** 2)
    out = np.zeros(shape, np.float32)
    out[r0:r1, c0:c1] = vals.reshape(rr.shape)
    return out


def _grow_path(
    rng: np.random.Generator,
    start: np.ndarray,
    heading: float,
    length: float,
    shape: tuple[int, int],
    margin: float,
) -> np.ndarray:
    """Smooth random curve from ``start``: heading follows smoothed random turns; the
    curve stops at the frame margin. Returns (n, 2) points 1 px apart."""
    n = max(2, int(length))
    turns = ndimage.gaussian_filter1d(rng.standard_normal(n), 6.0) * 0.25
    theta = heading + np.cumsum(turns)
    steps = np.column_stack([np.sin(theta), np.cos(theta)])
    pts = np.vstack([start, start + np.cumsum(steps, axis=0)])
    Y, X = shape
    inside = (
        (pts[:, 0] >= margin)
        & (pts[:, 0] <= Y - 1 - margin)
        & (pts[:, 1] >= margin)
        & (pts[:, 1] <= X - 1 - margin)
    )
    stop = len(pts) if inside.all() else int(np.argmin(inside))
    return pts[:stop]


def _check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    try:
        ok = float(value) >= 0 if allow_zero else float(value) > 0
        ok = ok and math.isfinite(float(value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}.")


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _resolve_seed(rng: Any) -> int:
    if rng is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return int(rng)
    raise ValueError(
        f"rng must be a numpy.random.Generator, a non-negative int or None, got {rng!r}."
    )


# --------------------------------------------------------------------------------------
# Scene and activity
# --------------------------------------------------------------------------------------


def _place_cells(
    rng: np.random.Generator,
    shape: tuple[int, int],
    n_cells: int,
    radius: tuple[float, float],
    margin: float,
    n_pairs: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres, semi-axes and orientations; ``n_pairs`` pairs placed overlapping."""
    Y, X = shape
    axes = rng.uniform(radius[0], radius[1], size=(n_cells, 2))
    # moderate ellipticity: minor axis 65-100 % of major
    axes[:, 1] = axes[:, 0] * rng.uniform(0.65, 1.0, n_cells)
    angles = rng.uniform(0, np.pi, n_cells)
    size = axes.max(axis=1)
    centers = np.zeros((n_cells, 2))
    partner = np.full(n_cells, -1)
    lo = np.array([margin, margin])
    hi = np.array([Y - 1 - margin, X - 1 - margin])
    if n_cells and np.any(hi <= lo):
        raise ValueError(f"shape {shape} is too small for cells of radius up to {radius[1]!r}.")
    crowded = False
    for k in range(n_cells):
        overlap = k % 2 == 1 and (k // 2) < n_pairs
        for _ in range(500):
            if overlap:
                j = k - 1
                dist = rng.uniform(0.55, 0.8) * (size[k] + size[j])
                phi = rng.uniform(0, 2 * np.pi)
                c = centers[j] + dist * np.array([np.sin(phi), np.cos(phi)])
            else:
                c = rng.uniform(lo, hi)
            if np.any(c < lo) or np.any(c > hi):
                continue
            others = [i for i in range(k) if not (overlap and i == k - 1)]
            if others:
                dmin = np.hypot(*(centers[others] - c).T) - (size[others] + size[k] + 1.5)
                if dmin.min() < 0:
                    continue
            break
        else:
            crowded = True
        centers[k] = c
        if overlap:
            partner[k] = k - 1
    if crowded:
        logger.warning(
            "simulate: could not place all %d cells without unplanned overlaps in %s",
            n_cells,
            shape,
        )
    return centers, axes, angles


def _overlapping_pairs(footprints: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    if len(footprints) < 2:
        return np.zeros((0, 2), np.int64)
    peaks = footprints.reshape(len(footprints), -1).max(axis=1)
    masks = footprints.reshape(len(footprints), -1) >= threshold * peaks[:, None]
    m = sparse.csr_matrix(masks.astype(np.float32))
    co = (m @ m.T).toarray()
    i, j = np.nonzero(np.triu(co, 1) > 0)
    return np.column_stack([i, j]).astype(np.int64)


def _first_conflict(
    path: np.ndarray,
    others: np.ndarray,
    owners: np.ndarray,
    discs: np.ndarray,
    clearance: float,
    *,
    junction: np.ndarray | None = None,
    parent: int = -1,
) -> int:
    """Index of the first point of ``path`` that comes closer than ``clearance`` to
    another centre line (``others``, each point's branch in ``owners``), to itself
    (points more than ``3 * clearance`` apart along the curve) or into a keep-out disc
    (rows ``y, x, radius``); ``len(path)`` when none does.

    A child leaves its parent at ``junction``: within ``2 * clearance`` of the junction
    its points need only keep half their distance to the junction from the parent
    (a fork of 30 degrees or more).
    """
    n = len(path)
    bad = np.zeros(n, bool)
    if len(others):
        d = cdist(path, others)
        need = np.full(n, clearance)
        if junction is not None:
            # near the fork the child may be closer to its parent, but it must keep
            # diverging (at least 30 degrees): it may not curl back along the parent
            r = np.hypot(*(path - junction).T)
            near = r < 2 * clearance
            own = owners == parent
            bad |= near & (d[:, own].min(axis=1) < np.minimum(clearance, 0.5 * r) - 1e-9)
            d[np.ix_(near, own)] = np.inf
        bad |= d.min(axis=1) < need
    if len(discs):
        bad |= (cdist(path, discs[:, :2]) < discs[:, 2]).any(axis=1)
    gap = int(3 * clearance)
    if n > gap:
        d = cdist(path, path)
        idx = np.arange(n)
        d[np.abs(idx[:, None] - idx[None, :]) <= gap] = np.inf
        bad |= d.min(axis=1) < clearance
    return int(np.argmax(bad)) if bad.any() else n


def _neurite_trees(
    rng: np.random.Generator,
    shape: tuple[int, int],
    n_groups: int,
    per_group: int,
    *,
    margin: float,
    clearance: float,
    discs: np.ndarray,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Grow ``n_groups`` branching trees whose 2-D image has the planted graph.

    Each tree is a long smooth root with children leaving it (or an earlier child) at
    35-75 degrees. Every centre line keeps ``clearance`` px from every other one (and
    from itself) except where a child leaves its parent, and stays out of the
    keep-out ``discs`` (rows ``y, x, radius``: the somata, and a soma-sized room at
    each root's free end so that a soma can sit there): a branch that would come
    closer stops short, as a growing neurite stops at an obstacle. So no two neurites
    cross or touch and the image's junctions are exactly the planted ones; junctions
    on one parent are ``2 * clearance`` px apart and as far from the parent's ends.

    Returns paths, group of each branch, edges (parent, child) and junction
    coordinates.
    """
    Y, X = shape
    size = min(Y, X)
    paths: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    groups: list[int] = []
    edges: list[tuple[int, int]] = []
    junctions: list[np.ndarray] = []
    discs = np.asarray(discs, np.float64).reshape(-1, 3)
    min_len = max(6.0, 0.08 * size, 2 * clearance)
    room = clearance + 8.0  # keep-out radius around a root's free end
    spacing = 2 * clearance  # junction to junction / parent end, each side

    def existing() -> tuple[np.ndarray, np.ndarray]:
        if not paths:
            return np.zeros((0, 2)), np.zeros(0, np.int64)
        return np.concatenate(paths), np.concatenate(owners)

    for gid in range(n_groups):
        members: list[int] = []
        # root: a long smooth curve through the field
        lo = np.maximum([0.15 * Y, 0.15 * X], margin)
        hi = np.minimum([0.85 * Y, 0.85 * X], [Y - 1 - margin, X - 1 - margin])
        if np.any(hi < lo):
            raise ValueError(f"shape {shape} is too small for neurites (n_neurite_groups > 0).")
        others, owner = existing()
        path = np.zeros((0, 2))
        for _ in range(200):
            start = rng.uniform(lo, hi)
            length = max(rng.uniform(0.35, 0.6) * size, 4 * spacing)  # room for forks
            trial = _grow_path(rng, start, rng.uniform(0, 2 * np.pi), length, shape, margin)
            if len(others) and cdist(start[None], others).min() < room + clearance:
                continue
            trial = trial[: _first_conflict(trial, others, owner, discs, clearance)]
            if len(trial) > len(path):
                path = trial
            if len(path) >= min(length, 4 * spacing):
                break
        if len(path) < min_len:
            logger.warning("simulate: no room for neurite group %d in %s", gid, shape)
            continue
        discs = np.vstack([discs, [*path[0], room]])
        paths.append(path)
        owners.append(np.full(len(path), len(paths) - 1))
        groups.append(gid)
        members.append(len(paths) - 1)
        used: dict[int, list[int]] = {len(paths) - 1: []}
        for _ in range(per_group - 1):
            others, owner = existing()
            for _attempt in range(200):
                parent = members[int(rng.integers(len(members)))]
                ppath = paths[parent]
                lo_i = max(int(0.2 * len(ppath)), int(spacing))
                hi_i = min(int(0.8 * len(ppath)), len(ppath) - 1 - int(spacing))
                if hi_i < lo_i:
                    continue
                idx = int(rng.integers(lo_i, hi_i + 1))
                if any(abs(idx - u) < spacing for u in used[parent]):
                    continue
                tangent = ppath[min(idx + 1, len(ppath) - 1)] - ppath[max(idx - 1, 0)]
                base = math.atan2(tangent[0], tangent[1])
                heading = base + rng.choice([-1, 1]) * rng.uniform(np.radians(35), np.radians(75))
                length = max(rng.uniform(0.15, 0.35) * size, 2 * spacing)
                child = _grow_path(rng, ppath[idx], heading, length, shape, margin)
                child = child[
                    : _first_conflict(
                        child, others, owner, discs, clearance, junction=ppath[idx], parent=parent
                    )
                ]
                if len(child) >= min_len:
                    break
            else:
                logger.warning("simulate: could not grow all branches of neurite group %d", gid)
                break
            paths.append(child)
            owners.append(np.full(len(child), len(paths) - 1))
            groups.append(gid)
            members.append(len(paths) - 1)
            used[len(paths) - 1] = []
            used[parent].append(idx)
            edges.append((parent, len(paths) - 1))
            junctions.append(ppath[idx].copy())
    return (
        paths,
        np.asarray(groups, np.int64),
        np.asarray(edges, np.int64).reshape(-1, 2),
        np.asarray(junctions, np.float64).reshape(-1, 2),
    )


def _build(params: dict[str, Any], seed: int) -> GroundTruth:
    """Build the scene, activity and motion of a movie (everything but the pixels)."""
    p = params
    rng = np.random.default_rng(seed)
    T = p["n_frames"]
    Y, X = p["shape"]
    shape = (Y, X)
    fr = p["frame_rate"]
    mode = p["mode"]
    blur = float(p["cell_blur"])

    g = ar_coefficients(
        decay_time=p["decay_time"],
        rise_time=p["rise_time"],
        frame_rate=fr,
        ar_order=p["ar_order"],
    )
    h_peak = _impulse_peak(g)

    # ---- somata ------------------------------------------------------------------------
    K = p["n_cells"]
    n_pairs = int(round(p["overlap_fraction"] * K / 2))
    n_pairs = min(n_pairs, K // 2)
    margin = p["cell_radius"][1] + 2 * blur + 3
    centers, axes, angles = _place_cells(rng, shape, K, p["cell_radius"], margin, n_pairs)
    has_nucleus = rng.random(K) < p["nucleus_fraction"]
    footprints = np.zeros((K, Y, X), np.float32)
    for k in range(K):
        fp = _soma_footprint(
            shape,
            centers[k],
            (axes[k, 0], axes[k, 1]),
            angles[k],
            nucleus=has_nucleus[k],
            blur=blur,
        )
        footprints[k] = fp / np.linalg.norm(fp)
    brightness = p["brightness"] * rng.lognormal(0.0, 0.3, K)
    peaks = footprints.reshape(K, -1).max(axis=1) if K else np.zeros(0)
    baseline = brightness / np.where(peaks > 0, peaks, 1)
    dff = p["spike_amplitude"] * rng.lognormal(0.0, 0.25, K)
    amplitudes = dff * baseline / h_peak
    rates = p["spike_rate"] * rng.lognormal(-0.125, 0.5, K)
    spike_counts = rng.poisson(np.broadcast_to((rates / fr)[:, None], (K, T))).astype(np.int16)
    spikes = (spike_counts * amplitudes[:, None]).astype(np.float32)
    traces = _ar_filter(spikes.astype(np.float64), g).astype(np.float32)

    # ---- neurites ----------------------------------------------------------------------
    width = float(np.hypot(p["neurite_width"], blur))
    # The trees come from their own stream, so a seed grows the same trees whatever
    # n_cells is (they only stop short where a soma is in the way).
    tree_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_TREE_KEY,)))
    clearance = max(6.0, 4.0 * width)
    discs = np.column_stack([centers, axes.max(axis=1) + 2 * blur + clearance]) if K else None
    paths, branch_groups, edges, junctions = _neurite_trees(
        tree_rng,
        shape,
        p["n_neurite_groups"],
        p["branches_per_group"],
        margin=4 * width + 1,
        clearance=clearance,
        discs=np.zeros((0, 3)) if discs is None else discs,
    )
    B = len(paths)
    G = p["n_neurite_groups"]
    branch_footprints = np.zeros((B, Y, X), np.float32)
    for b, path in enumerate(paths):
        fp = _tube_footprint(shape, path, width)
        branch_footprints[b] = fp / np.linalg.norm(fp)
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

    # ---- motion ------------------------------------------------------------------------
    if p["motion"] and p["max_shift"] > 0:
        raw = _ou(rng, 2, T, 2.0 * fr) + 0.25 * _ou(rng, 2, T, 0.15 * fr)
        top = np.abs(raw).max(axis=1, keepdims=True)
        shifts = (p["max_shift"] * raw / np.where(top > 0, top, 1)).T
    else:
        shifts = np.zeros((T, 2))
    M = len(_NONRIGID_MODES)
    modes = _NONRIGID_MODES.copy()
    if p["motion"] and p["nonrigid"] and p["nonrigid_amplitude"] > 0:
        coef = _ou(rng, 2 * M, T, 1.0 * fr).reshape(2, M, T).transpose(2, 0, 1)  # (T, 2, M)
        if p.get("nonrigid_frequency", 1) > 1:
            # other modes and time courses from a stream of their own: the main stream
            # (cells, activity, background, noise) stays that of the seed
            modes, coef = _deformation_modes(seed, p["nonrigid_frequency"], T, fr)
        total = np.abs(coef).sum(axis=2).max(axis=0)  # (2,)
        coef *= p["nonrigid_amplitude"] / np.where(total > 0, total, 1)[None, :, None]
    else:
        coef = np.zeros((T, 2, M))
    pad = int(math.ceil(p["max_shift"] + p["nonrigid_amplitude"])) + 2 if p["motion"] else 1

    # ---- background and neuropil (on the padded canvas: it moves with the tissue) -----
    Yp, Xp = Y + 2 * pad, X + 2 * pad
    nb = p["n_background_components"]
    level = p["background_brightness"]
    pop = (traces / np.where(amplitudes > 0, amplitudes, 1)[:, None]).mean(axis=0) if K else None
    if pop is None or not np.any(pop):
        pop = group_traces.mean(axis=0) if G else np.zeros(T)
    pop = ndimage.gaussian_filter1d(pop.astype(np.float64), fr)  # ~1 s smoothing
    pop = (pop - pop.mean()) / (pop.std() + 1e-12) if pop.std() > 0 else np.zeros(T)
    bg_canvas = np.zeros((nb, Yp, Xp), np.float32)
    bg_temporal = np.ones((nb, T), np.float32)
    for j in range(nb):
        if mode == "one_photon":
            if j == 0:  # broad vignetted glow of out-of-focus tissue
                cy, cx = rng.normal([Yp / 2, Xp / 2], [0.1 * Yp, 0.1 * Xp])
                yy, xx = np.mgrid[0:Yp, 0:Xp]
                s = 0.55 * max(Yp, Xp)
                spat = np.exp(-0.5 * (((yy - cy) / s) ** 2 + ((xx - cx) / s) ** 2))
                spat = 0.5 * spat + 0.5 * _smooth_field(rng, (Yp, Xp), 0.12 * min(Yp, Xp)) * spat
                weight, temp = 0.6, 1 + 0.03 * _ou(rng, 1, T, 10 * fr)[0] + 0.05 * pop
            else:  # fluctuating out-of-focus blobs: the 1p background's own activity
                spat = _smooth_field(rng, (Yp, Xp), rng.uniform(0.05, 0.1) * min(Yp, Xp)) ** 2
                weight = 0.4 / (nb - 1)
                temp = 1 + 0.25 * _ou(rng, 1, T, rng.uniform(0.5, 3) * fr)[0]
        else:
            if j == 0:  # neuropil, following the smoothed population activity
                spat = 0.4 + 0.6 * _smooth_field(rng, (Yp, Xp), 0.1 * min(Yp, Xp))
                weight, temp = 0.7, 1 + 0.15 * pop + 0.05 * _ou(rng, 1, T, 5 * fr)[0]
            else:  # slow low-rank background
                spat = _smooth_field(rng, (Yp, Xp), rng.uniform(0.05, 0.15) * min(Yp, Xp))
                weight = 0.3 / (nb - 1)
                temp = 1 + 0.1 * _ou(rng, 1, T, 4 * fr)[0]
        spat = spat / max(float(spat[pad : pad + Y, pad : pad + X].mean()), 1e-12)
        bg_canvas[j] = weight * level * spat
        bg_temporal[j] = np.maximum(temp, 0.05)
    background_spatial = bg_canvas[:, pad : pad + Y, pad : pad + X].copy()

    # ---- bleaching ---------------------------------------------------------------------
    if p["bleaching"] > 0 and T > 1:
        rate = -math.log(1 - p["bleaching"])
        bleaching = np.exp(-rate * np.arange(T) / (T - 1)).astype(np.float32)
    else:
        bleaching = np.ones(T, np.float32)

    # ---- noise summary -----------------------------------------------------------------
    gain = float(p["gain"])
    read = float(p["read_noise"])
    mean_bleach = float(bleaching.mean())
    rest = np.tensordot(baseline.astype(np.float32), footprints, axes=1) if K else np.zeros(shape)
    rest = rest + (
        np.tensordot(branch_baseline.astype(np.float32), branch_footprints, axes=1) if B else 0
    )
    rest = rest + np.tensordot(bg_temporal.mean(axis=1), background_spatial, axes=1)
    shot = gain * mean_bleach * np.maximum(rest, 0) if p["photon_noise"] != "none" else 0
    pixel_var = shot + read**2
    pixel_noise_sd = np.sqrt(pixel_var * np.ones(shape)).astype(np.float32)
    noise_sd = (
        np.sqrt(np.tensordot(footprints**2, pixel_noise_sd**2, axes=([1, 2], [0, 1])))
        if K
        else np.zeros(0)
    )

    endpoints = []
    for b, path in enumerate(paths):
        if b not in set(edges[:, 1].tolist()):
            endpoints.append(path[0])
        endpoints.append(path[-1])
    branch_graph = {
        "edges": edges,
        "junctions": junctions,
        "endpoints": np.asarray(endpoints, np.float64).reshape(-1, 2),
        "n_segments": int(B + len(edges)),
    }

    truth = GroundTruth(
        mode=mode,
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
        branch_graph=branch_graph,
        branch_groups=branch_groups,
        branch_traces=branch_traces,
        branch_baseline=branch_baseline,
        group_traces=group_traces,
        group_spikes=group_spikes,
        background_spatial=background_spatial,
        background_temporal=bg_temporal,
        bleaching=bleaching,
        offset=float(p["offset"]),
        gain=gain,
        read_noise=read,
        shifts=shifts.astype(np.float32),
        nonrigid_modes=modes,
        nonrigid_coefficients=coef.astype(np.float32),
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


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------


def _resolve_params(**kw: Any) -> dict[str, Any]:
    """Validate the arguments of :func:`simulate` and fill in mode defaults."""
    mode = kw["mode"]
    if mode not in _MODES:
        raise ValueError(f'mode must be "two_photon" or "one_photon", got {mode!r}.')
    for name, value in MODE_DEFAULTS[mode].items():
        if kw.get(name) is None:
            kw[name] = value
    kw["n_frames"] = _check_int("n_frames", kw["n_frames"], 1)
    shape = kw["shape"]
    if (
        not isinstance(shape, (tuple, list, np.ndarray))
        or len(shape) != 2
        or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 16 for s in shape)
    ):
        raise ValueError(f"shape must be two integers >= 16 (rows, columns), got {shape!r}.")
    kw["shape"] = (int(shape[0]), int(shape[1]))
    kw["n_cells"] = _check_int("n_cells", kw["n_cells"], 0)
    kw["n_neurite_groups"] = _check_int("n_neurite_groups", kw["n_neurite_groups"], 0)
    kw["branches_per_group"] = _check_int("branches_per_group", kw["branches_per_group"], 1)
    kw["n_background_components"] = _check_int(
        "n_background_components", kw["n_background_components"], 1
    )
    kw["nonrigid_frequency"] = _check_int("nonrigid_frequency", kw["nonrigid_frequency"], 1)
    if kw["ar_order"] not in (1, 2) or isinstance(kw["ar_order"], bool):
        raise ValueError(f"ar_order must be 1 or 2, got {kw['ar_order']!r}.")
    for name in ("frame_rate", "decay_time", "rise_time", "brightness", "gain", "neurite_width"):
        _check_positive(name, kw[name])
    for name in (
        "spike_rate",
        "spike_amplitude",
        "background_brightness",
        "read_noise",
        "offset",
        "max_shift",
        "nonrigid_amplitude",
        "branch_noise",
        "cell_blur",
    ):
        _check_positive(name, kw[name], allow_zero=True)
    for name in ("overlap_fraction", "nucleus_fraction"):
        _check_positive(name, kw[name], allow_zero=True)
        if kw[name] > 1:
            raise ValueError(f"{name} must be in [0, 1], got {kw[name]!r}.")
    _check_positive("bleaching", kw["bleaching"], allow_zero=True)
    if not kw["bleaching"] < 1:
        raise ValueError(f"bleaching must be in [0, 1), got {kw['bleaching']!r}.")
    if kw["ar_order"] == 2 and not kw["rise_time"] < kw["decay_time"]:
        raise ValueError(
            f"rise_time must be smaller than decay_time ({kw['decay_time']!r}), "
            f"got {kw['rise_time']!r}."
        )
    radius = kw["cell_radius"]
    try:
        lo, hi = (float(radius[0]), float(radius[1]))
    except (TypeError, ValueError, IndexError):
        lo, hi = -1.0, -1.0
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise ValueError(
            f"cell_radius must be (min, max) semi-axes with 0 < min <= max, got {radius!r}."
        )
    kw["cell_radius"] = (lo, hi)
    if min(kw["shape"]) < 2 * (hi + 2 * kw["cell_blur"] + 3) + 2 and kw["n_cells"]:
        raise ValueError(
            f"shape {kw['shape']} is too small for cell_radius up to {hi!r}; "
            "use a larger shape or smaller cells."
        )
    if kw["photon_noise"] not in _PHOTON_NOISE:
        raise ValueError(
            f'photon_noise must be "gaussian", "poisson" or "none", got {kw["photon_noise"]!r}.'
        )
    if kw["dtype"] not in _DTYPES:
        raise ValueError(f'dtype must be "uint16" or "float32", got {kw["dtype"]!r}.')
    for name in ("motion", "nonrigid"):
        kw[name] = bool(kw[name])
    for name in (
        "frame_rate",
        "decay_time",
        "rise_time",
        "spike_rate",
        "spike_amplitude",
        "brightness",
        "background_brightness",
        "read_noise",
        "gain",
        "offset",
        "max_shift",
        "nonrigid_amplitude",
        "bleaching",
        "branch_noise",
        "neurite_width",
        "overlap_fraction",
        "nucleus_fraction",
        "cell_blur",
    ):
        kw[name] = float(kw[name])
    return kw


def _prepare(
    *,
    n_frames: int = 1000,
    shape: Sequence[int] = (256, 256),
    n_cells: int = 30,
    n_neurite_groups: int = 3,
    branches_per_group: int = 4,
    mode: str = "two_photon",
    frame_rate: float = 30.0,
    ar_order: int = 1,
    decay_time: float | None = None,
    rise_time: float | None = None,
    spike_rate: float = 0.5,
    spike_amplitude: float | None = None,
    brightness: float | None = None,
    cell_radius: tuple[float, float] | None = None,
    cell_blur: float | None = None,
    overlap_fraction: float = 0.2,
    nucleus_fraction: float = 0.3,
    neurite_width: float = 1.0,
    branch_noise: float = 0.1,
    background_brightness: float | None = None,
    n_background_components: int | None = None,
    photon_noise: str = "gaussian",
    read_noise: float | None = None,
    gain: float = 1.0,
    offset: float = 100.0,
    motion: bool = True,
    max_shift: float = 4.0,
    nonrigid: bool = True,
    nonrigid_amplitude: float = 1.0,
    nonrigid_frequency: int = 1,
    bleaching: float = 0.15,
    dtype: str = "uint16",
    rng: np.random.Generator | int | None = 0,
) -> tuple[GroundTruth, str]:
    args = dict(locals())
    rng_arg = args.pop("rng")
    params = _resolve_params(**args)
    seed = _resolve_seed(rng_arg)
    params["rng"] = seed
    truth = _build(params, seed)
    return truth, params["dtype"]


def simulate(
    *,
    n_frames: int = 1000,
    shape: Sequence[int] = (256, 256),
    n_cells: int = 30,
    n_neurite_groups: int = 3,
    branches_per_group: int = 4,
    mode: str = "two_photon",
    frame_rate: float = 30.0,
    ar_order: int = 1,
    decay_time: float | None = None,
    rise_time: float | None = None,
    spike_rate: float = 0.5,
    spike_amplitude: float | None = None,
    brightness: float | None = None,
    cell_radius: tuple[float, float] | None = None,
    cell_blur: float | None = None,
    overlap_fraction: float = 0.2,
    nucleus_fraction: float = 0.3,
    neurite_width: float = 1.0,
    branch_noise: float = 0.1,
    background_brightness: float | None = None,
    n_background_components: int | None = None,
    photon_noise: str = "gaussian",
    read_noise: float | None = None,
    gain: float = 1.0,
    offset: float = 100.0,
    motion: bool = True,
    max_shift: float = 4.0,
    nonrigid: bool = True,
    nonrigid_amplitude: float = 1.0,
    nonrigid_frequency: int = 1,
    bleaching: float = 0.15,
    dtype: str = "uint16",
    rng: np.random.Generator | int | None = 0,
) -> tuple[np.ndarray, GroundTruth]:
    """Simulate a calcium-imaging movie and return it with its ground truth.

    The scene holds elliptic somata (soft edges, some pairs overlapping on purpose, a
    fraction with a dark nucleus), neurite trees organised in coactive groups, a
    spatially smooth neuropil following the population activity, and a low-rank
    background. Spikes are Poisson; calcium follows an AR(1) or AR(2) model [1]_ [2]_
    [3]_. The movie then gets exponential photobleaching, rigid random-walk motion plus
    a smooth non-rigid deformation [5]_, photon shot noise and Gaussian read noise.
    ``mode="one_photon"`` imitates a microendoscope [4]_: a bright, blurry background
    with its own fluctuations dominates larger, blurred cells at low SNR.

    Parameters marked "mode default" take the value of ``MODE_DEFAULTS[mode]`` when
    None. Every value lands in ``truth.params``.

    Parameters
    ----------
    n_frames : int
        Number of frames ``T`` (>= 1).
    shape : tuple of int
        Frame shape ``(rows, columns)``, each >= 16.
    n_cells : int
        Number of somata ``K`` (>= 0).
    n_neurite_groups : int
        Number of coactive neurite groups (trees) ``G`` (>= 0).
    branches_per_group : int
        Branches per group (>= 1): one root curve, the others branch off it or off
        each other, forming junctions. Neurites never cross or touch (centre lines
        keep ``max(6, 4 * width)`` px apart except at a fork) and never enter a soma,
        so the image's junctions are exactly the planted ones; where a frame is too
        crowded a branch stops short or is left out (with a warning). The trees come
        from their own random stream: a seed grows the same trees whatever
        ``n_cells`` is (a branch stops short where a soma is in its way).
    mode : {"two_photon", "one_photon"}
        Imaging mode.
    frame_rate : float
        Frames per second.
    ar_order : {1, 2}
        Order of the calcium AR model (2 adds a finite rise time).
    decay_time, rise_time : float, optional
        Indicator decay and rise time constants in seconds (mode default 0.4 s and
        0.05 s, GCaMP6f-like [6]_); ``rise_time`` is used only with ``ar_order=2``.
    spike_rate : float
        Mean firing rate in Hz (per-cell rates vary log-normally around it); also the
        rate of each neurite group.
    spike_amplitude : float, optional
        Mean peak ΔF/F of one spike (mode default 0.6 two-photon, 0.5 one-photon).
    brightness : float, optional
        Mean resting brightness of a soma at its brightest pixel, in counts (mode
        default 40); neurites rest at 60 % of it.
    cell_radius : tuple of float, optional
        Range of the soma semi-major axis in pixels (mode default (4, 7), one-photon
        (6, 10)).
    cell_blur : float, optional
        Gaussian blur of cells and neurites in pixels (mode default 0, one-photon 2).
    overlap_fraction : float
        Fraction of the cells, in [0, 1], placed in overlapping pairs.
    nucleus_fraction : float
        Fraction of the cells, in [0, 1], with a dark nucleus.
    neurite_width : float
        Standard deviation (px) of the Gaussian cross-section of a neurite.
    branch_noise : float
        Independent activity of each branch, relative to the standard deviation of its
        group's activity (>= 0).
    background_brightness : float, optional
        Mean background + neuropil level in counts (mode default 15 two-photon, 500
        one-photon).
    n_background_components : int, optional
        Number of low-rank background components (mode default 2, one-photon 4).
    photon_noise : {"gaussian", "poisson", "none"}
        Shot noise: ``"gaussian"`` draws it from a normal distribution with the Poisson
        variance (fast, indistinguishable above ~10 photons), ``"poisson"`` draws exact
        Poisson photon counts (about 5x slower), ``"none"`` switches it off.
    read_noise : float, optional
        Standard deviation of the Gaussian read noise in counts (mode default 2,
        one-photon 5).
    gain : float
        Counts per photon.
    offset : float
        Constant added to every pixel (camera/PMT offset), in counts.
    motion : bool
        Apply motion (rigid and, if ``nonrigid``, non-rigid).
    max_shift : float
        Largest rigid displacement along each axis, in pixels (reached once).
    nonrigid : bool
        Add a smooth non-rigid deformation on top of the rigid motion.
    nonrigid_amplitude : float
        Largest non-rigid displacement along each axis, in pixels.
    nonrigid_frequency : int
        Highest spatial frequency of the deformation, in half cycles across the
        frame. 1 (the default): the three slowest cosine modes, ``cos(πy/Y)``,
        ``cos(πx/X)`` and their product, each with its own random time course. A
        larger value draws, per seed, three distinct modes ``cos(πay/Y)·cos(πbx/X)``
        with ``0 <= a, b <= nonrigid_frequency`` (from a random stream of their own,
        so every other output of the seed is unchanged): deformations of different
        spatial frequencies and orientations, e.g. to check piecewise-rigid
        correction on many kinds of field.
    bleaching : float
        Fraction of the fluorescence lost by the last frame, in [0, 1).
    dtype : {"uint16", "float32"}
        Movie dtype; uint16 values are rounded and clipped to [0, 65535].
    rng : {numpy.random.Generator, int, None}
        Seed or generator. A generator or None is turned into an integer seed (stored
        in ``truth.seed``) so that every movie can be reproduced.

    Returns
    -------
    movie : ndarray, shape (n_frames, rows, columns)
        The movie.
    truth : GroundTruth
        Everything planted (see :class:`GroundTruth`).

    Raises
    ------
    ValueError
        When a parameter is out of range; the message names it and its value.

    See Also
    --------
    write_simulated_movie : the same movie written to TIFF in bounded memory.

    Notes
    -----
    The movie is rendered in blocks of 32 frames (in parallel on dask's local threads)
    by the same renderer that :func:`write_simulated_movie`, :meth:`GroundTruth.render`,
    :meth:`GroundTruth.to_dask` and :meth:`GroundTruth.clean_frames` use; the noise of
    frame ``t`` comes from its own seeded stream, so the pixels do not depend on how the
    rendering is chunked or scheduled.

    Examples
    --------
    >>> movie, truth = simulate(n_frames=60, shape=(96, 96), n_cells=5,
    ...                         n_neurite_groups=2, branches_per_group=3, rng=3)
    >>> movie.shape, truth.footprints.shape, truth.branch_footprints.shape
    ((60, 96, 96), (5, 96, 96), (6, 96, 96))
    >>> truth.g.round(3)
    array([0.92])
    >>> bool(np.all(np.abs(truth.shifts) <= 4.0))
    True
    """
    args = dict(locals())
    truth, out_dtype = _prepare(**args)
    import dask.array as da

    movie = np.empty((truth.n_frames, *truth.shape), dtype=np.dtype(out_dtype))
    # blocks of frames rendered in parallel by dask's local threads (numpy, scipy and
    # the random generators release the GIL); a local scheduler even when a
    # distributed client exists, since the result is a local array
    da.store(truth.to_dask(), movie, lock=False, scheduler="threads")
    logger.debug("simulate: rendered %s", truth)
    return movie, truth


def iter_write_simulated_movie(
    path: str | os.PathLike,
    *,
    n_frames: int,
    shape: Sequence[int] = (512, 512),
    chunk_frames: int = 500,
    rng: np.random.Generator | int | None = 0,
    **simulate_kwargs: Any,
) -> Generator[Progress, None, GroundTruth]:
    """Generator twin of :func:`write_simulated_movie`.

    Same parameters (without ``progress``); yields a
    :class:`~napari_amnesia.core.progress.Progress` after every ``chunk_frames`` frames
    and returns the :class:`GroundTruth`. Closing the generator early removes the
    partial file.
    """
    chunk_frames = _check_int("chunk_frames", chunk_frames, 1)
    dtype = simulate_kwargs.pop("dtype", "uint16")
    if dtype != "uint16":
        raise ValueError(f'dtype must be "uint16" for write_simulated_movie, got {dtype!r}.')
    import dask.array as da
    import tifffile

    truth, _ = _prepare(n_frames=n_frames, shape=shape, rng=rng, **simulate_kwargs)
    T = truth.n_frames
    Y, X = truth.shape
    frame_bytes = Y * X * 2
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    bigtiff = T * frame_bytes > _BIGTIFF_BYTES
    try:
        # 1. the TIFF structure of one contiguous (T, Y, X) series, no pixel data yet
        with tifffile.TiffWriter(tmp, bigtiff=bigtiff) as writer:
            writer.write(
                None,
                shape=(T, Y, X),
                dtype=np.uint16,
                photometric="minisblack",
                metadata={"axes": "TYX", "source": "napari_amnesia.simulate", "seed": truth.seed},
            )
        with tifffile.TiffFile(tmp) as tif:
            data_offset = tif.series[0].dataoffset
        if data_offset is None:  # pragma: no cover - tifffile always writes it contiguous
            raise RuntimeError(f"tifffile did not write {tmp} contiguously")
        # 2. pixel data: blocks of frames rendered by dask's local threads, each written
        #    at its place in the file (memory: a few blocks of frames)
        lazy = truth.to_dask()
        with open(tmp, "r+b") as fh:
            for c0 in range(0, T, chunk_frames):
                c1 = min(T, c0 + chunk_frames)
                target = _FileFrames(fh, data_offset + c0 * frame_bytes, frame_bytes)
                da.store(lazy[c0:c1], target, lock=False, scheduler="threads")
                yield Progress(c1, T, "writing simulated movie")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    logger.info("write_simulated_movie: wrote %s (%d frames of %dx%d)", path, T, Y, X)
    return truth


class _FileFrames:
    """``da.store`` target writing whole frames into an open file at ``offset``."""

    def __init__(self, fh: Any, offset: int, frame_bytes: int) -> None:
        self.fh = fh
        self.offset = offset
        self.frame_bytes = frame_bytes
        self.lock = threading.Lock()

    def __setitem__(self, key: tuple[slice, ...], block: np.ndarray) -> None:
        data = np.ascontiguousarray(block, "<u2")
        with self.lock:
            self.fh.seek(self.offset + key[0].start * self.frame_bytes)
            self.fh.write(data.data)


def write_simulated_movie(
    path: str | os.PathLike,
    *,
    n_frames: int,
    shape: Sequence[int] = (512, 512),
    chunk_frames: int = 500,
    rng: np.random.Generator | int | None = 0,
    progress: Callable[[Progress], Any] | None = None,
    **simulate_kwargs: Any,
) -> GroundTruth:
    """Simulate a movie and write it to a contiguous uint16 TIFF in bounded memory.

    The scene, activity and motion are generated once (their size does not grow with
    the pixels × frames product); frames are then rendered in blocks and streamed to
    the file, so memory stays well under 1 GB even for 512 × 512 × 10000 frames (a
    5 GB file). Files over 2 GB are written as BigTIFF. The pixels equal those of
    ``simulate(n_frames=..., shape=..., rng=..., **simulate_kwargs)`` exactly. The file
    is written under a temporary name and renamed when complete.

    Parameters
    ----------
    path : str or path-like
        Output TIFF file.
    n_frames : int
        Number of frames.
    shape : tuple of int
        Frame shape ``(rows, columns)``.
    chunk_frames : int
        Frames between two progress reports.
    rng : {numpy.random.Generator, int, None}
        Seed or generator, as in :func:`simulate`.
    progress : callable, optional
        Called with a :class:`~napari_amnesia.core.progress.Progress` after every chunk.
    **simulate_kwargs
        Any other argument of :func:`simulate` (``dtype`` must be ``"uint16"``).

    Returns
    -------
    GroundTruth
        The ground truth of the written movie.

    Examples
    --------
    >>> import tempfile, os, tifffile
    >>> folder = tempfile.mkdtemp()
    >>> truth = write_simulated_movie(os.path.join(folder, "sim.tif"), n_frames=20,
    ...                               shape=(32, 32), n_cells=2, rng=0)
    >>> tifffile.memmap(os.path.join(folder, "sim.tif")).shape
    (20, 32, 32)
    """
    return drive(
        iter_write_simulated_movie(
            path,
            n_frames=n_frames,
            shape=shape,
            chunk_frames=chunk_frames,
            rng=rng,
            **simulate_kwargs,
        ),
        progress,
    )


def attach_somata(movie: np.ndarray, truth: GroundTruth, radius: float = 6.0) -> np.ndarray:
    """A soma (ellipse across the branch, dimmer nucleus) on the free end of each root
    branch, as bright as the brightest neurites: a tree leaving its soma. The planted
    neurite graph is unchanged: a skeletonization must make each soma the end node of
    its tree, not extra branches. Returns the float32 movie with the somata added."""
    mean = movie.astype(np.float32).mean(axis=0)
    pts = np.round(np.concatenate(truth.branch_paths)).astype(int)
    level = float(np.percentile(mean[pts[:, 0], pts[:, 1]], 90) - np.median(mean))
    children = {int(c) for _, c in np.asarray(truth.branch_graph["edges"]).reshape(-1, 2)}
    yy, xx = np.mgrid[: movie.shape[1], : movie.shape[2]]
    soma = np.zeros(movie.shape[1:], np.float32)
    for b, path in enumerate(truth.branch_paths):
        if b in children:
            continue
        r0, c0 = np.asarray(path[0], float)
        d = np.asarray(path[min(5, len(path) - 1)], float) - (r0, c0)
        d /= max(1e-9, float(np.hypot(*d)))
        u = (yy - r0) * d[0] + (xx - c0) * d[1]
        v = -(yy - r0) * d[1] + (xx - c0) * d[0]
        rho = np.hypot(u / (0.7 * radius), v / radius)
        body = np.clip((1 - rho) * radius + 0.5, 0, 1)
        nucleus = np.clip((0.45 - rho) * radius + 0.5, 0, 1)
        soma = np.maximum(soma, body * (1 - 0.5 * nucleus))
    return movie.astype(np.float32) + level * soma
