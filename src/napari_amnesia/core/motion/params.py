"""Parameters of motion correction: one frozen dataclass with CaImAn's names.

:class:`MotionParams` is the single object shared by the library, the command line, the
napari widget, JSON files and the provenance of a :class:`~.result.MotionResult`.
Parameter names are CaImAn's (``max_shifts``, ``strides``, ``overlaps``,
``max_deviation_rigid``, ``pw_rigid``, ``upsample_factor_grid``, ``border_nan``,
``gSig_filt``, ``niter_rig``, ``num_frames_split``) with the same meaning, so settings
carry over; a few come from suite2p (``smooth_sigma``, ``nimg_init``
as ``template_frames``) and a few are new (``highpass_sigma``, ``scan_phase``).

Mapping to CaImAn and suite2p
-----------------------------
===========================  ==============================  ===========================
napari-amnesia               CaImAn ``MotionCorrect``        suite2p ``ops``
===========================  ==============================  ===========================
``max_shifts``               ``max_shifts``                  ``maxregshift`` (fraction)
``pw_rigid``                 ``pw_rigid``                    ``nonrigid``
``strides`` + ``overlaps``   ``strides``, ``overlaps``       ``block_size``
``max_deviation_rigid``      ``max_deviation_rigid``         ``maxregshiftNR``
``upsample_factor``          (fixed 10 in ``register_tr..``) ``subpixel``
``upsample_factor_grid``     ``upsample_factor_grid``        (bilinear upsampling)
``border_nan``               ``border_nan``                  (``roll``: wraps around)
``gSig_filt``                ``gSig_filt``                   ``spatial_hp_reg``
``phase_correlation``        (never)                         (always)
``smooth_sigma``             (none)                          ``smooth_sigma``
``min_patch_corr``           (none)                          ``snr_thresh`` (similar)
``min_shift_support``        (none)                          (none; ``snr_thresh`` for blocks)
``niter_rig``, ``niter_els`` ``niter_rig``, ``niter_els``    (fixed 8 iterations)
``template_frames``          (``movie[::subsample]``)        ``nimg_init``
``num_frames_split``         ``num_frames_split``            ``batch_size``
``scan_phase``               (none)                          ``do_bidiphase``/``bidiphase``
===========================  ==============================  ===========================
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..params import StageParams

__all__ = ["MotionParams", "BORDER_MODES", "resolve_params"]

#: Values of ``border_nan`` (booleans are accepted too: True is "nan", False is "copy").
BORDER_MODES = ("nan", "copy", "min", "zero")


def _pair(name: str, value: Any, *, minimum: float, integer: bool = True) -> tuple:
    """Validate a scalar-or-pair option and return it as a 2-tuple."""
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{name} should be a number or a pair of numbers, got {value!r}.")
    if isinstance(value, Sequence) or hasattr(value, "__len__"):
        items = list(value)
        if len(items) != 2:
            raise ValueError(f"{name} should be a number or a pair (rows, columns), got {value!r}.")
    else:
        items = [value, value]
    out = []
    for v in items:
        if isinstance(v, bool):
            raise ValueError(f"{name} should be numeric, got {value!r}.")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name} should be numeric, got {value!r}.") from None
        if not math.isfinite(f) or f < minimum:
            raise ValueError(f"{name} should be >= {minimum}, got {value!r}.")
        if integer:
            if f != int(f):
                raise ValueError(f"{name} should be whole numbers of pixels, got {value!r}.")
            out.append(int(f))
        else:
            out.append(f)
    return tuple(out)


def _number(name: str, value: Any, *, minimum: float, integer: bool = False,
            strict: bool = False, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} should be a number, got {value!r}.")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} should be a number, got {value!r}.") from None
    if not math.isfinite(f) or f < minimum or (strict and f == minimum):
        op = ">" if strict else ">="
        raise ValueError(f"{name} should be {op} {minimum}, got {value!r}.")
    if integer:
        if f != int(f):
            raise ValueError(f"{name} should be a whole number, got {value!r}.")
        return int(f)
    return f


@dataclass(frozen=True)
class MotionParams(StageParams):
    """Parameters of rigid and piecewise-rigid motion correction.

    All lengths are in pixels, pairs are ``(rows, columns)``; a single number stands
    for both. Values are checked on construction (a ``ValueError`` names the bad
    parameter and value); checks that need the frame shape happen in
    :meth:`check_shape`, called by :func:`~napari_amnesia.core.motion.correct`.

    Parameters
    ----------
    max_shifts : int or (int, int)
        Largest rigid displacement searched, relative to the template (CaImAn
        ``max_shifts``, whose default is 6). The default 10 leaves room for motion
        of ±6 px around a template that is itself a pixel or two off-centre; the
        search cost barely depends on it.
    pw_rigid : bool
        Piecewise-rigid correction (NoRMCorre [1]_) on top of the rigid one.
    strides : int or (int, int)
        Distance between the starts of two patches (CaImAn ``strides``); a patch is
        ``strides + overlaps`` pixels wide. There are as many patches as in CaImAn's
        layout, spread evenly (so the starts are at most ``strides`` apart). The
        default grid adapts to frames smaller than about 192 px (strides 48, 40 or
        32, or rigid correction when no two patches fit; the result's ``messages``
        say so); a grid set by hand is used as given.
    overlaps : int or (int, int)
        Overlap of neighbouring patches (CaImAn ``overlaps``); must be < ``strides``.
    max_deviation_rigid : int
        Largest difference between a patch shift and the rigid shift of the frame.
    upsample_factor_grid : int
        Accepted for compatibility with CaImAn (which upsamples the patch-shift grid
        by this factor before warping, to soften patch seams). napari-amnesia always
        interpolates the patch shifts to a smooth per-pixel field (cubic spline
        through the patch centres), CaImAn's limit of a large factor; the value is
        validated (>= 1) and recorded, and does not change the result.
    upsample_factor : int
        Subpixel resolution of the shift search: the correlation peak is located on a
        grid of ``1 / upsample_factor`` px by an upsampled DFT (Guizar-Sicairos et al.
        [2]_), then refined by a parabola through the best grid point (>= 1).
    border_nan : {"copy", "nan", "min", "zero"} or bool
        Value of the pixels whose content moved in from outside the field of view:
        the nearest pixel inside ("copy"), NaN, the frame minimum, or 0. No mode
        wraps the opposite border around. True means "nan" and False "copy" (as in
        CaImAn, where False leaves the interpolated edge).
    gSig_filt : float or None
        One-photon setting (CaImAn ``gSig_filt``, roughly half a cell diameter): when
        given, the shift search uses a band-pass at the cell scale (``smooth_sigma =
        gSig_filt / 2``, ``highpass_sigma = 2 * gSig_filt``) instead of the two
        sigmas below.
    smooth_sigma : float
        Gaussian low-pass (px) applied to frames and template before they are
        correlated (suppresses pixel noise; suite2p ``smooth_sigma``). 0 disables it.
    highpass_sigma : float or None
        Scale (px) of the Gaussian high-pass applied before correlating: structures
        larger than it (neuropil, one-photon background, vignetting) are removed, so
        a strong smooth background cannot pull patch shifts towards zero. None
        disables it (not recommended).
    phase_correlation : bool
        Whiten the cross-power spectrum (phase correlation, as suite2p) instead of
        the band-passed cross-correlation. Can help low-contrast data; the default
        (False) was more accurate on every simulated movie (see the benchmark).
    min_patch_corr : float
        Piecewise rigid: a patch whose normalised correlation with the template at
        its best shift is below this value, or whose shift sits on the
        ``max_deviation_rigid`` bound, is low-confidence (so is a patch whose
        band-passed template has less than a quarter of the median patch's
        contrast, e.g. an empty region); it gets no weight in the fit of the patch
        field and takes the smooth continuation of the confident patches (the rigid
        shift when there are none), the role of suite2p's SNR-adaptive smoothing of
        correlation maps (``snr_thresh``). With ``phase_correlation`` the
        confidence is the peak's excess over the best value 2 px away.
    min_shift_support : float
        A frame's rigid shift is kept only when the correlation with the template at
        that shift beats the best correlation at any displacement 3 px or more away
        (zero shift among them, unless the shift is smaller than that) by at least
        this many standard deviations of the frame's pixel noise. A rejected shift
        (a frame without usable structure: a dropped or saturated frame, a flash,
        pure noise) is replaced by linear interpolation between the kept shifts of
        the nearest frames, piecewise shifts included; ``result.rejected_frames``
        lists those frames. On simulated movies every planted displacement scored
        above 11 and frames of pure noise below 2 (see the tests). 0 keeps every
        shift. Not applied with ``phase_correlation`` (whitened maps have no such
        noise model). The role of suite2p's ``snr_thresh`` for blocks and
        NoRMCorre's ``max_deviation_rigid`` for patches, for whole frames.
    template_frames : int
        Frames sampled (in contiguous blocks spread over the movie) to build the
        template (suite2p ``nimg_init``).
    niter_rig : int
        Template refinements by rigid registration of the sampled frames.
    niter_els : int
        Additional piecewise-rigid template refinements when ``pw_rigid``.
    num_frames_split : int or None
        Frames per processing chunk (dask task). None picks about 32 MB of float32.
    scan_phase : None, "auto" or float
        Bidirectional (resonant) scanning correction: None (off), "auto" (estimate
        the odd/even line offset from the sampled frames), or a known offset in px
        (odd rows' content displaced by this much along columns relative to even
        rows).
    interpolation : {"cubic", "linear"}
        Interpolation used to apply the shifts.

    References
    ----------
    .. [1] Pnevmatikakis, E. A. & Giovannucci, A. (2017). NoRMCorre: an online
       algorithm for piecewise rigid motion correction of calcium imaging data.
       J. Neurosci. Methods 291, 83-94.
    .. [2] Guizar-Sicairos, M., Thurman, S. T. & Fienup, J. R. (2008). Efficient
       subpixel image registration algorithms. Opt. Lett. 33, 156-158.
    .. [3] Pachitariu, M. et al. (2017). Suite2p: beyond 10,000 neurons with
       standard two-photon microscopy. bioRxiv 061507 (registration).

    Examples
    --------
    >>> p = MotionParams(max_shifts=10, pw_rigid=True)
    >>> p.max_shifts, p.strides
    ((10, 10), (64, 64))
    >>> p.replace(strides=64).strides
    (64, 64)
    >>> MotionParams.from_dict(p.to_dict()) == p
    True
    """

    #: what a user sets for their data (the dock's main section): plain label, units
    ESSENTIALS = {
        "max_shifts": ("largest shift", "px"), "pw_rigid": ("piecewise rigid", ""),
        "strides": ("patch spacing", "px"), "overlaps": ("patch overlap", "px"),
        "gSig_filt": ("one-photon filter width", "px"),
    }

    max_shifts: tuple[int, int] = (10, 10)
    pw_rigid: bool = False
    strides: tuple[int, int] = (64, 64)
    overlaps: tuple[int, int] = (32, 32)
    max_deviation_rigid: int = 3
    upsample_factor_grid: int = 4
    upsample_factor: int = 10
    border_nan: str = "copy"
    gSig_filt: float | None = None  # noqa: N815 - CaImAn's name
    smooth_sigma: float = 1.0
    highpass_sigma: float | None = 6.0
    phase_correlation: bool = False
    min_patch_corr: float = 0.2
    min_shift_support: float = 3.0
    template_frames: int = 300
    niter_rig: int = 2
    niter_els: int = 1
    num_frames_split: int | None = None
    scan_phase: Any = None
    interpolation: str = "cubic"

    def __post_init__(self) -> None:
        """Check and normalise every value (a ValueError names the parameter)."""
        s = object.__setattr__
        s(self, "max_shifts", _pair("max_shifts", self.max_shifts, minimum=0))
        s(self, "strides", _pair("strides", self.strides, minimum=1))
        s(self, "overlaps", _pair("overlaps", self.overlaps, minimum=0))
        for ax in range(2):
            if self.overlaps[ax] >= self.strides[ax]:
                raise ValueError(
                    f"overlaps must be smaller than strides, got overlaps={self.overlaps} "
                    f"and strides={self.strides}."
                )
        s(self, "max_deviation_rigid",
          _number("max_deviation_rigid", self.max_deviation_rigid, minimum=0, integer=True))
        s(self, "upsample_factor_grid",
          _number("upsample_factor_grid", self.upsample_factor_grid, minimum=1, integer=True))
        s(self, "upsample_factor",
          _number("upsample_factor", self.upsample_factor, minimum=1, integer=True))
        if self.upsample_factor > 1000:
            raise ValueError(f"upsample_factor should be <= 1000, got {self.upsample_factor}.")
        border = self.border_nan
        if isinstance(border, bool):
            border = "nan" if border else "copy"
        if border not in BORDER_MODES:
            raise ValueError(
                f'border_nan should be one of "nan", "copy", "min", "zero" (or a bool), '
                f"got {self.border_nan!r}."
            )
        s(self, "border_nan", border)
        g = self.gSig_filt
        if g is not None:
            if isinstance(g, Sequence) and not isinstance(g, str):
                vals = _pair("gSig_filt", g, minimum=0, integer=False)
                g = max(vals)
            g = _number("gSig_filt", g, minimum=0, strict=True)
        s(self, "gSig_filt", g)
        s(self, "smooth_sigma", _number("smooth_sigma", self.smooth_sigma, minimum=0))
        s(self, "highpass_sigma",
          _number("highpass_sigma", self.highpass_sigma, minimum=0, strict=True, optional=True))
        for name in ("pw_rigid", "phase_correlation"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} should be True or False, got {getattr(self, name)!r}.")
        s(self, "min_patch_corr", _number("min_patch_corr", self.min_patch_corr, minimum=0))
        s(self, "min_shift_support",
          _number("min_shift_support", self.min_shift_support, minimum=0))
        s(self, "template_frames",
          _number("template_frames", self.template_frames, minimum=1, integer=True))
        s(self, "niter_rig", _number("niter_rig", self.niter_rig, minimum=0, integer=True))
        s(self, "niter_els", _number("niter_els", self.niter_els, minimum=0, integer=True))
        s(self, "num_frames_split", _number("num_frames_split", self.num_frames_split,
                                            minimum=1, integer=True, optional=True))
        phase = self.scan_phase
        if phase is not None and phase is not False and phase != "auto":
            try:
                phase = _number("scan_phase", phase, minimum=-math.inf)
            except ValueError:
                raise ValueError(
                    f'scan_phase should be None, "auto" or a number of pixels, got {phase!r}.'
                ) from None
            if abs(phase) > 32:
                raise ValueError(f"scan_phase should be within ±32 px, got {phase!r}.")
        if phase is False:
            phase = None
        s(self, "scan_phase", phase)
        if self.interpolation not in ("cubic", "linear"):
            raise ValueError(
                f'interpolation should be "cubic" or "linear", got {self.interpolation!r}.'
            )

    # -- derived values -----------------------------------------------------------------

    @property
    def filter_sigmas(self) -> tuple[float, float | None]:
        """``(smooth_sigma, highpass_sigma)`` actually used (``gSig_filt`` resolved)."""
        if self.gSig_filt is not None:
            return self.gSig_filt / 2.0, 2.0 * self.gSig_filt
        return self.smooth_sigma, self.highpass_sigma

    def check_shape(self, frame_shape: Sequence[int]) -> None:
        """Check the parameters against a frame shape ``(Y, X)``.

        Raises
        ------
        ValueError
            If ``max_shifts`` (with ``max_deviation_rigid`` when ``pw_rigid``) leaves
            no part of the frame to compare, or a patch (``strides + overlaps``) set
            by hand is larger than the frame. The default patch grid is not checked:
            it adapts to small frames (see
            :func:`~napari_amnesia.core.motion._register.plan_patches`).
        """
        Y, X = (int(n) for n in frame_shape)
        # the default patch grid adapts to small frames (see _register.plan_patches);
        # strides and overlaps set by hand are used as given, so they must fit
        default_grid = (self.strides, self.overlaps) == ((64, 64), (32, 32))
        for ax, (n, name) in enumerate(((Y, "rows"), (X, "columns"))):
            ms = self.max_shifts[ax]
            if 2 * ms + 4 > n:
                raise ValueError(
                    f"max_shifts={self.max_shifts} is too large for frames of {Y}x{X} "
                    f"pixels ({n} {name}: at most {(n - 4) // 2})."
                )
            if self.pw_rigid and not default_grid:
                if self.strides[ax] > n:
                    raise ValueError(
                        f"strides={self.strides} is larger than the frame ({Y}x{X})."
                    )
                if self.strides[ax] + self.overlaps[ax] > n:
                    raise ValueError(
                        f"a patch (strides + overlaps = "
                        f"{self.strides[ax] + self.overlaps[ax]} {name}) is larger than "
                        f"the frame ({Y}x{X}); reduce strides={self.strides} or "
                        f"overlaps={self.overlaps}."
                    )
            if self.pw_rigid:
                if 2 * (ms + self.max_deviation_rigid) + 8 > n:
                    raise ValueError(
                        f"max_shifts={self.max_shifts} with max_deviation_rigid="
                        f"{self.max_deviation_rigid} is too large for frames of {Y}x{X}."
                    )

    # -- conversions --------------------------------------------------------------------

    def to_json(self) -> str:
        """Return the parameters as a JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> MotionParams:
        """Parameters from :meth:`to_json`'s text."""
        return cls.from_dict(json.loads(text))


def resolve_params(params: MotionParams | Mapping[str, Any] | None,
                   overrides: Mapping[str, Any]) -> MotionParams:
    """``params`` (a MotionParams, a dict or None) with keyword ``overrides`` applied."""
    return MotionParams.resolve(params, overrides)
