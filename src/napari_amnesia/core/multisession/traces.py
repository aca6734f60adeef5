"""Cross-day traces: every track measured in every session, silent cells re-extracted.

A track missing in a session (the cell was silent that day, or too dim to be detected) is
not lost: its footprint is carried from the common space into that session through the
session's transform, drawn into the session's ROIs next to the detected ones (on pixels
no detected ROI holds), and its trace extracted with the curation stage's seeded
extraction (:func:`napari_amnesia.core.curation.reextract`: the detected ROIs keep their
footprints, the carried ones are fitted as fixed masks, demixed from their neighbours).
Such a measurement is flagged ``re_extracted``, so that nobody mistakes it for a
detection.

The study gets one table, track × session: the trace, event rate, amplitude and SNR, the
footprint index (-1 where re-extracted) and the flag (:meth:`CrossDayTraces.table`).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ..files import atomic_folder
from ..progress import Progress, drive

__all__ = ["CrossDayTraces", "iter_reextract_silent", "reextract_silent", "event_statistics"]

logger = logging.getLogger(__name__)


def event_statistics(traces: np.ndarray, spikes: np.ndarray, frame_rate: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Event rate (per second) and median event amplitude of each row.

    An event is a run of frames where the deconvolved activity exceeds a quarter of its
    99th percentile (and is positive); its amplitude is the trace's rise over the run.
    """
    traces = np.atleast_2d(np.asarray(traces, np.float64))
    spikes = np.atleast_2d(np.asarray(spikes, np.float64))
    n, T = traces.shape
    rate = np.zeros(n)
    amplitude = np.zeros(n)
    for k in range(n):
        s = spikes[k]
        top = np.percentile(s, 99) if T else 0.0
        above = (s > 0.25 * top) & (s > 0)
        if top <= 0 or not above.any():
            continue
        starts = np.flatnonzero(above & ~np.r_[False, above[:-1]])
        ends = np.flatnonzero(above & ~np.r_[above[1:], False])
        rate[k] = len(starts) / (T / frame_rate)
        rises = [traces[k, min(e + 1, T - 1)] - traces[k, max(b - 1, 0)]
                 for b, e in zip(starts, ends, strict=True)]
        amplitude[k] = float(np.median(rises))
    return rate, amplitude


@dataclass(eq=False)
class CrossDayTraces:
    """Every track measured in every session (see the module documentation).

    Attributes
    ----------
    traces : list of ndarray
        Per session ``(n_tracks, T_s)`` float32: each track's denoised trace (NaN where
        the session has no movie and no detection of it).
    spikes : list of ndarray
        Per session ``(n_tracks, T_s)`` deconvolved activity (NaN likewise).
    re_extracted : ndarray of bool, shape (n_tracks, S)
        The measurement comes from the carried footprint, not from a detection.
    measured : ndarray of bool, shape (n_tracks, S)
        The track has a trace in the session.
    event_rate, amplitude, snr : ndarray, shape (n_tracks, S)
        Events per second, median event amplitude (trace units), event SNR (NaN where
        not measured).
    assignments : ndarray of int, shape (n_tracks, S)
        The registration's footprint indices (-1 where re-extracted or not measured).
    session_names : list of str
    frame_rates : list of float
    notes : list of str
    """

    traces: list
    spikes: list
    re_extracted: np.ndarray
    measured: np.ndarray
    event_rate: np.ndarray
    amplitude: np.ndarray
    snr: np.ndarray
    assignments: np.ndarray
    session_names: list
    frame_rates: list
    notes: list = field(default_factory=list)

    @property
    def n_tracks(self) -> int:
        """The number of tracks."""
        return int(self.assignments.shape[0])

    def table(self) -> list[dict[str, Any]]:
        """Return one row per track and session: footprint, flag, event rate, amplitude, SNR."""
        rows = []
        for t in range(self.n_tracks):
            for s, name in enumerate(self.session_names):
                rows.append({
                    "track": t, "session": name, "footprint": int(self.assignments[t, s]),
                    "measured": bool(self.measured[t, s]),
                    "re_extracted": bool(self.re_extracted[t, s]),
                    "event_rate": _num(self.event_rate[t, s]),
                    "amplitude": _num(self.amplitude[t, s]), "snr": _num(self.snr[t, s])})
        return rows

    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write ``cross_day.csv`` (the table) and ``traces.npz`` (one array per session)."""
        folder = Path(os.path.expanduser(os.fspath(folder)))
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            self.write_table(tmp / "cross_day.csv")
            arrays = {}
            for s in range(len(self.session_names)):
                arrays[f"traces_{s}"] = self.traces[s]
                arrays[f"spikes_{s}"] = self.spikes[s]
            arrays["re_extracted"] = self.re_extracted
            arrays["measured"] = self.measured
            with open(tmp / "traces.npz", "wb") as fh:
                np.savez(fh, **arrays)
        return folder

    def write_table(self, path: str | os.PathLike) -> None:
        """Write :meth:`table` as CSV at ``path`` (plain write: callers make it atomic)."""
        rows = self.table()
        names = ["track", "session", "footprint", "measured", "re_extracted",
                 "event_rate", "amplitude", "snr"]
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=names)
            writer.writeheader()
            writer.writerows(rows)


def _num(value: float) -> Any:
    return "" if not np.isfinite(value) else round(float(value), 5)


def _labels_from_footprints(a: sparse.csc_matrix, shape: tuple[int, int], values: np.ndarray,
                            into: np.ndarray | None = None, threshold: float = 0.2
                            ) -> np.ndarray:
    """Draw footprints as labels (strongest relative value wins) on free pixels of ``into``."""
    out = np.zeros(shape[0] * shape[1], np.int32) if into is None else into.ravel().copy()
    free = out == 0
    best = np.zeros(out.shape, np.float32)
    a = sparse.csc_matrix(a)
    for k in range(a.shape[1]):
        lo, hi = a.indptr[k], a.indptr[k + 1]
        idx, v = a.indices[lo:hi], a.data[lo:hi]
        if v.size == 0 or v.max() <= 0:
            continue
        rel = v / v.max()
        sel = (rel >= threshold) & (rel > best[idx]) & free[idx]
        best[idx[sel]] = rel[sel]
        out[idx[sel]] = values[k]
    return out.reshape(shape)


def iter_reextract_silent(
    registration: Any,
    movies: Any,
    *,
    footprints: Any = None,
    frame_rate: float | None = None,
    cnmf_params: Any = None,
) -> Generator[Progress, None, CrossDayTraces]:
    """Yield the progress of :func:`reextract_silent`; return the cross-day traces."""
    from ..cnmf.result import SourceResult
    from ..curation.reextract import iter_reextract

    S = registration.n_sessions
    movies = list(movies)
    if len(movies) != S:
        raise ValueError(f"the registration has {S} sessions but {len(movies)} movies were "
                         "given (one per session, None to skip one).")
    sources = list(footprints) if footprints is not None else [
        p if p else None for p in registration.provenance.get("inputs", [None] * S)]
    if len(sources) != S:
        raise ValueError(f"the registration has {S} sessions but {len(sources)} footprint "
                         "sets were given.")
    A = registration.assignments
    n = A.shape[0]
    measured = np.zeros((n, S), bool)
    re_extracted = np.zeros((n, S), bool)
    rate = np.full((n, S), np.nan)
    amplitude = np.full((n, S), np.nan)
    snr = np.full((n, S), np.nan)
    traces: list = []
    spikes: list = []
    rates: list = []
    notes: list[str] = []
    for s in range(S):
        name = registration.session_names[s]
        movie = movies[s]
        source = sources[s]
        result = None
        if isinstance(source, SourceResult):
            result = source
        elif isinstance(source, (str, os.PathLike)):
            folder = Path(source)
            for candidate in (folder / "cnmf" / "result", folder / "result", folder):
                if (candidate / "arrays.npz").is_file():
                    result = SourceResult.load(candidate)
                    break
        fr = float(frame_rate if frame_rate is not None else (
            result.params.fr if result is not None else 30.0))
        rates.append(fr)
        shape = tuple(registration.session_shapes[s])
        missing = np.flatnonzero(A[:, s] < 0)
        if movie is None:
            notes.append(f"{name}: no movie; its silent cells were not re-extracted")
            T = result.n_frames if result is not None else 0
            tr = np.full((n, T), np.nan, np.float32)
            sp = np.full((n, T), np.nan, np.float32)
            if result is not None:
                held = np.flatnonzero(A[:, s] >= 0)
                tr[held] = result.traces[A[held, s]]
                sp[held] = result.spikes[A[held, s]]
                measured[held, s] = True
                r_, a_ = event_statistics(result.traces[A[held, s]],
                                          result.spikes[A[held, s]], fr)
                rate[held, s], amplitude[held, s] = r_, a_
                if result.snr is not None:
                    snr[held, s] = result.snr[A[held, s]]
            traces.append(tr)
            spikes.append(sp)
            yield Progress(s + 1, S, "re-extracting silent cells")
            continue
        if getattr(movie, "ndim", None) != 3 or tuple(movie.shape[1:]) != shape:
            raise ValueError(f"{name}: the movie should be (T, {shape[0]}, {shape[1]}) like "
                             f"the session's template, got {getattr(movie, 'shape', None)}.")
        carried = registration.transforms[s].inverse_footprints(
            registration.track_footprints[:, missing])
        if result is not None:
            reference = result.labels(0.2, accepted_only=False)
            first_new = int(max(np.max(result.label_values, initial=0), 0)) + 1
            detected_label = {int(k): int(result.label_values[k]) for k in range(result.K)}
        else:
            own = source if source is not None else None
            if own is None:
                raise ValueError(f"{name}: give the session's footprints (footprints=[...]) "
                                 "or its CNMF result to re-extract its silent cells.")
            own = sparse.csc_matrix(own if sparse.issparse(own) else np.asarray(own))
            values = np.arange(1, own.shape[1] + 1)
            reference = _labels_from_footprints(own, shape, values)
            first_new = own.shape[1] + 1
            detected_label = {int(k): int(k + 1) for k in range(own.shape[1])}
        new_values = np.arange(first_new, first_new + len(missing))
        labels = _labels_from_footprints(carried, shape, new_values, into=reference)
        drawn = np.isin(new_values, np.unique(labels))
        if not drawn.all():
            notes.append(f"{name}: {int((~drawn).sum())} track(s) fall outside its field of "
                         "view or under detected cells; not re-extracted there")
        kwargs: dict[str, Any] = {}
        if result is None:
            kwargs["params"] = cnmf_params
            kwargs["fr"] = fr
        else:
            kwargs["reference"] = reference
            if cnmf_params is not None:
                kwargs["params"] = cnmf_params
        gen = iter_reextract(movie, labels, result=result, **kwargs)
        fitted = yield from gen
        comp = {int(v): k for k, v in enumerate(np.asarray(fitted.label_values))}
        T = fitted.n_frames
        tr = np.full((n, T), np.nan, np.float32)
        sp = np.full((n, T), np.nan, np.float32)
        ev_snr = (np.asarray(fitted.snr, float) if fitted.snr is not None else None)
        for t in range(n):
            if A[t, s] >= 0:
                k = comp.get(detected_label.get(int(A[t, s]), -1))
                flag = False
            else:
                j = int(np.searchsorted(missing, t))
                k = comp.get(int(new_values[j])) if drawn[j] else None
                flag = True
            if k is None:
                continue
            tr[t] = fitted.traces[k]
            sp[t] = fitted.spikes[k]
            measured[t, s] = True
            re_extracted[t, s] = flag
            if ev_snr is not None:
                snr[t, s] = ev_snr[k]
        ok = measured[:, s]
        if ok.any():
            r_, a_ = event_statistics(tr[ok], sp[ok], fr)
            rate[ok, s], amplitude[ok, s] = r_, a_
        traces.append(tr)
        spikes.append(sp)
        logger.info("%s: %d silent track(s) re-extracted", name,
                    int(re_extracted[:, s].sum()))
        yield Progress(s + 1, S, "re-extracting silent cells")
    return CrossDayTraces(traces=traces, spikes=spikes, re_extracted=re_extracted,
                          measured=measured, event_rate=rate, amplitude=amplitude, snr=snr,
                          assignments=A.copy(), session_names=list(registration.session_names),
                          frame_rates=rates, notes=notes)


def reextract_silent(
    registration: Any,
    movies: Any,
    *,
    footprints: Any = None,
    frame_rate: float | None = None,
    cnmf_params: Any = None,
    progress: Any = None,
) -> CrossDayTraces:
    """Measure every track in every session, re-extracting the silent cells.

    Parameters
    ----------
    registration : RegistrationResult
        The tracks and transforms (:func:`~napari_amnesia.core.multisession.register`).
    movies : list
        One movie ``(T, Y, X)`` per session (numpy, dask, or as
        :func:`~napari_amnesia.core.io.open_movie` gives it); None skips a session (its
        detected tracks keep their result's traces, if any).
    footprints : list, optional
        Per session what was registered: a CNMF result, a results folder or the
        footprint matrix (default: the results folders the registration read).
    frame_rate : float, optional
        Frames per second (default: the CNMF result's ``fr``, else 30).
    cnmf_params : CNMFParams or dict, optional
        Parameters of the seeded extraction (default: the session's result's).
    progress : callable, optional
        Called with each :class:`~napari_amnesia.core.progress.Progress`.

    Returns
    -------
    CrossDayTraces
    """
    return drive(iter_reextract_silent(registration, movies, footprints=footprints,
                                       frame_rate=frame_rate, cnmf_params=cnmf_params),
                 progress)
