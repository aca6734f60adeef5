"""Per-component features that tell a cell from what is not one.

CaImAn's evaluation (:mod:`.evaluation`) judges a component by two numbers: how
exceptional its largest transient is (SNR) and how well its footprint matches the
movie while it is active (r value). Neurite fragments, out-of-focus cells, neuropil
and partial copies pass both. :func:`component_features` measures, for every
component of a :class:`~napari_amnesia.core.cnmf.SourceResult`, what a person looks
at when curating by eye, in numbers that do not depend on the recording's
brightness, noise level or frame size:

======================  ==================================================================
feature                 what it is, in plain words
======================  ==================================================================
``log_snr``             log(1 + event SNR) (:func:`.evaluation.event_snr`)
``r_value``             spatial r value (:func:`.evaluation.spatial_r_values`)
``log_area_ratio``      log of the footprint's area (pixels at or above 20 % of its peak)
                        over the expected soma area ``pi * gSig_y * gSig_x``
``abs_log_area_ratio``  how far the area is from the expected one, either way
``compactness``         ``4 pi area / perimeter^2`` of the footprint's outline (cut at
                        20 % of its peak, the piece holding the peak with its holes
                        filled, so that specks and pinholes of noise around a real
                        soma do not count): about 1 for a disk, small for a line or a
                        ragged fragment
``eccentricity``        of the footprint's weighted second moments: 0 for a disk,
                        near 1 for a line
``nucleus_contrast``    mean weight in the centre (distance < 0.4 r) over the mean in
                        the ring 0.5 r .. r (r = radius of the disk of the same area):
                        below 1 for a soma with a dark nucleus
``peak_fraction``       the footprint's largest weight over its sum (times its
                        area): 1 for a flat footprint, large for a single hot spot
``corr_image_fit``      Pearson correlation, over the footprint's bounding box grown
                        by ``gSig``, between the footprint and the local correlation
                        image: how well the footprint explains where neighbouring
                        pixels co-fluctuate (0 without a correlation image)
``skewness``            skewness of the raw trace (activity is positive and sparse)
``decay_match``         correlation between the spike-triggered average of the raw
                        trace and the indicator's decay ``exp(-n / (decay_time fr))``
``overlap``             fraction of the footprint's weight on pixels that another
                        component's footprint also covers (at 20 % of its peak)
``neuropil_corr``       correlation of the raw trace with the mean of its
                        surrounding annulus (``gSig`` .. ``3 gSig`` beyond the
                        footprint) of the movie minus all components; without a
                        movie, of the background ``b f`` there
``brightness``          where the footprint lies in the mean image, between the
                        recording's darkest places (1st percentile: 0) and its
                        typical tissue (median: 1), clipped to [0, 4]: cells carry the
                        indicator, so a component in a region with almost no
                        fluorescence (the blanked edge of a scan, a vessel's shadow)
                        is noise made to look like a cell by per-pixel normalisation
======================  ==================================================================

All are computed from the sparse footprints without forming a dense ``(K, Y, X)``
stack: the shape features loop over small crops, the others are matrix products.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy import ndimage, sparse

__all__ = ["FEATURE_NAMES", "brightness", "component_features", "shape_features"]

logger = logging.getLogger(__name__)

#: Names of the features, in the order of the columns :func:`component_features` returns.
FEATURE_NAMES: tuple[str, ...] = (
    "log_snr", "r_value", "log_area_ratio", "abs_log_area_ratio", "compactness",
    "eccentricity", "nucleus_contrast", "peak_fraction", "corr_image_fit", "skewness",
    "decay_match", "overlap", "neuropil_corr", "brightness",
)

_THRESHOLD = 0.2  # fraction of its peak at which a footprint is binarised (as sizes())


def _columns(A: sparse.csc_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    s = slice(A.indptr[k], A.indptr[k + 1])
    return A.indices[s], A.data[s]


def _as_csc(footprints: Any, n_pixels: int) -> sparse.csc_matrix:
    A = sparse.csc_matrix(footprints, dtype=np.float64) if sparse.issparse(footprints) \
        else sparse.csc_matrix(np.asarray(footprints, np.float64))
    if A.shape[0] != n_pixels:
        raise ValueError(f"footprints should have {n_pixels} rows (pixels), got {A.shape[0]}.")
    A = A.copy()
    A.data = np.clip(A.data, 0.0, None)
    A.eliminate_zeros()
    A.sort_indices()
    return A


def shape_features(
    footprints: Any,
    shape: tuple[int, int],
    gSig: Any = 4.0,  # noqa: N803 - CaImAn's name
    *,
    correlation_image: Any = None,
) -> dict[str, np.ndarray]:
    """Shape of every footprint and its fit to the local correlation image.

    Parameters
    ----------
    footprints : array_like or sparse matrix, shape (Y * X, K)
        Footprints, pixels in C order (``row * X + column``), any non-negative scale.
    shape : tuple of int
        Frame shape ``(Y, X)``.
    gSig : float or pair of float
        Expected neuron radius in pixels (rows, columns).
    correlation_image : array_like, shape (Y, X), optional
        Local correlation image (:func:`~napari_amnesia.core.summary.local_correlations`).

    Returns
    -------
    dict of ndarray, shape (K,)
        ``area`` (pixels at or above 20 % of the peak), ``log_area_ratio``,
        ``abs_log_area_ratio``, ``compactness``, ``eccentricity``,
        ``nucleus_contrast``, ``peak_fraction``, ``corr_image_fit`` (see the module
        docstring).

    Examples
    --------
    >>> yy, xx = np.mgrid[:40, :40]
    >>> disk = ((yy - 12) ** 2 + (xx - 12) ** 2 <= 25).astype(float)
    >>> line = ((yy == 30) & (xx > 5) & (xx < 35)).astype(float)
    >>> f = shape_features(np.stack([disk.ravel(), line.ravel()], 1), (40, 40), 5)
    >>> bool(f["compactness"][0] > 0.8 > 0.2 > f["compactness"][1])
    True
    >>> bool(f["eccentricity"][0] < 0.2 and f["eccentricity"][1] > 0.95)
    True
    """
    Y, X = (int(v) for v in shape)
    A = _as_csc(footprints, Y * X)
    K = A.shape[1]
    gs = np.broadcast_to(np.asarray(gSig, np.float64).ravel(), (2,)) if np.size(gSig) in (1, 2) \
        else None
    if gs is None or not np.all(gs > 0):
        raise ValueError(f"gSig should be a positive number or pair, got {gSig!r}.")
    expected = np.pi * gs[0] * gs[1]
    pad = int(np.ceil(gs.max()))
    cimg = None
    if correlation_image is not None:
        cimg = np.asarray(correlation_image, np.float64)
        if cimg.shape != (Y, X):
            raise ValueError(f"correlation_image should have shape {(Y, X)}, got {cimg.shape}.")
    out = {n: np.zeros(K) for n in ("area", "compactness", "eccentricity", "nucleus_contrast",
                                     "peak_fraction", "corr_image_fit")}
    for k in range(K):
        idx, val = _columns(A, k)
        if idx.size == 0 or not val.max() > 0:
            out["nucleus_contrast"][k] = 1.0
            continue
        r, c = np.divmod(idx, X)
        r0, r1, c0, c1 = r.min(), r.max() + 1, c.min(), c.max() + 1
        crop = np.zeros((r1 - r0 + 2, c1 - c0 + 2))  # one empty pixel on the far sides
        crop[r - r0, c - c0] = val
        mask = crop >= _THRESHOLD * val.max()
        area = float(mask.sum())
        out["area"][k] = area
        # compactness of the outline, not of pixel noise: the mask's piece holding the
        # peak, with its holes filled
        blob, _ = ndimage.label(mask)
        blob = ndimage.binary_fill_holes(blob == blob.flat[int(np.argmax(crop))])
        # perimeter: exposed pixel edges, times pi/4 (an edge count is the L1 length of
        # the outline; pi/4 is the mean ratio of Euclidean to L1 length over directions)
        m = np.pad(blob, 1)
        edges = sum(float(np.count_nonzero(m & ~np.roll(m, s, axis=ax)))
                    for ax in (0, 1) for s in (1, -1))
        perim = edges * np.pi / 4
        out["compactness"][k] = min(4 * np.pi * float(blob.sum()) / perim**2, 1.5) \
            if perim > 0 else 0.0
        # weighted moments of the thresholded footprint
        w = np.where(mask, crop, 0.0)
        rr, cc = np.nonzero(mask)
        ww = w[rr, cc]
        tot = ww.sum()
        my, mx = (ww @ rr) / tot, (ww @ cc) / tot
        dy, dx = rr - my, cc - mx
        cov = np.array([[ww @ (dy * dy), ww @ (dy * dx)], [ww @ (dy * dx), ww @ (dx * dx)]]) / tot
        cov += np.eye(2) / 12.0  # a pixel's own extent: one pixel is a disk, not a point
        ev = np.linalg.eigvalsh(cov)
        out["eccentricity"][k] = float(np.sqrt(max(0.0, 1.0 - ev[0] / ev[1])))
        # dark nucleus: centre against ring, around the weighted centroid
        req = np.sqrt(area / np.pi)
        gy, gx = np.indices(crop.shape)
        d = np.hypot(gy - my, gx - mx)
        centre = d < 0.4 * req
        ring = (d >= 0.5 * req) & (d <= req)
        if centre.any() and ring.any() and crop[ring].mean() > 0:
            out["nucleus_contrast"][k] = crop[centre].mean() / crop[ring].mean()
        else:
            out["nucleus_contrast"][k] = 1.0
        out["peak_fraction"][k] = val.max() * area / max(w.sum(), 1e-300)
        if cimg is not None:
            R0, R1 = max(r0 - pad, 0), min(r1 + pad, Y)
            C0, C1 = max(c0 - pad, 0), min(c1 + pad, X)
            a = np.zeros((R1 - R0, C1 - C0))
            a[r - R0, c - C0] = val
            ci = cimg[R0:R1, C0:C1]
            if a.std() > 0 and ci.std() > 0:
                out["corr_image_fit"][k] = float(np.corrcoef(a.ravel(), ci.ravel())[0, 1])
    with np.errstate(divide="ignore"):
        lar = np.log(np.maximum(out["area"], 1.0) / expected)
    out["log_area_ratio"] = lar
    out["abs_log_area_ratio"] = np.abs(lar)
    out["nucleus_contrast"] = np.clip(out["nucleus_contrast"], 0.0, 3.0)
    return out


def _skewness(x: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=1, keepdims=True)
    m2 = (xc * xc).mean(axis=1)
    m3 = (xc * xc * xc).mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = m3 / m2**1.5
    return np.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0)


def _rowcorr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ac = a - a.mean(axis=-1, keepdims=True)
    bc = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((ac * ac).sum(-1) * (bc * bc).sum(-1))
    num = (ac * bc).sum(-1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def decay_match(raw_traces: Any, spikes: Any, decay_frames: float) -> np.ndarray:
    """Correlate each trace's spike-triggered average with the indicator's decay.

    The spike-triggered average is the mean of the raw trace ``x[t + n]`` over
    frames ``t`` weighted by the deconvolved activity ``s[t]``, for ``n = 0 ..
    L - 1`` (``L = max(4, 3 * decay_frames)``); it is compared, by Pearson
    correlation, with ``exp(-n / decay_frames)``.

    Parameters
    ----------
    raw_traces, spikes : array_like, shape (K, T)
    decay_frames : float
        Decay time constant in frames (``decay_time * fr``).

    Returns
    -------
    ndarray, shape (K,)
        In [-1, 1]; 0 for a component without activity.

    Examples
    --------
    >>> s = np.zeros((1, 400)); s[0, ::50] = 1
    >>> x = np.array([np.convolve(s[0], 0.8 ** np.arange(40))[:400]])
    >>> round(float(decay_match(x, s, -1 / np.log(0.8))[0]), 3)
    1.0
    """
    x = np.atleast_2d(np.asarray(raw_traces, np.float64))
    s = np.clip(np.atleast_2d(np.asarray(spikes, np.float64)), 0.0, None)
    K, T = x.shape
    tau = max(float(decay_frames), 0.5)
    L = int(min(max(4, np.ceil(3 * tau)), max(T // 4, 2)))
    n = np.arange(L)
    kernel = np.exp(-n / tau)
    out = np.zeros(K)
    if K == 0 or T < 2 * L:
        return out
    tot = s[:, : T - L].sum(axis=1)
    sta = np.stack([(s[:, : T - L] * x[:, j: T - L + j]).sum(axis=1) for j in n], axis=1)
    ok = tot > 0
    out[ok] = _rowcorr(sta[ok] / tot[ok, None], np.broadcast_to(kernel, (int(ok.sum()), L)))
    return out


def _annulus_matrix(A: sparse.csc_matrix, shape: tuple[int, int], inner: int, outer: int
                    ) -> sparse.csc_matrix:
    """Return a (pixels, K) matrix of annulus masks, each column summing to 1 (or 0)."""
    Y, X = shape
    union = np.zeros(Y * X, bool)
    masks = A.copy()
    peak = np.asarray(A.max(axis=0).toarray()).ravel()
    col = np.repeat(np.arange(A.shape[1]), np.diff(A.indptr))
    masks.data = (A.data >= _THRESHOLD * peak[col]).astype(np.float64)
    masks.eliminate_zeros()
    union[np.unique(masks.indices)] = True
    rows, cols, vals = [], [], []
    for k in range(A.shape[1]):
        idx = masks.indices[masks.indptr[k]: masks.indptr[k + 1]]
        if idx.size == 0:
            continue
        r, c = np.divmod(idx, X)
        R0, R1 = max(r.min() - outer, 0), min(r.max() + outer + 1, Y)
        C0, C1 = max(c.min() - outer, 0), min(c.max() + outer + 1, X)
        m = np.zeros((R1 - R0, C1 - C0), bool)
        m[r - R0, c - C0] = True
        d = ndimage.distance_transform_edt(~m)
        ring = (d > inner) & (d <= outer)
        ry, rx = np.nonzero(ring)
        p = (ry + R0) * X + (rx + C0)
        p = p[~union[p]]
        if p.size == 0:
            continue
        rows.append(p)
        cols.append(np.full(p.size, k))
        vals.append(np.full(p.size, 1.0 / p.size))
    if not rows:
        return sparse.csc_matrix((Y * X, A.shape[1]))
    return sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(Y * X, A.shape[1]))


def brightness(footprints: Any, mean_image: Any) -> np.ndarray:
    """Where each footprint lies in the mean image, from the darkest places to typical tissue.

    Parameters
    ----------
    footprints : array_like or sparse matrix, shape (Y * X, K)
        Non-negative footprints, pixels in C order.
    mean_image : array_like, shape (Y, X) or (Y * X,)
        The movie's mean image.

    Returns
    -------
    ndarray, shape (K,)
        ``(m_k - p1) / (median - p1)`` clipped to [0, 4], where ``m_k`` is the
        footprint-weighted mean of the image and ``p1`` and ``median`` the image's
        1st percentile and median: 0 in the darkest places, 1 in typical tissue.
        Independent of the recording's gain and offset.

    Examples
    --------
    >>> image = np.full((10, 10), 100.0)
    >>> image[:, :3] = 2.0                      # a dark band at the left edge
    >>> a = np.zeros((100, 2))
    >>> a[5 * 10 + 1, 0] = a[5 * 10 + 6, 1] = 1.0
    >>> brightness(a, image).round(2).tolist()
    [0.0, 1.0]
    """
    img = np.nan_to_num(np.asarray(mean_image, np.float64).ravel())
    A = _as_csc(footprints, img.size)
    low, mid = np.percentile(img, [1.0, 50.0])
    span = max(mid - low, 1e-12 * max(abs(mid), 1.0))
    total = np.asarray(A.sum(axis=0)).ravel()
    weighted = A.T @ img
    m = np.divide(weighted, total, out=np.full(A.shape[1], mid), where=total > 0)
    return np.clip((m - low) / span, 0.0, 4.0)


def component_features(
    result: Any,
    movie: Any = None,
    *,
    correlation_image: Any = None,
    chunk_frames: int = 64,
) -> np.ndarray:
    """Features of every component of a result, one row per component.

    Parameters
    ----------
    result : SourceResult
        An evaluated result (``snr`` and ``r_values`` set; if not, both count as 0).
    movie : array_like, shape (T, Y, X), optional
        The movie the result was fitted on, streamed once in blocks of
        ``chunk_frames`` for ``neuropil_corr`` (without it, the background model
        stands for the surroundings).
    correlation_image : array_like, shape (Y, X), optional
        Local correlation image, for ``corr_image_fit`` (0 without it).
    chunk_frames : int
        Frames read at once from ``movie``.

    Returns
    -------
    ndarray, shape (K, len(FEATURE_NAMES)), float64
        Columns in the order of :data:`FEATURE_NAMES` (each explained in the
        module docstring); finite everywhere.
    """
    Y, X = result.shape
    K, T = result.K, result.n_frames
    if K == 0:
        return np.zeros((0, len(FEATURE_NAMES)))
    A = _as_csc(result.footprints, Y * X)
    params = result.params
    gs = np.broadcast_to(np.asarray(params.gSig, np.float64).ravel(), (2,))
    f = shape_features(A, (Y, X), gs, correlation_image=correlation_image)
    raw = np.asarray(result.raw_traces, np.float64)
    snr = np.zeros(K) if result.snr is None else np.asarray(result.snr, np.float64)
    rv = np.zeros(K) if result.r_values is None else np.asarray(result.r_values, np.float64)
    f["log_snr"] = np.log1p(np.clip(np.nan_to_num(snr), 0.0, None))
    f["r_value"] = np.nan_to_num(rv)
    f["skewness"] = np.clip(_skewness(raw), -5.0, 20.0)
    f["decay_match"] = decay_match(raw, result.spikes, params.decay_time * params.fr)
    # overlap: weight of a_k on pixels that another component's mask covers
    peak = np.asarray(A.max(axis=0).toarray()).ravel()
    col = np.repeat(np.arange(K), np.diff(A.indptr))
    inmask = A.data >= _THRESHOLD * peak[col]
    count = np.bincount(A.indices[inmask], minlength=Y * X)
    others = count[A.indices] - inmask
    shared = np.bincount(col, weights=A.data * (others > 0), minlength=K)
    total = np.bincount(col, weights=A.data, minlength=K)
    f["overlap"] = np.divide(shared, total, out=np.zeros(K), where=total > 0)
    # neuropil: mean of the annulus around each footprint, others removed
    pad = int(np.ceil(gs.max()))
    R = _annulus_matrix(A, (Y, X), pad, 3 * pad)
    b, fb = result.background
    b, fb = np.asarray(b, np.float64), np.asarray(fb, np.float64)
    if movie is not None:
        RT = R.T.tocsr()
        ring = np.zeros((K, T))
        total = np.zeros(Y * X)
        for t0 in range(0, T, int(chunk_frames)):
            blk = movie[t0: t0 + int(chunk_frames)]
            blk = np.asarray(blk.compute() if hasattr(blk, "compute") else blk, np.float64)
            blk = np.nan_to_num(blk.reshape(len(blk), -1))
            ring[:, t0: t0 + len(blk)] = RT @ blk.T
            total += blk.sum(axis=0)
        ring -= (RT @ A) @ np.asarray(result.traces, np.float64)
        mean_image = total / max(T, 1)
    else:
        ring = (R.T @ b) @ fb if b.shape[1] else np.zeros((K, T))
        if getattr(result, "mean_image", None) is not None:  # kept by the fit
            mean_image = np.asarray(result.mean_image, np.float64).ravel()
        else:  # the model's own: components and background
            mean_image = A @ np.asarray(result.traces, np.float64).mean(axis=1)
            if b.shape[1]:
                mean_image = mean_image + b @ fb.mean(axis=1)
    f["neuropil_corr"] = _rowcorr(raw, ring)
    f["brightness"] = brightness(A, mean_image)
    F = np.stack([np.asarray(f[n], np.float64) for n in FEATURE_NAMES], axis=1)
    return np.nan_to_num(F, nan=0.0, posinf=0.0, neginf=0.0)
