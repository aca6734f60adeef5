"""The ground truth of a simulated movie: everything planted, and its label images.

:class:`GroundTruth` holds the footprints, traces, spikes, branch graph, background,
bleaching and motion of a movie, renders any part of it again (noisy, or clean, with
or without motion) and gives label images of the somata and branches
(:func:`label_footprints`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..files import jsonable
from .motion import _field, _mode_fields
from .params import SimulationParams, _check_int
from .rendering import _BLOCK, _Renderer

__all__ = ["GroundTruth", "label_footprints"]


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
    out_of_focus_footprints : ndarray, shape (n, Y, X), float32
        Out-of-focus cells (``n_out_of_focus``, unit L2 norm each): rendered into the
        movie, but not cells of the scene (none by default).
    out_of_focus_traces : ndarray, shape (n, T), float32
        Their fluorescence before bleaching (resting level plus calcium), in counts
        per unit of footprint.
    illumination : ndarray, shape (Y, X), float32
        One-photon: relative brightness of the field (vignetting and illumination
        fall-off, 1 at its brightest); it multiplies everything seen, so it is already
        in the footprints, levels and background above. Ones in two-photon mode.
    vessels : ndarray, shape (Y, X), float32
        One-photon: fraction of the light absorbed by blood vessels (0 away from
        them); in the footprints and background already, like ``illumination``.
        Zeros in two-photon mode.
    provenance : dict
        How the movie was made: package ``"version"``, ``"created"`` (ISO time,
        UTC), ``"seed"`` and ``"elapsed_s"`` (seconds to simulate, or to write).

    Examples
    --------
    >>> from napari_amnesia.core.simulate import simulate
    >>> movie, truth = simulate(n_frames=20, shape=(48, 48), n_cells=3, rng=2)
    >>> truth.n_cells, truth.n_frames, truth.shape
    (3, 20, (48, 48))
    >>> truth.params["n_cells"], truth.provenance["seed"]
    (3, 2)
    >>> bool((simulate(truth.to_params())[0] == movie).all())
    True
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
    provenance: dict[str, Any] = field(default_factory=dict)
    out_of_focus_footprints: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0, 0), np.float32), repr=False)
    out_of_focus_traces: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0), np.float32), repr=False)
    illumination: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0), np.float32), repr=False)
    vessels: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0), np.float32), repr=False)
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
        """Summarise sizes, mode and seed (the arrays are left out)."""
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
        >>> from napari_amnesia.core.simulate import simulate
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
        """Return the planted spatial component of each coactive neurite group.

        A group's activity shows in each of its branches with that branch's own
        strength (brightness, amplitude): the map is the sum of the branch footprints,
        each weighted by the regression of the branch trace on the group trace. This
        is what a factorization of the movie should find for the group.

        Returns
        -------
        ndarray, shape (n_groups, Y, X), float32

        Examples
        --------
        >>> from napari_amnesia.core.simulate import simulate
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
        >>> from napari_amnesia.core.simulate import simulate
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
        """Return the reference position of the content seen at ``points`` of frame ``t``.

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
        >>> from napari_amnesia.core.simulate import simulate
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
        >>> from napari_amnesia.core.simulate import simulate
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

    def background_frames(
        self, start: int = 0, stop: int | None = None, *, motion: bool = True
    ) -> np.ndarray:
        """Noise-free frames of everything but the in-focus somata (the planted background).

        ``offset + bleaching[t] * (background + out-of-focus cells + neurites)``, what
        a source extraction's background model should find; ``clean_frames() -
        background_frames()`` is the somata's part. Rendered on demand, so the
        background of a long movie costs no memory until asked for.

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
        >>> from napari_amnesia.core.simulate import simulate
        >>> movie, truth = simulate(n_frames=8, shape=(48, 48), n_cells=3,
        ...                         mode="one_photon", motion=False, rng=1)
        >>> cells = truth.clean_frames() - truth.background_frames()
        >>> bool(np.allclose(cells, np.einsum("kyx,kt->tyx", truth.footprints,
        ...      (truth.baseline[:, None] + truth.traces) * truth.bleaching), atol=1e-2))
        True
        """
        renderer = self._require_renderer()
        start, stop = self._check_range(start, stop)
        out = np.empty((stop - start, *self.shape), np.float32)
        for t0 in range(start, stop, _BLOCK):
            t1 = min(stop, t0 + _BLOCK)
            out[t0 - start : t1 - start] = renderer.render(t0, t1, motion=motion, noise=False,
                                                           cells=False)
        return out

    def mean_image(self) -> np.ndarray:
        """Return the expected temporal mean of the unmoved, noise-free movie (float32, (Y, X)).

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
        if len(self.out_of_focus_traces):
            oof = (self.out_of_focus_traces @ w / self.n_frames).astype(np.float32)
            img = img + np.tensordot(oof, self.out_of_focus_footprints, axes=1)
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
        """Return the simulated movie as a lazy dask array (rendered chunk by chunk on demand).

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
        >>> from napari_amnesia.core.simulate import simulate
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

    def to_params(self) -> SimulationParams:
        """Return the parameters that reproduce this movie (``rng`` = the seed).

        Mode defaults are resolved.

        Returns
        -------
        SimulationParams
        """
        return SimulationParams.from_dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: counts, shapes, AR coefficients, motion range and params.

        Examples
        --------
        >>> import json
        >>> from napari_amnesia.core.simulate import simulate
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
    """Turn footprints ``(K, Y, X)`` into a label image.

    A pixel gets label ``k + 1`` where it is at least ``threshold`` of footprint
    ``k``'s peak and relatively strongest (the rule of :meth:`GroundTruth.labels`).

    Parameters
    ----------
    footprints : ndarray, shape (K, Y, X)
        Non-negative footprints.
    threshold : float
        Fraction of each footprint's peak above which it covers a pixel, in (0, 1].

    Returns
    -------
    ndarray, shape (Y, X), int32

    Examples
    --------
    >>> fp = np.zeros((2, 1, 4), np.float32)
    >>> fp[0, 0, :3] = [1.0, 0.5, 0.1]
    >>> fp[1, 0, 1:] = [0.2, 1.0, 1.0]
    >>> label_footprints(fp)
    array([[1, 1, 2, 2]], dtype=int32)
    """
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
