"""The parameters of the skeleton stage: :class:`SkeletonParams`.

One frozen, validated dataclass; every field carries its help text, its pipeline
step (1-8, see :mod:`napari_amnesia.core.skeleton`) and the pyAMNESIA concept it
maps to, so the napari dock, the CLI and configuration files share one object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..params import StageParams

__all__ = ["SkeletonParams", "SOMA_RADIUS_DEFAULT"]

#: Default ``SkeletonParams.soma_radius`` (pixels), chosen by measurement (docs/skeleton.md).
SOMA_RADIUS_DEFAULT = 4.0


def _p(default: Any, help: str, step: int, pyamnesia: str = "", **extra: Any) -> Any:
    return field(
        default=default, metadata={"help": help, "step": step, "pyamnesia": pyamnesia, **extra}
    )


@dataclass(frozen=True)
class SkeletonParams(StageParams):
    """Parameters of the skeleton pipeline (one frozen, validated object).

    Every field carries ``metadata["help"]`` (the tooltip of the napari widget),
    ``metadata["step"]`` (pipeline step 1-8) and ``metadata["pyamnesia"]`` (the
    pyAMNESIA / scikit-image concept it maps to). Lengths and sizes are in
    pixels, times in frames.

    Attributes
    ----------
    denoise_sigma_time : float
        Step 1. Standard deviation in frames of the temporal part of the 3-D
        Gaussian denoising (0: none). No effect on the ``"mean"`` summary (see
        the module notes).
    denoise_sigma_space : float
        Step 1. Standard deviation in pixels of the spatial part of the 3-D
        Gaussian denoising (0: none).
    summary : {"mean", "max", "std", "correlation"}
        Step 2. Summary image of the denoised sequence.
    chunk_frames : int or None
        Step 2. Frames read at a time (None: automatic, about 128 MB).
    normalize_percentiles : (float, float)
        Step 3. The summary is clipped to these percentiles and scaled to [0, 1]
        before equalization (a hot pixel does not squeeze the histogram).
    equalization : {"clahe", "global", "none"}
        Step 3. Histogram equalization: contrast-limited adaptive (CLAHE),
        global, or none.
    clahe_kernel_size : int or None
        Step 3. CLAHE tile size in pixels (None: 1/8 of the image, at least
        32 px or the image).
    clahe_clip_limit : float
        Step 3. CLAHE clip limit in (0, 1]; higher = more contrast.
    smooth_sigma : float
        Step 4. Gaussian smoothing of the equalized image in pixels (0: none).
    threshold_method : {"gaussian", "mean", "median"}
        Step 5. How the local threshold weights the neighbourhood.
    threshold_block_size : int
        Step 5. Odd size in pixels of the neighbourhood of the local threshold.
    threshold_offset : float
        Step 5. A pixel belongs to the structure when it exceeds its
        neighbourhood's (weighted) mean by more than this, in units of the
        equalized image (0-1). scikit-image's ``threshold_local(offset=...)``
        is its negative.
    closing_radius : int
        Step 5. Radius of the disk of the binary closing (0: none).
    holes_max_size : int
        Step 5. Holes of at most this many pixels are filled.
    objects_min_size : int
        Step 5. Objects of fewer pixels are removed.
    soma_radius : float
        Step 6. Somata: the parts of the binary structure whose distance to the
        background reaches this radius, grown back by it (a morphological
        opening with a disk). Each becomes one node of the graph (0: off).
    skeleton_method : {"lee", "zhang"}
        Step 6. Thinning algorithm.
    min_branch_length : float
        Step 7. Terminal (junction-endpoint) branches shorter than this are pruned.
    prune_iterations : int
        Step 7. At most this many pruning rounds (0: no pruning).
    min_component_length : int
        Step 7. Skeleton pieces of fewer pixels are removed.
    junction_merge_distance : float
        Step 8. Junction-junction branches at most this long are contracted into
        one junction.
    refine_junctions : bool
        Step 8. Place each junction at the least-squares meeting point of straight
        lines fitted to its branches (see :func:`skeleton_graph`).
    junction_fit_range : (float, float)
        Step 8. Distances along each branch from the junction, in pixels, of the
        part fitted with a line.
    """

    _tuple_fields = ("normalize_percentiles", "junction_fit_range")

    #: what a user sets for their data (the dock's main section): plain label, units
    ESSENTIALS = {
        "summary": ("summary image", ""), "threshold_block_size": ("threshold window", "px"),
        "threshold_offset": ("threshold offset", ""),
        "objects_min_size": ("smallest object", "pixels"), "soma_radius": ("soma radius", "px"),
        "min_branch_length": ("shortest branch", "px"),
    }

    denoise_sigma_time: float = _p(
        1.0, "Step 1 - standard deviation, in frames, of the temporal part of the 3-D "
        "Gaussian denoising of the sequence (0 = none). It does not change a 'mean' "
        "summary image (the mean of a time-smoothed movie is the mean).", 1,
        "3-D Gaussian denoising sigma (time)",
    )
    denoise_sigma_space: float = _p(
        1.0, "Step 1 - standard deviation, in pixels, of the spatial part of the 3-D "
        "Gaussian denoising of the sequence (0 = none). Raise it for noisy movies; "
        "keep it below the neurite width to keep close branches apart.", 1,
        "3-D Gaussian denoising sigma (space)",
    )
    summary: str = _p(
        "mean", "Step 2 - image summarizing the denoised sequence: temporal 'mean' "
        "(default, the stable morphology), 'max' (structures active at least once), "
        "'std' (active structures) or local 'correlation' (pixels that co-vary with "
        "their neighbours).", 2, "summary (mean) image of the sequence",
        choices=("mean", "max", "std", "correlation"),
    )
    chunk_frames: int | None = _p(
        None, "Step 2 - frames read at a time while streaming over the movie "
        "(empty = automatic). Only memory and speed depend on it.", 2, "",
    )
    normalize_percentiles: tuple[float, float] = _p(
        (0.1, 99.9), "Step 3 - the summary image is clipped to these low and high "
        "percentiles and scaled to 0-1 before equalization, so that a few hot pixels "
        "do not compress the histogram.", 3, "",
    )
    equalization: str = _p(
        "clahe", "Step 3 - histogram equalization so that bright somata do not dominate "
        "dim neurites: 'clahe' (contrast-limited adaptive, per tile), 'global', or "
        "'none'.", 3, "histogram equalization (skimage equalize_adapthist / equalize_hist)",
        choices=("clahe", "global", "none"),
    )
    clahe_kernel_size: int | None = _p(
        None, "Step 3 - CLAHE tile size in pixels (empty = 1/8 of the image, at least "
        "32 px). Smaller tiles equalize more locally, and amplify the noise between "
        "structures more.", 3, "skimage equalize_adapthist kernel_size",
    )
    clahe_clip_limit: float = _p(
        0.01, "Step 3 - CLAHE clip limit (0-1]: higher values give more contrast and "
        "more amplified noise.", 3, "skimage equalize_adapthist clip_limit",
    )
    smooth_sigma: float = _p(
        1.0, "Step 4 - standard deviation, in pixels, of the Gaussian smoothing of the "
        "equalized image before thresholding (0 = none).", 4, "Gaussian smoothing sigma",
    )
    threshold_method: str = _p(
        "gaussian", "Step 5 - weighting of the neighbourhood in the local threshold: "
        "'gaussian', 'mean' (uniform) or 'median'.", 5,
        "skimage threshold_local method", choices=("gaussian", "mean", "median"),
    )
    threshold_block_size: int = _p(
        21, "Step 5 - odd size, in pixels, of the neighbourhood the local threshold is "
        "computed over. Take a few times the neurite width; larger blocks follow "
        "slow background changes less.", 5, "adaptive threshold block size",
    )
    threshold_offset: float = _p(
        0.08, "Step 5 - a pixel belongs to the structure when it is brighter than its "
        "neighbourhood's mean by more than this (in units of the equalized 0-1 image). "
        "Raise it to drop background noise, lower it to keep faint neurites. "
        "scikit-image's threshold_local offset is minus this value.", 5,
        "adaptive threshold offset (sign flipped)",
    )
    closing_radius: int = _p(
        1, "Step 5 - radius, in pixels, of the disk used to close small gaps in the "
        "binary structure (0 = none).", 5, "binary closing",
    )
    holes_max_size: int = _p(
        20, "Step 5 - holes of at most this many pixels inside the binary structure are "
        "filled (they would become small loops in the skeleton).", 5,
        "remove small holes (holes max size)",
    )
    objects_min_size: int = _p(
        50, "Step 5 - connected objects of fewer pixels are removed from the binary "
        "structure (noise specks).", 5, "remove small objects (objects min size)",
    )
    soma_radius: float = _p(
        SOMA_RADIUS_DEFAULT, "Step 6 - somata are the parts of the binary structure at least this "
        "many pixels from the background (a disk of this radius fits inside), grown back "
        "by the radius. Each soma becomes one node of the skeleton: its own tangle of "
        "skeleton pixels is replaced by straight segments from its centre to the neurites "
        "that leave it, so branches end at the soma. Take it above half the widest "
        "neurite (junctions included) and below the soma radius; 0 = off.", 6,
        "(none in pyAMNESIA: soma masking)",
    )
    skeleton_method: str = _p(
        "lee", "Step 6 - thinning algorithm: 'lee' (Lee et al. 1994, fewer spurs) or "
        "'zhang' (Zhang & Suen 1984).", 6, "skimage skeletonize method",
        choices=("lee", "zhang"),
    )
    min_branch_length: float = _p(
        6.0, "Step 7 - terminal branches (junction to free end) shorter than this many "
        "pixels are pruned, repeatedly; these spurs come from the outline of the "
        "binary structure, not from neurites.", 7, "minimum branch length (pruning)",
    )
    prune_iterations: int = _p(
        10, "Step 7 - at most this many pruning rounds (0 = no pruning); pruning a spur "
        "can expose new short terminal branches.", 7, "",
    )
    min_component_length: int = _p(
        12, "Step 7 - skeleton pieces of fewer pixels (about their length in pixels) are "
        "removed. The default, twice the pruning length, keeps the short neurite pieces "
        "of small or faint crops.", 7, "remove small skeleton components",
    )
    junction_merge_distance: float = _p(
        2.0, "Step 8 - junction-to-junction branches at most this long (pixels) are "
        "contracted, so that a junction drawn with several adjacent pixels counts "
        "once.", 8, "",
    )
    refine_junctions: bool = _p(
        True, "Step 8 - place each junction where the straight extensions of its "
        "branches meet (least squares), instead of at the skeleton pixel: the skeleton "
        "of a thick Y meets off the true branching point, towards the acute angle.", 8, "",
    )
    junction_fit_range: tuple[float, float] = _p(
        (2.0, 10.0), "Step 8 - the part of each branch, as distances in pixels along it "
        "from the junction, that is fitted with a straight line to refine the junction.",
        8, "",
    )

    def __post_init__(self) -> None:
        """Validate every field; normalize numbers, choices and tuples in place."""

        def bad(name: str, expected: str) -> ValueError:
            return ValueError(
                f"SkeletonParams.{name} should be {expected}, got {getattr(self, name)!r}."
            )

        def number(name: str, *, positive: bool = False, minimum: float = 0.0) -> None:
            v = getattr(self, name)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)) \
                    or not math.isfinite(float(v)) or float(v) < minimum \
                    or (positive and float(v) <= 0):
                raise bad(name, f"a finite number {'> 0' if positive else f'>= {minimum:g}'}")
            object.__setattr__(self, name, float(v))

        def integer(name: str, minimum: int, *, optional: bool = False) -> None:
            v = getattr(self, name)
            if optional and v is None:
                return
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) \
                    or int(v) < minimum:
                raise bad(name, ("None or " if optional else "") + f"an integer >= {minimum}")
            object.__setattr__(self, name, int(v))

        def choice(name: str) -> None:
            options = self.field_info(name)["choices"]
            v = getattr(self, name)
            if not isinstance(v, str) or v.lower() not in options:
                raise bad(name, "one of " + ", ".join(repr(o) for o in options))
            object.__setattr__(self, name, v.lower())

        for name in ("denoise_sigma_time", "denoise_sigma_space", "smooth_sigma",
                     "min_branch_length", "junction_merge_distance", "soma_radius"):
            number(name)
        v = self.threshold_offset
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)) \
                or not math.isfinite(float(v)) or not -1 <= float(v) <= 1:
            raise bad("threshold_offset", "a number in [-1, 1]")
        object.__setattr__(self, "threshold_offset", float(v))
        number("clahe_clip_limit", positive=True)
        if self.clahe_clip_limit > 1:
            raise bad("clahe_clip_limit", "a number in (0, 1]")
        for name in ("summary", "equalization", "threshold_method", "skeleton_method"):
            choice(name)
        integer("chunk_frames", 1, optional=True)
        integer("clahe_kernel_size", 2, optional=True)
        integer("threshold_block_size", 3)
        if self.threshold_block_size % 2 == 0:
            raise bad("threshold_block_size", "an odd integer >= 3")
        for name in ("closing_radius", "holes_max_size", "objects_min_size",
                     "prune_iterations", "min_component_length"):
            integer(name, 0)
        if not isinstance(self.refine_junctions, (bool, np.bool_)):
            raise bad("refine_junctions", "True or False")
        object.__setattr__(self, "refine_junctions", bool(self.refine_junctions))
        try:
            f0, f1 = (float(x) for x in self.junction_fit_range)
        except (TypeError, ValueError):
            raise bad("junction_fit_range", "two distances (start, stop) in pixels") from None
        if not (0 <= f0 < f1 and math.isfinite(f1)):
            raise bad("junction_fit_range", "two distances with 0 <= start < stop")
        object.__setattr__(self, "junction_fit_range", (f0, f1))
        pct = self.normalize_percentiles
        try:
            lo, hi = (float(x) for x in pct)
        except (TypeError, ValueError):
            raise bad("normalize_percentiles", "two percentiles (low, high)") from None
        if not (0 <= lo < hi <= 100):
            raise bad("normalize_percentiles", "two percentiles with 0 <= low < high <= 100")
        object.__setattr__(self, "normalize_percentiles", (lo, hi))


