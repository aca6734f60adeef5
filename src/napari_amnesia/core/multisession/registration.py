"""``register``: the sessions aligned into one common space and their cells tracked.

The steps (each module documents its method):

1. :mod:`.inputs` — the sessions checked and put in content order (order-free);
2. :mod:`.alignment` — groupwise alignment of the templates: every pair aligned
   (rotation and translation), all sessions solved together, then a smooth non-rigid
   field per session against the mean of all;
3. :mod:`.matching` — the footprints carried into the common space, a CellReg-like
   probability for each pair of nearby footprints, tracks by average linkage over all
   sessions at once with at most one footprint per session per track;
4. refinement — each session's map moved so its matched cells land on their tracks'
   consensus (groupwise too), then the matching again (``refine`` rounds).

Why this is not a registered stage (:mod:`napari_amnesia.core.stages`): a stage runs on
one movie (``run(movie, params, context)``) inside one results folder, while a
registration reads several results and writes a folder of its own. It keeps the stages'
conventions — a parameter dataclass with help (:class:`RegistrationParams`), a generator
twin yielding progress (:func:`iter_register`), a result with ``save``/``load``/
``to_layers`` (:class:`RegistrationResult`) — and has its own command (``amnesia
register``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from typing import Any

import numpy as np
from scipy import sparse

from ... import __version__
from ..progress import Progress, drive
from .alignment import OverlapError, iter_align, refine_with_cells, registration_image
from .inputs import prepare_sessions
from .matching import candidate_pairs, fit_probabilities, link_tracks, track_confidence
from .params import RegistrationParams
from .result import RegistrationResult
from .transforms import SessionTransform

__all__ = ["register", "iter_register", "footprint_centers"]

logger = logging.getLogger(__name__)


def footprint_centers(footprints: sparse.csc_matrix, shape: tuple[int, int]) -> np.ndarray:
    """Return the centre (row, column) of each footprint ``(Y*X, n)``.

    The centre is the mean of the footprint's pixel positions weighted by its values.
    """
    a = sparse.csc_matrix(footprints)
    pix = np.arange(shape[0] * shape[1])
    rows = (pix // shape[1]).astype(np.float64)
    cols = (pix % shape[1]).astype(np.float64)
    total = np.asarray(a.sum(axis=0)).ravel()
    total = np.where(total > 0, total, 1.0)
    return np.column_stack([np.asarray(a.T @ rows).ravel() / total,
                            np.asarray(a.T @ cols).ravel() / total])


def _unit_columns(a: sparse.csc_matrix) -> sparse.csc_matrix:
    norms = np.sqrt(np.asarray(a.multiply(a).sum(axis=0)).ravel())
    return sparse.csc_matrix(a @ sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)))


def _scaled(image: np.ndarray, cover: np.ndarray) -> np.ndarray:
    inside = image[cover] if cover.any() else image.ravel()
    lo, hi = np.percentile(inside, [0.5, 99.5]) if inside.size else (0.0, 1.0)
    return np.where(cover, np.clip((image - lo) / max(hi - lo, 1e-12), 0, 1), 0)


def _match(footprints: list, centers: list, transforms: list, params: RegistrationParams):
    """Carry footprints into the common space and link them: (tracks, candidates, model)."""
    common = [_unit_columns(t.apply_footprints(a)) for t, a in zip(
        transforms, footprints, strict=True)]
    for a in common:
        a.sort_indices()
    points = [t.apply_points(c) if len(c) else np.zeros((0, 2))
              for t, c in zip(transforms, centers, strict=True)]
    candidates = candidate_pairs(common, points, params.max_distance)
    model = fit_probabilities(candidates, params.max_distance)
    session_of = np.concatenate([np.full(len(c), s) for s, c in enumerate(centers)]
                                ).astype(np.int64)
    tracks = link_tracks(len(session_of), session_of, candidates, params.min_probability)
    return tracks, candidates, model, common, points, session_of


def iter_register(
    footprints: Any,
    templates: Any = None,
    params: RegistrationParams | dict | None = None,
    *,
    names: Any = None,
    **overrides: Any,
) -> Generator[Progress, None, RegistrationResult]:
    """Yield the progress of :func:`register` (its generator twin); return the result."""
    start = time.perf_counter()
    params = RegistrationParams.resolve(params, overrides)
    yield Progress(0, 1, "reading sessions")
    sessions, notes = prepare_sessions(footprints, templates, names=names,
                                       accepted_only=params.accepted_only)
    S = len(sessions)
    order = sorted(range(S), key=lambda s: (sessions[s].key, sessions[s].name))
    canon = [sessions[s] for s in order]
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    images = [registration_image(s.template, params.background_size) for s in canon]
    try:
        transforms, align_info = yield from iter_align(images, [s.shape for s in canon],
                                                       params)
    except OverlapError as exc:
        lonely, best = exc.args
        which = ", ".join(f"{canon[s].name} (best correlation {b:.3f})"
                          for s, b in zip(lonely, best, strict=True))
        raise ValueError(
            f"the templates of {which} do not overlap the other sessions' (below "
            f"min_correlation {params.min_correlation:g} with every other session): they "
            "cannot be registered. Check that every session images the same field, or "
            "raise max_shift / max_rotation if the field moved more.") from None
    timings["alignment"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    centers = [footprint_centers(s.footprints, s.shape) for s in canon]
    a_list = [s.footprints for s in canon]
    rounds = params.refine if S > 1 else 0
    for rnd in range(rounds + 1):
        tracks, candidates, model, common, points, session_of = _match(
            a_list, centers, transforms, params)
        yield Progress(rnd + 1, rounds + 1, "matching footprints")
        if rnd == rounds:
            break
        offsets = np.concatenate([[0], np.cumsum([len(c) for c in centers])])
        flat = np.concatenate(points) if offsets[-1] else np.zeros((0, 2))
        positions = [[] for _ in range(S)]
        targets = [[] for _ in range(S)]
        prob = _pair_lookup(candidates)
        for members in tracks:
            if len(members) < 2:
                continue
            for m in members:
                # only footprints surely of the track: partial or contaminated ones
                # (lower probability) would pull the alignment off
                others = [o for o in members if o != m
                          and prob.get((min(m, o), max(m, o)), 0.0) >= 0.9]
                if len(others) < max(1, (len(members) - 1) // 2):
                    continue
                s = int(session_of[m])
                positions[s].append(centers[s][m - offsets[s]])
                targets[s].append(np.median(flat[others], axis=0))
        refine_with_cells(transforms, [np.asarray(p).reshape(-1, 2) for p in positions],
                          [np.asarray(q).reshape(-1, 2) for q in targets],
                          nonrigid=params.nonrigid, spacing=params.grid_spacing)
    timings["matching"] = time.perf_counter() - t0
    n = len(session_of)
    confidence = track_confidence(tracks, n, candidates)
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in centers])])
    flat = np.concatenate(points) if n else np.zeros((0, 2))
    track_centers = np.array([flat[m].mean(axis=0) for m in tracks]).reshape(-1, 2)
    # tracks in position order (content ties broken by the members' content order)
    rank = sorted(range(len(tracks)), key=lambda t: (track_centers[t, 0],
                                                     track_centers[t, 1], tracks[t]))
    tracks = [tracks[t] for t in rank]
    confidence = confidence[rank]
    track_centers = track_centers[rank]
    common_all = sparse.hstack(common, format="csc") if n else sparse.csc_matrix(
        (transforms[0].common_shape[0] * transforms[0].common_shape[1], 0))
    combine = sparse.csr_matrix((np.ones(n), (np.concatenate(tracks) if n else [],
                                              np.repeat(np.arange(len(tracks)),
                                                        [len(m) for m in tracks]))),
                                shape=(n, len(tracks)))
    track_footprints = _unit_columns(sparse.csc_matrix(common_all @ combine))
    assignments = np.full((len(tracks), S), -1, np.int64)
    for t, members in enumerate(tracks):
        for m in members:
            s = int(session_of[m])
            assignments[t, order[s]] = canon[s].indices[m - offsets[s]]
    aligned = np.zeros((S, *transforms[0].common_shape), np.float32)
    scaled = []
    for s, (sess, tr) in enumerate(zip(canon, transforms, strict=True)):
        aligned[order[s]] = tr.apply_image(sess.template)
        scaled.append(_scaled(aligned[order[s]], tr.overlap()))
    covers = np.sum([tr.overlap() for tr in transforms], axis=0)
    template = (np.sum(scaled, axis=0) / np.maximum(covers, 1)).astype(np.float32)
    user_transforms: list[SessionTransform] = [None] * S  # type: ignore[list-item]
    for s, tr in enumerate(transforms):
        tr._cache.clear()
        user_transforms[order[s]] = tr
    for note in notes:
        logger.warning("register: %s", note)
    info = dict(align_info)
    info["pair_correlation"] = [[order[i], order[j], c] for i, j, c
                                in align_info["pair_correlation"]]
    info.update(n_candidate_pairs=int(candidates.first.size), timings=timings)
    result = RegistrationResult(
        assignments=assignments, confidence=confidence.astype(np.float64),
        transforms=user_transforms, template=template, aligned_templates=aligned,
        track_footprints=track_footprints, track_centers=track_centers,
        session_names=[s.name for s in sessions],
        session_shapes=[s.shape for s in sessions],
        n_footprints=[s.n_input for s in sessions],
        params=params, notes=notes, model=model, info=info,
        provenance={"version": __version__, "inputs": [
            str(s.source) if isinstance(s.source, (str, bytes)) or hasattr(
                s.source, "__fspath__") else None for s in sessions],
            "elapsed_s": round(time.perf_counter() - start, 3)})
    logger.info("registered %d sessions: %d tracks in %.1f s", S, result.n_tracks,
                time.perf_counter() - start)
    return result


def _pair_lookup(candidates: Any) -> dict[tuple[int, int], float]:
    return {(min(a, b), max(a, b)): p for a, b, p in zip(
        candidates.first.tolist(), candidates.second.tolist(),
        candidates.probability.tolist(), strict=True)}


def register(
    footprints: Any,
    templates: Any = None,
    params: RegistrationParams | dict | None = None,
    *,
    names: Any = None,
    progress: Any = None,
    **overrides: Any,
) -> RegistrationResult:
    """Register the cells of several sessions of one field: tracks and transforms.

    Global and order-free: every session is aligned into one common space at once
    (no reference session, no chain), and the footprints of all sessions are matched at
    once with at most one footprint per session per track. Permuting the sessions, or the
    footprints within a session, permutes the output and changes nothing else.

    Parameters
    ----------
    footprints : list
        One entry per session: a ``(pixels, n)`` array or scipy.sparse matrix (C-order
        pixels), a :class:`~napari_amnesia.core.cnmf.SourceResult`, or a results folder
        holding one (``amnesia cnmf``'s output, or imported suite2p/CaImAn results).
    templates : list of ndarray, optional
        One mean image ``(Y, X)`` per session (default: the results' mean images).
        Sessions may differ in size (a note says so).
    params : RegistrationParams or dict, optional
        Parameters (default: the defaults).
    names : list of str, optional
        The sessions' names in tables and messages (default: the results folders'
        names, else ``"session <i>"``).
    progress : callable, optional
        Called with each :class:`~napari_amnesia.core.progress.Progress`.
    **overrides
        Parameters by name (``max_shift=30``).

    Returns
    -------
    RegistrationResult
        ``assignments`` (n_tracks × S footprint indices, -1 where not found),
        ``transforms``, ``confidence``, the common ``template``.

    Raises
    ------
    ValueError
        Naming the session, for a session that cannot be registered (templates that do
        not overlap the others', footprints whose pixels do not match the template).

    Examples
    --------
    >>> from napari_amnesia.core.simulate.sessions import simulate_sessions
    >>> data = simulate_sessions(n_sessions=3, shape=(128, 128), n_cells=30, rng=0)
    >>> result = register(data.footprints, data.templates)
    >>> result.assignments.shape[1], bool(result.confidence.min() >= 0)
    (3, True)
    """
    return drive(iter_register(footprints, templates, params, names=names, **overrides),
                 progress)
