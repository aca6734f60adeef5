"""Parameters of a simulation: one frozen dataclass, mode defaults and validation.

:class:`SimulationParams` holds every argument of
:func:`~napari_amnesia.core.simulate.simulate` with its help text, units and choices,
like the parameter dataclass of every stage, so scripts, JSON files, the command
line and the docks share one object. Arguments marked "mode default" are None until
a simulation resolves them from :data:`MODE_DEFAULTS` (:meth:`SimulationParams.resolved`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..params import StageParams

__all__ = ["MODE_DEFAULTS", "SimulationParams"]

_MODES = ("two_photon", "one_photon")
_DTYPES = ("uint16", "float32")
_PHOTON_NOISE = ("gaussian", "poisson", "none")
#: one-photon: out-of-focus cells per in-focus cell when ``n_out_of_focus`` is None
_DEFOCUSED_PER_CELL = 2

#: Defaults that depend on ``mode`` (used where the argument is None).
MODE_DEFAULTS: dict[str, dict[str, Any]] = {
    "two_photon": {
        "decay_time": 0.4,
        "rise_time": 0.05,
        "spike_amplitude": 0.6,
        "brightness": 40.0,
        "cell_radius": (4.0, 7.0),
        "cell_blur": 0.0,
        "background_brightness": 15.0,
        "n_background_components": 2,
        "read_noise": 2.0,
    },
    "one_photon": {
        "decay_time": 0.4,
        "rise_time": 0.05,
        "spike_amplitude": 0.5,
        "brightness": 40.0,
        "cell_radius": (6.0, 10.0),
        "cell_blur": 2.0,
        "background_brightness": 500.0,
        "n_background_components": 4,
        "read_noise": 5.0,
    },
}


def _p(default: Any, units: str = "", choices: tuple = ()) -> Any:
    """Declare a dataclass field with its units and choices in the metadata."""
    metadata: dict[str, Any] = {}
    if units:
        metadata["units"] = units
    if choices:
        metadata["choices"] = choices
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class SimulationParams(StageParams):
    """Parameters of a simulated calcium-imaging movie.

    Values are checked on construction (a ``ValueError`` names the bad parameter and
    its value). Those marked "mode default" take the value of
    ``MODE_DEFAULTS[mode]`` when None; :meth:`resolved` gives every value, as
    ``truth.params`` holds them.

    Parameters
    ----------
    n_frames : int
        Number of frames ``T`` (>= 1).
    shape : tuple of int
        Frame shape ``(rows, columns)``, each >= 16.
    n_cells : int
        Number of somata ``K`` (>= 0).
    n_neurite_groups : int
        Number of coactive neurite groups (trees) ``G`` (>= 0).
    branches_per_group : int
        Branches per group (>= 1): one root curve, the others branch off it or off
        each other, forming junctions. Neurites never cross or touch (centre lines
        keep ``max(6, 4 * width)`` px apart except at a fork) and never enter a soma,
        so the image's junctions are exactly the planted ones; where a frame is too
        crowded a branch stops short or is left out (with a warning). The trees come
        from their own random stream: a seed grows the same trees whatever
        ``n_cells`` is (a branch stops short where a soma is in its way).
    mode : {"two_photon", "one_photon"}
        Imaging mode. "one_photon" renders a miniscope movie: out-of-focus cells,
        neuropil haze following the population, vessels' shadows, vignetting and a
        12-bit camera around the in-focus cells (see
        :mod:`~napari_amnesia.core.simulate.one_photon`).
    frame_rate : float
        Frames per second.
    ar_order : {1, 2}
        Order of the calcium AR model (2 adds a finite rise time).
    decay_time : float, optional
        Indicator decay time constant in seconds (mode default 0.4 s, GCaMP6f-like).
    rise_time : float, optional
        Indicator rise time constant in seconds (mode default 0.05 s); used only
        with ``ar_order=2``.
    spike_rate : float
        Mean firing rate in Hz (per-cell rates vary log-normally around it); also the
        rate of each neurite group.
    spike_amplitude : float, optional
        Mean peak ΔF/F of one spike (mode default 0.6 two-photon, 0.5 one-photon).
    brightness : float, optional
        Mean resting brightness of a soma at its brightest pixel, in counts (mode
        default 40); neurites rest at 60 % of it.
    cell_radius : tuple of float, optional
        Range of the soma semi-major axis in pixels (mode default (4, 7), one-photon
        (6, 10)).
    cell_blur : float, optional
        Gaussian blur of cells and neurites in pixels (mode default 0, one-photon 2).
    overlap_fraction : float
        Fraction of the cells, in [0, 1], placed in overlapping pairs.
    nucleus_fraction : float
        Fraction of the cells, in [0, 1], with a dark nucleus.
    neurite_width : float
        Standard deviation (px) of the Gaussian cross-section of a neurite.
    branch_noise : float
        Independent activity of each branch, relative to the standard deviation of its
        group's activity (>= 0).
    background_brightness : float, optional
        Mean background + neuropil level in counts (mode default 15 two-photon, 500
        one-photon).
    n_background_components : int, optional
        Number of low-rank background components (mode default 2, one-photon 4).
    photon_noise : {"gaussian", "poisson", "none"}
        Shot noise: ``"gaussian"`` draws it from a normal distribution with the Poisson
        variance (fast, indistinguishable above ~10 photons), ``"poisson"`` draws exact
        Poisson photon counts (about 5x slower), ``"none"`` switches it off.
    read_noise : float, optional
        Standard deviation of the Gaussian read noise in counts (mode default 2,
        one-photon 5).
    gain : float
        Counts per photon.
    offset : float
        Constant added to every pixel (camera/PMT offset), in counts.
    motion : bool
        Apply motion (rigid and, if ``nonrigid``, non-rigid).
    max_shift : float
        Largest rigid displacement along each axis, in pixels (reached once).
    nonrigid : bool
        Add a smooth non-rigid deformation on top of the rigid motion.
    nonrigid_amplitude : float
        Largest non-rigid displacement along each axis, in pixels.
    nonrigid_frequency : int
        Highest spatial frequency of the deformation, in half cycles across the
        frame. 1 (the default): the three slowest cosine modes, ``cos(πy/Y)``,
        ``cos(πx/X)`` and their product, each with its own random time course. A
        larger value draws, per seed, three distinct modes ``cos(πay/Y)·cos(πbx/X)``
        with ``0 <= a, b <= nonrigid_frequency`` (from a random stream of their own,
        so every other output of the seed is unchanged): deformations of different
        spatial frequencies and orientations, e.g. to check piecewise-rigid
        correction on many kinds of field.
    bleaching : float
        Fraction of the fluorescence lost by the last frame, in [0, 1).
    soma_irregularity : float
        How ragged and uneven the somata are, in [0, 1] (default 0: smooth soft
        ellipses). Above 0 each soma's outline is modulated by a smooth random radial
        function and its brightness by a smooth random texture, as somata of real
        two-photon cortex look (their footprints are less compact); the footprints
        of the ground truth are the irregular ones. Drawn from a random stream of its
        own: every other output of the seed is unchanged.
    n_out_of_focus : int, optional
        Number of out-of-focus cells (>= 0; mode default 0 two-photon, ``2 *
        n_cells`` one-photon): somata of another plane, rendered into the movie but
        not cells of the ground truth (kept in ``truth.out_of_focus_footprints`` and
        ``truth.out_of_focus_traces``). Two-photon: twice as large as the cells,
        blurred by 3 px more, dimmer. One-photon: the cells' size blurred by 3-11 px
        more (their depth), the same light spread wider (see
        :mod:`~napari_amnesia.core.simulate.one_photon`). Drawn from a random stream
        of their own: every other output of the seed is unchanged.
    out_of_focus_brightness : float
        Resting brightness of an out-of-focus cell relative to ``brightness`` (> 0,
        default 0.3).
    dtype : {"uint16", "float32"}
        Movie dtype; uint16 values are rounded and clipped to [0, 65535] (one-photon:
        [0, 4095], a 12-bit camera).
    rng : int, numpy.random.Generator or None
        Seed or generator. A generator or None is turned into an integer seed (stored
        in ``truth.seed`` and ``truth.params["rng"]``) so that every movie can be
        reproduced; only an integer (or None) survives :meth:`to_dict`.

    Examples
    --------
    >>> p = SimulationParams(n_frames=100, shape=(64, 64), mode="one_photon")
    >>> p.cell_radius is None, p.resolved()["cell_radius"]
    (True, (6.0, 10.0))
    >>> SimulationParams.from_dict(p.to_dict()) == p
    True
    >>> SimulationParams(n_frames=0)
    Traceback (most recent call last):
    ...
    ValueError: n_frames must be an integer >= 1, got 0.
    """

    #: what a user sets for their data (the dock's main section): plain label, units
    ESSENTIALS = {
        "n_frames": ("frames", ""),
        "shape": ("frame size", "px"),
        "n_cells": ("cells", ""),
        "n_neurite_groups": ("neurite trees", ""),
        "mode": ("imaging mode", ""),
        "frame_rate": ("frame rate", "Hz"),
        "spike_rate": ("firing rate", "Hz"),
        "max_shift": ("largest shift", "px"),
        "rng": ("random seed", ""),
    }
    _tuple_fields = ("shape", "cell_radius")

    n_frames: int = 1000
    shape: tuple[int, int] = (256, 256)
    n_cells: int = 30
    n_neurite_groups: int = 3
    branches_per_group: int = 4
    mode: str = _p("two_photon", choices=_MODES)
    frame_rate: float = 30.0
    ar_order: int = _p(1, choices=(1, 2))
    decay_time: float | None = _p(None, "s")
    rise_time: float | None = _p(None, "s")
    spike_rate: float = 0.5
    spike_amplitude: float | None = _p(None, "ΔF/F")
    brightness: float | None = _p(None, "counts")
    cell_radius: tuple[float, float] | None = _p(None, "px")
    cell_blur: float | None = _p(None, "px")
    overlap_fraction: float = 0.2
    nucleus_fraction: float = 0.3
    neurite_width: float = _p(1.0, "px")
    branch_noise: float = 0.1
    background_brightness: float | None = _p(None, "counts")
    n_background_components: int | None = None
    photon_noise: str = _p("gaussian", choices=_PHOTON_NOISE)
    read_noise: float | None = _p(None, "counts")
    gain: float = _p(1.0, "counts/photon")
    offset: float = _p(100.0, "counts")
    motion: bool = True
    max_shift: float = 4.0
    nonrigid: bool = True
    nonrigid_amplitude: float = _p(1.0, "px")
    nonrigid_frequency: int = _p(1, "half cycles")
    bleaching: float = 0.15
    soma_irregularity: float = 0.0
    n_out_of_focus: int | None = None
    out_of_focus_brightness: float = _p(0.3, "x brightness")
    dtype: str = _p("uint16", choices=_DTYPES)
    rng: int | None = 0

    def __post_init__(self) -> None:
        """Validate every value (the same checks and messages as :func:`simulate`)."""
        _check_rng(self.rng)
        done = _resolve_params(**self._arguments())
        object.__setattr__(self, "shape", done["shape"])
        if self.cell_radius is not None:
            object.__setattr__(self, "cell_radius", done["cell_radius"])

    def _arguments(self) -> dict[str, Any]:
        """Every parameter but ``rng``, in declaration order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "rng"}

    def resolved(self) -> dict[str, Any]:
        """All values but ``rng``, mode defaults filled in and types normalised.

        Returns
        -------
        dict
            ``{name: value}`` in declaration order (what ``truth.params`` holds,
            without the seed).
        """
        return _resolve_params(**self._arguments())


def _check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is a finite number > 0 (>= 0)."""
    try:
        ok = float(value) >= 0 if allow_zero else float(value) > 0
        ok = ok and math.isfinite(float(value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}.")


def _check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` as an int, or raise a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_rng(rng: Any) -> None:
    """Raise unless ``rng`` is a generator, a non-negative int or None (draws nothing)."""
    if rng is None or isinstance(rng, np.random.Generator):
        return
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return
    raise ValueError(
        f"rng must be a numpy.random.Generator, a non-negative int or None, got {rng!r}."
    )


def _resolve_seed(rng: Any) -> int:
    if rng is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return int(rng)
    raise ValueError(
        f"rng must be a numpy.random.Generator, a non-negative int or None, got {rng!r}."
    )


def _resolve_params(**kw: Any) -> dict[str, Any]:
    """Validate the arguments of :func:`simulate` and fill in mode defaults."""
    mode = kw["mode"]
    if mode not in _MODES:
        raise ValueError(f'mode must be "two_photon" or "one_photon", got {mode!r}.')
    for name, value in MODE_DEFAULTS[mode].items():
        if kw.get(name) is None:
            kw[name] = value
    kw["n_frames"] = _check_int("n_frames", kw["n_frames"], 1)
    shape = kw["shape"]
    if (
        not isinstance(shape, (tuple, list, np.ndarray))
        or len(shape) != 2
        or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 16 for s in shape)
    ):
        raise ValueError(f"shape must be two integers >= 16 (rows, columns), got {shape!r}.")
    kw["shape"] = (int(shape[0]), int(shape[1]))
    kw["n_cells"] = _check_int("n_cells", kw["n_cells"], 0)
    kw["n_neurite_groups"] = _check_int("n_neurite_groups", kw["n_neurite_groups"], 0)
    kw["branches_per_group"] = _check_int("branches_per_group", kw["branches_per_group"], 1)
    kw["n_background_components"] = _check_int(
        "n_background_components", kw["n_background_components"], 1
    )
    kw["nonrigid_frequency"] = _check_int("nonrigid_frequency", kw["nonrigid_frequency"], 1)
    if kw["n_out_of_focus"] is None:  # mode default: the one-photon tissue's other planes
        kw["n_out_of_focus"] = (
            _DEFOCUSED_PER_CELL * int(kw["n_cells"]) if mode == "one_photon" and isinstance(
                kw["n_cells"], (int, np.integer)) and kw["n_cells"] > 0 else 0)
    kw["n_out_of_focus"] = _check_int("n_out_of_focus", kw["n_out_of_focus"], 0)
    _check_positive("out_of_focus_brightness", kw["out_of_focus_brightness"])
    if kw["ar_order"] not in (1, 2) or isinstance(kw["ar_order"], bool):
        raise ValueError(f"ar_order must be 1 or 2, got {kw['ar_order']!r}.")
    for name in ("frame_rate", "decay_time", "rise_time", "brightness", "gain", "neurite_width"):
        _check_positive(name, kw[name])
    for name in (
        "spike_rate",
        "spike_amplitude",
        "background_brightness",
        "read_noise",
        "offset",
        "max_shift",
        "nonrigid_amplitude",
        "branch_noise",
        "cell_blur",
    ):
        _check_positive(name, kw[name], allow_zero=True)
    for name in ("overlap_fraction", "nucleus_fraction", "soma_irregularity"):
        _check_positive(name, kw[name], allow_zero=True)
        if kw[name] > 1:
            raise ValueError(f"{name} must be in [0, 1], got {kw[name]!r}.")
    _check_positive("bleaching", kw["bleaching"], allow_zero=True)
    if not kw["bleaching"] < 1:
        raise ValueError(f"bleaching must be in [0, 1), got {kw['bleaching']!r}.")
    if kw["ar_order"] == 2 and not kw["rise_time"] < kw["decay_time"]:
        raise ValueError(
            f"rise_time must be smaller than decay_time ({kw['decay_time']!r}), "
            f"got {kw['rise_time']!r}."
        )
    radius = kw["cell_radius"]
    try:
        lo, hi = (float(radius[0]), float(radius[1]))
    except (TypeError, ValueError, IndexError):
        lo, hi = -1.0, -1.0
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise ValueError(
            f"cell_radius must be (min, max) semi-axes with 0 < min <= max, got {radius!r}."
        )
    kw["cell_radius"] = (lo, hi)
    if min(kw["shape"]) < 2 * (hi + 2 * kw["cell_blur"] + 3) + 2 and kw["n_cells"]:
        raise ValueError(
            f"shape {kw['shape']} is too small for cell_radius up to {hi!r}; "
            "use a larger shape or smaller cells."
        )
    if kw["photon_noise"] not in _PHOTON_NOISE:
        raise ValueError(
            f'photon_noise must be "gaussian", "poisson" or "none", got {kw["photon_noise"]!r}.'
        )
    if kw["dtype"] not in _DTYPES:
        raise ValueError(f'dtype must be "uint16" or "float32", got {kw["dtype"]!r}.')
    for name in ("motion", "nonrigid"):
        kw[name] = bool(kw[name])
    for name in (
        "frame_rate",
        "decay_time",
        "rise_time",
        "spike_rate",
        "spike_amplitude",
        "brightness",
        "background_brightness",
        "read_noise",
        "gain",
        "offset",
        "max_shift",
        "nonrigid_amplitude",
        "bleaching",
        "branch_noise",
        "neurite_width",
        "overlap_fraction",
        "nucleus_fraction",
        "cell_blur",
        "soma_irregularity",
        "out_of_focus_brightness",
    ):
        kw[name] = float(kw[name])
    return kw
