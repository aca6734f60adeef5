"""Per-viewer state: results computed for each source, running workers.

One :class:`Session` per viewer, kept in a weak dictionary (closing a viewer frees
it), never a process-global singleton.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from psygnal import Signal

__all__ = ["Session", "session_for", "unproxied"]


@dataclass(eq=False)
class Session:
    """What napari-amnesia remembers for one viewer.

    Attributes
    ----------
    results : dict
        ``(source, stage) -> result object`` (e.g. ``("movie", "summary")`` →
        :class:`~napari_amnesia.core.summary.SummaryImages`): the one place a result
        is kept. ``source`` is the name of the layer the stage ran on, ``stage`` the
        stage's name in :mod:`napari_amnesia.core.stages` (``"motion"``, ``"cnmf"``...;
        ``"curation"`` for the Curate dock's state). Change it with
        :meth:`set_result` / :meth:`remove_result`, which emit :attr:`result_changed`.
    workers : set
        Workers running for this viewer (so they can be cancelled together).
    trace_dock : TraceWidget or None
        The trace dock of this viewer, once opened.
    """

    #: emitted with ``(source, stage, result)`` whenever a result is set or removed
    #: (``result`` None): docks listen to this instead of watching each other's layers
    result_changed = Signal(str, str, object)

    results: dict[tuple[str, str], Any] = field(default_factory=dict)
    workers: set = field(default_factory=set)
    #: the viewer's trace dock, once opened (stages plot their series there)
    trace_dock: Any = None
    #: Labels layer → ``function(label) -> (title, {name: series}, colours) | None``:
    #: what the trace dock plots when a label of that layer is selected, instead of
    #: the label's mean pixel trace (e.g. a CNMF component's raw F, C, S and ΔF/F)
    label_series: WeakKeyDictionary = field(default_factory=WeakKeyDictionary)

    def result(self, source: str, stage: str) -> Any | None:
        """Return the latest result of ``stage`` for ``source``, or None."""
        return self.results.get((source, stage))

    def set_result(self, source: str, stage: str, result: Any) -> None:
        """Keep ``result`` as the latest of ``stage`` for ``source`` and tell the docks."""
        self.results[(source, stage)] = result
        self.result_changed.emit(source, stage, result)

    def remove_result(self, source: str, stage: str) -> None:
        """Forget the result of ``stage`` for ``source`` (if any) and tell the docks."""
        if self.results.pop((source, stage), None) is not None:
            self.result_changed.emit(source, stage, None)

    def cancel_all(self) -> None:
        """Ask every running worker of this viewer to stop at its next step."""
        for worker in list(self.workers):
            worker.quit()


_SESSIONS: WeakKeyDictionary = WeakKeyDictionary()


def unproxied(obj):
    """``obj`` itself rather than napari's proxy around it.

    A dock's viewer is a ``PublicOnlyProxy``, and so is every layer reached through
    it; a proxy made for one access dies soon after, taking with it any weak-key
    entry (the Session of a viewer, ``Session.label_series``) it was the key of.
    """
    return getattr(obj, "__wrapped__", obj)


def session_for(viewer) -> Session:
    """Return the :class:`Session` of ``viewer``, creating it on first use."""
    viewer = unproxied(viewer)
    try:
        return _SESSIONS[viewer]
    except KeyError:
        session = _SESSIONS[viewer] = Session()
        return session
