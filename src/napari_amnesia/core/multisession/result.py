"""The result of a multi-session registration, and its folder on disk.

Folder layout written by :meth:`RegistrationResult.save` (atomically; an existing folder
is replaced only with ``overwrite`` and only if the package wrote it)::

    arrays.npz        assignments (n_tracks, S), confidence, track_centers, template,
                      aligned_templates (S, Yc, Xc), track footprints (CSC parts)
    transforms.json   one SessionTransform per session (rigid part, non-rigid grid)
    result.json       format, session names and shapes, parameters, notes, the fitted
                      model, diagnostics and provenance
    tracks.csv        one row per track: its footprint index in each session (-1:
                      not found), the number of sessions holding it, its confidence
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ..files import atomic_folder, jsonable, read_arrays
from .params import RegistrationParams
from .transforms import SessionTransform

__all__ = ["RegistrationResult"]

logger = logging.getLogger(__name__)

_FORMAT = "napari-amnesia/multisession/1"


@dataclass(eq=False)
class RegistrationResult:
    """The tracks of cells across sessions, and each session's map into a common space.

    Attributes
    ----------
    assignments : ndarray of int, shape (n_tracks, S)
        The footprint index of each track in each session (its column in the session's
        input; its component index for a CNMF result), -1 where the cell was not found.
        Tracks are ordered by position (row, then column) in the common space.
    confidence : ndarray, shape (n_tracks,)
        The probability that the track is one whole cell.
    transforms : list of SessionTransform
        Each session's map into the common space.
    template : ndarray, shape (Yc, Xc), float32
        The common space's template: the mean of the aligned templates (each scaled
        to its own 0.5-99.5 percentiles).
    aligned_templates : ndarray, shape (S, Yc, Xc), float32
        Each session's template in the common space (0 outside its field of view).
    track_footprints : scipy.sparse.csc_matrix, shape (Yc * Xc, n_tracks)
        Each track's footprint in the common space: the mean of its footprints carried
        there, unit L2 norm.
    track_centers : ndarray, shape (n_tracks, 2)
        Each track's centre in the common space (row, column).
    session_names : list of str
    session_shapes : list of tuple
    n_footprints : list of int
        The number of footprints (columns) each session was given.
    params : RegistrationParams
    notes : list of str
        What the user should know (sessions of different sizes, empty sessions...).
    model : dict
        The fitted probabilistic model (spread of a cell's centres, prior, histograms).
    info : dict
        Diagnostics: pairwise template correlations, candidate pairs, timings.
    provenance : dict
        Package version, inputs (results folders), elapsed time.
    """

    assignments: np.ndarray
    confidence: np.ndarray
    transforms: list[SessionTransform]
    template: np.ndarray
    aligned_templates: np.ndarray
    track_footprints: sparse.csc_matrix
    track_centers: np.ndarray
    session_names: list[str]
    session_shapes: list[tuple[int, int]]
    n_footprints: list[int]
    params: RegistrationParams = field(default_factory=RegistrationParams)
    notes: list[str] = field(default_factory=list)
    model: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    # -- sizes ----------------------------------------------------------------------------
    @property
    def n_tracks(self) -> int:
        """The number of tracks."""
        return int(self.assignments.shape[0])

    @property
    def n_sessions(self) -> int:
        """The number of sessions."""
        return int(self.assignments.shape[1])

    @property
    def common_shape(self) -> tuple[int, int]:
        """The common space's image shape."""
        return tuple(int(v) for v in self.template.shape)

    def counts(self) -> np.ndarray:
        """Return the number of sessions holding each track."""
        return np.count_nonzero(self.assignments >= 0, axis=1)

    def __repr__(self) -> str:
        """Summarise tracks and sessions."""
        counts = np.bincount(self.counts(), minlength=self.n_sessions + 1)[1:]
        return (f"RegistrationResult({self.n_tracks} tracks over {self.n_sessions} sessions;"
                f" tracks in 1..S sessions: {counts.tolist()})")

    # -- views ----------------------------------------------------------------------------
    def labels(self, threshold: float = 0.2, *, tracks: Any = None) -> np.ndarray:
        """Return the tracks as a label image of the common space (label = track + 1).

        A pixel belongs to the track whose footprint is largest there, among those at
        least ``threshold`` times their peak; ``tracks`` (indices or a boolean mask)
        limits the tracks drawn.
        """
        A = self.track_footprints.tocsc()
        keep = np.ones(self.n_tracks, bool)
        if tracks is not None:
            sel = np.asarray(tracks)
            keep = sel.astype(bool) if sel.dtype == bool else np.isin(
                np.arange(self.n_tracks), sel)
        out = np.zeros(self.common_shape[0] * self.common_shape[1], np.int32)
        best = np.zeros(out.shape, np.float32)
        for t in np.flatnonzero(keep):
            lo, hi = A.indptr[t], A.indptr[t + 1]
            pix, val = A.indices[lo:hi], A.data[lo:hi]
            if val.size == 0:
                continue
            ok = val >= threshold * val.max()
            pix, val = pix[ok], val[ok] / val.max()
            win = val > best[pix]
            best[pix[win]] = val[win]
            out[pix[win]] = t + 1
        return out.reshape(self.common_shape)

    def session_labels(self, threshold: float = 0.2) -> np.ndarray:
        """Return ``(S, Yc, Xc)`` labels: in each session, the tracks it holds.

        A cell keeps its label (track + 1) in every session, so stepping through the
        session axis shows which cells each day found.
        """
        return np.stack([self.labels(threshold, tracks=self.assignments[:, s] >= 0)
                         for s in range(self.n_sessions)])

    def tracks_table(self) -> dict[str, np.ndarray]:
        """Return the tracks as columns: track, one column per session, sessions, confidence.

        Session columns are named after the sessions and hold footprint indices (-1:
        not found); ``center_row``/``center_column`` are common-space positions.
        """
        table: dict[str, np.ndarray] = {"track": np.arange(self.n_tracks)}
        for s, name in enumerate(self.session_names):
            table[name] = self.assignments[:, s].copy()
        table["n_sessions"] = self.counts()
        table["confidence"] = np.round(self.confidence, 4)
        table["center_row"] = np.round(self.track_centers[:, 0], 2)
        table["center_column"] = np.round(self.track_centers[:, 1], 2)
        return table

    def write_tracks_csv(self, path: str | os.PathLike) -> None:
        """Write :meth:`tracks_table` as CSV at ``path`` (plain write: callers make it atomic)."""
        table = self.tracks_table()
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(list(table))
            for row in zip(*table.values(), strict=True):
                writer.writerow([v.item() if hasattr(v, "item") else v for v in row])

    def to_layers(self, source: str = "sessions") -> list[tuple]:
        """Return napari LayerData: the aligned templates, the tracks and the common template.

        The aligned templates are one Image ``(S, Yc, Xc)`` with a session axis; the
        tracks one Labels ``(S, Yc, Xc)`` (a cell keeps its label across sessions, its
        ``features`` table has ``index`` = label, track, n_sessions, confidence).
        """
        from ..layers import _limits, layer_name, provenance

        meta = provenance("multisession", source, self.params.to_dict())
        meta["napari_amnesia"]["session_names"] = list(self.session_names)
        features = {"index": np.arange(1, self.n_tracks + 1), "track": np.arange(
            self.n_tracks), "n_sessions": self.counts(), "confidence": self.confidence}
        return [
            (self.aligned_templates, {
                "name": layer_name(source, "aligned templates"), "colormap": "gray",
                "contrast_limits": _limits(self.aligned_templates), "metadata": meta,
                "multiscale": False, "axis_labels": ("session", "y", "x")}, "image"),
            (self.template, {"name": layer_name(source, "common template"),
                             "colormap": "gray", "contrast_limits": _limits(self.template),
                             "metadata": meta, "visible": False}, "image"),
            (self.session_labels(), {"name": layer_name(source, "tracks"),
                                     "features": features, "metadata": meta,
                                     "opacity": 0.5}, "labels"),
        ]

    # -- saving ---------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the result folder (see the module documentation); return its path."""
        folder = Path(os.path.expanduser(os.fspath(folder)))
        A = sparse.csc_matrix(self.track_footprints)
        arrays = {"assignments": self.assignments, "confidence": self.confidence,
                  "track_centers": self.track_centers, "template": self.template,
                  "aligned_templates": self.aligned_templates,
                  "track_footprints_data": A.data, "track_footprints_indices": A.indices,
                  "track_footprints_indptr": A.indptr}
        meta = {"format": _FORMAT, "session_names": self.session_names,
                "session_shapes": [list(s) for s in self.session_shapes],
                "n_footprints": self.n_footprints, "n_tracks": self.n_tracks,
                "notes": self.notes, "model": self.model, "info": self.info,
                "provenance": self.provenance}
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            with open(tmp / "arrays.npz", "wb") as fh:
                np.savez(fh, **arrays)
            (tmp / "params.json").write_text(json.dumps(self.params.to_dict(), indent=2))
            (tmp / "transforms.json").write_text(json.dumps(
                [t.to_dict() for t in self.transforms], indent=1))
            (tmp / "result.json").write_text(json.dumps(jsonable(meta), indent=2))
            self.write_tracks_csv(tmp / "tracks.csv")
        logger.info("registration saved to %s", folder)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> RegistrationResult:
        """Read a folder written by :meth:`save`."""
        folder = Path(os.path.expanduser(os.fspath(folder)))
        a = read_arrays(folder, "registration")
        try:
            meta = json.loads((folder / "result.json").read_text())
        except (OSError, ValueError):
            raise ValueError(f"{folder}: result.json is missing or unreadable.") from None
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{folder}: not a registration result (format "
                             f"{meta.get('format')!r}, expected {_FORMAT!r}).")
        params = RegistrationParams.from_dict(json.loads((folder / "params.json").read_text()))
        transforms = [SessionTransform.from_dict(t) for t in json.loads(
            (folder / "transforms.json").read_text())]
        template = a["template"]
        A = sparse.csc_matrix((a["track_footprints_data"], a["track_footprints_indices"],
                               a["track_footprints_indptr"]),
                              shape=(template.size, int(meta["n_tracks"])))
        return cls(assignments=a["assignments"], confidence=a["confidence"],
                   transforms=transforms, template=template,
                   aligned_templates=a["aligned_templates"], track_footprints=A,
                   track_centers=a["track_centers"],
                   session_names=list(meta["session_names"]),
                   session_shapes=[tuple(s) for s in meta["session_shapes"]],
                   n_footprints=list(meta["n_footprints"]), params=params,
                   notes=list(meta.get("notes", [])), model=dict(meta.get("model", {})),
                   info=dict(meta.get("info", {})),
                   provenance=dict(meta.get("provenance", {})))

