"""Motion correction: rigid and piecewise-rigid registration, out of core.

Replaces CaImAn's NoRMCorre (``MotionCorrect``) and suite2p's registration::

    from napari_amnesia.core import motion
    result = motion.correct(movie, pw_rigid=True)       # MotionResult
    result.corrected                                     # lazy dask (T, Y, X) float32
    result.shifts, result.shifts_pw, result.template, result.metrics
    result.save("run1/motion")                           # CSV / TIFF / JSON folder
    other = motion.apply_shifts(red_channel, result)     # same shifts, another movie
    again = motion.MotionResult.load("run1/motion", movie=movie)

Building blocks: :func:`estimate_shifts`, :func:`make_template`,
:func:`estimate_scan_phase`, :func:`correct_scan_phase`, :func:`apply_shifts`.
Parameters: :class:`MotionParams` (CaImAn's names; the mapping to CaImAn and
suite2p is in :mod:`.params`).

Sign convention: ``shifts[t] = (dy, dx)`` is the displacement of the *content* of
frame ``t`` relative to the template; correcting shifts the frame by ``-shifts[t]``
(the convention of :mod:`napari_amnesia.core.simulate`).
"""

from .apply import apply_shifts
from .correct import correct, estimate_shifts, iter_correct
from .metrics import crispness, frame_correlations
from .params import BORDER_MODES, MotionParams
from .result import MotionResult
from .scan_phase import correct_scan_phase, estimate_scan_phase
from .template import make_template

__all__ = [
    "BORDER_MODES",
    "MotionParams",
    "MotionResult",
    "apply_shifts",
    "correct",
    "correct_scan_phase",
    "crispness",
    "estimate_scan_phase",
    "estimate_shifts",
    "frame_correlations",
    "iter_correct",
    "make_template",
]
