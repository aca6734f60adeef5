"""Editing the tracks of a registration by hand: split, merge, reassign — with undo.

A :class:`TrackEditor` holds a :class:`~.result.RegistrationResult` and the footprints
it registered, and lets a user correct its tracks:

- :meth:`~TrackEditor.split` a track: the footprints of some sessions leave it for a new
  track (a track that jumped to a neighbour on day 3: split it from day 3 on);
- :meth:`~TrackEditor.merge` two tracks (refused when both hold a footprint of one
  session: a track holds at most one footprint per session);
- :meth:`~TrackEditor.reassign` one footprint to another track (or to a new one of its
  own); a footprint the target track held in that session is set apart in a new track.

Each edit is one undo step (:meth:`~TrackEditor.undo`, :meth:`~TrackEditor.redo`) and
one entry of :attr:`~TrackEditor.log`. After an edit the edited tracks' footprints and
centres are those of their new members (the mean of the members' unit footprints
carried into the common space, as :func:`~.registration.register` makes them), and
every track's confidence is computed again with the registration's probabilistic
model (:func:`~.matching.track_confidence` over the same candidate pairs): splitting
a track off a neighbour raises or lowers the neighbours' confidence too.

Tracks are numbered by row and keep their number while editing — label ``track + 1``
of the Labels layers, as :meth:`RegistrationResult.session_labels` draws them: a new
track gets the next number, a merged one is left empty (it disappears from the table
and the image). :meth:`~TrackEditor.to_result` gives the edited registration as a
plain result: empty tracks left out, tracks in position order like
:func:`~.registration.register`'s (so they are numbered again), the edit log in its
``info["edits"]``; its ``save`` writes the folder and ``tracks.csv`` atomically.

The traces across days of a track (:meth:`~TrackEditor.track_series`) come from the
sessions' CNMF results where the track holds a footprint, and from the re-extraction of
silent cells (:class:`~.traces.CrossDayTraces`) where it does not — only for tracks an
edit has not changed, since a re-extraction measured the track as it was.

Examples
--------
>>> from napari_amnesia.core.simulate.sessions import simulate_sessions
>>> from napari_amnesia.core.multisession import register
>>> data = simulate_sessions(n_sessions=3, shape=(96, 96), n_cells=20, rng=0)
>>> result = register(data.footprints, data.templates)
>>> editor = TrackEditor(result, data.footprints)
>>> full = int(np.flatnonzero(editor.counts() == 3)[0])
>>> new = editor.split(full, [2])
>>> editor.counts()[[full, new]].tolist()
[2, 1]
>>> editor.undo(), editor.n_tracks == result.n_tracks
(True, True)
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
from scipy import sparse

from .inputs import load_session
from .matching import candidate_pairs, fit_probabilities, track_confidence
from .registration import footprint_centers
from .result import RegistrationResult

__all__ = ["TrackEditor", "HISTORY"]

logger = logging.getLogger(__name__)

#: how many edits can be undone
HISTORY = 200


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _canonical(a: Any, name: str, n_pixels: int) -> sparse.csc_matrix:
    """Footprints as the registration reads them: CSC float32, no stored zeros."""
    try:
        if sparse.issparse(a):
            a = sparse.csc_matrix(a, dtype=np.float32, copy=True)
        else:
            arr = np.asarray(a, np.float32)
            if arr.ndim == 3:
                arr = arr.reshape(arr.shape[0], -1).T
            a = sparse.csc_matrix(arr)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: footprints should be a (pixels, n) array or sparse "
                         f"matrix, got {type(a).__name__}.") from None
    if a.ndim != 2 or a.shape[0] != n_pixels:
        raise ValueError(f"{name}: the footprints have {a.shape[0]} pixels (rows) but the "
                         f"registration's session has {n_pixels}.")
    a.eliminate_zeros()
    a.sort_indices()
    return a


def _unit(a: sparse.csc_matrix) -> sparse.csc_matrix:
    norms = np.sqrt(np.asarray(a.multiply(a).sum(axis=0)).ravel())
    return sparse.csc_matrix(a @ sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)))


def _draw(a: sparse.csc_matrix, values: np.ndarray, shape: tuple[int, int],
          threshold: float) -> np.ndarray:
    """Draw footprints as labels: the largest relative value wins each pixel."""
    out = np.zeros(shape[0] * shape[1], np.int32)
    best = np.zeros(out.shape, np.float32)
    a = sparse.csc_matrix(a)
    for j in range(a.shape[1]):
        pix = a.indices[a.indptr[j]:a.indptr[j + 1]]
        val = a.data[a.indptr[j]:a.indptr[j + 1]]
        if val.size == 0 or val.max() <= 0:
            continue
        rel = val / val.max()
        win = (rel >= threshold) & (rel > best[pix])
        best[pix[win]] = rel[win]
        out[pix[win]] = values[j]
    return out.reshape(shape)


class TrackEditor:
    """Split, merge and reassign the tracks of a registration, with undo.

    Parameters
    ----------
    result : RegistrationResult
        The registration to edit (it is not modified).
    footprints : list, optional
        Per session what was registered: a ``(pixels, n)`` matrix, a CNMF result or a
        results folder (default: the results folders the registration read, from its
        provenance).
    results : list, optional
        Per session the CNMF result (:class:`~napari_amnesia.core.cnmf.SourceResult`)
        or None: the traces :meth:`track_series` gives.
    cross : CrossDayTraces, optional
        The re-extraction of the silent cells of ``result``.

    Attributes
    ----------
    assignments : ndarray of int, shape (n_rows, S)
        The footprint of each track in each session (-1: none); rows emptied by an edit
        stay (all -1) so that tracks keep their numbers.
    edited : ndarray of bool, shape (n_rows,)
        The track was changed by an edit.
    confidence : ndarray, shape (n_rows,)
        Each track's probability of being one whole cell (NaN for an empty row).
    log : list of dict
        The edits, in order: ``{"action", "time", ...}``.
    """

    def __init__(self, result: RegistrationResult, footprints: Any = None, *,
                 results: Any = None, cross: Any = None) -> None:
        self.result = result
        S = result.n_sessions
        if footprints is None:
            inputs = list(result.provenance.get("inputs") or [None] * S)
            if len(inputs) != S or any(p is None for p in inputs):
                raise ValueError("the sessions' footprints are needed to edit the tracks: "
                                 "pass footprints=[...] (what was registered), or register "
                                 "results folders.")
            footprints = inputs
        footprints = list(footprints)
        if len(footprints) != S:
            raise ValueError(f"the registration has {S} sessions but {len(footprints)} "
                             "footprint sets were given.")
        self.footprints: list[sparse.csc_matrix] = []
        for s, value in enumerate(footprints):
            name = result.session_names[s]
            if isinstance(value, (str, os.PathLike)) or type(value).__name__ == "SourceResult":
                value, _, _ = load_session(value, accepted_only=result.params.accepted_only)
            shape = result.session_shapes[s]
            a = _canonical(value, name, int(shape[0]) * int(shape[1]))
            if a.shape[1] != result.n_footprints[s]:
                raise ValueError(f"{name}: {a.shape[1]} footprints given but the "
                                 f"registration read {result.n_footprints[s]}; give the "
                                 "footprints that were registered.")
            self.footprints.append(a)
        self.results = list(results) if results is not None else [None] * S
        if len(self.results) != S:
            raise ValueError(f"the registration has {S} sessions but {len(self.results)} "
                             "results were given.")
        self.cross = cross
        # the registered footprints (non-empty columns) and their index in the model
        self._registered = [np.flatnonzero(np.diff(a.indptr) > 0) for a in self.footprints]
        sizes = [len(k) for k in self._registered]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._global = []
        for s, keep in enumerate(self._registered):
            g = np.full(self.footprints[s].shape[1], -1, np.int64)
            g[keep] = self._offsets[s] + np.arange(len(keep))
            self._global.append(g)
        A = np.asarray(result.assignments, np.int64)
        for s in range(S):
            held = A[A[:, s] >= 0, s]
            if (held.size != sizes[s] or held.size and (
                    held.max() >= len(self._global[s]) or np.any(self._global[s][held] < 0)
                    or np.unique(held).size != held.size)):
                raise ValueError(f"{result.session_names[s]}: the footprints given do not "
                                 "match the registration's tracks (give the footprints "
                                 "that were registered).")
        self._original = A.copy()
        self.assignments = A.copy()
        self.edited = np.zeros(len(A), bool)
        self.confidence = np.asarray(result.confidence, np.float64).copy()
        self.log: list[dict] = []
        self._undo: list = []
        self._redo: list = []
        self._members: dict[tuple, tuple[sparse.csc_matrix, np.ndarray]] = {
            tuple(A[t].tolist()): (result.track_footprints[:, t], result.track_centers[t])
            for t in range(len(A))}
        self._common: list | None = None
        self._points: list | None = None
        self._candidates: Any = None

    # ------------------------------------------------------------------ sizes
    @property
    def n_sessions(self) -> int:
        """The number of sessions."""
        return int(self.assignments.shape[1])

    @property
    def n_rows(self) -> int:
        """The number of track numbers used (empty tracks included)."""
        return int(self.assignments.shape[0])

    @property
    def n_tracks(self) -> int:
        """The number of tracks (empty ones left out)."""
        return int(np.count_nonzero(self.counts()))

    @property
    def session_names(self) -> list[str]:
        """The sessions' names."""
        return list(self.result.session_names)

    def counts(self) -> np.ndarray:
        """Return the number of sessions holding each track (0: an empty row)."""
        return np.count_nonzero(self.assignments >= 0, axis=1)

    def tracks(self) -> np.ndarray:
        """Return the numbers of the non-empty tracks."""
        return np.flatnonzero(self.counts() > 0)

    def track_of(self, session: Any, footprint: int) -> int | None:
        """Return the track holding ``footprint`` of ``session`` (None: not registered)."""
        s = self.session_index(session)
        hits = np.flatnonzero(self.assignments[:, s] == int(footprint))
        return int(hits[0]) if hits.size else None

    def session_index(self, session: Any) -> int:
        """Return the index of ``session`` (its name or its index)."""
        names = self.session_names
        if isinstance(session, str):
            if session in names:
                return names.index(session)
            raise ValueError(f"there is no session {session!r}; the sessions are "
                             f"{', '.join(names)}.")
        s = int(session)
        if not 0 <= s < len(names):
            raise ValueError(f"session should be between 0 and {len(names) - 1}, got {s}.")
        return s

    def original_row(self, track: int) -> int | None:
        """Return ``track`` if it is the registration's own (no edit changed it), else None."""
        t = int(track)
        if t < len(self._original) and np.array_equal(self.assignments[t], self._original[t]):
            return t
        return None

    # ------------------------------------------------------------------ footprints
    def _common_space(self) -> None:
        """Carry every registered footprint into the common space (once)."""
        if self._common is not None:
            return
        common, points = [], []
        for s, a in enumerate(self.footprints):
            tr = self.result.transforms[s]
            keep = self._registered[s]
            common.append(_unit(tr.apply_footprints(a[:, keep])))
            centers = footprint_centers(a[:, keep], tuple(self.result.session_shapes[s]))
            points.append(tr.apply_points(centers) if len(keep) else np.zeros((0, 2)))
        for c in common:
            c.sort_indices()
        self._common, self._points = common, points

    def _member_view(self, row: Sequence[int]) -> tuple[sparse.csc_matrix, np.ndarray]:
        """Return the footprint (common space, unit norm) and centre of these members."""
        key = tuple(int(k) for k in row)
        if key not in self._members:
            self._common_space()
            cols, pts = [], []
            for s, k in enumerate(key):
                if k < 0:
                    continue
                j = int(self._global[s][k] - self._offsets[s])
                cols.append(self._common[s][:, j])
                pts.append(self._points[s][j])
            n_pixels = int(np.prod(self.result.common_shape))
            if cols:
                total = sparse.csc_matrix(sparse.hstack(cols).sum(axis=1))
                centre = np.mean(pts, axis=0)
            else:
                total = sparse.csc_matrix((n_pixels, 1), dtype=np.float32)
                centre = np.full(2, np.nan)
            self._members[key] = (_unit(total), centre)
        return self._members[key]

    def track_footprints(self) -> sparse.csc_matrix:
        """Return every track's footprint in the common space ``(Yc * Xc, n_rows)``."""
        cols = [self._member_view(row)[0] for row in self.assignments]
        if not cols:
            return sparse.csc_matrix((int(np.prod(self.result.common_shape)), 0))
        return sparse.csc_matrix(sparse.hstack(cols))

    def track_centers(self) -> np.ndarray:
        """Return every track's centre ``(n_rows, 2)`` in the common space (NaN: empty)."""
        return np.array([self._member_view(row)[1] for row in self.assignments],
                        float).reshape(-1, 2)

    def _update_confidence(self) -> None:
        """Every track's confidence from the registration's model (after an edit)."""
        if self._candidates is None:
            self._common_space()
            self._candidates = candidate_pairs(self._common, self._points,
                                               self.result.params.max_distance)
            fit_probabilities(self._candidates, self.result.params.max_distance)
        rows = self.tracks()
        members = []
        for t in rows:
            members.append([int(self._global[s][k]) for s, k in
                            enumerate(self.assignments[t].tolist()) if k >= 0])
        confidence = np.full(self.n_rows, np.nan)
        if rows.size:
            confidence[rows] = track_confidence(members, int(self._offsets[-1]),
                                                self._candidates)
        self.confidence = confidence

    # ------------------------------------------------------------------ undo
    def _state(self) -> tuple:
        return self.assignments.copy(), self.edited.copy(), self.confidence.copy()

    def _restore(self, state: tuple) -> None:
        self.assignments, self.edited, self.confidence = (a.copy() for a in state)

    def _commit(self, before: tuple, action: str, **details: Any) -> None:
        self._undo.append(before)
        del self._undo[:-HISTORY]
        self._redo.clear()
        self._update_confidence()
        self.log.append({"action": action, **details, "time": _now()})
        logger.info("tracks: %s %s", action, details)

    def undo(self) -> bool:
        """Undo the last edit; return whether there was one."""
        if not self._undo:
            return False
        self._redo.append(self._state())
        self._restore(self._undo.pop())
        self.log.append({"action": "undo", "time": _now()})
        return True

    def redo(self) -> bool:
        """Redo the last edit undone; return whether there was one."""
        if not self._redo:
            return False
        self._undo.append(self._state())
        self._restore(self._redo.pop())
        self.log.append({"action": "redo", "time": _now()})
        return True

    @property
    def can_undo(self) -> bool:
        """Whether there is an edit to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether there is an undone edit to redo."""
        return bool(self._redo)

    # ------------------------------------------------------------------ edits
    def _track(self, track: Any, what: str = "track") -> int:
        try:
            t = int(track)
        except (TypeError, ValueError):
            raise ValueError(f"{what} should be a track number, got {track!r}.") from None
        if not 0 <= t < self.n_rows:
            raise ValueError(f"there is no track {t} (tracks are numbered 0 to "
                             f"{self.n_rows - 1}).")
        if not np.any(self.assignments[t] >= 0):
            raise ValueError(f"track {t} is empty (merged into another, or emptied by an "
                             "edit).")
        return t

    def _new_row(self) -> int:
        self.assignments = np.vstack([self.assignments,
                                      np.full((1, self.n_sessions), -1, np.int64)])
        self.edited = np.append(self.edited, True)
        self.confidence = np.append(self.confidence, np.nan)
        return self.n_rows - 1

    def split(self, track: int, sessions: Iterable[Any]) -> int:
        """Move the footprints of ``sessions`` out of ``track`` into a new track.

        Parameters
        ----------
        track : int
            The track to split.
        sessions : iterable of int or str
            The sessions (indices or names) whose footprints leave it; the track must
            hold a footprint in each, and keep at least one.

        Returns
        -------
        int
            The new track's number.
        """
        t = self._track(track)
        chosen = sorted({self.session_index(s) for s in sessions})
        if not chosen:
            raise ValueError("choose the sessions whose footprints leave the track.")
        names = self.session_names
        missing = [names[s] for s in chosen if self.assignments[t, s] < 0]
        if missing:
            raise ValueError(f"track {t} holds no footprint in {', '.join(missing)}.")
        if len(chosen) == int(self.counts()[t]):
            raise ValueError(f"splitting off every session of track {t} would leave it "
                             "empty; choose fewer sessions.")
        before = self._state()
        new = self._new_row()
        self.assignments[new, chosen] = self.assignments[t, chosen]
        self.assignments[t, chosen] = -1
        self.edited[[t, new]] = True
        self._commit(before, "split", track=t, sessions=[names[s] for s in chosen],
                     new_track=new)
        return new

    def merge(self, track: int, other: int) -> int:
        """Put the footprints of ``other`` into ``track`` (``other`` is left empty).

        Refused when both tracks hold a footprint of one session (a track holds at most
        one footprint per session): reassign one of them first. Returns ``track``.
        """
        t = self._track(track)
        o = self._track(other, "other")
        if t == o:
            raise ValueError(f"track {t} cannot be merged with itself.")
        shared = np.flatnonzero((self.assignments[t] >= 0) & (self.assignments[o] >= 0))
        if shared.size:
            which = ", ".join(self.session_names[s] for s in shared)
            raise ValueError(f"tracks {t} and {o} both hold a footprint in {which}: a track "
                             "holds one footprint per session. Reassign or split one of "
                             "them first.")
        before = self._state()
        held = self.assignments[o] >= 0
        self.assignments[t, held] = self.assignments[o, held]
        self.assignments[o] = -1
        self.edited[[t, o]] = True
        self._commit(before, "merge", track=t, other=o)
        return t

    def reassign(self, session: Any, footprint: int, track: int | None = None) -> int:
        """Move ``footprint`` of ``session`` into ``track`` (None: a new track of its own).

        A footprint that ``track`` held in that session is set apart in a new track.

        Parameters
        ----------
        session : int or str
            The session (index or name).
        footprint : int
            The footprint's index in that session (its component index).
        track : int, optional
            The track it joins; None makes it a track of its own.

        Returns
        -------
        int
            The track that now holds the footprint.
        """
        s = self.session_index(session)
        name = self.session_names[s]
        try:
            k = int(footprint)
        except (TypeError, ValueError):
            raise ValueError(f"footprint should be a whole number, got {footprint!r}."
                             ) from None
        if not 0 <= k < len(self._global[s]) or self._global[s][k] < 0:
            raise ValueError(f"footprint {k} of {name} is not registered (it is out of "
                             "range, empty or a rejected component).")
        source = self.track_of(s, k)
        target = None if track is None else self._track(track)
        if target is None and int(self.counts()[source]) == 1:
            raise ValueError(f"footprint {k} of {name} is already alone in track {source}.")
        if target == source:
            raise ValueError(f"footprint {k} of {name} is already in track {source}.")
        before = self._state()
        if target is None:
            target = self._new_row()
        displaced = int(self.assignments[target, s])
        self.assignments[source, s] = -1
        self.assignments[target, s] = k
        apart = None
        if displaced >= 0:
            apart = self._new_row()
            self.assignments[apart, s] = displaced
        self.edited[[source, target]] = True
        self._commit(before, "reassign", session=name, footprint=k, track=source,
                     to=target, set_apart=apart)
        return target

    # ------------------------------------------------------------------ views
    def _view(self) -> RegistrationResult:
        """Return the edited registration with every row kept (label = track + 1)."""
        view = copy.copy(self.result)
        view.assignments = self.assignments
        view.confidence = self.confidence
        view.track_footprints = self.track_footprints()
        view.track_centers = self.track_centers()
        return view

    def labels(self, threshold: float = 0.2) -> np.ndarray:
        """Return the tracks as one label image of the common space (label = track + 1)."""
        return self._view().labels(threshold)

    def session_labels(self, threshold: float = 0.2) -> np.ndarray:
        """Return ``(S, Yc, Xc)`` labels: in each session, its own footprints.

        Each session shows the footprints it holds, carried into the common space,
        each drawn with its track's label (track + 1): a cell keeps its label across
        sessions, and a reassigned footprint shows where it really lies. A pixel goes to
        the footprint largest there relative to its peak, among those at least
        ``threshold`` times their peak.
        """
        self._common_space()
        out = np.zeros((self.n_sessions, *self.result.common_shape), np.int32)
        for s in range(self.n_sessions):
            rows = np.flatnonzero(self.assignments[:, s] >= 0)
            cols = self._global[s][self.assignments[rows, s]] - self._offsets[s]
            out[s] = _draw(self._common[s][:, cols], rows + 1, self.result.common_shape,
                           threshold)
        return out

    def re_extracted(self) -> np.ndarray:
        """Return ``(n_rows, S)``: the track was measured by re-extraction in the session.

        Only tracks no edit changed keep the re-extraction's measurements.
        """
        out = np.zeros(self.assignments.shape, bool)
        if self.cross is None:
            return out
        for t in range(min(self.n_rows, len(self._original))):
            if self.original_row(t) is not None:
                out[t] = np.asarray(self.cross.re_extracted[t], bool)
        return out

    def re_extracted_labels(self, threshold: float = 0.2, *, outline: bool = True
                            ) -> np.ndarray:
        """Return ``(S, Yc, Xc)`` labels of the tracks re-extracted in each session.

        Each is drawn with its track's label, from the track's footprint (what the
        re-extraction carried into the session); ``outline`` keeps only the pixels on
        its border, so that it reads as an outline over the tracks layer.
        """
        view = self._view()
        flags = self.re_extracted()
        out = np.stack([view.labels(threshold, tracks=flags[:, s])
                        for s in range(self.n_sessions)])
        if outline:
            inner = out.copy()
            for axis in (1, 2):
                for shift in (1, -1):
                    inner[np.roll(out, shift, axis=axis) != out] = 0
            inner[:, [0, -1], :] = 0
            inner[:, :, [0, -1]] = 0
            out = np.where(inner > 0, 0, out)
        return out

    def table(self) -> dict[str, np.ndarray]:
        """Return the non-empty tracks as columns.

        ``track`` (its number), ``label`` (track + 1), one column per session (footprint
        indices, -1: not found), ``n_sessions``, ``confidence``, ``edited``,
        ``center_row``/``center_column`` (common space).
        """
        rows = self.tracks()
        centers = self.track_centers()[rows]
        table: dict[str, np.ndarray] = {"track": rows, "label": rows + 1}
        for s, name in enumerate(self.session_names):
            table[name] = self.assignments[rows, s].copy()
        table["n_sessions"] = self.counts()[rows]
        table["confidence"] = np.round(self.confidence[rows], 4)
        table["edited"] = self.edited[rows].copy()
        table["center_row"] = np.round(centers[:, 0], 2)
        table["center_column"] = np.round(centers[:, 1], 2)
        return table

    def to_result(self) -> RegistrationResult:
        """Return the edited registration: empty tracks left out, in position order.

        Tracks are ordered like :func:`~.registration.register`'s (row, then column of
        their centre), so they are numbered again; ``info["edits"]`` holds the log and
        ``info["edited_tracks"]`` the new numbers of the edited tracks. Unedited, it
        gives the registration back.
        """
        rows = self.tracks()
        centers = self.track_centers()
        order = sorted(rows.tolist(), key=lambda t: (centers[t, 0], centers[t, 1], t))
        out = copy.copy(self.result)
        out.assignments = self.assignments[order].copy()
        out.confidence = self.confidence[order].copy()
        out.track_centers = centers[order].copy()
        out.track_footprints = sparse.csc_matrix(self.track_footprints()[:, order])
        info = dict(self.result.info)
        edits = [dict(e) for e in self.log]
        if edits:
            info["edits"] = edits
            info["edited_tracks"] = [i for i, t in enumerate(order) if self.edited[t]]
            n_edits = sum(e["action"] not in ("undo", "redo") for e in edits)
            out.notes = [*self.result.notes, f"edited by hand: {n_edits} edit(s)"]
            out.provenance = {**self.result.provenance, "edited": True}
        out.info = info
        return out

    # ------------------------------------------------------------------ traces
    def track_series(self, track: int) -> tuple[dict[str, np.ndarray], list[str]]:
        """Return the traces of ``track`` across days, and which were re-extracted.

        Returns
        -------
        series : dict
            ``{session name: (T_s,) trace}``: the denoised trace of the track's
            footprint in the session's CNMF result; for a session where the track has
            no footprint, the re-extracted trace (named ``"<session> (re-extracted)"``),
            when the track was re-extracted there and no edit changed it.
        re_extracted : list of str
            The names of the re-extracted series.
        """
        t = self._track(track)
        series: dict[str, np.ndarray] = {}
        flagged: list[str] = []
        re_extracted = self.re_extracted()
        for s, name in enumerate(self.session_names):
            k = int(self.assignments[t, s])
            result = self.results[s]
            if k >= 0 and result is not None and k < len(result.traces):
                series[name] = np.asarray(result.traces[k], np.float32)
            elif k < 0 and re_extracted[t, s] and self.cross.measured[t, s]:
                label = f"{name} (re-extracted)"
                series[label] = np.asarray(self.cross.traces[s][t], np.float32)
                flagged.append(label)
        return series, flagged

    # ------------------------------------------------------------------ layers
    def to_layers(self, source: str = "sessions") -> list[tuple]:
        """Return napari LayerData: aligned templates, common template, tracks, re-extracted.

        As :meth:`RegistrationResult.to_layers`, the tracks drawn from the edited
        assignments (label = track + 1, ``features`` with ``edited``); with a
        re-extraction, a fourth Labels layer outlines, in each session, the tracks
        measured there by re-extraction (same label, its border only).
        """
        layers = self.result.to_layers(source)
        images = [layer for layer in layers if layer[2] == "image"]
        data, kwargs, _ = next(layer for layer in layers if layer[2] == "labels")
        kwargs = dict(kwargs)
        kwargs["features"] = self.features()
        tracks = (self.session_labels(), kwargs, "labels")
        out = [*images, tracks]
        if self.cross is not None:
            from ..layers import layer_name

            out.append((self.re_extracted_labels(), {
                "name": layer_name(source, "re-extracted"), "opacity": 0.9,
                "metadata": kwargs["metadata"], "blending": "translucent"}, "labels"))
        return out

    def features(self) -> dict[str, np.ndarray]:
        """Return the tracks layer's ``features``: one row per track number (label - 1)."""
        return {"index": np.arange(1, self.n_rows + 1), "track": np.arange(self.n_rows),
                "n_sessions": self.counts(), "confidence": self.confidence.copy(),
                "edited": self.edited.copy()}
