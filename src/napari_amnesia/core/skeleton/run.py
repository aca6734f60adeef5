"""The entry points of the skeleton stage: :func:`skeletonize` and its generator twin.

:func:`iter_skeletonize` runs steps 1-8 (:mod:`.image`, :mod:`.somata`,
:mod:`.graph`) and returns a :class:`~.result.SkeletonResult`.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ... import __version__
from ..progress import Progress, ProgressGenerator, drive
from .graph import prune_skeleton, skeleton_graph
from .image import (
    _disk,
    _equalize,
    _fill_small_holes,
    _iter_summary,
    _normalize,
    _remove_small,
    _threshold,
)
from .params import SkeletonParams
from .result import SkeletonResult
from .somata import _collapse_somata, find_somata

__all__ = ["iter_skeletonize", "skeletonize"]

logger = logging.getLogger(__name__)

_STEPS = 8

_MESSAGE = "skeleton"

def _empty_warnings(p: SkeletonParams, binary: np.ndarray, mask: np.ndarray,
                    raw_skeleton: np.ndarray, skeleton: np.ndarray,
                    n_somata: int = 0) -> list[str]:
    """Why the skeleton is empty, naming the parameters to change ([] if it is not)."""
    if skeleton.any():
        return []
    if not binary.any():
        return [f"empty skeleton: no pixel exceeds its neighbourhood by threshold_offset="
                f"{p.threshold_offset:g} (a blank or constant image, or lower "
                "threshold_offset)."]
    if not mask.any():
        return [f"empty skeleton: the {int(binary.sum())} px of the thresholded structure "
                f"are all in objects smaller than objects_min_size={p.objects_min_size}; "
                "lower objects_min_size, or lower threshold_offset (now "
                f"{p.threshold_offset:g}) to grow the structure."]
    somata = (f" and {n_somata} soma(ta) (soma_radius={p.soma_radius:g}), which have no "
              "skeleton of their own," if n_somata else "")
    return [f"empty skeleton: the binary structure has {int(mask.sum())} px{somata} but every "
            f"skeleton piece ({int(raw_skeleton.sum())} px in all) is shorter than "
            f"min_component_length={p.min_component_length} or was pruned as a spur "
            f"(min_branch_length={p.min_branch_length:g}); lower min_component_length, "
            f"objects_min_size (now {p.objects_min_size}) or threshold_offset (now "
            f"{p.threshold_offset:g}, to join the pieces)."]


def _check_input(image_or_movie: Any) -> tuple[int, ...]:
    shape = getattr(image_or_movie, "shape", None)
    if shape is None:
        image_or_movie = np.asarray(image_or_movie)
        shape = image_or_movie.shape
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3):
        raise ValueError(
            f"skeletonize needs a 2-D (Y, X) image or a 3-D (T, Y, X) movie, got shape {shape}."
        )
    if any(s < 1 for s in shape):
        raise ValueError(f"skeletonize got an empty array of shape {shape}.")
    dtype = np.dtype(getattr(image_or_movie, "dtype", np.float64))
    if dtype.kind not in "biuf":
        raise ValueError(f"skeletonize needs real numbers, got dtype {dtype}.")
    return shape


def iter_skeletonize(
    image_or_movie: Any,
    params: SkeletonParams | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> ProgressGenerator[SkeletonResult]:
    """Skeletonize, yielding :class:`Progress`; the generator twin of :func:`skeletonize`.

    While the movie is read (steps 1-2) it yields the frame progress of
    :func:`~napari_amnesia.core.summary.iter_summary_images` (message
    ``"summary images"``); then ``Progress(step, 8, "skeleton: <step>")``.
    """
    p = SkeletonParams.resolve(params, overrides)
    shape = _check_input(image_or_movie)
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    start = time.perf_counter()
    timings: dict[str, float] = {}

    def tick(name: str, t: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - t, 4)
        return now

    t = start
    if len(shape) == 3 and shape[0] >= 2:
        summary = yield from _iter_summary(image_or_movie, p)
        n_frames = shape[0]
    else:
        image = np.asarray(image_or_movie[0] if len(shape) == 3 else image_or_movie,
                           dtype=np.float32)
        if not np.isfinite(image).all():
            raise ValueError("skeletonize: the image has NaN or infinite values.")
        summary = (ndi.gaussian_filter(image, p.denoise_sigma_space, mode="reflect")
                   if p.denoise_sigma_space > 0 else image)
        n_frames = 1 if len(shape) == 3 else 0
    summary = np.asarray(summary, np.float32)
    t = tick("summary", t)
    yield Progress(2, _STEPS, f"{_MESSAGE}: summary image")

    normalized = _normalize(summary, p.normalize_percentiles)
    equalized = _equalize(normalized, p)
    t = tick("equalization", t)
    yield Progress(3, _STEPS, f"{_MESSAGE}: equalization")

    smoothed = (ndi.gaussian_filter(equalized, p.smooth_sigma, mode="reflect")
                if p.smooth_sigma > 0 else equalized).astype(np.float32)
    t = tick("smoothing", t)
    yield Progress(4, _STEPS, f"{_MESSAGE}: smoothing")

    binary, local = _threshold(smoothed, p)
    mask = binary
    if p.closing_radius > 0 and mask.any():
        # pad so that the closing does not glue structures to the border
        r = p.closing_radius
        mask = ndi.binary_closing(np.pad(mask, r), _disk(r))[r:-r, r:-r]
    mask = _fill_small_holes(mask, p.holes_max_size)
    mask = _remove_small(mask, p.objects_min_size, 2)
    t = tick("threshold", t)
    yield Progress(5, _STEPS, f"{_MESSAGE}: threshold")

    from skimage.morphology import skeletonize as _thin

    raw_skeleton = (_thin(mask, method=p.skeleton_method).astype(bool) if mask.any()
                    else np.zeros(mask.shape, bool))
    somata, n_somata = find_somata(mask, p.soma_radius, smoothed)
    thinned = raw_skeleton
    if n_somata:
        # a soma is part of the structure, hollow centre included (the local threshold
        # hollows large bright blobs; find_somata fills them): the skeleton's straight
        # segments to the soma centres, and the 'active' projection, stay inside the mask
        mask = mask | (somata > 0)
        thinned = _thin(_collapse_somata(raw_skeleton, somata, n_somata, p.min_branch_length),
                        method=p.skeleton_method).astype(bool)
    t = tick("skeletonize", t)
    yield Progress(6, _STEPS, f"{_MESSAGE}: skeletonization")

    skeleton = prune_skeleton(
        thinned, min_branch_length=p.min_branch_length, iterations=p.prune_iterations,
        min_component_length=p.min_component_length,
        junction_merge_distance=p.junction_merge_distance, method=p.skeleton_method,
    )
    t = tick("cleaning", t)
    yield Progress(7, _STEPS, f"{_MESSAGE}: cleaning")

    graph = skeleton_graph(skeleton, summary, junction_merge_distance=p.junction_merge_distance,
                           refine_junctions=p.refine_junctions,
                           junction_fit_range=p.junction_fit_range,
                           somata=somata if n_somata else None)
    totals = dict(graph["totals"])
    totals["mask_area"] = int(mask.sum())
    totals["n_somata"] = n_somata
    tick("graph", t)
    yield Progress(8, _STEPS, f"{_MESSAGE}: branch graph")

    provenance = {
        "version": __version__, "created": created,
        "elapsed_s": round(time.perf_counter() - start, 4), "timings": timings,
        "input_shape": list(shape), "n_frames": n_frames,
    }
    info = {"warnings": _empty_warnings(p, binary, mask, raw_skeleton, skeleton, n_somata)}
    for message in info["warnings"]:
        logger.warning("skeleton: %s", message)
    intermediates = {
        "summary": summary, "normalized": normalized, "equalized": equalized,
        "smoothed": smoothed, "threshold": local, "binary": binary, "mask": mask,
        "raw_skeleton": raw_skeleton,
    }
    return SkeletonResult(
        mask=mask, skeleton=skeleton, branch_labels=graph["branch_labels"],
        branches=graph["branches"], totals=totals, junctions=graph["junctions"],
        endpoints=graph["endpoints"], paths=graph["paths"], intermediates=intermediates,
        params=p, info=info, somata=somata, provenance=provenance,
    )


def skeletonize(
    image_or_movie: Any,
    params: SkeletonParams | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> SkeletonResult:
    """Skeleton of the neurites of a movie or image, with its branch graph.

    pyAMNESIA's skeletonization [1]_ (steps 1-8 of the module documentation),
    streaming over the movie in time chunks.

    Parameters
    ----------
    image_or_movie : array_like, shape (T, Y, X) or (Y, X)
        numpy or dask movie (any real dtype), or a 2-D image taken as the
        summary image (step 2 skipped, step 1 spatial only).
    params : SkeletonParams or dict, optional
        The parameters (default ``SkeletonParams()``).
    **overrides
        Parameters changed from ``params`` (``skeletonize(movie,
        min_branch_length=12)``); unknown names raise ``TypeError``.

    Returns
    -------
    SkeletonResult

    Raises
    ------
    ValueError
        Input not 2-D/3-D, empty, non-numeric, with NaN; a bad parameter (the
        message names it and the value).

    Notes
    -----
    A blank or constant input (fully dark or fully bright) gives an empty but
    valid result: no structure stands out of its neighbourhood, so the mask,
    skeleton and branch table are empty and every total is 0.

    References
    ----------
    .. [1] pyAMNESIA documentation, https://pyamnesia.readthedocs.io

    Examples
    --------
    >>> from napari_amnesia.core.simulate import simulate
    >>> movie, truth = simulate(n_frames=50, shape=(96, 96), n_cells=0,
    ...                         n_neurite_groups=1, branches_per_group=3,
    ...                         motion=False, rng=4)
    >>> result = skeletonize(movie)
    >>> int(result.branch_labels.max()) == result.totals["n_branches"]
    True
    """
    return drive(iter_skeletonize(image_or_movie, params, **overrides))

