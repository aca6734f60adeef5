"""User seeds: footprints from a label image or a mask stack.

:func:`seeded` fits the seeds' traces and background; :func:`seed_masks` turns a
label image or a mask stack into footprint masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .background import background_nmf
from .common import Initialization, _hals_columns, as_matrix

__all__ = ["seeded", "seed_masks"]


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
