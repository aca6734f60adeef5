"""Groupwise alignment of the sessions' templates into one common space.

No session is the reference and nothing is chained. Every pair of sessions is aligned
once (rotation searched on a grid then refined, translation by cross-correlation of
background-free, contrast-normalised templates); the rotations and translations of all
sessions are then solved together by least squares over every pair (the "synchronisation"
of pairwise estimates), with the common space fixed as their average (the mean rotation
and translation are zero). Pairs that disagree with the joint solution are dropped and
the solution found again. The non-rigid part is groupwise too: each session is aligned
patch by patch to the mean of all aligned sessions, the mean displacement over sessions is
removed (the common space stays their average), and the mean is made again.

CaImAn's ``register_multisession`` [1]_ instead aligns each session to the union of the
previous ones (optical flow on the mean images), so its answer depends on the order of
the sessions; CellReg [2]_ and ROICaT [3]_ align every session to one reference session.

References
----------
.. [1] Giovannucci, A. et al. (2019). CaImAn: an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173 (``caiman.base.rois.register_multisession``).
.. [2] Sheintuch, L. et al. (2017). Tracking the same neurons across multiple days in
   Ca2+ imaging data. Cell Reports 21, 1102-1115.
.. [3] Nguyen, R. & Hakim, J. (2023). ROICaT: region of interest classification and
   tracking (github.com/RichieHakim/ROICaT).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np
from scipy import fft, ndimage

from ..progress import Progress
from .transforms import SessionTransform

__all__ = ["registration_image", "iter_align", "pair_alignment", "refine_with_cells"]


def registration_image(template: np.ndarray, size: float) -> np.ndarray:
    """Return the template without its background and with a uniform local contrast.

    The background (a Gaussian of ``size`` pixels) is subtracted and the result divided
    by its local standard deviation, so that illumination and focus changes between days
    weigh little; values are clipped to ±4.
    """
    t = np.asarray(template, np.float32)
    t = ndimage.gaussian_filter(t, 0.7) - ndimage.gaussian_filter(t, size)
    local = np.sqrt(ndimage.gaussian_filter(t * t, 2 * size))
    floor = max(float(np.median(local)) * 0.1, 1e-12)
    out = np.clip(t / np.maximum(local, floor), -4, 4)
    return (out - out.mean()).astype(np.float32)


def _pad(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, np.float32)
    out[:image.shape[0], :image.shape[1]] = image
    return out


def _rotate(image: np.ndarray, angle: float, center: np.ndarray) -> np.ndarray:
    """Image content rotated by ``angle`` about ``center`` (out(p) = image(R(-a)(p-c)+c))."""
    if angle == 0:
        return image
    c, s = math.cos(angle), math.sin(angle)
    inverse = np.array([[c, s], [-s, c]])
    offset = center - inverse @ center
    return ndimage.affine_transform(image, inverse, offset=offset, order=1,
                                    mode="constant", cval=0.0)


def _peak(corr: np.ndarray, limit: float) -> tuple[np.ndarray, float]:
    """Sub-pixel location (circular shift) and height of the highest peak within ``limit``."""
    n0, n1 = corr.shape
    k0 = np.fft.fftfreq(n0, 1 / n0)
    k1 = np.fft.fftfreq(n1, 1 / n1)
    ok = (np.abs(k0)[:, None] <= limit) & (np.abs(k1)[None, :] <= limit)
    masked = np.where(ok, corr, -np.inf)
    i, j = np.unravel_index(int(np.argmax(masked)), corr.shape)
    top = float(corr[i, j])
    sub = []
    for axis in (0, 1):
        lo = corr[(i - 1) % n0, j] if axis == 0 else corr[i, (j - 1) % n1]
        hi = corr[(i + 1) % n0, j] if axis == 0 else corr[i, (j + 1) % n1]
        denom = lo - 2 * top + hi
        delta = 0.5 * (lo - hi) / denom if denom < 0 else 0.0
        sub.append(np.clip(delta, -0.5, 0.5))
    return np.array([k0[i] + sub[0], k1[j] + sub[1]]), top


def _spectrum(image: np.ndarray, pad: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    shape = tuple(fft.next_fast_len(n + 2 * pad) for n in image.shape)
    return fft.rfft2(image, s=shape), float(np.sqrt(np.sum(image.astype(np.float64) ** 2))), shape


def _cross(fa: np.ndarray, fb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Circular cross-correlation whose peak at ``b`` means ``a(p) ~ b(p - b)``."""
    return fft.irfft2(fa * np.conj(fb), s=shape)


def pair_alignment(a: np.ndarray, b: np.ndarray, *, max_shift: float, max_rotation: float,
                   rotation_step: float) -> tuple[float, np.ndarray, float]:
    """Align image ``b`` onto image ``a`` (both in the same padded frame).

    Returns ``(angle, shift, correlation)`` such that ``a(p) ~ b(R(-angle)(p - c) + c -
    shift)``: the content of ``b`` rotated by ``angle`` (radians) about the centre and
    moved by ``shift`` (rows, columns) lies on that of ``a``; ``correlation`` is the
    normalised cross-correlation at that alignment.
    """
    center = (np.asarray(a.shape, float) - 1) / 2
    factor = max(1, int(round(min(a.shape) / 160)))  # the angle search at ~160 px
    small_a = a[::factor, ::factor] if factor > 1 else a
    small_b = b[::factor, ::factor] if factor > 1 else b
    small_center = (np.asarray(small_a.shape, float) - 1) / 2
    pad = int(math.ceil(max_shift / factor)) + 2
    fa, na, shape = _spectrum(small_a, pad)
    n_steps = int(math.floor(max_rotation / rotation_step + 1e-9))
    angles = np.radians(rotation_step * np.arange(-n_steps, n_steps + 1))
    scores = np.zeros(len(angles))
    for k, angle in enumerate(angles):
        rotated = _rotate(small_b, angle, small_center)
        fb, nb, _ = _spectrum(rotated, pad)
        _, top = _peak(_cross(fa, fb, shape), max_shift / factor)
        scores[k] = top / max(na * nb, 1e-12)
    best = int(np.argmax(scores))
    angle = float(angles[best])
    if 0 < best < len(angles) - 1:
        lo, top, hi = scores[best - 1:best + 2]
        denom = lo - 2 * top + hi
        if denom < 0:
            angle += float(np.clip(0.5 * (lo - hi) / denom, -0.5, 0.5)) * math.radians(
                rotation_step)
    rotated = _rotate(b, angle, center)
    pad = int(math.ceil(max_shift)) + 2
    fa, na, shape = _spectrum(a, pad)
    fb, nb, _ = _spectrum(rotated, pad)
    shift, top = _peak(_cross(fa, fb, shape), max_shift)
    return angle, shift, top / max(na * nb, 1e-12)


def _synchronise(S: int, pairs: list[tuple[int, int, float, np.ndarray]],
                 weights: np.ndarray, center: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angles and translations of every session from pairwise maps, by least squares.

    A pair ``(i, j, a, b)`` says: a point ``p`` of session ``j`` lies at ``R(a)(p - c)
    + c + b`` in session ``i``. Session ``s`` maps into the common space by
    ``R(theta_s)(p - c) + c + t_s``; the common space is the sessions' average
    (sum of angles and of translations zero: the least-squares minimum-norm solution).
    """
    if S == 1:
        return np.zeros(1), np.zeros((1, 2))
    rows = np.zeros((len(pairs), S))
    for k, (i, j, _, _) in enumerate(pairs):
        rows[k, j] = 1.0
        rows[k, i] = -1.0
    w = np.sqrt(weights)[:, None]
    # theta_j - theta_i = a_ij  (T_i o M_ij = T_j)
    angles = np.array([p[2] for p in pairs])
    theta = np.linalg.lstsq(rows * w, angles * w[:, 0], rcond=None)[0]
    theta -= theta.mean()
    # t_j - t_i = R(theta_i) b_ij
    rhs = np.zeros((len(pairs), 2))
    for k, (i, _, _, b) in enumerate(pairs):
        c, s = math.cos(theta[i]), math.sin(theta[i])
        rhs[k] = np.array([[c, -s], [s, c]]) @ b
    t = np.linalg.lstsq(rows * w, rhs * w, rcond=None)[0]
    return theta, t - t.mean(axis=0)


def _connected(S: int, pairs: list, weights: np.ndarray) -> list[int]:
    """Return the component label of each session in the graph of the pairs kept."""
    label = list(range(S))

    def find(x: int) -> int:
        while label[x] != x:
            label[x] = label[label[x]]
            x = label[x]
        return x

    for (i, j, _, _), w in zip(pairs, weights, strict=True):
        if w > 0:
            label[find(i)] = find(j)
    return [find(s) for s in range(S)]


class OverlapError(ValueError):
    """Some sessions' templates do not overlap the others'."""


def _grid(common_shape: tuple[int, int], spacing: float) -> tuple[np.ndarray, tuple]:
    n = [max(2, int(math.ceil((s - 1) / spacing)) + 1) for s in common_shape]
    center = (np.asarray(common_shape, float) - 1) / 2
    origin = center - spacing * (np.asarray(n) - 1) / 2
    return origin, tuple(n)


def _fill(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Nodes without weight get the weighted mean of their neighbours (repeated)."""
    out = values.copy()
    w = (weights > 0).astype(float)
    if not w.any():
        return np.zeros_like(values)
    for _ in range(max(values.shape[1:]) + 1):
        if w.all():
            break
        num = np.stack([ndimage.uniform_filter(v * w, 3, mode="nearest") for v in out])
        den = ndimage.uniform_filter(w, 3, mode="nearest")
        grow = (w == 0) & (den > 0)
        for d in range(2):
            out[d][grow] = num[d][grow] / den[grow]
        w = np.where(grow, 1.0, w)
    return out


def _nonrigid_step(images: list[np.ndarray], masks: list[np.ndarray],
                   transforms: list[SessionTransform], params: Any) -> None:
    """One groupwise non-rigid step: patches of each session against the mean."""
    common_shape = transforms[0].common_shape
    spacing = params.grid_spacing
    origin, n = _grid(common_shape, spacing)
    warped = [t.apply_image(im) for t, im in zip(transforms, images, strict=True)]
    covers = [t.overlap() for t in transforms]
    counts = np.sum(covers, axis=0).astype(np.float32)
    mean = np.sum(warped, axis=0) / np.maximum(counts, 1)
    half = int(round(spacing))
    limit = params.max_nonrigid
    fields = np.zeros((len(images), 2, *n))
    weights = np.zeros((len(images), *n))
    for gi in range(n[0]):
        for gj in range(n[1]):
            node = origin + spacing * np.array([gi, gj])
            r0 = int(max(0, round(node[0]) - half))
            r1 = int(min(common_shape[0], round(node[0]) + half))
            c0 = int(max(0, round(node[1]) - half))
            c1 = int(min(common_shape[1], round(node[1]) + half))
            if r1 - r0 < 16 or c1 - c0 < 16:
                continue
            window = np.outer(np.hanning(r1 - r0 + 2)[1:-1], np.hanning(c1 - c0 + 2)[1:-1])
            ref = mean[r0:r1, c0:c1] * window
            pad = int(math.ceil(limit)) + 2
            fa, na, shape = _spectrum(ref, pad)
            for s, (w_img, cover) in enumerate(zip(warped, covers, strict=True)):
                if cover[r0:r1, c0:c1].mean() < 0.6:
                    continue
                patch = w_img[r0:r1, c0:c1] * window
                fb, nb, _ = _spectrum(patch, pad)
                shift, top = _peak(_cross(fa, fb, shape), limit)
                score = top / max(na * nb, 1e-12)
                if score < params.min_correlation:
                    continue
                # mean(q) ~ session(q - d): the session's content lies at q - d where
                # the mean's lies at q, so the correction moves it by +d
                fields[s, :, gi, gj] = shift
                weights[s, gi, gj] = score
    for s in range(len(images)):
        filled = _fill(fields[s], weights[s])
        if min(n) >= 3:
            filled = np.stack([ndimage.median_filter(f, 3, mode="nearest") for f in filled])
        fields[s] = filled
    fields -= fields.mean(axis=0, keepdims=True)
    for t, f in zip(transforms, fields, strict=True):
        t.field = f if t.field is None else t.field + f
        t.grid_origin, t.grid_spacing = tuple(origin), float(spacing)
        t._cache.clear()


def iter_align(images: list[np.ndarray], shapes: list[tuple[int, int]],
               params: Any) -> Generator[Progress, None, tuple[list[SessionTransform], dict]]:
    """Align registration images (:func:`registration_image`) groupwise.

    Yields Progress; returns the transforms (one per session) and diagnostics (pairwise
    correlations and residuals). Raises :class:`OverlapError` naming the sessions that
    do not overlap the others.
    """
    S = len(images)
    common_shape = (max(s[0] for s in shapes), max(s[1] for s in shapes))
    padded = [_pad(im, common_shape) for im in images]
    center = (np.asarray(common_shape, float) - 1) / 2
    pairs: list[tuple[int, int, float, np.ndarray]] = []
    scores = []
    total = S * (S - 1) // 2
    done = 0
    for i in range(S):
        for j in range(i + 1, S):
            angle, shift, score = pair_alignment(
                padded[i], padded[j], max_shift=params.max_shift,
                max_rotation=params.max_rotation, rotation_step=params.rotation_step)
            pairs.append((i, j, angle, shift))
            scores.append(score)
            done += 1
            yield Progress(done, total, "aligning pairs of sessions")
    scores = np.asarray(scores)
    weights = np.where(scores >= params.min_correlation, scores, 0.0)
    theta, t = _synchronise(S, pairs, weights, center) if S > 1 else (np.zeros(1),
                                                                       np.zeros((1, 2)))
    residuals = np.zeros(len(pairs))
    for _ in range(2):  # drop pairs that disagree with the joint solution
        if not pairs:
            break
        for k, (i, j, a, b) in enumerate(pairs):
            c, s = math.cos(theta[i]), math.sin(theta[i])
            predicted = np.array([[c, s], [-s, c]]) @ (t[j] - t[i])
            residuals[k] = float(np.hypot(*(predicted - b))
                                 + abs(theta[j] - theta[i] - a) * max(common_shape) / 2)
        bad = (weights > 0) & (residuals > max(2.0, 4 * np.median(residuals[weights > 0])))
        trial = np.where(bad, 0.0, weights)
        if not bad.any() or len(set(_connected(S, pairs, trial))) > 1:
            break
        weights = trial
        theta, t = _synchronise(S, pairs, weights, center)
    groups = _connected(S, pairs, weights)
    if len(set(groups)) > 1:
        sizes = {g: groups.count(g) for g in groups}
        main = max(sizes, key=lambda g: (sizes[g], -g))
        lonely = [s for s in range(S) if groups[s] != main]
        raise OverlapError(lonely, [float(max((sc for (i, j, _, _), sc in zip(
            pairs, scores, strict=True) if s in (i, j)), default=0.0)) for s in lonely])
    transforms = [SessionTransform(shape=shapes[s], common_shape=common_shape,
                                   angle=float(theta[s]), translation=tuple(t[s]),
                                   center=tuple(center))
                  for s in range(S)]
    if params.nonrigid and S > 1:
        masks = [np.ones(sh, bool) for sh in shapes]
        for step in range(2):
            _nonrigid_step(images, masks, transforms, params)
            yield Progress(step + 1, 2, "non-rigid alignment")
    info = {"pair_correlation": [[int(i), int(j), float(sc)] for (i, j, _, _), sc
                                 in zip(pairs, scores, strict=True)],
            "pairs_used": int(np.count_nonzero(weights)), "pairs": len(pairs)}
    return transforms, info


def refine_with_cells(transforms: list[SessionTransform], positions: list[np.ndarray],
                      targets: list[np.ndarray], *, nonrigid: bool, spacing: float) -> None:
    """Move each session's map so its matched cells land on their tracks' consensus.

    ``positions[s]`` are the centres (session pixels) of session ``s``'s matched
    footprints and ``targets[s]`` where their tracks' other sessions put them in the
    common space. A small rotation and translation are fitted first (least squares),
    then, when ``nonrigid``, the remaining residuals are smoothed onto the field's grid
    (Gaussian kernel regression, shrunk towards zero where there are few cells). The
    average correction over sessions is removed, so the common space stays the sessions'
    average.
    """
    S = len(transforms)
    rigid = np.zeros((S, 3))
    for s, (t, p, q) in enumerate(zip(transforms, positions, targets, strict=True)):
        if len(p) < 3:
            continue
        r = t.rigid(p)
        delta = q - (r + t.displacement(r))
        x = r - np.asarray(t.center) - np.asarray(t.translation)
        design = np.zeros((2 * len(r), 3))
        design[0::2, 0] = -x[:, 1]
        design[1::2, 0] = x[:, 0]
        design[0::2, 1] = 1
        design[1::2, 2] = 1
        rigid[s] = np.linalg.lstsq(design, delta.reshape(-1), rcond=None)[0]
    rigid -= rigid.mean(axis=0)
    for t, (omega, dy, dx) in zip(transforms, rigid, strict=True):
        t.angle += float(omega)
        t.translation = (t.translation[0] + float(dy), t.translation[1] + float(dx))
        t._cache.clear()
    if not nonrigid:
        return
    common_shape = transforms[0].common_shape
    origin, n = _grid(common_shape, spacing)
    nodes = origin + spacing * np.stack(np.meshgrid(np.arange(n[0]), np.arange(n[1]),
                                                    indexing="ij"), -1).reshape(-1, 2)
    corrections = np.zeros((S, 2, *n))
    sigma = 0.6 * spacing
    for s, (t, p, q) in enumerate(zip(transforms, positions, targets, strict=True)):
        if len(p) < 3:
            continue
        r = t.rigid(p)
        delta = q - (r + t.displacement(r))
        d2 = ((nodes[:, None, :] - r[None, :, :]) ** 2).sum(-1)
        w = np.exp(-d2 / (2 * sigma * sigma))
        values = (w @ delta) / (w.sum(axis=1) + 1.0)[:, None]
        corrections[s] = values.T.reshape(2, *n)
    corrections -= corrections.mean(axis=0, keepdims=True)
    for t, c in zip(transforms, corrections, strict=True):
        if t.field is None or t.field.shape[1:] != c.shape[1:]:
            t.field = c
        else:
            t.field = t.field + c
        t.grid_origin, t.grid_spacing = tuple(origin), float(spacing)
        t._cache.clear()
