"""Multi-session registration: the same cells across days.

:func:`register` aligns every session into one common space (rigid + rotation + smooth
non-rigid, groupwise: no reference session, no chain) and matches the footprints of all
sessions at once (a CellReg-like probability per pair of nearby footprints, tracks with
at most one footprint per session). Permuting the sessions or the footprints permutes
the output, nothing else. :func:`iter_reextract_silent` then measures each track in the
sessions where it was not found (its footprint carried there, its trace extracted with
the curation stage's seeded extraction, flagged ``re_extracted``), giving one table of
track × session with trace, event rate, amplitude and SNR.

Public API
----------
- :func:`register`, :func:`iter_register` → :class:`RegistrationResult`
  (``assignments``, ``transforms``, ``confidence``, ``template``, ``save``/``load``,
  ``to_layers``), parameters :class:`RegistrationParams`;
- :class:`SessionTransform`: each session's map (``apply_points``/``inverse_points``,
  ``apply_image``/``inverse_image``, ``apply_footprints``/``inverse_footprints``);
- :func:`load_session`: footprints, template and name of a CNMF results folder;
- :func:`reextract_silent`, :func:`iter_reextract_silent` → :class:`CrossDayTraces`;
- :func:`pair_scores`: pair precision, recall and F1 of tracks against a planted identity;
- :class:`TrackEditor` (:mod:`.editing`): split, merge, reassign tracks with undo;
  :func:`open_sessions` (:mod:`.opening`): results folders → registration → re-extraction.

Examples
--------
>>> from napari_amnesia.core.simulate.sessions import simulate_sessions
>>> from napari_amnesia.core.multisession import register, pair_scores
>>> data = simulate_sessions(n_sessions=3, shape=(128, 128), n_cells=30, rng=1)
>>> result = register(data.footprints, data.templates)
>>> pair_scores(result.assignments, data.identity)["f1"] > 0.95
True
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RegistrationParams": "params", "RegistrationResult": "result",
    "SessionTransform": "transforms", "register": "registration",
    "iter_register": "registration", "footprint_centers": "registration",
    "load_session": "inputs", "save_session": "inputs", "pair_scores": "scoring",
    "reextract_silent": "traces", "iter_reextract_silent": "traces",
    "CrossDayTraces": "traces",
    "TrackEditor": "editing", "open_sessions": "opening", "iter_open_sessions": "opening",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name on first use (``import ...multisession`` stays light)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """List the public names."""
    return sorted(set(globals()) | set(__all__))
