"""Parameters of multi-session registration (:class:`RegistrationParams`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..params import StageParams

__all__ = ["RegistrationParams"]


def _p(default: Any, help: str, **more: Any) -> Any:  # noqa: A002 - the metadata key
    return field(default=default, metadata={"help": help, **more})


@dataclass(frozen=True)
class RegistrationParams(StageParams):
    """Parameters of :func:`~napari_amnesia.core.multisession.register` (frozen, checked).

    Lengths are pixels of the sessions' images, angles degrees.

    Examples
    --------
    >>> p = RegistrationParams(max_shift=30)
    >>> p.max_shift, p.max_rotation
    (30.0, 3.0)
    >>> RegistrationParams.from_dict(p.to_dict()) == p
    True
    >>> RegistrationParams(min_probability=2)
    Traceback (most recent call last):
    ...
    ValueError: RegistrationParams.min_probability should be a finite number in (0, 1], got 2.
    """

    #: what a user sets for their data (the dock's main section): plain label, units
    ESSENTIALS = {
        "max_shift": ("largest offset between sessions", "px"),
        "max_rotation": ("largest rotation", "°"),
        "nonrigid": ("non-rigid alignment", ""),
        "max_distance": ("neighbourhood of the matching", "px"),
        "min_probability": ("link footprints above probability", ""),
    }

    # -- alignment
    max_shift: float = _p(
        20.0, "Largest offset between two sessions' fields of view, in pixels (the search "
        "range of the rigid alignment).")
    max_rotation: float = _p(
        3.0, "Largest rotation between two sessions, in degrees (searched in steps of "
        "rotation_step, then refined).")
    rotation_step: float = _p(
        0.5, "Step of the rotation search, in degrees.")
    nonrigid: bool = _p(
        True, "Align the sessions non-rigidly too: a smooth displacement field on a grid "
        "of patches, on top of the rigid alignment.")
    grid_spacing: float = _p(
        64.0, "Spacing of the non-rigid grid in pixels (patches are twice as wide); "
        "smaller follows faster-varying deformation, with less image per patch.")
    max_nonrigid: float = _p(
        8.0, "Largest non-rigid displacement searched in one patch, in pixels.")
    background_size: float = _p(
        10.0, "Scale in pixels of the background removed from the templates before "
        "aligning them (illumination and focus changes): about two cell diameters.")
    min_correlation: float = _p(
        0.2, "Two templates whose best alignment correlates less than this do not overlap "
        "(pairs below it are not used; a session without any pair above it is an error). "
        "Templates of one field correlate 0.5-0.8 once aligned, unrelated ones about 0.1.")
    # -- matching
    max_distance: float = _p(
        15.0, "Neighbourhood of the probabilistic model, in pixels: footprints of two "
        "sessions whose centres are closer than this once aligned are candidate pairs. "
        "Take about two cell diameters: the neighbours inside it teach the model what "
        "two different cells look like.")
    min_probability: float = _p(
        0.5, "Footprints join one track when the mean probability of being one cell over "
        "the pairs they form (the CellReg-like model) is at least this.")
    refine: int = _p(
        2, "Rounds of refinement of the non-rigid alignment with the cells matched so "
        "far (each round aligns every session to the tracks' consensus, then matches "
        "again); 0 keeps the template alignment.")
    accepted_only: bool = _p(
        True, "With results folders: register only the accepted components (the "
        "footprint indices in the output stay those of the result).")

    def __post_init__(self) -> None:
        """Check every value (one error naming the parameter and the value)."""
        self._check_number("max_shift", 0, strict=True)
        self._check_number("max_rotation", 0, 45)
        self._check_number("rotation_step", 0, 10, strict=True)
        self._check_bool("nonrigid")
        self._check_number("grid_spacing", 8)
        self._check_number("max_nonrigid", 0, strict=True)
        self._check_number("background_size", 1)
        self._check_number("min_correlation", 0, 1)
        self._check_number("max_distance", 0, strict=True)
        self._check_number("min_probability", 0, 1, strict=True)
        self._check_integer("refine", 0)
        self._check_bool("accepted_only")
        for name in ("max_shift", "max_rotation", "rotation_step", "grid_spacing",
                     "max_nonrigid", "background_size", "min_correlation",
                     "max_distance", "min_probability"):
            object.__setattr__(self, name, float(getattr(self, name)))
