"""Seeds: CNMF-E's seed pixels, and user footprints from a label image or a mask stack.

:func:`find_seeds` picks CNMF-E's seed pixels from a correlation and a PNR image
(what the napari seed picker draws, and the first pass of the one-photon greedy
initialisation); :func:`seeded` fits the seeds' traces and background;
:func:`seed_masks` turns a label image or a mask stack into footprint masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .background import background_nmf
from .common import Initialization, _hals_columns, as_matrix

__all__ = ["seeded", "seed_masks", "find_seeds"]


def find_seeds(
    correlation: Any,
    pnr: Any,
    *,
    min_corr: float,
    min_pnr: float,
    gSig: float | tuple[float, float],  # noqa: N803 - CaImAn's name
) -> np.ndarray:
    """Seed pixels of CNMF-E: local maxima of correlation x PNR above both thresholds.

    A pixel is a candidate when its local correlation is at least ``min_corr`` and
    its peak-to-noise ratio at least ``min_pnr`` (Zhou et al. 2018, "Initialization";
    CaImAn's ``init_neurons_corr_pnr``). Candidates are ranked by the product
    ``correlation * pnr``; a candidate is a seed when it is the largest product
    within ``gSig`` pixels (a box of ``2 * round(gSig) + 1`` pixels, at least 3) and
    no better seed lies in that box (plateaus give one seed).

    To get the seeds that :func:`~napari_amnesia.core.cnmf.fit` starts from with
    ``method_init="corr_pnr"``, pass the images it computes:
    :func:`~napari_amnesia.core.cnmf.initialization.corr_pnr.correlation_pnr` of the
    movie with the fit's parameters, which is the summary stage's ``corr_pnr`` and
    ``pnr`` images (:func:`~napari_amnesia.core.summary.summary_images` with
    ``gsig=gSig`` and ``center_psf=True``: CaImAn's ``correlation_pnr`` filter).

    Parameters
    ----------
    correlation : array_like, shape (Y, X)
        Local correlation image of the filtered, noise-normalised movie (CaImAn's
        ``Cn`` of ``correlation_pnr``); NaN counts as no seed.
    pnr : array_like, shape (Y, X)
        Peak-to-noise ratio image of the filtered movie; NaN counts as no seed.
    min_corr : float
        Smallest correlation of a seed, in [0, 1].
    min_pnr : float
        Smallest PNR of a seed, > 0.
    gSig : float or (float, float)
        Cell radius in pixels (rows, columns): two seeds are at least this far apart
        along one axis.

    Returns
    -------
    ndarray of int64, shape (n, 2)
        ``(row, column)`` of each seed, best product first (ties: row, then column).

    Raises
    ------
    ValueError
        For images of different or non-2-D shapes, or a threshold out of range.

    References
    ----------
    .. [1] Zhou, P. et al. (2018). Efficient and accurate extraction of in vivo calcium
       signals from microendoscopic video data. eLife 7, e28728.

    Examples
    --------
    >>> corr = np.zeros((20, 20), np.float32); pnr = np.zeros((20, 20), np.float32)
    >>> corr[5, 6] = pnr[5, 6] = 0.9
    >>> corr[14, 12], pnr[14, 12] = 0.95, 20
    >>> find_seeds(corr, pnr, min_corr=0.8, min_pnr=0.5, gSig=3).tolist()
    [[14, 12], [5, 6]]
    """
    from scipy import ndimage

    cn = np.asarray(correlation, np.float32)
    pn = np.asarray(pnr, np.float32)
    if cn.ndim != 2 or cn.shape != pn.shape:
        raise ValueError("correlation and pnr should be two images of the same shape, got "
                         f"{cn.shape} and {pn.shape}.")
    if not (isinstance(min_corr, (int, float, np.number)) and 0 <= float(min_corr) <= 1):
        raise ValueError(f"min_corr should be a number in [0, 1], got {min_corr!r}.")
    if not (isinstance(min_pnr, (int, float, np.number)) and float(min_pnr) > 0
            and np.isfinite(min_pnr)):
        raise ValueError(f"min_pnr should be a number > 0, got {min_pnr!r}.")
    sig = np.broadcast_to(np.asarray(gSig, float), (2,))
    if not np.all(np.isfinite(sig)) or np.any(sig <= 0):
        raise ValueError(f"gSig should be positive, got {gSig!r}.")
    half = np.maximum(1, np.round(sig).astype(int))
    ok = (cn >= min_corr) & (pn >= min_pnr)  # NaN compares False
    v = np.where(ok, cn * pn, np.float32(0)).astype(np.float32)
    if not ok.any():
        return np.zeros((0, 2), np.int64)
    peak = ndimage.maximum_filter(v, size=tuple(2 * half + 1), mode="constant", cval=0.0)
    rows, cols = np.nonzero(ok & (v >= peak))
    order = np.lexsort((cols, rows, -v[rows, cols]))  # best first, then row, column
    rows, cols = rows[order], cols[order]
    # a plateau (or two equal maxima within a box) gives one seed: the first in order
    taken = np.zeros(v.shape, bool)
    keep = np.zeros(rows.size, bool)
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        if taken[r, c]:
            continue
        keep[i] = True
        taken[max(0, r - half[0]):r + half[0] + 1, max(0, c - half[1]):c + half[1] + 1] = True
    return np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)


def seed_masks(seeds: Any, dims: tuple[int, int] | None = None) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Footprint masks ``(K, Y, X)`` float32 and label values from user seeds.

    Parameters
    ----------
    seeds : array_like
        A label image ``(Y, X)`` of integers (0 = background): component ``k`` is the
        ``k``-th smallest non-zero label value, so ``label_values[k]`` is its label;
        or a stack ``(K, Y, X)`` of masks or weights (``label_values = k + 1``).
    dims : tuple of int, optional
        Expected ``(Y, X)``.

    Returns
    -------
    masks : ndarray, shape (K, Y, X), float32
    label_values : ndarray of int64, shape (K,)
    """
    s = np.asarray(seeds)
    if s.ndim == 2:
        if s.dtype.kind not in "iub":
            if s.dtype.kind == "f" and np.all(np.isfinite(s)) and np.all(s == np.round(s)):
                s = s.astype(np.int64)
            else:
                raise ValueError("a 2-D seeds image should hold integer labels "
                                 f"(0 = background), got dtype {s.dtype}.")
        values = np.unique(s[s > 0]).astype(np.int64)
        masks = np.stack([(s == v) for v in values]).astype(np.float32) if values.size \
            else np.zeros((0, *s.shape), np.float32)
    elif s.ndim == 3:
        if s.dtype.kind not in "biuf":
            raise ValueError(f"a seeds stack should be numeric masks, got dtype {s.dtype}.")
        masks = np.nan_to_num(s.astype(np.float32), nan=0.0)
        if np.any(masks < 0):
            raise ValueError("a seeds stack should be non-negative masks or weights.")
        values = np.arange(1, len(masks) + 1, dtype=np.int64)
    else:
        raise ValueError("seeds should be a label image (Y, X) or a mask stack (K, Y, X), "
                         f"got shape {s.shape}.")
    if dims is not None and tuple(masks.shape[1:]) != tuple(dims):
        raise ValueError(f"seeds have frame shape {tuple(masks.shape[1:])}, the movie "
                         f"{tuple(dims)}.")
    return masks, values


def seeded(
    Y: Any,
    seeds: Any,
    *,
    gnb: int = 1,
    n_iter: int = 5,
) -> Initialization:
    """Initialise from user seeds: a label image or a stack of masks.

    Footprints start as the masks (weights as given, binary masks as ones); the
    background is a rank-``gnb`` NMF of the data outside the seeds (inside them its
    values are interpolated by the factorisation of the whole frame); traces are the
    non-negative least-squares fit of the data minus the background, then ``n_iter``
    HALS iterations refine traces and footprints within the masks.

    Component ``k`` corresponds to ``label_values[k]`` (see :func:`seed_masks`): the
    ``k``-th smallest non-zero label of a label image, or ``k + 1`` for a stack.

    Parameters
    ----------
    Y : array_like, shape (T, Y, X)
    seeds : array_like, shape (Y, X) or (K, Y, X)
    gnb : int
    n_iter : int

    Returns
    -------
    Initialization
        With ``label_values``.
    """
    Yf, dims = as_matrix(Y)
    masks, values = seed_masks(seeds, dims)
    A = masks.reshape(len(masks), -1).T.copy()
    return _seeded_from(Yf, dims, A, values, gnb=gnb, n_iter=n_iter)


def _seeded_from(Yf: np.ndarray, dims: tuple[int, int], A: np.ndarray, values: np.ndarray,
                 *, gnb: int, n_iter: int) -> Initialization:
    T, P = Yf.shape
    K = A.shape[1]
    norms = np.linalg.norm(A, axis=0)
    A = A / np.where(norms > 0, norms, 1)
    support = A > 0
    b, f = background_nmf(Yf, gnb)
    B = f.T @ b.T if gnb else 0
    R = Yf - B
    C = np.zeros((K, T), np.float32)
    if K:
        for _ in range(max(1, n_iter)):
            C = _hals_columns(R @ A, A.T @ A, C.T, n_sweeps=2).T
            A = _hals_columns(R.T @ C.T, C @ C.T, A, mask=support)
    centers = np.array([np.unravel_index(int(np.argmax(a)), dims) if a.any() else
                        (np.nan, np.nan) for a in A.T], float).reshape(-1, 2)
    return Initialization(A=np.ascontiguousarray(A, np.float32),
                          C=np.ascontiguousarray(C, np.float32), b=b, f=f, dims=dims,
                          centers=centers, label_values=np.asarray(values, np.int64))
