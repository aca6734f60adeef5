"""Projection of the activity onto the skeleton: traces of pixels, branches, active pixels.

pyAMNESIA [1]_ reduces a calcium-imaging sequence to the traces of a small set of
*elements* before clustering or factorizing them. Two choices define the
elements, and keep pyAMNESIA's names:

``projection_substructure`` (here ``substructure``)
    ``"skeleton"``: the pixels of the cleaned skeleton
    (:attr:`SkeletonResult.skeleton`); ``"active"``: the pixels of the binary
    structure before skeletonization (:attr:`SkeletonResult.mask`) — the
    documented way to skip the skeleton on flickering or low-resolution
    sequences, where the skeleton breaks but the structure is still found.
``projection_method`` (here ``method``)
    ``"pixel"``: one trace per pixel; ``"branch"``: one mean trace per branch.

How pixels are grouped (the elements always partition their pixels: no pixel
belongs to two elements, so :meth:`Projection.to_image` is well defined):

- skeleton + pixel: each skeleton pixel, in row-major order.
- skeleton + branch: the pixels of each branch as labelled in
  :attr:`SkeletonResult.branch_labels` (a junction pixel, shared by several
  branches, counts in the branch of smallest id).
- active + pixel: each pixel of the mask, in row-major order.
- active + branch: each mask pixel goes to the branch of its nearest skeleton
  pixel (Euclidean distance, ties broken by scipy's distance transform),
  provided that skeleton pixel lies in the same connected piece of the mask
  (8-connected); mask pieces whose skeleton was removed entirely (pruned or
  too small) are left out. Each branch thus gets the "territory" of the
  structure around it.

Traces are means of the raw movie values (no ΔF/F, no normalization: those are
later, separate steps), computed by
:func:`napari_amnesia.core.traces.iter_label_traces` one time chunk at a time,
so memory is that of the ``(N, T)`` output plus one chunk of the pixels'
bounding box — independent of ``T`` apart from the output itself. (Note that the
output of the ``"pixel"`` method on ``"active"`` pixels can be large: N x T
float32.)

A projection is reused while it is current: :func:`reusable_projection` tells
whether an earlier projection still matches a movie, a skeleton and the choices
(the viewer keeps one per movie, shared by the clustering and factorization
docks), and :func:`iter_current_projection` returns it or computes a new one.

References
----------
.. [1] pyAMNESIA documentation, https://pyamnesia.readthedocs.io
   (``projection_substructure``, ``projection_method``; configuration
   templates "skeleton pixels", "skeleton branches", "active pixels").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .progress import Progress, ProgressGenerator, drive

__all__ = [
    "Projection",
    "project",
    "iter_project",
    "element_labels",
    "projection_is_current",
    "reusable_projection",
    "iter_current_projection",
]

SUBSTRUCTURES = ("skeleton", "active")
METHODS = ("pixel", "branch")


@dataclass
class Projection:
    """Traces of the elements (pixels or branches) of a skeleton or active mask.

    Attributes
    ----------
    traces : ndarray of float32, shape (N, T)
        Mean movie value over each element's pixels, frame by frame.
    pixels : list of ndarray
        ``(n_i, 2)`` row/column coordinates of each element's pixels.
    element_ids : ndarray of int, shape (N,)
        Identity of each element: the ``branch_id`` for ``method="branch"``,
        the running index ``0..N-1`` (row-major order) for ``method="pixel"``.
    labels : ndarray of int32, shape (Y, X)
        ``i + 1`` on the pixels of element ``i`` (row of ``traces``), 0 elsewhere.
    substructure : {"skeleton", "active"}
    method : {"pixel", "branch"}
    shape : (int, int)
        Frame shape ``(Y, X)``.
    info : dict
        ``n_frames`` and what else the computation recorded.
    """

    traces: np.ndarray
    pixels: list[np.ndarray]
    element_ids: np.ndarray
    labels: np.ndarray
    substructure: str
    method: str
    shape: tuple[int, int]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_elements(self) -> int:
        """Number of elements ``N``."""
        return int(len(self.element_ids))

    def __len__(self) -> int:
        """Return the number of elements."""
        return self.n_elements

    def __repr__(self) -> str:
        """Summarize the substructure, method and size."""
        return (
            f"Projection(substructure={self.substructure!r}, method={self.method!r}, "
            f"n_elements={self.n_elements}, n_frames={self.traces.shape[1]})"
        )

    def to_image(self, values: Any, *, fill: float = np.nan) -> np.ndarray:
        """Paint one value per element back into a ``(Y, X)`` float32 image.

        Parameters
        ----------
        values : array_like, shape (N,)
            One value per element (a cluster id, a weight, a statistic...).
        fill : float, optional
            Value of the pixels that belong to no element.

        Examples
        --------
        >>> image = projection.to_image(np.arange(projection.n_elements))  # doctest: +SKIP
        """
        values = np.asarray(values)
        if values.shape != (self.n_elements,):
            raise ValueError(
                f"values should have one entry per element ({self.n_elements}), "
                f"got shape {values.shape}."
            )
        lut = np.concatenate([[fill], values.astype(np.float32)]).astype(np.float32)
        return lut[self.labels]

    def element_at(self, row: int, col: int) -> int | None:
        """Index (row of ``traces``) of the element holding pixel (row, col), or None."""
        if not (0 <= row < self.shape[0] and 0 <= col < self.shape[1]):
            return None
        label = int(self.labels[int(row), int(col)])
        return label - 1 if label else None


def _check_choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in options:
        raise ValueError(
            f"{name} should be one of {', '.join(repr(o) for o in options)}, got {value!r}."
        )
    return value.lower()


def element_labels(skeleton_result: Any, *, substructure: str = "skeleton",
                   method: str = "branch") -> tuple[np.ndarray, np.ndarray]:
    """Label image of the elements of a projection, without reading the movie.

    Parameters
    ----------
    skeleton_result : SkeletonResult
    substructure : {"skeleton", "active"}, optional
    method : {"pixel", "branch"}, optional

    Returns
    -------
    labels : ndarray of int32, shape (Y, X)
        ``i + 1`` on the pixels of element ``i``, 0 elsewhere.
    element_ids : ndarray of int64, shape (N,)
        Branch ids (``"branch"``) or ``0..N-1`` (``"pixel"``).
    """
    substructure = _check_choice("substructure", substructure, SUBSTRUCTURES)
    method = _check_choice("method", method, METHODS)
    skeleton = np.asarray(skeleton_result.skeleton, bool)
    mask = np.asarray(skeleton_result.mask, bool)
    branch_labels = np.asarray(skeleton_result.branch_labels)
    support = skeleton if substructure == "skeleton" else mask
    if method == "pixel":
        flat = np.flatnonzero(support)
        labels = np.zeros(support.shape, np.int32)
        labels.ravel()[flat] = np.arange(1, len(flat) + 1, dtype=np.int32)
        return labels, np.arange(len(flat), dtype=np.int64)
    if substructure == "skeleton":
        branch_map = branch_labels
    else:
        branch_map = _active_branches(mask, branch_labels)
    ids = np.unique(branch_map)
    ids = ids[ids != 0].astype(np.int64)
    lut = np.zeros(int(branch_map.max()) + 1 if branch_map.size else 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
    return lut[branch_map], ids


def _active_branches(mask: np.ndarray, branch_labels: np.ndarray) -> np.ndarray:
    """Return the branch id of each mask pixel.

    That of its nearest skeleton pixel in the same 8-connected piece of the mask
    (0 when the piece has no skeleton).
    """
    out = np.zeros(mask.shape, np.int32)
    on_skeleton = branch_labels > 0
    if not mask.any() or not on_skeleton.any():
        return out
    _, (ri, ci) = ndi.distance_transform_edt(~on_skeleton, return_indices=True)
    nearest = branch_labels[ri, ci]
    pieces, _ = ndi.label(mask | on_skeleton, structure=np.ones((3, 3), bool))
    same_piece = pieces == pieces[ri, ci]
    keep = mask & same_piece
    out[keep] = nearest[keep]
    out[on_skeleton] = branch_labels[on_skeleton]  # skeleton pixels keep their own branch
    return out


def iter_project(
    movie: Any,
    skeleton_result: Any,
    *,
    substructure: str = "skeleton",
    method: str = "branch",
    chunk_frames: int | None = None,
) -> ProgressGenerator[Projection]:
    """Project as :func:`project` does, as a generator.

    Yields :class:`Progress`, returns the :class:`Projection`.
    """
    substructure = _check_choice("substructure", substructure, SUBSTRUCTURES)
    method = _check_choice("method", method, METHODS)
    shape = getattr(movie, "shape", None)
    if shape is None or len(shape) != 3:
        raise ValueError(
            "project needs a (T, Y, X) movie to take traces from, got "
            + (f"an array of shape {tuple(shape)}" if shape is not None
               else f"a {type(movie).__name__}")
            + "; a 2-D image has no activity to project (skeletonize accepts it, project "
            "does not)."
        )
    frame = tuple(int(s) for s in shape[1:])
    if tuple(np.shape(skeleton_result.skeleton)) != frame:
        raise ValueError(
            f"the skeleton's shape {tuple(np.shape(skeleton_result.skeleton))} does not match "
            f"the movie frame {frame}."
        )
    from .traces import iter_label_traces

    labels, element_ids = element_labels(skeleton_result, substructure=substructure,
                                         method=method)
    n = len(element_ids)
    n_frames = int(shape[0])
    if n:
        _, traces = yield from iter_label_traces(
            movie, labels, label_ids=np.arange(1, n + 1), chunk_frames=chunk_frames
        )
    else:
        traces = np.zeros((0, n_frames), np.float32)
        yield Progress(n_frames, n_frames, "label traces")
    flat = labels.ravel()
    order = np.argsort(flat, kind="stable")
    starts = np.searchsorted(flat[order], np.arange(1, n + 2))
    cols = frame[1]
    pixels = []
    for i in range(n):
        idx = order[starts[i]:starts[i + 1]]
        pixels.append(np.column_stack([idx // cols, idx % cols]).astype(np.intp))
    return Projection(
        traces=np.asarray(traces, np.float32), pixels=pixels, element_ids=element_ids,
        labels=labels, substructure=substructure, method=method, shape=frame,
        info={"n_frames": n_frames},
    )


def project(
    movie: Any,
    skeleton_result: Any,
    *,
    substructure: str = "skeleton",
    method: str = "branch",
    chunk_frames: int | None = None,
) -> Projection:
    """Traces of the skeleton pixels, the active pixels, or their branches.

    pyAMNESIA's projection (``projection_substructure`` x ``projection_method``);
    see the module documentation for how pixels are grouped.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        numpy or dask movie, read one time chunk at a time.
    skeleton_result : SkeletonResult
        From :func:`napari_amnesia.core.skeleton.skeletonize` on this movie
        (or on any image of the same frame shape).
    substructure : {"skeleton", "active"}, optional
        Skeleton pixels, or the binary structure before skeletonization.
    method : {"pixel", "branch"}, optional
        One trace per pixel, or the mean trace of each branch.
    chunk_frames : int, optional
        Frames read at a time (default: the dask chunk length, else 512).

    Returns
    -------
    Projection
        ``traces`` (N, T) float32, ``pixels``, ``element_ids``, ``labels``...

    Raises
    ------
    ValueError
        A 2-D image instead of a movie, a frame shape that differs from the
        skeleton's, or an unknown ``substructure``/``method`` (named with the
        bad value).

    Examples
    --------
    >>> from napari_amnesia.core.simulate import simulate
    >>> from napari_amnesia.core.skeleton import skeletonize
    >>> movie, truth = simulate(n_frames=50, shape=(96, 96), n_cells=0,
    ...                         n_neurite_groups=1, branches_per_group=3,
    ...                         motion=False, rng=4)
    >>> result = skeletonize(movie)
    >>> proj = project(movie, result, substructure="skeleton", method="branch")
    >>> proj.traces.shape == (result.totals["n_branches"], 50)
    True
    """
    return drive(iter_project(movie, skeleton_result, substructure=substructure,
                              method=method, chunk_frames=chunk_frames))


# --------------------------------------------------------------------------- reuse
def projection_is_current(projection: Projection | None, movie: Any, skeleton_result: Any, *,
                          substructure: str = "skeleton", method: str = "branch",
                          labels: np.ndarray | None = None) -> bool:
    """Return whether ``projection`` is that of ``movie`` on ``skeleton_result``.

    True when it has the same substructure and method, as many frames as the
    movie and the same element label image as the skeleton gives now (the
    movie's values are not compared: a projection is tied to its movie layer).

    Parameters
    ----------
    projection : Projection or None
        An earlier projection (None: not current).
    movie : array_like, shape (T, Y, X)
        The movie (only its shape is read).
    skeleton_result : SkeletonResult
    substructure : {"skeleton", "active"}, optional
    method : {"pixel", "branch"}, optional
    labels : ndarray, optional
        The skeleton's :func:`element_labels` image, when already computed.
    """
    if projection is None:
        return False
    if labels is None:
        labels, _ = element_labels(skeleton_result, substructure=substructure, method=method)
    return (projection.substructure == substructure and projection.method == method
            and projection.traces.shape[1] == int(movie.shape[0])
            and projection.labels.shape == labels.shape
            and np.array_equal(projection.labels, labels))


def reusable_projection(previous: Projection | None, movie: Any, skeleton_result: Any, *,
                        substructure: str = "skeleton", method: str = "branch",
                        name: str | None = None) -> tuple[Projection | None, int]:
    """Check a skeleton against a movie and tell whether a projection can be reused.

    Reads no frame: cheap enough to run before starting the projection.

    Parameters
    ----------
    previous : Projection or None
        An earlier projection of this movie (e.g. the one a viewer keeps).
    movie : array_like, shape (T, Y, X)
    skeleton_result : SkeletonResult
    substructure : {"skeleton", "active"}, optional
    method : {"pixel", "branch"}, optional
    name : str, optional
        Name of the movie, for the messages.

    Returns
    -------
    projection : Projection or None
        ``previous`` when it is still current (:func:`projection_is_current`),
        else None (a new projection is needed).
    n_elements : int
        Number of elements of the projection.

    Raises
    ------
    ValueError
        The skeleton's frame shape differs from the movie's, or the skeleton has
        no element of that kind (the message says what to change).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> line = np.zeros((5, 5), bool)
    >>> line[2, 1:4] = True
    >>> skeleton = SimpleNamespace(skeleton=line, mask=line, branch_labels=line.astype(int))
    >>> movie = np.ones((10, 5, 5), np.float32)
    >>> reusable_projection(None, movie, skeleton, method="pixel")
    (None, 3)
    >>> proj = project(movie, skeleton, method="pixel")
    >>> reusable_projection(proj, movie, skeleton, method="pixel")[0] is proj
    True
    """
    whose = f"the skeleton of {name!r}" if name else "the skeleton"
    frame = tuple(int(s) for s in movie.shape[1:])
    shape = tuple(np.shape(skeleton_result.skeleton))
    if shape != frame:
        raise ValueError(f"{whose[0].upper()}{whose[1:]} {shape} does not match its frames "
                         f"{frame}: skeletonize it again.")
    labels, ids = element_labels(skeleton_result, substructure=substructure, method=method)
    if len(ids) == 0:
        raise ValueError(f"{whose[0].upper()}{whose[1:]} has no {substructure} {method}: "
                         "lower the Skeleton thresholds (threshold_offset, "
                         "min_component_length) or choose substructure 'active'.")
    current = projection_is_current(previous, movie, skeleton_result,
                                    substructure=substructure, method=method, labels=labels)
    return (previous if current else None), len(ids)


def iter_current_projection(movie: Any, skeleton_result: Any, *, substructure: str = "skeleton",
                            method: str = "branch", previous: Projection | None = None,
                            chunk_frames: int | None = None) -> ProgressGenerator[Projection]:
    """Return ``previous`` while it is current, else project anew (a generator).

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
    skeleton_result : SkeletonResult
    substructure : {"skeleton", "active"}, optional
    method : {"pixel", "branch"}, optional
    previous : Projection, optional
        An earlier projection, returned unchanged when
        :func:`projection_is_current`.
    chunk_frames : int, optional
        Frames read at a time by a new projection.

    Yields
    ------
    Progress
        Only when a new projection is computed.

    Returns
    -------
    Projection
    """
    if projection_is_current(previous, movie, skeleton_result, substructure=substructure,
                             method=method):
        return previous
    return (yield from iter_project(movie, skeleton_result, substructure=substructure,
                                    method=method, chunk_frames=chunk_frames))
