"""Silent cells: somata seen in the mean image that CNMF did not find, with their traces.

CNMF finds cells by their activity; a cell that stays silent during a recording is
invisible to it, although its resting fluorescence (GCaMP fills the cytoplasm, not
the nucleus: a bright ring around a dark centre, or a filled disk) shows it in the
mean image. suite2p's *anatomical* mode proposes such cells by segmenting the mean
image with cellpose; without a learned model, this module does it by classical image
analysis, and marks the proposals (``SourceResult.anatomical``) so that users keep
or drop them.

Detection (:func:`detect_somata`), with ``R`` the expected soma radius (``gSig``):

1. the image is flattened: its smooth part (Gaussian of ``3 R``) is subtracted;
2. a centre-surround filter: the mean over a disk of radius ``R`` minus the mean
   over the annulus ``1.5 R … 2.5 R`` around it (bright somata, filled or ring
   shaped, give a peak at their centre; a line such as a neurite gives little,
   since the annulus crosses it too); the response is expressed in robust standard
   deviations (median absolute deviation) of its values over the whole image, so
   the threshold ``min_contrast`` says how far a soma stands out from the image's
   own texture, whatever its brightness scale;
3. local maxima at least ``R`` apart above ``min_contrast``;
4. each peak's soma: the pixels within ``1.6 R`` brighter than halfway between the
   annulus level and the disk level, holes filled (a dark nucleus is inside the
   cell), the piece that holds the peak or is closest to it; it is kept when its
   area is between ``min_area`` and ``max_area`` times ``π R^2`` and it is compact:
   minor axis at least ``min_roundness`` times the major axis, at least
   ``min_solidity`` of its convex hull filled, its innermost pixel at least
   ``min_thickness R`` from its edge (neurites and blood vessels are thin, bent or
   forked; noise specks are small). Its footprint is the
   flattened image (positive part) on that piece, unit L2 norm.

:func:`find_silent_cells` keeps the candidates that do not overlap a component of
a CNMF result (more than ``max_overlap`` of their pixels on a footprint's support
at 20 % of its maximum), and :func:`add_silent_cells` appends them to the result
with their traces: the footprints of the result and of the new cells stay fixed,
the new cells' raw traces are the least-squares solution of the movie minus the
background and the others' model (``A_new^T A_new c = A_new^T (Y - b f - A C)``,
one streamed pass over the movie, :func:`~.updates.temporal.project`), deconvolved
like any CNMF trace (:class:`~.updates.temporal.Deconvolution`). The existing
components are not changed.

The thresholds (``min_contrast=4``, area 0.35–3 ``π R^2``, roundness 0.45,
solidity 0.8, thickness 0.6 ``R``) were
chosen on the simulator's two-photon scenes (:mod:`napari_amnesia.core.simulate`:
cells of radius 4–7 px with and without a dark nucleus, neuropil, neurites, several
seeds; tests/core/cnmf/test_cnmf_anatomical.py) and only checked on the labelled
neurofinder quadrant.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage, sparse

__all__ = ["SomaCandidates", "detect_somata", "find_silent_cells", "add_silent_cells",
           "silent_cell_traces"]

logger = logging.getLogger(__name__)


@dataclass
class SomaCandidates:
    """Soma-shaped objects of an image (:func:`detect_somata`).

    Attributes
    ----------
    footprints : scipy.sparse.csc_matrix, shape (Y * X, N), float32
        Unit L2 norm, pixels in C order.
    centers : ndarray, shape (N, 2)
        Peak of each candidate (row, column).
    contrast : ndarray, shape (N,)
        Centre-surround response at the peak, in robust standard deviations.
    area : ndarray of int, shape (N,)
        Pixels of each candidate.
    ring : ndarray, shape (N,)
        Mean of the outer half of the disk minus that of its centre (radius
        ``0.4 R``), over the disk level: > 0 for a dark nucleus.
    shape : tuple of int
        Image shape ``(Y, X)``.
    """

    footprints: sparse.csc_matrix
    centers: np.ndarray
    contrast: np.ndarray
    area: np.ndarray
    ring: np.ndarray
    shape: tuple[int, int]

    def __len__(self) -> int:
        """Return the number of candidates."""
        return int(self.footprints.shape[1])

    def select(self, keep: Any) -> SomaCandidates:
        """Return the candidates ``keep`` (indices or a boolean mask)."""
        idx = np.asarray(keep)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return replace(self, footprints=self.footprints[:, idx], centers=self.centers[idx],
                       contrast=self.contrast[idx], area=self.area[idx], ring=self.ring[idx])


def _radius(gSig: Any) -> float:  # noqa: N803 - CaImAn's name
    g = np.atleast_1d(np.asarray(gSig, float))
    if g.size not in (1, 2) or not np.all(np.isfinite(g)) or g.min() <= 0:
        raise ValueError(f"gSig should be a positive number or pair, got {gSig!r}.")
    return float(g.mean())


def _disk(r: float) -> np.ndarray:
    n = int(math.ceil(r))
    yy, xx = np.mgrid[-n:n + 1, -n:n + 1]
    return (yy * yy + xx * xx <= r * r).astype(np.float64)


def _annulus(r0: float, r1: float) -> np.ndarray:
    n = int(math.ceil(r1))
    yy, xx = np.mgrid[-n:n + 1, -n:n + 1]
    d2 = yy * yy + xx * xx
    return ((d2 <= r1 * r1) & (d2 > r0 * r0)).astype(np.float64)


def _sectors(r0: float, r1: float, n: int) -> list[np.ndarray]:
    ring = _annulus(r0, r1)
    m = ring.shape[0] // 2
    yy, xx = np.mgrid[-m:m + 1, -m:m + 1]
    angle = np.floor((np.arctan2(yy, xx) + np.pi) / (2 * np.pi) * n).astype(int) % n
    return [ring * (angle == i) for i in range(n)]


def _mean_filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return ndimage.correlate(image, kernel / kernel.sum(), mode="reflect")


def _robust_z(response: np.ndarray) -> np.ndarray:
    """Return ``response`` in robust standard deviations from its median."""
    centre = np.median(response)
    scale = 1.4826 * np.median(np.abs(response - centre))
    if not scale > 0:
        scale = float(response.std()) or 1.0
    return (response - centre) / scale


def detect_somata(
    image: Any,
    *,
    gSig: Any,  # noqa: N803 - CaImAn's name
    min_contrast: float = 4.0,
    min_area: float = 0.35,
    max_area: float = 3.0,
    min_roundness: float = 0.45,
    min_solidity: float = 0.8,
    min_thickness: float = 0.6,
) -> SomaCandidates:
    """Find soma-shaped bright objects (filled or ring-shaped) in an image.

    Parameters
    ----------
    image : array_like, shape (Y, X)
        Mean (or max) image of a movie; NaN are replaced by the median.
    gSig : float or (float, float)
        Expected soma radius in pixels (CNMF's ``gSig``).
    min_contrast : float
        Smallest centre-surround response at a soma's centre, in robust standard
        deviations of the response over the image.
    min_area, max_area : float
        Area bounds, in units of ``π gSig^2``.
    min_roundness : float
        Smallest ratio of minor to major axis, in [0, 1].
    min_solidity : float
        Smallest fraction of its convex hull that a soma fills, in [0, 1] (forks
        and bends of neurites fill little of theirs).
    min_thickness : float
        Smallest distance from a soma's innermost pixel to its edge, in units of
        ``gSig`` (a neurite is a few pixels wide whatever its length).

    Returns
    -------
    SomaCandidates
        Ordered by decreasing contrast.

    Examples
    --------
    >>> yy, xx = np.mgrid[:64, :64]
    >>> img = np.zeros((64, 64))
    >>> img[np.hypot(yy - 20, xx - 30) <= 5] = 1.0           # a filled soma
    >>> ring = np.hypot(yy - 44, xx - 20)
    >>> img[(ring <= 5) & (ring > 2)] = 1.0                  # a dark nucleus
    >>> img += np.random.default_rng(0).normal(0, 0.05, img.shape)
    >>> found = detect_somata(img, gSig=5)
    >>> len(found), found.centers.round().tolist()
    (2, [[20.0, 30.0], [44.0, 20.0]])
    """
    R = _radius(gSig)
    img = np.array(image, np.float64)
    if img.ndim != 2:
        raise ValueError(f"image should be 2-D (Y, X), got shape {img.shape}.")
    if not 0 <= min_roundness <= 1:
        raise ValueError(f"min_roundness should be in [0, 1], got {min_roundness}.")
    bad = ~np.isfinite(img)
    if bad.all():
        raise ValueError("the image has no finite value.")
    if bad.any():
        img[bad] = np.median(img[~bad])
    shape = img.shape
    flat = img - ndimage.gaussian_filter(img, 3 * R, mode="reflect")
    inner = _mean_filter(flat, _disk(R))
    outer = _mean_filter(flat, _annulus(1.5 * R, 2.5 * R))
    response = inner - outer
    z = _robust_z(response)
    # ring-shaped somata: a bright annulus around a dark centre, brighter than both
    ring_level = _mean_filter(flat, _annulus(0.6 * R, 1.2 * R))
    centre_level = _mean_filter(flat, _disk(0.45 * R))
    # a dark centre inside a ring at least as bright as the surround
    # (every eighth of the ring brighter than the centre: a neurite crossing it is not)
    lowest = np.min([_mean_filter(flat, sector) for sector in _sectors(0.6 * R, 1.2 * R, 8)],
                    axis=0)
    z_ring = np.where(ring_level >= outer, _robust_z(lowest - centre_level), 0.0)
    from skimage.feature import peak_local_max
    from skimage.morphology import convex_hull_image

    spacing = max(1, int(round(R)))
    peaks = [(z[r, c], r, c, False) for r, c in peak_local_max(
        z, min_distance=spacing, threshold_abs=min_contrast, exclude_border=False)]
    peaks += [(z_ring[r, c], r, c, True) for r, c in peak_local_max(
        z_ring, min_distance=spacing, threshold_abs=min_contrast, exclude_border=False)]
    peaks.sort(key=lambda q: (-q[0], q[1], q[2], q[3]))
    smooth = ndimage.gaussian_filter(flat, 0.5 * max(1.0, R / 4), mode="reflect")
    half = int(math.ceil(1.6 * R)) + 1
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    window_disk = yy * yy + xx * xx <= (1.6 * R) ** 2
    centre_disk = yy * yy + xx * xx <= (0.4 * R) ** 2
    ring_disk = yy * yy + xx * xx <= (1.2 * R) ** 2
    body = (yy * yy + xx * xx <= R * R) & ~centre_disk
    soma_area = math.pi * R * R
    cols, vals, centers, contrast, areas, rings = [], [], [], [], [], []
    taken = np.zeros(shape, bool)
    for score, r, c, is_ring in peaks:
        if taken[r, c]:
            continue
        r0, c0 = r - half, c - half
        sl = (slice(max(0, r0), r + half + 1), slice(max(0, c0), c + half + 1))
        win = smooth[sl]
        wy, wx = sl[0].start - r0, sl[1].start - c0
        inside = window_disk[wy:wy + win.shape[0], wx:wx + win.shape[1]]
        wcentre = centre_disk[wy:wy + win.shape[0], wx:wx + win.shape[1]]
        if is_ring:  # the disk that the ring outlines
            mask = ring_disk[wy:wy + win.shape[0], wx:wx + win.shape[1]].copy()
        else:
            level = 0.5 * (inner[r, c] + outer[r, c])
            mask = ndimage.binary_fill_holes((win > level) & inside)
        mask &= ~taken[sl]
        pieces, n = ndimage.label(mask)
        if n == 0:
            continue
        pr, pc = r - sl[0].start, c - sl[1].start
        if pieces[pr, pc]:
            piece = pieces == pieces[pr, pc]
        else:  # the closest piece to the peak
            d = ndimage.distance_transform_edt(pieces == 0, return_indices=True)[1]
            piece = pieces == pieces[d[0][pr, pc], d[1][pr, pc]]
        area = int(piece.sum())
        if not min_area * soma_area <= area <= max_area * soma_area:
            continue
        py, px = np.nonzero(piece)
        cov = np.cov(np.stack([py, px]).astype(float)) if area > 2 else np.eye(2)
        ev = np.linalg.eigvalsh(cov)
        if ev[0] <= 0 or math.sqrt(ev[0] / ev[1]) < min_roundness:
            continue
        if ndimage.distance_transform_edt(np.pad(piece, 1)).max() < min_thickness * R:
            continue
        if area < min_solidity * convex_hull_image(piece).sum():
            continue
        floor = centre_level[r, c] if is_ring else outer[r, c]
        values = np.clip(win[piece] - floor, 0, None)
        norm = float(np.sqrt(np.sum(values * values)))
        if norm <= 0:
            continue
        gy, gx = py + sl[0].start, px + sl[1].start
        taken[gy, gx] = True
        cols.append(gy * shape[1] + gx)
        vals.append(values / norm)
        centers.append((r, c))
        contrast.append(score)
        areas.append(area)
        wbody = body[wy:wy + win.shape[0], wx:wx + win.shape[1]]
        disk_level = max(inner[r, c] - outer[r, c], 1e-12)
        rings.append((win[wbody].mean() - win[wcentre].mean()) / disk_level
                     if wcentre.any() and wbody.any() else 0.0)
    N = len(cols)
    P = shape[0] * shape[1]
    if N:
        indptr = np.concatenate([[0], np.cumsum([len(v) for v in cols])])
        A = sparse.csc_matrix((np.concatenate(vals).astype(np.float32),
                               np.concatenate(cols), indptr), shape=(P, N))
        A.sort_indices()
    else:
        A = sparse.csc_matrix((P, 0), dtype=np.float32)
    return SomaCandidates(footprints=A, centers=np.asarray(centers, float).reshape(N, 2),
                          contrast=np.asarray(contrast, float), area=np.asarray(areas, np.int64),
                          ring=np.asarray(rings, float), shape=(int(shape[0]), int(shape[1])))


def _supports(result: Any, threshold: float, accepted_only: bool) -> np.ndarray:
    """Pixels ``(P,)`` on some component's footprint at ``threshold`` of its maximum."""
    A = result.footprints
    out = np.zeros(A.shape[0], bool)
    chosen = np.flatnonzero(result.accepted) if accepted_only else range(A.shape[1])
    for k in chosen:
        v = A.data[A.indptr[k]:A.indptr[k + 1]]
        if v.size and v.max() > 0:
            out[A.indices[A.indptr[k]:A.indptr[k + 1]][v >= threshold * v.max()]] = True
    return out


def find_silent_cells(
    image: Any,
    result: Any,
    *,
    gSig: Any = None,  # noqa: N803 - CaImAn's name
    max_overlap: float = 0.2,
    accepted_only: bool = False,
    **detection: Any,
) -> SomaCandidates:
    """Return the somata of an image that no component of a CNMF result covers.

    Parameters
    ----------
    image : array_like, shape (Y, X)
        Mean (or max) image of the movie.
    result : SourceResult
        The CNMF result.
    gSig : float or (float, float), optional
        Expected soma radius in pixels (default: the result's ``gSig``).
    max_overlap : float
        Largest fraction of a candidate's pixels on a component's support (its
        footprint at 20 % of its maximum) for the candidate to be proposed.
    accepted_only : bool
        Compare with the accepted components only (default: all of them, so that a
        rejected component is not proposed again).
    **detection
        Options of :func:`detect_somata` (``min_contrast``, ``min_area``...).

    Returns
    -------
    SomaCandidates
    """
    gSig = result.params.gSig if gSig is None else gSig  # noqa: N806
    if tuple(np.shape(image)) != tuple(result.shape):
        raise ValueError(f"the image should have the result's frame shape {result.shape}, "
                         f"got {np.shape(image)}.")
    found = detect_somata(image, gSig=gSig, **detection)
    if not len(found) or not result.K:
        return found
    covered = _supports(result, 0.2, accepted_only).astype(np.float32)
    F = found.footprints
    on = np.asarray((F > 0).T.astype(np.float32) @ covered).ravel()
    return found.select(on <= max_overlap * np.maximum(found.area, 1))


def silent_cell_traces(movie: Any, result: Any, footprints: Any, *, chunk_frames: Any = None
                       ) -> np.ndarray:
    """Raw traces ``(N, T)`` of new footprints with the result's model held fixed.

    The least-squares solution of ``A_new c ≈ Y - b f - A C`` (the movie minus the
    result's background and components), from one streamed pass over the movie.
    """
    from .updates import Frames, project

    A_new = sparse.csc_matrix(footprints, dtype=np.float32)
    fill = None if result.mean_image is None else np.ravel(result.mean_image)
    frames = Frames(movie, chunk_frames=chunk_frames, fill=fill)
    if frames.dims != tuple(result.shape) or frames.T != result.n_frames:
        raise ValueError(f"the movie should be ({result.n_frames}, {result.shape[0]}, "
                         f"{result.shape[1]}) like the result, got {tuple(movie.shape)}.")
    AY, _ = project(frames, A_new)
    b, f = result.background
    rhs = AY - (A_new.T @ b) @ f
    if result.K:
        rhs -= np.asarray((A_new.T @ result.footprints).todense()) @ result.traces
    gram = np.asarray((A_new.T @ A_new).todense(), np.float64)
    return np.linalg.lstsq(gram, rhs, rcond=None)[0] if len(gram) else rhs


def add_silent_cells(
    movie: Any,
    result: Any,
    *,
    image: Any = None,
    gSig: Any = None,  # noqa: N803 - CaImAn's name
    accept: bool = True,
    **options: Any,
) -> Any:
    """Append the silent somata of the mean image to a CNMF result, with their traces.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        The movie the result was fitted on (numpy or dask; read once, by chunks).
    result : SourceResult
        The CNMF result; not modified.
    image : array_like, shape (Y, X), optional
        The image to look in (default: the result's ``mean_image``).
    gSig : float or (float, float), optional
        Expected soma radius (default: the result's).
    accept : bool
        Whether the new components are accepted (shown in colour) or rejected.
    **options
        Options of :func:`find_silent_cells` and :func:`detect_somata`.

    Returns
    -------
    SourceResult
        The result's components followed by the new ones; ``anatomical`` is True
        for the new ones; ``info["anatomical"]`` holds their number, contrast,
        ring contrast and the options. ``snr`` (event SNR of the new traces) and
        ``dff`` are extended when the result has them; the new ``r_values`` are
        NaN (a silent cell has no spatial correlation with its activity).
    """
    from .updates import Deconvolution

    if image is None:
        image = result.mean_image
    if image is None:
        raise ValueError("the result has no mean image: pass image=.")
    found = find_silent_cells(image, result, gSig=gSig, **options)
    N, K = len(found), result.K
    A_new = found.footprints
    raw = silent_cell_traces(movie, result, A_new, chunk_frames=result.params.chunk_frames)
    C, S, bl, g, lam = Deconvolution.from_params(result.params).run(raw)
    p = result.g.shape[1]
    g = np.asarray(g, np.float64).reshape(N, -1) if N else np.zeros((0, p))
    if g.shape[1] != p:
        g = np.pad(g, ((0, 0), (0, max(0, p - g.shape[1]))))[:, :p]

    def extend(old: Any, new: Any) -> Any:
        return None if old is None else np.concatenate([np.asarray(old), new])

    snr = None
    if result.snr is not None:
        from .evaluation import event_snr

        s = event_snr(raw, n_events=result.params.event_frames) if N else np.zeros(0)
        snr = np.asarray(s[0] if isinstance(s, tuple) else s, np.float64).reshape(N)
    first = int(result.label_values.max()) + 1 if K else 1
    anatomical = np.zeros(K + N, bool)
    anatomical[K:] = True
    info = dict(result.info)
    if info.get("cell_probability") is not None:  # the classifier does not score these
        info["cell_probability"] = list(info["cell_probability"]) + [None] * N
    info["anatomical"] = {
        "n_added": N, "contrast": found.contrast.tolist(), "ring": found.ring.tolist(),
        "gSig": list(np.broadcast_to(np.asarray(result.params.gSig if gSig is None else gSig,
                                                float), (2,))),
        "options": dict(options)}
    new = replace(
        result, footprints=sparse.hstack([result.footprints, A_new]).tocsc(),
        traces=np.concatenate([result.traces, C]),
        spikes=np.concatenate([result.spikes, S]),
        residual_traces=np.concatenate([result.residual_traces,
                                        (raw - C).astype(np.float32)]),
        baseline=np.concatenate([result.baseline, bl]), g=np.concatenate([result.g, g]),
        lam=np.concatenate([result.lam, lam]),
        accepted=np.concatenate([result.accepted, np.full(N, bool(accept))]),
        snr=extend(result.snr, snr), r_values=extend(result.r_values, np.full(N, np.nan)),
        dff=None, label_values=np.concatenate([result.label_values,
                                               np.arange(first, first + N)]),
        anatomical=np.concatenate([result.anatomical, anatomical[K:]]),
        info=info, provenance=dict(result.provenance))
    if result.dff is not None:
        from .dff import detrend_df_f

        pr = result.params
        b, f = result.background
        dff = detrend_df_f(A_new, b, C, f, YrA=(raw - C),
                           quantile_min=pr.quantile_min,
                           frames_window=min(pr.frames_window, result.n_frames),
                           flag_auto=pr.flag_auto, use_residuals=pr.use_residuals,
                           detrend_only=pr.detrend_only) if N else np.zeros((0, result.n_frames))
        new.dff = np.concatenate([np.asarray(result.dff, np.float32),
                                  np.asarray(dff, np.float32)])
    logger.info("added %d silent cells (anatomical components) to %d components", N, K)
    return new
