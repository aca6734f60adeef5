"""One field of tissue imaged on several days: footprints, templates and the planted truth.

:func:`simulate_sessions` plants cells in a *tissue* frame, then images the tissue in S
sessions. Session ``s`` sees the tissue through a deformation ``G_s`` that maps each of its
pixels ``o`` (row, column) to the tissue point it shows::

    G_s(o) = R(angle_s) (o - c) + c + offset_s + u_s(o)

(``c`` the centre of the field, ``u_s`` a smooth field: a sum of three cosine modes of
periods of 340 pixels or more, scaled to ``nonrigid`` pixels at most over the field).
Every session gets:

- the **footprints** found that day (``(pixels, n_s)`` CSC, C-order pixels, unit L2 norm,
  in a shuffled order): the cells active that day, each drawn through ``G_s`` with its
  own small change of shape; some cut (partial) or mixed with a neighbour (contaminated);
  plus **junk** components that are no cell (``identity`` -1);
- the **template** (mean image): every cell alive that day, silent or not, on a
  textured neuropil with blood vessels, seen with that day's focus (blur) and illumination
  (a smooth gain), plus noise;
- optionally a **movie** with the cells' planted calcium traces (silent cells fire
  rarely: they are missed by a detection but have a trace to re-extract).

``identity[s][k]`` is the planted cell of footprint ``k`` of session ``s``;
``session_to_tissue``/``tissue_to_session`` give the planted deformations, so a
registration's transforms can be scored. Presets ``"standard"`` and ``"hard"`` follow
issue 17's held-out sets (about 150 cells per field, offsets up to ~8 px, rotations up to
~2°, non-rigid 4-6 px; the hard set denser, 25 % silent per day, more artefacts).

Examples
--------
>>> data = simulate_sessions(n_sessions=3, shape=(96, 96), n_cells=20, rng=0)
>>> len(data.footprints), data.footprints[0].shape[0], data.templates[0].shape
(3, 9216, (96, 96))
>>> int(data.identity[0].min()) >= -1  # planted cell of each footprint; -1: junk
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage, signal, sparse

__all__ = ["SessionsData", "simulate_sessions", "PRESETS"]

#: the non-rigid modes have up to 1.5 periods per _PERIOD pixels (slow swelling and tilt
#: of the tissue between days, not the fast wobble within a movie)
_PERIOD = 512.0

#: issue 17's held-out sets, as presets (every value can be overridden by name)
PRESETS: dict[str, dict[str, Any]] = {
    "standard": dict(shape=(256, 256), n_cells=150, max_offset=8.0, max_rotation=2.0,
                     nonrigid=5.0, silent_fraction=0.15, new_fraction=0.05,
                     junk_fraction=0.03, partial_fraction=0.02,
                     contaminated_fraction=0.02, shape_change=0.06, focus=(0.6, 1.2),
                     illumination=0.2, cell_radius=(4.0, 6.0), noise=0.02),
    "hard": dict(shape=(256, 256), n_cells=230, max_offset=9.0, max_rotation=2.5,
                 nonrigid=6.0, silent_fraction=0.25, new_fraction=0.08,
                 junk_fraction=0.10, partial_fraction=0.08, contaminated_fraction=0.08,
                 shape_change=0.1, focus=(0.5, 1.8), illumination=0.35,
                 cell_radius=(4.0, 6.0), noise=0.04),
}


@dataclass(eq=False)
class SessionsData:
    """What :func:`simulate_sessions` returns: the sessions and the planted truth.

    Attributes
    ----------
    footprints : list of scipy.sparse.csc_matrix
        Per session ``(Y * X, n_s)``, unit L2 norm, shuffled order.
    templates : list of ndarray
        Per session mean image ``(Y, X)`` float32.
    identity : list of ndarray of int
        Per session, the planted cell of each footprint (-1: junk).
    shape : tuple of int
    centers : ndarray, shape (n_cells, 2)
        Cells' centres in the tissue frame.
    alive : ndarray of bool, shape (n_cells, S)
        The cell exists that day (new cells appear after the first sessions).
    found : ndarray of bool, shape (n_cells, S)
        The cell has a footprint that day (alive and not silent).
    angles : ndarray, shape (S,)
        Planted rotations (radians).
    offsets : ndarray, shape (S, 2)
        Planted translations.
    modes : list of ndarray
        Per session the non-rigid modes ``(3, 5)``: amplitude row, amplitude column,
        wave vector row, wave vector column, phase.
    movies : list of ndarray or None
        Per session ``(T, Y, X)`` float32 when asked for.
    traces : list of ndarray or None
        Per session ``(n_cells, T)`` planted calcium (in units of the unit-norm footprint).
    tissue_footprints : list of scipy.sparse.csc_matrix or None
        Per session, every cell's footprint drawn that day, ``(Y * X, n_cells)`` (zero
        columns for cells not alive), with the movies.
    params : dict
        The values used.
    """

    footprints: list
    templates: list
    identity: list
    shape: tuple[int, int]
    centers: np.ndarray
    alive: np.ndarray
    found: np.ndarray
    angles: np.ndarray
    offsets: np.ndarray
    modes: list
    movies: list | None = None
    traces: list | None = None
    tissue_footprints: list | None = None
    params: dict = field(default_factory=dict)

    @property
    def n_sessions(self) -> int:
        """The number of sessions."""
        return len(self.footprints)

    def _u(self, s: int, points: np.ndarray) -> np.ndarray:
        m = self.modes[s]
        phase = 2 * np.pi * (points @ m[:, 2:4].T) / _PERIOD + m[:, 4]
        return np.cos(phase) @ m[:, :2]

    def session_to_tissue(self, s: int, points: Any) -> np.ndarray:
        """Map session ``s``'s pixels ``(N, 2)`` (row, column) to the tissue frame."""
        o = np.asarray(points, np.float64).reshape(-1, 2)
        c = (np.asarray(self.shape, float) - 1) / 2
        a = self.angles[s]
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        return (o - c) @ rot.T + c + self.offsets[s] + self._u(s, o)

    def tissue_to_session(self, s: int, points: Any, *, iterations: int = 30) -> np.ndarray:
        """Map tissue points ``(N, 2)`` to session ``s``'s pixels (inverse of the above)."""
        x = np.asarray(points, np.float64).reshape(-1, 2)
        c = (np.asarray(self.shape, float) - 1) / 2
        a = self.angles[s]
        back = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
        o = (x - c - self.offsets[s]) @ back.T + c
        for _ in range(iterations):
            o = (x - c - self.offsets[s] - self._u(s, o)) @ back.T + c
        return o

    def session_to_session(self, s: int, t: int, points: Any) -> np.ndarray:
        """Where pixels ``points`` of session ``s`` lie in session ``t`` (planted)."""
        return self.tissue_to_session(t, self.session_to_tissue(s, points))


def _modes(rng: np.random.Generator, amplitude: float, shape: tuple[int, int]) -> np.ndarray:
    m = np.zeros((3, 5))
    m[:, :2] = rng.normal(size=(3, 2))
    m[:, 2:4] = rng.uniform(-1.5, 1.5, size=(3, 2))
    m[:, 4] = rng.uniform(0, 2 * np.pi, 3)
    if amplitude <= 0:
        m[:, :2] = 0
        return m
    # scale so the largest displacement over the field is ``amplitude``
    rr, cc = np.meshgrid(np.linspace(0, shape[0] - 1, 24), np.linspace(0, shape[1] - 1, 24),
                         indexing="ij")
    pts = np.column_stack([rr.ravel(), cc.ravel()])
    u = np.cos(2 * np.pi * (pts @ m[:, 2:4].T) / _PERIOD + m[:, 4]) @ m[:, :2]
    m[:, :2] *= amplitude / max(float(np.hypot(*u.T).max()), 1e-9)
    return m


def _ellipse(dy: np.ndarray, dx: np.ndarray, a: float, b: float, angle: float) -> np.ndarray:
    u = dy * math.cos(angle) + dx * math.sin(angle)
    v = -dy * math.sin(angle) + dx * math.cos(angle)
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    f = 1 / (1 + np.exp(-(1 - rho) * min(a, b) / 0.8)) * (1 - 0.25 * np.clip(rho, 0, 1) ** 2)
    f[f < 2e-3] = 0
    return f


def _draw(data: SessionsData, s: int, center: np.ndarray, axes: tuple[float, float],
          angle: float, extra: Any = None, where: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw one cell in session ``s``: (pixel indices, values) of its footprint.

    ``where`` is the cell's position in the session when already known.
    """
    Y, X = data.shape
    o = data.tissue_to_session(s, center[None])[0] if where is None else where
    half = int(math.ceil(max(axes) * 1.8 + 3))
    r0, r1 = max(0, int(o[0]) - half), min(Y, int(o[0]) + half + 2)
    c0, c1 = max(0, int(o[1]) - half), min(X, int(o[1]) + half + 2)
    if r1 <= r0 or c1 <= c0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    rr, cc = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
    pts = np.column_stack([rr.ravel(), cc.ravel()]).astype(np.float64)
    x = data.session_to_tissue(s, pts)
    f = _ellipse(x[:, 0] - center[0], x[:, 1] - center[1], axes[0], axes[1], angle)
    if extra is not None:
        f = f * extra(x)
    keep = f > 0
    return (rr.ravel()[keep] * X + cc.ravel()[keep]).astype(np.int64), f[keep].astype(
        np.float32)


def _tissue_field(rng: np.random.Generator, size: tuple[int, int], sigma: float) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.normal(size=size), sigma, mode="wrap")
    return f / max(float(f.std()), 1e-12)


def _vessels(rng: np.random.Generator, size: tuple[int, int], n: int) -> np.ndarray:
    """Dark, curved bands (blood vessels) on the tissue canvas: 1 - darkening."""
    rr, cc = np.meshgrid(np.arange(size[0]), np.arange(size[1]), indexing="ij")
    out = np.ones(size)
    for _ in range(n):
        horizontal = rng.random() < 0.5
        base = rng.uniform(0.15, 0.85) * (size[0] if horizontal else size[1])
        amp, period, phase = rng.uniform(5, 25), rng.uniform(0.6, 2.0), rng.uniform(0, 6.3)
        width = rng.uniform(2.0, 4.0)
        along = cc if horizontal else rr
        across = rr if horizontal else cc
        curve = base + amp * np.sin(2 * np.pi * along / (period * max(size)) + phase)
        out *= 1 - 0.55 * np.exp(-((across - curve) ** 2) / (2 * width ** 2))
    return out


def simulate_sessions(
    n_sessions: int = 5,
    *,
    preset: str = "standard",
    rng: Any = 0,
    movies: bool = False,
    n_frames: int = 300,
    frame_rate: float = 10.0,
    **overrides: Any,
) -> SessionsData:
    """Simulate one field imaged in ``n_sessions`` sessions (see the module documentation).

    Parameters
    ----------
    n_sessions : int
        Number of sessions (days).
    preset : {"standard", "hard"}
        Issue 17's held-out-like sets; ``overrides`` change single values: ``shape``,
        ``n_cells``, ``max_offset`` (px), ``max_rotation`` (degrees), ``nonrigid`` (px),
        ``silent_fraction``, ``new_fraction``, ``junk_fraction``, ``partial_fraction``,
        ``contaminated_fraction``, ``shape_change`` (relative), ``focus`` ((min, max)
        blur in px), ``illumination`` (relative gain change), ``cell_radius`` ((min,
        max) px), ``noise`` (relative to the template's range).
    rng : {numpy.random.Generator, int}, optional
        Seed or generator.
    movies : bool
        Also render one movie per session with planted calcium traces.
    n_frames, frame_rate : int, float
        Length and rate of the movies.

    Returns
    -------
    SessionsData
    """
    if preset not in PRESETS:
        raise ValueError(f"preset should be one of {', '.join(map(repr, PRESETS))}, got "
                         f"{preset!r}.")
    p = dict(PRESETS[preset])
    unknown = sorted(set(overrides) - set(p))
    if unknown:
        raise TypeError(f"unknown simulate_sessions parameter(s) {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(p))}.")
    p.update(overrides)
    if int(n_sessions) < 1:
        raise ValueError(f"n_sessions should be at least 1, got {n_sessions!r}.")
    S = int(n_sessions)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    Y, X = (int(v) for v in p["shape"])
    K = int(p["n_cells"])
    lo_r, hi_r = p["cell_radius"]
    # -- the tissue: cells placed without much overlap
    margin = hi_r + 2
    centers = np.zeros((K, 2))
    placed = 0
    for _ in range(K * 200):
        if placed == K:
            break
        c = rng.uniform([margin - 4, margin - 4], [Y - margin + 4, X - margin + 4])
        if placed and np.hypot(*(centers[:placed] - c).T).min() < 1.6 * hi_r:
            continue
        centers[placed] = c
        placed += 1
    K = placed
    centers = centers[:K]
    axes = rng.uniform(lo_r, hi_r, size=(K, 2))
    axes[:, 1] *= rng.uniform(0.7, 1.0, K)
    orient = rng.uniform(0, np.pi, K)
    brightness = rng.lognormal(0, 0.3, K)
    born = np.zeros(K, int)
    if S > 1:
        new = rng.random(K) < p["new_fraction"] * S / max(S - 1, 1)
        born[new] = rng.integers(1, S, int(new.sum()))
    alive = np.arange(S)[None, :] >= born[:, None]
    silent = (rng.random((K, S)) < p["silent_fraction"]) & alive
    found = alive & ~silent
    # -- the sessions' deformations (session 0 too: the tissue frame is no session)
    angles = np.radians(rng.uniform(-1, 1, S) * p["max_rotation"])
    offsets = rng.uniform(-1, 1, (S, 2)) * p["max_offset"] / math.sqrt(2)
    modes = [_modes(rng, p["nonrigid"], (Y, X)) for _ in range(S)]
    data = SessionsData(footprints=[], templates=[], identity=[], shape=(Y, X),
                        centers=centers, alive=alive, found=found, angles=angles,
                        offsets=offsets, modes=modes, params=dict(p, n_sessions=S))
    # -- tissue texture on a canvas with a margin (sessions look outside the field a bit)
    pad = int(p["max_offset"] + p["nonrigid"] + 0.05 * max(Y, X) + 8)
    canvas = (Y + 2 * pad, X + 2 * pad)
    neuropil = 0.25 * _tissue_field(rng, canvas, 2.0) + 0.35 * _tissue_field(rng, canvas, 12)
    vessels = _vessels(rng, canvas, 3)
    P = Y * X
    rr, cc = np.meshgrid(np.arange(Y), np.arange(X), indexing="ij")
    grid = np.column_stack([rr.ravel(), cc.ravel()]).astype(np.float64)
    traces_all = [] if movies else None
    movies_all = [] if movies else None
    tissue_all = [] if movies else None
    for s in range(S):
        change = 1 + p["shape_change"] * rng.uniform(-1, 1, (K, 2))
        cols, pix, vals = [], [], []
        where = data.tissue_to_session(s, centers)
        for k in range(K):
            if not alive[k, s]:
                continue
            idx, val = _draw(data, s, centers[k], tuple(axes[k] * change[k]),
                             orient[k] + rng.normal(0, 0.1), where=where[k])
            if val.size:
                pix.append(idx)
                vals.append(val / np.linalg.norm(val))
                cols.append(np.full(idx.size, k))
        cells = sparse.csc_matrix(
            (np.concatenate(vals) if vals else np.zeros(0),
             (np.concatenate(pix) if pix else np.zeros(0, int),
              np.concatenate(cols) if cols else np.zeros(0, int))), shape=(P, K),
            dtype=np.float32)
        # -- template: every living cell (silent ones too), neuropil, vessels
        x = data.session_to_tissue(s, grid) + pad
        tissue = (ndimage.map_coordinates(neuropil, x.T, order=1, mode="reflect")
                  * ndimage.map_coordinates(vessels, x.T, order=1, mode="reflect"))
        peaks = np.asarray(cells.max(axis=0).toarray()).ravel()
        weight = brightness / np.where(peaks > 0, peaks, 1.0) * np.where(
            found[:, s], 1.0, 0.7)
        image = 1.0 + tissue + np.asarray(cells @ weight).ravel()
        image = image.reshape(Y, X)
        blur = rng.uniform(*p["focus"])
        image = ndimage.gaussian_filter(image, blur)
        gain = 1 + p["illumination"] * np.tanh(_tissue_field(rng, (Y, X), max(Y, X) / 4))
        image = image * gain * rng.uniform(0.7, 1.4) + rng.uniform(-0.2, 0.2)
        image += p["noise"] * float(np.ptp(image)) * rng.normal(size=(Y, X))
        data.templates.append(image.astype(np.float32))
        # -- footprints found that day, with artefacts, and junk
        ids = np.flatnonzero(found[:, s])
        columns = [cells[:, k] for k in ids]
        identity = list(ids)
        for n, k in enumerate(ids):
            u = rng.random()
            if u < p["partial_fraction"]:
                theta = rng.uniform(0, 2 * np.pi)
                cut = rng.uniform(-0.2, 0.4) * axes[k].mean()
                normal = np.array([math.sin(theta), math.cos(theta)])

                def half(xx, k=k, normal=normal, cut=cut):
                    return 1 / (1 + np.exp(-((xx - centers[k]) @ normal - cut) / 0.7))

                idx, val = _draw(data, s, centers[k], tuple(axes[k] * change[k]),
                                 orient[k], half, where=where[k])
                if val.size:
                    columns[n] = sparse.csc_matrix(
                        (val / np.linalg.norm(val), (idx, np.zeros(idx.size, int))),
                        shape=(P, 1))
            elif u < p["partial_fraction"] + p["contaminated_fraction"] and len(ids) > 1:
                d = np.hypot(*(centers[ids] - centers[k]).T)
                d[n] = np.inf
                j = ids[int(np.argmin(d))]
                mixed = columns[n] + rng.uniform(0.2, 0.45) * cells[:, j]
                columns[n] = mixed / max(sparse.linalg.norm(mixed), 1e-12)
        n_junk = int(rng.poisson(p["junk_fraction"] * K))
        for _ in range(n_junk):
            c = rng.uniform([0, 0], [Y, X])
            big = rng.uniform(6, 14)
            idx, val = _draw(data, s, data.session_to_tissue(s, c[None])[0],
                             (big, big * rng.uniform(0.2, 1.0)), rng.uniform(0, np.pi),
                             lambda xx: 0.5 + rng.random(len(xx)), where=c)
            if val.size:
                columns.append(sparse.csc_matrix(
                    (val / np.linalg.norm(val), (idx, np.zeros(idx.size, int))),
                    shape=(P, 1)))
                identity.append(-1)
        found_fp = sparse.hstack(columns, format="csc") if columns else sparse.csc_matrix(
            (P, 0), dtype=np.float32)
        shuffle = rng.permutation(found_fp.shape[1])
        data.footprints.append(sparse.csc_matrix(found_fp[:, shuffle], dtype=np.float32))
        data.identity.append(np.asarray(identity, np.int64)[shuffle])
        if movies:
            traces = _calcium(rng, K, n_frames, frame_rate, silent[:, s], alive[:, s])
            background = ndimage.gaussian_filter(
                (1.0 + tissue).reshape(Y, X) * gain, blur).reshape(-1)
            base = brightness / np.where(peaks > 0, peaks, 1.0)
            movie = (cells @ (base[:, None] * (1 + traces))).T + background[None]
            movie += 0.05 * float(base.mean() * peaks.mean()) * rng.normal(size=movie.shape)
            movies_all.append(movie.reshape(n_frames, Y, X).astype(np.float32))
            traces_all.append((base[:, None] * traces).astype(np.float32))
            tissue_all.append(cells)
    data.movies, data.traces, data.tissue_footprints = movies_all, traces_all, tissue_all
    return data


def _calcium(rng: np.random.Generator, K: int, T: int, frame_rate: float,
             silent: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Calcium (ΔF/F) of every cell: AR(1) transients; silent cells fire rarely."""
    rate = rng.uniform(0.05, 0.15, K) * np.where(silent, 0.4, 1.0) * alive
    spikes = rng.poisson(np.broadcast_to(rate[:, None], (K, T))).astype(np.float64)
    spikes *= rng.uniform(0.6, 1.2, K)[:, None]
    g = math.exp(-1 / (0.8 * frame_rate))
    return signal.lfilter([1.0], [1.0, -g], spikes, axis=1)
