"""The edit model: a :class:`Curation` owns the ROIs, their table, the edit log and undo.

The *Curate ROIs* dock binds to one :class:`Curation` and only draws it; a script
makes the same edits without napari::

    cur = Curation.start(result.labels(0.2, accepted_only=False), result)
    cur.reject([4])
    cur.merge([3, 7])                 # 7 becomes 3
    value, part = cur.split_by_line([(10, 0), (10, 40)], value=5)
    cur.undo()                        # the split is undone; cur.redo() does it again
    cur.reextract(movie)              # traces of the edited ROIs
    cur.save("day1/curation")

Every edit rebuilds the table from the image (decisions and metrics are kept per
label value, in a memory of every label seen, so a deleted ROI brought back by an
undo comes back with its decision), appends ``{"action", "labels", "time", ...}``
to :attr:`Curation.log` and can be undone. A change made outside (napari's brush,
napari's own undo) is taken in by :meth:`Curation.update_labels`.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..progress import ProgressGenerator, drive
from .edits import (
    _check_labels,
    _values,
    add_mask,
    append_labels,
    changed_labels,
    delete_labels,
    merge_labels,
    next_label,
    split_label_by_line,
    split_label_kmeans,
)
from .reextract import iter_reextract
from .saving import read_curation, read_rois, save_curation
from .table import COLUMNS, decisions, set_decision, table_from_labels, table_from_result

__all__ = ["Curation", "load_curation", "crossed_labels"]

#: How many edits :meth:`Curation.undo` can go back.
HISTORY = 100
_KEEP = object()  # "the default" where None is a meaningful value


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def crossed_labels(labels: Any, line: Any) -> list[int]:
    """Label values under a line (a segment or a polyline of (row, column) points).

    Examples
    --------
    >>> labels = np.zeros((5, 6), np.int32)
    >>> labels[1:4, 1:3] = 2
    >>> labels[1:4, 4:6] = 7
    >>> crossed_labels(labels, [(2, 0), (2, 5)])
    [2, 7]
    """
    data = _check_labels(labels)
    line = np.asarray(line, float)[:, -2:]
    n = max(2, int(np.ceil(np.abs(np.diff(line, axis=0)).sum())) * 2)
    t = np.linspace(0, len(line) - 1, n)
    rows = np.interp(t, np.arange(len(line)), line[:, 0]).round().astype(int)
    cols = np.interp(t, np.arange(len(line)), line[:, 1]).round().astype(int)
    inside = (rows >= 0) & (rows < data.shape[0]) & (cols >= 0) & (cols < data.shape[1])
    return [int(v) for v in np.unique(data[rows[inside], cols[inside]]) if v]


@dataclass(eq=False)
class Curation:
    """A curated set of ROIs and the edits that made it (see the module documentation).

    What :func:`~napari_amnesia.core.curation.save_curation` writes and
    :func:`load_curation` reads; its methods edit it, each edit one undo step.
    :meth:`start` begins a curation of freshly extracted ROIs.

    Attributes
    ----------
    labels : ndarray of int, shape (Y, X)
        The curated ROIs.
    table : dict of ndarray
        The ROI table of the labels present (see
        :mod:`~napari_amnesia.core.curation.table`).
    result : SourceResult or None
        The last extraction (the original CNMF result or a re-extraction).
    original : ndarray or None
        The ROIs before curation.
    extracted : ndarray or None
        The ROIs ``result`` was extracted from (or drawn as).
    log : list of dict
        The edits, in order: ``{"action", "labels", "time", ...}``.
    source : str or None
        The name of the movie (napari layer) the ROIs belong to.
    pipeline : dict
        ``{"movie": path, "stages": {stage: params}}`` that produced the ROIs.
    saved_to : Path or None
        The folder of the last :meth:`save` (or :func:`load_curation`).

    Examples
    --------
    >>> labels = np.zeros((6, 9), np.int32)
    >>> labels[1:5, 1:4], labels[1:5, 5:8] = 1, 2
    >>> cur = Curation.start(labels)
    >>> cur.reject([2])
    [2]
    >>> cur.merge([1, 2])
    1
    >>> [int(v) for v in cur.table["index"]], [e["action"] for e in cur.log]
    ([1], ['reject', 'merge'])
    >>> cur.undo()
    True
    >>> [int(v) for v in cur.table["index"]], cur.decisions
    ([1, 2], {2: False})
    """

    labels: np.ndarray
    table: dict[str, np.ndarray]
    result: Any = None
    original: np.ndarray | None = None
    extracted: np.ndarray | None = None
    log: list[dict] = field(default_factory=list)
    source: str | None = None
    pipeline: dict = field(default_factory=dict)
    saved_to: Path | None = field(default=None, repr=False)
    _memory: dict[str, np.ndarray] = field(init=False, repr=False)
    _undo: list = field(init=False, repr=False)
    _redo: list = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Remember the rows of the table (the memory of every label seen)."""
        if self.table is None:
            self.table = table_from_labels(self.labels)
        self._memory = table_from_labels(np.zeros((1, 1), np.int32))  # no row yet
        self._remember(self.table)
        self._undo, self._redo = [], []

    @classmethod
    def start(cls, labels: Any, result: Any = None, *, previous: Any = None,
              original: Any = _KEEP, extracted: Any = _KEEP, log: Sequence[Mapping] = (),
              source: str | None = None, pipeline: Mapping | None = None) -> Curation:
        """Begin (or resume) curating ``labels``, the ROIs ``result`` was extracted as.

        Parameters
        ----------
        labels : array_like of int, shape (Y, X)
            The ROIs (a copy is kept).
        result : SourceResult, optional
            Their extraction: its metrics and automatic decisions fill the table.
        previous : table, optional
            A table whose decisions (and flags) to keep, per label value.
        original, extracted : array_like or None, optional
            The ROIs before curation (default: ``labels``) and those ``result`` was
            extracted as (default: ``labels`` when there is a result).
        log : sequence of dict
            Earlier edits.
        source : str, optional
            The name of the movie.
        pipeline : dict, optional
            The movie and parameters of the stages that made the ROIs.

        Returns
        -------
        Curation
        """
        labels = np.array(_check_labels(labels), copy=True)
        original = labels.copy() if original is _KEEP or original is None else \
            np.array(_check_labels(original, "original"), copy=True)
        if extracted is _KEEP:
            extracted = labels.copy() if result is not None else None
        if result is not None and extracted is not None:
            memory = table_from_result(result, extracted, previous, original=original)
        else:
            memory = table_from_labels(labels, previous, original=original,
                                       extracted=extracted)
        cur = cls(labels=labels, table=memory, result=result, original=original,
                  extracted=extracted, log=[dict(e) for e in log], source=source,
                  pipeline=dict(pipeline or {}))
        cur.refresh()
        return cur

    # ------------------------------------------------------------------ reading
    @property
    def decisions(self) -> dict[int, bool]:
        """The user's decisions ``{label: accepted}``."""
        return decisions(self.table)

    @property
    def used(self) -> list[int]:
        """Every label value seen in this curation (new ROIs never reuse one)."""
        return sorted(set(self._memory["index"].tolist()) | set(_values(self.labels).tolist()))

    def row(self, label: int) -> dict[str, Any] | None:
        """Return the table row of ``label`` as a dict (None if it is not in the image)."""
        hits = np.flatnonzero(self.table["index"] == int(label))
        if not hits.size:
            return None
        return {c: self.table[c][hits[0]].item() for c in COLUMNS}

    def new_label(self) -> int:
        """Return a fresh label value (for a ROI painted with a brush)."""
        return next_label(self.labels, used=self.used)

    # ------------------------------------------------------------------ the table
    def _remember(self, table: Mapping[str, np.ndarray]) -> None:
        """Merge ``table`` into the memory of every label seen (their last rows)."""
        memory = self._memory
        keep = ~np.isin(memory["index"], table["index"])
        self._memory = {c: np.concatenate([memory[c][keep], table[c]]) for c in COLUMNS}

    def refresh(self) -> None:
        """Rebuild the table from the image, the memory of each label and the images."""
        table = table_from_labels(self.labels, self._memory, original=self.original,
                                  extracted=self.extracted)
        self._remember(table)
        self.table = table

    def _log(self, action: str, **details: Any) -> None:
        self.log.append({"action": action, **details, "time": _now()})

    # ------------------------------------------------------------------ undo
    def _state(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.labels.copy(), {c: a.copy() for c, a in self._memory.items()}

    def _push(self) -> None:
        self._undo.append(self._state())
        del self._undo[:-HISTORY]
        self._redo.clear()

    def _restore(self, state: tuple[np.ndarray, dict[str, np.ndarray]]) -> list[int]:
        """Go back to ``state``; metrics stay those of the current extraction."""
        labels, memory = state
        now = self._memory
        row = {int(v): i for i, v in enumerate(now["index"])}
        memory = {c: a.copy() for c, a in memory.items()}
        for j, v in enumerate(memory["index"].tolist()):
            i = row.get(v)
            if i is None:
                continue
            for c in ("component", "snr", "r_value"):
                memory[c][j] = now[c][i]
            if not memory["decided"][j] and not now["decided"][i]:
                memory["accepted"][j] = now["accepted"][i]  # the automatic decision now
        changed = changed_labels(labels, self.labels).tolist()
        self._memory = now
        self._remember(memory)
        self.labels = labels
        self.refresh()
        return changed

    def undo(self) -> bool:
        """Undo the last edit (pixels or decisions); return whether there was one."""
        if not self._undo:
            return False
        self._redo.append(self._state())
        changed = self._restore(self._undo.pop())
        self._log("undo", labels=changed)
        return True

    def redo(self) -> bool:
        """Redo the last edit undone; return whether there was one."""
        if not self._redo:
            return False
        self._undo.append(self._state())
        changed = self._restore(self._redo.pop())
        self._log("redo", labels=changed)
        return True

    # ------------------------------------------------------------------ edits
    def edit(self, image: Any, action: str, /, **details: Any) -> bool:
        """Make ``image`` the ROIs, as one logged, undoable edit; return whether it changed.

        The edit methods below call it; use it for an edit computed elsewhere (e.g.
        in a worker). ``details`` go into the log entry (e.g. ``labels=[3]``).
        """
        new = _check_labels(image)
        if new.shape == self.labels.shape and np.array_equal(new, self.labels):
            return False
        self._push()
        self.labels = np.array(new, copy=True)
        self.refresh()
        self._log(action, **details)
        return True

    def update_labels(self, labels: Any, action: str | None = "paint") -> bool:
        """Take in a change made outside (a brush stroke, napari's undo); return whether any.

        The log names the labels whose pixels changed under ``action`` (None: no log).
        """
        new = _check_labels(labels)
        if new.shape == self.labels.shape and np.array_equal(new, self.labels):
            return False
        changed = changed_labels(new, self.labels).tolist() \
            if new.shape == self.labels.shape else []
        self._push()
        self.labels = np.array(new, copy=True)
        self.refresh()
        if action and changed:
            self._log(action, labels=changed)
        return True

    def _decide(self, values: Iterable[int], accepted: bool) -> list[int]:
        values = [int(v) for v in values]
        table = set_decision(self.table, values, accepted)
        self._push()
        self._remember(table)
        self.table = table
        self._log("accept" if accepted else "reject", labels=values)
        return values

    def accept(self, values: Iterable[int]) -> list[int]:
        """Accept the ROIs ``values`` (a rejected ROI is restored this way); return them."""
        return self._decide(values, True)

    def reject(self, values: Iterable[int]) -> list[int]:
        """Reject the ROIs ``values``: they stay, marked rejected; return them."""
        return self._decide(values, False)

    def delete(self, values: Iterable[int]) -> list[int]:
        """Delete the ROIs ``values`` (their pixels become 0); return them."""
        values = [int(v) for v in values]
        self.edit(delete_labels(self.labels, values), "delete", labels=values)
        return values

    def merge(self, values: Sequence[int], *, into: int | None = None) -> int:
        """Merge the ROIs ``values`` into one, with the value ``into`` (default: the first)."""
        values = [int(v) for v in values]
        into = values[0] if into is None else int(into)
        self.edit(merge_labels(self.labels, values, into=into), "merge", labels=values,
                  into=into)
        return into

    def split_by_line(self, line: Any, *, value: int | None = None,
                      prefer: int | None = None) -> tuple[int, int]:
        """Cut a ROI in two along ``line``; return ``(value, new value)``.

        The ROI is ``value``, else ``prefer`` if the line crosses it, else the first ROI
        the line crosses that it cuts in two.

        Raises
        ------
        ValueError
            If the line cuts no ROI in two.
        """
        line = np.asarray(line, float)[:, -2:]
        crossed = crossed_labels(self.labels, line)
        if value is not None:
            candidates = [int(value)]
        else:
            candidates = [int(prefer)] if prefer is not None and prefer in crossed else crossed
        for v in candidates:
            try:
                new, part = split_label_by_line(self.labels, v, line, used=self.used)
            except ValueError:
                if value is not None:
                    raise
                continue
            self.edit(new, "split by line", labels=[v], new=[part], line=line.tolist())
            return v, part
        raise ValueError("the line cuts no ROI in two (draw it across one).")

    def split_by_activity(self, value: int, movie: Any, *, k: int = 2,
                          rng: np.random.Generator | int | None = 0) -> list[int]:
        """Split ROI ``value`` into ``k`` parts by k-means on its pixels' traces.

        Returns the labels of the new parts (see
        :func:`~napari_amnesia.core.curation.split_label_kmeans`).
        """
        new, parts = split_label_kmeans(self.labels, value, movie, k=k, rng=rng,
                                        used=self.used)
        self.edit(new, "split by activity", labels=[int(value)], new=parts, k=int(k))
        return parts

    def add_masks(self, masks: Iterable[Any], *, action: str = "add shapes") -> list[int]:
        """Add each boolean mask as a new ROI on free pixels, in one edit; return the labels.

        A mask covering no free pixel is skipped.

        Raises
        ------
        ValueError
            If no mask covers a free pixel.
        """
        new, added = self.labels, []
        for mask in masks:
            try:
                new, value = add_mask(new, mask, used=self.used + added)
            except ValueError:
                continue
            added.append(value)
        if not added:
            raise ValueError("the shapes cover no free pixel (they lie on other ROIs).")
        self.edit(new, action, new=added)
        return added

    def add_mask(self, mask: Any) -> int:
        """Add a ROI drawn as a boolean mask (on free pixels); return its label."""
        [value] = self.add_masks([mask], action="add mask")
        return value

    def import_rois(self, rois: Any) -> dict[int, int]:
        """Add the ROIs of a file (ImageJ zip/.roi, labels TIFF) or a label image.

        Returns ``{value in rois: new value}``; ROIs without a free pixel are skipped
        (an empty dict: nothing was added).
        """
        path = None
        if isinstance(rois, (str, os.PathLike)):
            path = Path(rois)
            rois = read_rois(path, self.labels.shape)
        new, mapping = append_labels(self.labels, rois, used=self.used)
        if mapping:
            details = {} if path is None else {"path": str(path)}
            self.edit(new, "import", **details, new=sorted(mapping.values()))
        return mapping

    # ------------------------------------------------------------------ extraction
    def apply_extraction(self, result: Any, labels: Any, *,
                         update_footprints: bool = False) -> None:
        """Take ``result``, re-extracted from the ROIs ``labels``, as the last extraction.

        Metrics and automatic decisions come from it; the user's decisions stay. The
        log records the re-extraction.
        """
        labels = np.array(_check_labels(labels), copy=True)
        self.result, self.extracted = result, labels
        self._remember(table_from_result(result, labels, self._memory,
                                         original=self.original))
        self.refresh()
        self._log("re-extract", n_rois=int(result.K),
                  update_footprints=bool(update_footprints))

    def iter_reextract(self, movie: Any, *, update_footprints: bool = False,
                       params: Any = None, apply: bool = True,
                       **overrides: Any) -> ProgressGenerator[Any]:
        """Yield the progress of :meth:`reextract` (its generator twin); return the result.

        The ROIs are those at the call. With ``apply=False`` the result is only
        returned (a GUI applies it with :meth:`apply_extraction` once it is back).
        """
        labels = self.labels.copy()
        params = params if params is not None else (
            None if self.result is None else self.result.params)
        generator = iter_reextract(movie, labels, result=self.result,
                                   reference=self.extracted,
                                   update_footprints=update_footprints, params=params,
                                   **overrides)

        def run():
            result = yield from generator
            if apply:
                self.apply_extraction(result, labels, update_footprints=update_footprints)
            return result

        return run()

    def reextract(self, movie: Any, *, update_footprints: bool = False, params: Any = None,
                  progress: Callable | None = None, **overrides: Any) -> Any:
        """Extract the traces of the ROIs again (see :func:`~.reextract.reextract`).

        Every ROI keeps its label and decision; the result becomes :attr:`result`.
        """
        return drive(self.iter_reextract(movie, update_footprints=update_footprints,
                                         params=params, **overrides), progress)

    def refilter(self, thresholds: Mapping[str, Any] | None = None, *,
                 result: Any = None) -> None:
        """Accept or reject the undecided ROIs again with new quality thresholds.

        ``result``: the last extraction re-filtered elsewhere (the same fit); else
        ``thresholds`` (``{name: value}`` of ``CNMFParams``) re-evaluate :attr:`result`.
        """
        if result is None:
            if self.result is None or not self.result.evaluated:
                return
            from ..cnmf import evaluate

            result = evaluate(self.result, **dict(thresholds or {}))
        self.result = result
        if self.extracted is not None:
            self._remember(table_from_result(result, self.extracted, self._memory,
                                             original=self.original))
            self.refresh()

    # ------------------------------------------------------------------ files
    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the folder (see :func:`~napari_amnesia.core.curation.save_curation`)."""
        out = save_curation(folder, self.labels, self.table, result=self.result,
                            original=self.original, extracted=self.extracted, log=self.log,
                            source=self.source, pipeline=self.pipeline,
                            overwrite=overwrite)
        self.saved_to = out
        return out

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Curation:
        """Read a folder written by :meth:`save` (see :func:`load_curation`)."""
        return load_curation(folder)

    def python_lines(self) -> str:
        """Return the Python that reloads this curation and re-extracts it ('' unsaved)."""
        if self.saved_to is None:
            return ""
        return (
            "\n# curation: the ROIs edited in napari ('Save curation'), re-extracted\n"
            "from napari_amnesia.core import curation\n"
            f"curated = curation.load_curation({str(self.saved_to)!r})\n"
            "sources = curation.reextract(movie, curated.labels, result=curated.result,\n"
            "                             reference=curated.extracted)\n"
            "table = curation.table_from_result(sources, curated.labels, curated.table)\n"
            "accepted = curation.curated_result(sources, table)\n")


def load_curation(folder: str | os.PathLike) -> Curation:
    """Read a folder written by :func:`~napari_amnesia.core.curation.save_curation`."""
    cur = Curation(**read_curation(folder))
    cur.saved_to = Path(os.path.expanduser(os.fspath(folder)))
    return cur
