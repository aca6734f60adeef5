"""Step 6 of the skeleton stage, the somata: found in the mask, each one node.

:func:`find_somata` finds them in the binary structure; :func:`_collapse_somata`
replaces the skeleton inside each by straight segments from its centre to the
neurites that leave it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["find_somata"]


def find_somata(mask: np.ndarray, radius: float,
                image: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Somata of a binary structure: where a disk of ``radius`` fits, grown back by it.

    Parameters
    ----------
    mask : ndarray of bool, shape (Y, X)
        The binary structure (step 5).
    radius : float
        Pixels at least ``radius`` from the background (euclidean distance; the
        image border is not background) are soma cores; a soma is the part of
        the structure within ``radius`` of a core — a morphological opening by a
        disk, so thin neurites, which no such disk fits, are left out. 0: none.
    image : ndarray, shape (Y, X), optional
        The image that was thresholded. A local threshold hollows a bright blob
        wider than its block (the inside is not brighter than its own
        neighbourhood), so the holes of ``mask`` whose mean in ``image`` is at
        least the mean of ``mask`` count as structure here; the background
        enclosed by a loop of neurites is darker and stays a hole.

    Returns
    -------
    labels : ndarray of int32, shape (Y, X)
        0 = not a soma, else the soma's label 1..n (8-connected pieces).
    n : int

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:40, :60]
    >>> mask = np.hypot(yy - 20, xx - 15) <= 7  # a soma...
    >>> mask[19:22, 15:55] = True  # ... and a 3 px wide neurite
    >>> labels, n = find_somata(mask, 4.0)
    >>> n, int(labels[20, 15]), int(labels[20, 40])
    (1, 1, 0)
    """
    mask = np.asarray(mask, dtype=bool)
    if radius <= 0 or not mask.any():
        return np.zeros(mask.shape, np.int32), 0
    if image is not None:
        holes, n = ndi.label(ndi.binary_fill_holes(mask) & ~mask)
        if n:
            image = np.asarray(image, np.float64)
            bright = np.asarray(ndi.mean(image, holes, np.arange(1, n + 1))) \
                >= image[mask].mean()
            mask = mask | np.concatenate([[False], bright])[holes]
    depth = ndi.distance_transform_edt(np.pad(mask, 1, mode="edge"))[1:-1, 1:-1]
    core = depth >= radius
    if not core.any():
        return np.zeros(mask.shape, np.int32), 0
    soma = mask & (ndi.distance_transform_edt(~core) < radius)
    labels, n = ndi.label(soma, structure=np.ones((3, 3), bool))
    return labels.astype(np.int32), int(n)


def _soma_centres(somata: np.ndarray, n: int) -> np.ndarray:
    """Return the (n, 2) integer row, column of the deepest pixel of each soma.

    The deepest pixel lies inside the soma even when the soma is not convex.
    """
    if n == 0:
        return np.zeros((0, 2), np.intp)
    depth = ndi.distance_transform_edt(somata > 0)
    pos = ndi.maximum_position(depth, somata, np.arange(1, n + 1))
    return np.array(pos, np.intp).reshape(-1, 2)


def _collapse_somata(skeleton: np.ndarray, somata: np.ndarray, n: int,
                     min_piece: float) -> np.ndarray:
    """Replace the skeleton inside each soma by straight segments from its centre.

    The segments join the centre to the skeleton pieces that leave the soma.

    The skeleton pixels inside the somata are removed. Each remaining piece
    (8-connected) that touches a soma is either a spur of the soma's outline
    (fewer than ``min_piece`` pixels: removed) or a neurite: it is joined to the
    soma centre by a digital straight line from its pixel next to the soma that
    is nearest the centre (one line per piece and soma, so no loop is made).
    A soma that no neurite leaves keeps no skeleton.
    """
    from skimage.draw import line

    out = skeleton & (somata == 0)
    if n == 0 or not out.any():
        return out
    pieces, _ = ndi.label(out, structure=np.ones((3, 3), bool))
    sizes = np.bincount(pieces.ravel())
    near = ndi.grey_dilation(somata, footprint=np.ones((3, 3), bool))
    exits = np.argwhere(out & (near > 0))
    centres = _soma_centres(somata, n)
    best: dict[tuple[int, int], tuple[float, int, int]] = {}
    for r, c in exits:
        piece, soma = int(pieces[r, c]), int(near[r, c])
        d = float(np.hypot(*(centres[soma - 1] - (r, c))))
        if (piece, soma) not in best or d < best[(piece, soma)][0]:
            best[(piece, soma)] = (d, int(r), int(c))
    spurs = [piece for (piece, _), _ in best.items() if sizes[piece] < min_piece]
    if spurs:
        out &= ~np.isin(pieces, spurs)
    for (piece, soma), (_, r, c) in best.items():
        if sizes[piece] < min_piece:
            continue
        rr, cc = line(int(centres[soma - 1][0]), int(centres[soma - 1][1]), r, c)
        out[rr, cc] = True
    return out

