"""Parameters of the summary images: one frozen dataclass, checked on construction.

:class:`SummaryParams` is the object shared by :func:`~.compute.summary_images`,
the command line, the dock, JSON files and :attr:`~.result.SummaryImages.params`.
Names keep CaImAn's meanings (``gsig`` is CaImAn's ``gSig``, also accepted under
that name by the functions; ``bin_size`` that of ``max_correlation_image``;
``noise_range`` and ``noise_max_frames`` those of ``get_noise_fft``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..params import StageParams

__all__ = ["SummaryParams", "check_movie"]


def _help(text: str, **more: Any) -> dict[str, Any]:
    return {"help": " ".join(text.split()), **more}


@dataclass(frozen=True)
class SummaryParams(StageParams):
    """Parameters of the summary images (mean, max, std, correlation, PNR...).

    Values are checked on construction: a ``ValueError`` names the parameter and the
    bad value. The help text of each field (``SummaryParams.describe()``) is what the
    command line and the dock show.

    Parameters
    ----------
    eight_neighbours : bool
        Correlate each pixel with its 8 neighbours (True) or 4 (False).
    gsig : float or (float, float) or None
        Width of the one-photon spatial filter applied before PNR (CaImAn's ``gSig``);
        None: no filtering. A pair ``(rows, columns)`` whose two values are equal is
        stored as one number.
    center_psf : bool
        Centred (mean-subtracted, disk-supported) Gaussian kernel, or a plain blur.
    bin_size : int
        Frames per time bin of the max-correlation image.
    chunk_frames : int or None
        Frames read at a time (None: about 256 MB of float32).
    nan_policy : {"raise"}
        What NaN or infinite values do.
    noise_frames : int or None
        Segment length of the Welch noise estimate (None: 256, fewer for large frames).
    noise_range : (float, float)
        Frequency band (fractions of the frame rate) of the noise power.
    corr_pnr_threshold : float
        Threshold of ``(filtered - mean) / noise`` before ``corr_pnr``.
    noise_max_frames : int
        At most this many frames enter the noise estimate.

    Examples
    --------
    >>> p = SummaryParams(gsig=3)
    >>> p.gsig, p.gsig_pair, p.bin_size
    (3.0, (3.0, 3.0), 1000)
    >>> SummaryParams.from_dict(p.to_dict()) == p
    True
    """

    #: what a user sets for their data (the dock's main section): plain label, units
    ESSENTIALS = {
        "eight_neighbours": ("8 neighbours", ""),
        "gsig": ("one-photon filter width", "px"),
        "bin_size": ("max-correlation bin", "frames"),
    }
    _tuple_fields = ("gsig", "noise_range")

    eight_neighbours: bool = field(default=True, metadata=_help(
        """Local correlation over the 8 surrounding pixels (False: the 4 of a cross), as
        CaImAn's local_correlations; used for corr, corr_pnr and max_corr."""))
    gsig: Any = field(default=None, metadata=_help(
        """One-photon data: Gaussian width (pixels, about a neuron's radius) of the
        spatial filter applied before PNR and its correlation image (CaImAn's gSig),
        which removes the smooth background; kernel size int(2 * gsig) * 2 + 1. None: no
        filtering (two-photon data; CaImAn's default; faster)."""))
    center_psf: bool = field(default=True, metadata=_help(
        """Subtract from the Gaussian its mean over its central disk support and set it
        to 0 outside (CaImAn's background_filter='disk'); False: a plain Gaussian
        blur."""))
    bin_size: int = field(default=1000, metadata=_help(
        """Length in frames of the time bins of the max-correlation image (CaImAn's
        max_correlation_image, default 1000)."""))
    chunk_frames: int | None = field(default=None, metadata=_help(
        """Frames read at a time. None: about 256 MB of float32 per chunk, a multiple of
        noise_frames. The result does not depend on it beyond floating-point
        rounding."""))
    nan_policy: str = field(default="raise", metadata=_help(
        """'raise': a ValueError naming the number of NaN (and infinite) values and the
        first frame holding one (the only policy implemented here).""",
        choices=("raise",)))
    noise_frames: int | None = field(default=None, metadata=_help(
        """Segment length (frames) of the Welch estimate of the noise spectrum; the first
        segment also gives the provisional mean and noise that threshold corr_pnr. None:
        256 frames, fewer for frames larger than 512 x 512."""))
    noise_range: tuple[float, float] = field(default=(0.25, 0.5), metadata=_help(
        """Frequency band, as fractions of the frame rate, whose mean power is the noise
        variance (CaImAn's noise_range)."""))
    corr_pnr_threshold: float = field(default=3.0, metadata=_help(
        """Values of (filtered - mean) / noise below it are set to 0 before corr_pnr is
        computed (CaImAn uses 3)."""))
    noise_max_frames: int = field(default=3072, metadata=_help(
        """At most this many frames (whole segments, evenly spaced over the movie, the
        first included) enter the noise estimate, as CaImAn's get_noise_fft uses 3072
        frames."""))

    def __post_init__(self) -> None:
        """Check every value (the messages name the parameter and the value)."""
        s = object.__setattr__
        eight_neighbours, center_psf = self.eight_neighbours, self.center_psf
        if not isinstance(eight_neighbours, (bool, np.bool_)):
            raise ValueError(
                f"SummaryParams.eight_neighbours should be True or False, got {eight_neighbours!r}")
        if not isinstance(center_psf, (bool, np.bool_)):
            raise ValueError(f"SummaryParams.center_psf should be True or False,"
                             f" got {center_psf!r}")
        s(self, "eight_neighbours", bool(eight_neighbours))
        s(self, "center_psf", bool(center_psf))
        bin_size = self.bin_size
        if isinstance(bin_size, (bool, np.bool_)) or not isinstance(
                bin_size, (int, np.integer)) or bin_size < 2:
            raise ValueError(f"SummaryParams.bin_size should be an integer >= 2, got {bin_size!r}")
        s(self, "bin_size", int(bin_size))
        chunk_frames = self.chunk_frames
        if chunk_frames is not None and (
            isinstance(chunk_frames, (bool, np.bool_))
            or not isinstance(chunk_frames, (int, np.integer)) or chunk_frames < 1
        ):
            raise ValueError(
                f"SummaryParams.chunk_frames should be None or an integer >= 1,"
                f" got {chunk_frames!r}")
        s(self, "chunk_frames", None if chunk_frames is None else int(chunk_frames))
        noise_frames = self.noise_frames
        if noise_frames is not None and (
            isinstance(noise_frames, (bool, np.bool_))
            or not isinstance(noise_frames, (int, np.integer)) or noise_frames < 8
        ):
            raise ValueError(
                f"SummaryParams.noise_frames should be None or an integer >= 8,"
                f" got {noise_frames!r}")
        s(self, "noise_frames", None if noise_frames is None else int(noise_frames))
        noise_max_frames = self.noise_max_frames
        if isinstance(noise_max_frames, (bool, np.bool_)) or not isinstance(
            noise_max_frames, (int, np.integer)
        ) or noise_max_frames < 1:
            raise ValueError(
                f"SummaryParams.noise_max_frames should be an integer >= 1,"
                f" got {noise_max_frames!r}")
        s(self, "noise_max_frames", int(noise_max_frames))
        if self.nan_policy != "raise":
            raise ValueError(
                f'SummaryParams.nan_policy should be "raise" (the only policy implemented), '
                f"got {self.nan_policy!r}"
            )
        noise_range = self.noise_range
        try:
            lo, hi = (float(v) for v in noise_range)
        except (TypeError, ValueError):
            raise ValueError(
                f"SummaryParams.noise_range should be two frequencies,"
                f" got {noise_range!r}") from None
        if not 0 <= lo < hi <= 0.5:
            raise ValueError(
                f"noise_range should satisfy 0 <= low < high <= 0.5, got {noise_range!r}"
            )
        s(self, "noise_range", (lo, hi))
        threshold = self.corr_pnr_threshold
        if not (isinstance(threshold, (int, float, np.number)) and math.isfinite(threshold)):
            raise ValueError(
                f"SummaryParams.corr_pnr_threshold should be a finite number, got {threshold!r}")
        s(self, "corr_pnr_threshold", float(threshold))
        s(self, "gsig", _check_gsig(self.gsig))

    @property
    def gsig_pair(self) -> tuple[float, float] | None:
        """``gsig`` as ``(rows, columns)`` (None: no spatial filter)."""
        if self.gsig is None:
            return None
        if isinstance(self.gsig, tuple):
            return self.gsig
        return (self.gsig, self.gsig)


def _check_gsig(gsig: Any) -> float | tuple[float, float] | None:
    """``gsig`` checked: None, one float, or a ``(rows, columns)`` pair of floats."""
    if gsig is None:
        return None
    values = list(gsig) if isinstance(gsig, Sequence) and not isinstance(gsig, str) else [gsig]
    if len(values) == 1:
        values = values * 2
    ok = len(values) == 2 and all(
        isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
        and math.isfinite(v) and v > 0 for v in values
    )
    if not ok:
        raise ValueError(
            f"SummaryParams.gsig should be None or a positive number (or a (y, x) pair),"
            f" got {gsig!r}"
        )
    sig = (float(values[0]), float(values[1]))
    return sig if sig[0] != sig[1] else sig[0]


def check_movie(movie: Any) -> None:
    """Raise a ValueError unless ``movie`` is a real ``(T, Y, X)`` array with ``T >= 2``.

    Examples
    --------
    >>> check_movie(np.zeros((1, 4, 4)))
    Traceback (most recent call last):
    ...
    ValueError: movie should have at least 2 frames, got T=1
    """
    shape = getattr(movie, "shape", None)
    if shape is None or len(shape) != 3:
        raise ValueError(
            f"movie should be a 3-D (T, Y, X) array, got shape {shape!r}"
            f" ({type(movie).__name__})"
        )
    if shape[0] < 2:
        raise ValueError(f"movie should have at least 2 frames, got T={shape[0]}")
    if shape[1] < 1 or shape[2] < 1:
        raise ValueError(f"movie frames should not be empty, got shape {tuple(shape)}")
    dtype = np.dtype(getattr(movie, "dtype", np.float64))
    if dtype.kind not in "biuf":
        raise ValueError(f"movie should have a real numeric dtype, got {dtype}")
