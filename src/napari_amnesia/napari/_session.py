"""Per-viewer state: results computed for each source, running workers.

One :class:`Session` per viewer, kept in a weak dictionary (closing a viewer frees
it), never a process-global singleton.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

__all__ = ["Session", "session_for", "unproxied"]


@dataclass
class Session:
    """What napari-amnesia remembers for one viewer.

    Attributes
    ----------
    results : dict
        ``(source, stage) -> result object`` (e.g. ``("movie", "summary")`` →
        :class:`~napari_amnesia.core.summary.SummaryImages`).
    workers : set
        Workers running for this viewer (so they can be cancelled together).
    trace_dock : TraceWidget or None
        The trace dock of this viewer, once opened.
    """

    results: dict[tuple[str, str], Any] = field(default_factory=dict)
    workers: set = field(default_factory=set)
    #: the viewer's trace dock, once opened (stages plot their series there)
    trace_dock: Any = None
    #: Labels layer → ``function(label) -> (title, {name: series}, colours) | None``:
    #: what the trace dock plots when a label of that layer is selected, instead of
    #: the label's mean pixel trace (e.g. a CNMF component's raw F, C, S and ΔF/F)
    label_series: WeakKeyDictionary = field(default_factory=WeakKeyDictionary)

    def result(self, source: str, stage: str) -> Any | None:
        """The latest result of ``stage`` for ``source``, or None."""
        return self.results.get((source, stage))

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
