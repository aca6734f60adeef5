"""pyAMNESIA's morphology: the skeleton of the neurites, its branches and statistics.

The first module of pyAMNESIA [1]_ turns a calcium-imaging sequence into the
morphological skeleton of the imaged neurons. The skeleton is both a result (how
many branches, how long, how they connect: the morphology of developing
interneurons, followed from day to day) and a dimensionality reduction that feeds
the activity analyses (:mod:`napari_amnesia.core.projection`: one trace per
skeleton pixel or per branch).

This is a re-implementation from pyAMNESIA's documentation (its "Skeletonization"
overview and parameter descriptions), not a copy of its code. The pipeline:

1. **Denoising** of the sequence by a 3-D ``(t, y, x)`` Gaussian filter
   (``denoise_sigma_time``, ``denoise_sigma_space``).
2. **Summary image** of the denoised sequence (``summary``: temporal ``"mean"``
   by default, ``"max"``, ``"std"`` or local ``"correlation"``), computed by
   :func:`napari_amnesia.core.summary.summary_images` in one streaming pass.
3. **Histogram equalization** (``equalization``: ``"clahe"``, ``"global"`` or
   ``"none"``) so that bright somata do not dominate the dim neurites (CLAHE
   tiles: 1/8 of the image, at least 32 px, unless ``clahe_kernel_size``).
4. **Gaussian smoothing** of the equalized image (``smooth_sigma``).
5. **Local (adaptive) thresholding** → binary image of the structure
   (``threshold_block_size``, ``threshold_offset``, ``threshold_method``),
   then a closing (``closing_radius``), filling of small holes
   (``holes_max_size``) and removal of small objects (``objects_min_size``).
6. **Skeletonization** (``skeleton_method``: Lee [3]_ or Zhang [4]_) and
   **somata** (``soma_radius``, :func:`find_somata`): the parts of the binary
   structure that hold a disk of that radius, grown back by it (an opening;
   neurites are too thin). Each soma becomes one node: its skeleton pixels are
   removed, the pieces hanging off it shorter than ``min_branch_length`` are
   dropped (outline spurs) and each neurite leaving it is joined to its centre
   by a straight segment, so branches end at the soma and a soma is not a
   junction (it is not listed in ``junctions``).
7. **Cleaning**: terminal branches shorter than ``min_branch_length`` are
   pruned, repeatedly (up to ``prune_iterations`` rounds, as skan users do,
   since pruning a spur can turn its junction into a plain point and expose new
   short spurs), then skeleton pieces smaller than ``min_component_length``
   pixels are removed.
8. **Branch graph** with skan [2]_: one row per branch (id, length, type,
   euclidean length, tortuosity, mean intensity, end coordinates) and totals
   per skeleton. Junctions made of several adjacent pixels (which skan reports
   as junctions joined by 1-pixel branches) are contracted into one junction:
   junction–junction branches no longer than ``junction_merge_distance`` are
   dropped and their end nodes merged.

Streaming and exactly what is computed for a movie
--------------------------------------------------
Memory never depends on the number of frames ``T``:

- ``summary="mean"``: the temporal mean of the 3-D smoothed movie equals the
  spatially smoothed temporal mean of the raw movie **exactly** (up to float
  rounding), because both filters are linear and the time filter uses
  half-sample symmetric ("reflect") boundaries: a reflected signal is
  periodic with period ``2T`` and symmetric, so a (truncated) Gaussian filter
  along time leaves its mean unchanged. The movie is therefore read once by
  :func:`~napari_amnesia.core.summary.summary_images` (no filtering) and only
  the ``(Y, X)`` mean is smoothed in space; ``denoise_sigma_time`` has no
  effect on the mean.
- ``summary="max"``, ``"std"``, ``"correlation"``: these do depend on the time
  filter. The movie is presented to ``summary_images`` as a lazily smoothed
  movie: every time chunk ``[t0, t1)`` is read together with a halo of ``r``
  frames on each side (``r = int(4 * denoise_sigma_time + 0.5)``, scipy's
  kernel radius), filtered in 3-D with reflecting boundaries, and the halo is
  dropped. Inside the movie the halo supplies every frame the kernel reaches;
  at the first and last frames there is no halo and the reflection happens at
  the true movie boundary. The result equals
  ``scipy.ndimage.gaussian_filter(movie, (st, sy, sx), mode="reflect")``
  computed in memory, up to float32 rounding (the tests check it). The extra
  read is ``2 r`` frames per chunk.
- A 2-D image is accepted as the summary image itself: step 1 smooths it in
  space only and step 2 is skipped. A single-frame movie is treated the same.

The intermediate images are kept in :attr:`SkeletonResult.intermediates` for
previews. :func:`skeleton_statistics` and :func:`write_statistics_csv` give the
table of totals per movie across sessions (development days).

Parameter names and pyAMNESIA
-----------------------------
pyAMNESIA's ``projection_substructure`` / ``projection_method`` keep their names
in :func:`napari_amnesia.core.projection.project`. The skeleton parameters keep
pyAMNESIA's meanings with plain names (see each field's ``metadata["help"]``,
which the napari widget shows as tooltips, and ``metadata["pyamnesia"]``, the
pyAMNESIA/scikit-image concept each maps to).

References
----------
.. [1] Cossart lab, pyAMNESIA: analysing the Activity and Morphology of NEurons
   using Skeletonization and other Image Analysis techniques.
   https://pyamnesia.readthedocs.io (Skeletonization overview and parameter
   selection; configuration templates).
.. [2] Nunez-Iglesias J., Blanch A. J., Looker O., Dixon M. W., Tilley L. (2018).
   A new Python library to analyse skeleton images confirms malaria parasite
   remodelling of the red blood cell membrane skeleton. PeerJ 6:e4312 (skan).
.. [3] Lee T.-C., Kashyap R. L., Chu C.-N. (1994). Building skeleton models via
   3-D medial surface/axis thinning algorithms. CVGIP: Graphical Models and
   Image Processing 56(6):462-478.
.. [4] Zhang T. Y., Suen C. Y. (1984). A fast parallel algorithm for thinning
   digital patterns. Communications of the ACM 27(3):236-239.
.. [5] Zuiderveld K. (1994). Contrast limited adaptive histogram equalization.
   Graphics Gems IV, 474-485 (CLAHE).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .files import atomic_file, atomic_folder, jsonable, read_arrays
from .params import StageParams
from .progress import Progress, ProgressGenerator, drive

__all__ = [
    "SkeletonParams",
    "SkeletonResult",
    "skeletonize",
    "iter_skeletonize",
    "skeleton_graph",
    "prune_skeleton",
    "find_somata",
    "skeleton_statistics",
    "iter_skeleton_statistics",
    "write_statistics_csv",
    "BRANCH_TYPES",
    "STATISTICS_COLUMNS",
]

logger = logging.getLogger(__name__)

#: Branch types, by skan's numeric code (``summarize(...)["branch_type"]``).
BRANCH_TYPES = {
    0: "endpoint-endpoint",
    1: "junction-endpoint",
    2: "junction-junction",
    3: "cycle",
}

#: Columns of the statistics table, in order (then any extra columns).
STATISTICS_COLUMNS = (
    "path", "n_frames", "height", "width", "n_branches", "n_junctions", "n_endpoints",
    "n_components", "n_cycles", "total_length", "mean_branch_length", "skeleton_pixels",
    "mask_area", "n_somata", "n_endpoint_endpoint", "n_junction_endpoint", "n_junction_junction",
    "error",
)

_STEPS = 8

#: Smallest CLAHE tile (pixels) when ``clahe_kernel_size`` is automatic.
CLAHE_MIN_TILE = 32

#: Default ``SkeletonParams.soma_radius`` (pixels), chosen by measurement (docs/skeleton.md).
SOMA_RADIUS_DEFAULT = 4.0
_MESSAGE = "skeleton"


# --------------------------------------------------------------------------- parameters
def _p(default: Any, help: str, step: int, pyamnesia: str = "", **extra: Any) -> Any:
    return field(
        default=default, metadata={"help": help, "step": step, "pyamnesia": pyamnesia, **extra}
    )


@dataclass(frozen=True)
class SkeletonParams(StageParams):
    _tuple_fields = ("normalize_percentiles", "junction_fit_range")

    #: what a user sets for their data (the dock's main section): plain label, units
    ESSENTIALS = {
        "summary": ("summary image", ""), "threshold_block_size": ("threshold window", "px"),
        "threshold_offset": ("threshold offset", ""),
        "objects_min_size": ("smallest object", "pixels"), "soma_radius": ("soma radius", "px"),
        "min_branch_length": ("shortest branch", "px"),
    }

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



# --------------------------------------------------------------------------- result
@dataclass
class SkeletonResult:
    """The skeleton of a movie or image, its branch graph and intermediate images.

    Attributes
    ----------
    mask : ndarray of bool, shape (Y, X)
        Binary structure (step 5), pyAMNESIA's "active" pixels.
    skeleton : ndarray of bool, shape (Y, X)
        Cleaned skeleton (step 7).
    branch_labels : ndarray of int32, shape (Y, X)
        0 = background, else the ``branch_id`` of the skeleton pixel. A junction
        pixel, shared by several branches, takes the smallest of their ids;
        pixels of contracted junction clusters take the id of the nearest
        labelled pixel. So the labels partition the skeleton.
    branches : pandas.DataFrame
        One row per branch: ``branch_id`` (1..N, the label value),
        ``skeleton_id`` (connected piece, 1..C), ``length`` (pixels along the
        path, diagonal steps count sqrt 2), ``type`` (one of
        :data:`BRANCH_TYPES` values), ``euclidean_length`` (between the two
        ends), ``tortuosity`` (length / euclidean length; NaN for a cycle),
        ``mean_intensity`` (mean of the summary image along the path),
        ``n_pixels``, ``src_row``, ``src_col``, ``dst_row``, ``dst_col``.
    totals : dict
        ``n_branches``, ``n_junctions``, ``n_endpoints``, ``n_components``,
        ``n_cycles``, ``total_length``, ``mean_branch_length``,
        ``skeleton_pixels``, ``mask_area``, ``n_somata`` and the count per branch type.
    junctions : ndarray of float, shape (J, 2)
        Row, column of each junction (centroid of its pixels).
    endpoints : ndarray of float, shape (E, 2)
        Row, column of each free end.
    paths : list of ndarray
        ``(n_i, 2)`` row/column pixel path of each branch, in ``branch_id``
        order, junction pixels included (for a napari Shapes "path" layer).
    intermediates : dict of ndarray
        ``summary`` (step 2), ``normalized``, ``equalized`` (3), ``smoothed``
        (4), ``threshold`` (local threshold image), ``binary`` (raw
        thresholding), ``mask`` (5), ``raw_skeleton`` (6).
    params : SkeletonParams
    info : dict
        Provenance: input shape, number of frames, timings, package version;
        ``"warnings"``: messages about the result (an empty skeleton names the
        parameters to change).
    somata : ndarray of int32, shape (Y, X)
        Soma labels (0 = none; step 6, ``soma_radius``). ``totals["n_somata"]``
        counts them. A soma is one node of the skeleton: the branches that leave
        it start at its centre.
    """

    mask: np.ndarray
    skeleton: np.ndarray
    branch_labels: np.ndarray
    branches: Any
    totals: dict[str, Any]
    junctions: np.ndarray
    endpoints: np.ndarray
    paths: list[np.ndarray]
    intermediates: dict[str, np.ndarray]
    params: SkeletonParams
    info: dict[str, Any] = field(default_factory=dict)
    somata: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.somata is None:
            self.somata = np.zeros(np.shape(self.mask), np.int32)

    @property
    def shape(self) -> tuple[int, int]:
        """Frame shape ``(Y, X)``."""
        return tuple(self.mask.shape)

    @property
    def summary(self) -> np.ndarray:
        """The summary image (step 2)."""
        return self.intermediates["summary"]

    def features(self):
        """The branch table with an ``index`` column = label value (napari Labels
        ``features``: row ``i`` describes label ``branches.branch_id[i]``)."""
        table = self.branches.copy()
        table.insert(0, "index", table["branch_id"].to_numpy())
        return table

    def __repr__(self) -> str:
        t = self.totals
        return (
            f"SkeletonResult(shape={self.shape}, n_branches={t['n_branches']}, "
            f"n_junctions={t['n_junctions']}, n_endpoints={t['n_endpoints']}, "
            f"total_length={t['total_length']:.1f}, n_components={t['n_components']})"
        )

    # ---- saving
    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the result to a folder, atomically.

        Layout: ``arrays.npz`` (mask, skeleton, branch_labels, junctions,
        endpoints, the intermediates as ``intermediate_<name>``, the paths
        concatenated as ``path_points`` with ``path_offsets``),
        ``branches.csv``, ``totals.json``, ``params.json``, ``info.json``.
        """
        folder = Path(folder)
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            offsets = np.cumsum([0] + [len(p) for p in self.paths]).astype(np.int64)
            points = (np.concatenate(self.paths).astype(np.int32) if self.paths
                      else np.zeros((0, 2), np.int32))
            arrays = {
                "mask": self.mask, "skeleton": self.skeleton,
                "branch_labels": self.branch_labels, "junctions": self.junctions,
                "endpoints": self.endpoints, "path_points": points, "path_offsets": offsets,
                "somata": self.somata,
            }
            arrays.update({f"intermediate_{k}": v for k, v in self.intermediates.items()})
            np.savez_compressed(tmp / "arrays.npz", **arrays)
            self.branches.to_csv(tmp / "branches.csv", index=False)
            (tmp / "totals.json").write_text(json.dumps(jsonable(self.totals), indent=2))
            (tmp / "params.json").write_text(json.dumps(self.params.to_dict(), indent=2))
            (tmp / "info.json").write_text(json.dumps(jsonable(self.info), indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> SkeletonResult:
        """Read a folder written by :meth:`save`."""
        import pandas as pd

        folder = Path(folder)
        arrays = read_arrays(folder, "skeleton")
        offsets = arrays.pop("path_offsets")
        points = arrays.pop("path_points").astype(np.intp)
        paths = [points[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
        inter = {k[len("intermediate_"):]: arrays.pop(k) for k in list(arrays)
                 if k.startswith("intermediate_")}
        branches = pd.read_csv(folder / "branches.csv")
        if branches.empty:
            branches = _empty_branches()
        return cls(
            mask=arrays["mask"], skeleton=arrays["skeleton"],
            branch_labels=arrays["branch_labels"], branches=branches,
            totals=json.loads((folder / "totals.json").read_text()),
            junctions=arrays["junctions"], endpoints=arrays["endpoints"], paths=paths,
            intermediates=inter,
            params=SkeletonParams.from_dict(json.loads((folder / "params.json").read_text())),
            info=json.loads((folder / "info.json").read_text()),
            somata=arrays.get("somata"),
        )


# --------------------------------------------------------------------------- step 1-2
def _radius(sigma: float) -> int:
    """scipy.ndimage's Gaussian kernel radius for truncate=4."""
    return int(4.0 * float(sigma) + 0.5)


class _SmoothedMovie:
    """A (T, Y, X) movie seen through a 3-D Gaussian filter, computed per time slice.

    ``smoothed[t0:t1]`` reads ``movie[t0 - r : t1 + r]`` (clipped to the movie),
    filters it with reflecting boundaries and returns frames ``t0..t1-1``: equal
    to the in-memory ``gaussian_filter(movie, sigma, mode="reflect")`` there.
    """

    def __init__(self, movie: Any, sigma_time: float, sigma_space: float) -> None:
        self.movie = movie
        self.shape = tuple(int(s) for s in movie.shape)
        self.ndim = 3
        self.dtype = np.dtype(np.float32)
        self.sigma = (float(sigma_time), float(sigma_space), float(sigma_space))
        self.radius = _radius(sigma_time) if sigma_time > 0 else 0

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        tkey, rest = key[0], key[1:]
        n = self.shape[0]
        if isinstance(tkey, (int, np.integer)):
            t = int(tkey) + (n if tkey < 0 else 0)
            return self[(slice(t, t + 1), *rest)][0]
        if not isinstance(tkey, slice):
            raise TypeError("the smoothed movie is read with a time slice")
        t0, t1, step = tkey.indices(n)
        if step != 1:
            raise TypeError("the smoothed movie is read with a contiguous time slice")
        if t1 <= t0:
            return np.zeros((0, *self.shape[1:]), np.float32)[(slice(None), *rest)]
        a0, a1 = max(0, t0 - self.radius), min(n, t1 + self.radius)
        block = np.asarray(self.movie[a0:a1], dtype=np.float32)
        out = ndi.gaussian_filter(block, self.sigma, mode="reflect", truncate=4.0)
        return out[t0 - a0 : t1 - a0][(slice(None), *rest)]


def _chunk_for(shape: tuple[int, ...], chunk_frames: int | None) -> int:
    if chunk_frames is not None:
        return int(chunk_frames)
    frame_bytes = 4 * int(shape[1]) * int(shape[2])
    return int(max(8, min(shape[0], (128 * 2**20) // max(1, frame_bytes))))


def _iter_summary(movie: Any, p: SkeletonParams) -> ProgressGenerator[np.ndarray]:
    """Steps 1-2 on a (T, Y, X) movie with T >= 2."""
    from .summary import iter_summary_images

    chunk = _chunk_for(movie.shape, p.chunk_frames)
    if p.summary == "mean":
        source = movie  # the mean commutes with the 3-D filter (module notes)
    else:
        source = _SmoothedMovie(movie, p.denoise_sigma_time, p.denoise_sigma_space)
    images = yield from iter_summary_images(
        source, gsig=None, chunk_frames=chunk, noise_max_frames=max(8, min(3072, chunk)),
        noise_frames=max(8, min(256, chunk)),
    )
    if p.summary == "mean":
        image = images.mean.astype(np.float32)
        if p.denoise_sigma_space > 0:
            image = ndi.gaussian_filter(image, p.denoise_sigma_space, mode="reflect")
        return image
    return {"max": images.max, "std": images.std, "correlation": images.corr}[p.summary].astype(
        np.float32
    )


# --------------------------------------------------------------------------- steps 3-5
def _normalize(image: np.ndarray, percentiles: tuple[float, float]) -> np.ndarray:
    finite = np.isfinite(image)
    if not finite.any():
        return np.zeros(image.shape, np.float32)
    lo, hi = np.percentile(image[finite], percentiles)
    if not hi > lo:
        lo, hi = float(image[finite].min()), float(image[finite].max())
    if not hi > lo:  # constant image: nothing stands out
        return np.zeros(image.shape, np.float32)
    out = (np.where(finite, image, lo) - lo) / (hi - lo)
    return np.clip(out, 0, 1).astype(np.float32)


def _equalize(image: np.ndarray, p: SkeletonParams) -> np.ndarray:
    from skimage import exposure

    if p.equalization == "none" or not np.ptp(image) > 0:
        return image.astype(np.float32)
    if p.equalization == "global":
        return exposure.equalize_hist(image).astype(np.float32)
    kernel = p.clahe_kernel_size
    if kernel is not None:
        kernel = min(kernel, *image.shape) if min(image.shape) >= 2 else None
    elif min(image.shape) >= 2:
        # 1/8 of the image, at least CLAHE_MIN_TILE px: on a small crop, tiles of
        # 1/8 are no wider than a soma and equalize the noise between structures
        kernel = tuple(max(2, min(s, max(s // 8, CLAHE_MIN_TILE))) for s in image.shape)
    return exposure.equalize_adapthist(
        image, kernel_size=kernel, clip_limit=p.clahe_clip_limit
    ).astype(np.float32)


def _disk(radius: int) -> np.ndarray:
    r = int(radius)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (yy**2 + xx**2) <= r * r


def _remove_small(mask: np.ndarray, min_size: int, connectivity: int) -> np.ndarray:
    """Remove connected objects of fewer than ``min_size`` pixels."""
    if min_size <= 1 or not mask.any():
        return mask
    labels, n = ndi.label(mask, structure=ndi.generate_binary_structure(2, connectivity))
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_size
    keep[0] = False
    return keep[labels]


def _fill_small_holes(mask: np.ndarray, max_size: int) -> np.ndarray:
    """Fill holes (background pieces not touching the border) of at most ``max_size`` px."""
    if max_size <= 0 or not mask.any():
        return mask
    labels, n = ndi.label(~mask)  # 4-connected background
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    fill = sizes <= max_size
    fill[0] = False
    fill[border] = False
    return mask | fill[labels]


def _threshold(image: np.ndarray, p: SkeletonParams) -> tuple[np.ndarray, np.ndarray]:
    from skimage.filters import threshold_local

    block = p.threshold_block_size
    limit = max(3, min(image.shape) - (1 - min(image.shape) % 2))
    if block > limit:  # scikit-image needs a block within the image
        block = limit if limit % 2 else limit - 1
    if min(image.shape) < 3:
        local = np.full(image.shape, image.mean(), np.float32)
    else:
        local = threshold_local(image, block, method=p.threshold_method,
                                offset=-p.threshold_offset).astype(np.float32)
    return image > local, local


# --------------------------------------------------------------------------- somata
def find_somata(mask: np.ndarray, radius: float,
                image: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Somata of a binary structure: where a disk of ``radius`` fits, grown back by it.

    Parameters
    ----------
    mask : ndarray of bool, shape (Y, X)
        The binary structure (step 5).
    radius : float
        Pixels at least ``radius`` from the background (euclidean distance; the
        image border is not background) are soma cores; a soma is the part of
        the structure within ``radius`` of a core — a morphological opening by a
        disk, so thin neurites, which no such disk fits, are left out. 0: none.
    image : ndarray, shape (Y, X), optional
        The image that was thresholded. A local threshold hollows a bright blob
        wider than its block (the inside is not brighter than its own
        neighbourhood), so the holes of ``mask`` whose mean in ``image`` is at
        least the mean of ``mask`` count as structure here; the background
        enclosed by a loop of neurites is darker and stays a hole.

    Returns
    -------
    labels : ndarray of int32, shape (Y, X)
        0 = not a soma, else the soma's label 1..n (8-connected pieces).
    n : int
    """
    mask = np.asarray(mask, dtype=bool)
    if radius <= 0 or not mask.any():
        return np.zeros(mask.shape, np.int32), 0
    if image is not None:
        holes, n = ndi.label(ndi.binary_fill_holes(mask) & ~mask)
        if n:
            image = np.asarray(image, np.float64)
            bright = np.asarray(ndi.mean(image, holes, np.arange(1, n + 1))) \
                >= image[mask].mean()
            mask = mask | np.concatenate([[False], bright])[holes]
    depth = ndi.distance_transform_edt(np.pad(mask, 1, mode="edge"))[1:-1, 1:-1]
    core = depth >= radius
    if not core.any():
        return np.zeros(mask.shape, np.int32), 0
    soma = mask & (ndi.distance_transform_edt(~core) < radius)
    labels, n = ndi.label(soma, structure=np.ones((3, 3), bool))
    return labels.astype(np.int32), int(n)


def _soma_centres(somata: np.ndarray, n: int) -> np.ndarray:
    """(n, 2) integer row, column of the deepest pixel of each soma (inside it even
    when the soma is not convex)."""
    if n == 0:
        return np.zeros((0, 2), np.intp)
    depth = ndi.distance_transform_edt(somata > 0)
    pos = ndi.maximum_position(depth, somata, np.arange(1, n + 1))
    return np.array(pos, np.intp).reshape(-1, 2)


def _collapse_somata(skeleton: np.ndarray, somata: np.ndarray, n: int,
                     min_piece: float) -> np.ndarray:
    """Replace the skeleton inside each soma by straight segments from its centre to
    the skeleton pieces that leave it.

    The skeleton pixels inside the somata are removed. Each remaining piece
    (8-connected) that touches a soma is either a spur of the soma's outline
    (fewer than ``min_piece`` pixels: removed) or a neurite: it is joined to the
    soma centre by a digital straight line from its pixel next to the soma that
    is nearest the centre (one line per piece and soma, so no loop is made).
    A soma that no neurite leaves keeps no skeleton.
    """
    from skimage.draw import line

    out = skeleton & (somata == 0)
    if n == 0 or not out.any():
        return out
    pieces, _ = ndi.label(out, structure=np.ones((3, 3), bool))
    sizes = np.bincount(pieces.ravel())
    near = ndi.grey_dilation(somata, footprint=np.ones((3, 3), bool))
    exits = np.argwhere(out & (near > 0))
    centres = _soma_centres(somata, n)
    best: dict[tuple[int, int], tuple[float, int, int]] = {}
    for r, c in exits:
        piece, soma = int(pieces[r, c]), int(near[r, c])
        d = float(np.hypot(*(centres[soma - 1] - (r, c))))
        if (piece, soma) not in best or d < best[(piece, soma)][0]:
            best[(piece, soma)] = (d, int(r), int(c))
    spurs = [piece for (piece, _), _ in best.items() if sizes[piece] < min_piece]
    if spurs:
        out &= ~np.isin(pieces, spurs)
    for (piece, soma), (_, r, c) in best.items():
        if sizes[piece] < min_piece:
            continue
        rr, cc = line(int(centres[soma - 1][0]), int(centres[soma - 1][1]), r, c)
        out[rr, cc] = True
    return out


# --------------------------------------------------------------------------- graph
class _Graph:
    """Branch graph of a skeleton image, junction clusters contracted."""

    def __init__(self, paths: list[np.ndarray], ends: list[tuple[int, int]],
                 node_pixels: dict[int, list[np.ndarray]], shape: tuple[int, int]) -> None:
        self.paths = paths
        self.ends = ends
        self.node_pixels = node_pixels
        self.shape = shape

    def degrees(self) -> dict[int, int]:
        deg: dict[int, int] = {}
        for a, b in self.ends:
            deg[a] = deg.get(a, 0) + 1
            deg[b] = deg.get(b, 0) + 1
        return deg


def _path_length(path: np.ndarray) -> float:
    if len(path) < 2:
        return 0.0
    d = np.diff(path.astype(np.float64), axis=0)
    return float(np.hypot(d[:, 0], d[:, 1]).sum())


def _build_graph(skeleton: np.ndarray, merge_distance: float) -> _Graph:
    """skan graph of ``skeleton`` with short junction-junction links contracted and
    nodes of degree 2 dissolved (their two branches joined)."""
    shape = skeleton.shape
    if skeleton.sum() < 2:
        return _Graph([], [], {}, shape)
    from skan import Skeleton

    skel = Skeleton(skeleton.astype(bool), keep_images=False)
    coords = np.asarray(skel.coordinates)
    deg_pix = np.asarray(skel.degrees)
    paths: list[np.ndarray] = []
    ends: list[tuple[int, int]] = []
    for i in range(skel.n_paths):
        idx = np.asarray(skel.path(i))
        paths.append(coords[idx].astype(np.intp))
        ends.append((int(idx[0]), int(idx[-1])))
    # union-find over pixel nodes: contract short junction-junction links
    parent: dict[int, int] = {}

    def find(a: int) -> int:
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    keep = []
    for i, (a, b) in enumerate(ends):
        if (deg_pix[a] >= 3 and deg_pix[b] >= 3 and _path_length(paths[i]) <= merge_distance):
            parent[find(a)] = find(b)
        else:
            keep.append(i)
    node_pixels: dict[int, list[np.ndarray]] = {}
    for a in {n for e in ends for n in e}:
        node_pixels.setdefault(find(a), []).append(coords[a])
    g = _Graph([paths[i] for i in keep], [(find(ends[i][0]), find(ends[i][1])) for i in keep],
               node_pixels, shape)
    _dissolve_degree_two(g)
    return g


def _dissolve_degree_two(g: _Graph) -> None:
    """Join the two branches meeting at a node of degree 2 (not a real junction)."""
    changed = True
    while changed:
        changed = False
        deg = g.degrees()
        for node, d in deg.items():
            if d != 2:
                continue
            touching = [i for i, (a, b) in enumerate(g.ends) if node in (a, b)]
            if len(touching) != 2:  # a loop through the node: an isolated cycle
                continue
            i, j = touching
            pi, pj = g.paths[i], g.paths[j]
            ai, bi = g.ends[i]
            aj, bj = g.ends[j]
            if bi != node:  # orient branch i to end at the node
                pi, (ai, bi) = pi[::-1], (bi, ai)
            if aj != node:  # orient branch j to start at the node
                pj, (aj, bj) = pj[::-1], (bj, aj)
            joined = np.concatenate([pi, pj[1:]]) if np.array_equal(pi[-1], pj[0]) else \
                np.concatenate([pi, pj])
            g.paths[i], g.ends[i] = joined, (ai, bj)
            del g.paths[j], g.ends[j]
            changed = True
            break


def prune_skeleton(skeleton: np.ndarray, *, min_branch_length: float = 6.0,
                   iterations: int = 10, min_component_length: int = 0,
                   junction_merge_distance: float = 2.0,
                   method: str = "lee") -> np.ndarray:
    """Prune short terminal branches of a skeleton, repeatedly, and small pieces.

    Parameters
    ----------
    skeleton : ndarray of bool, shape (Y, X)
        A one-pixel-wide skeleton.
    min_branch_length : float, optional
        Junction-endpoint branches shorter than this (pixels) are removed, all
        but their junction pixel.
    iterations : int, optional
        At most this many rounds; each round recomputes the graph, since pruning
        a spur can dissolve its junction and expose new short spurs.
    min_component_length : int, optional
        Connected pieces of fewer pixels are then removed.
    junction_merge_distance : float, optional
        See :class:`SkeletonParams`.
    method : {"lee", "zhang"}, optional
        Thinning used to re-thin the skeleton after each round.

    Returns
    -------
    ndarray of bool
    """
    from skimage.morphology import skeletonize as _thin

    sk = np.asarray(skeleton, dtype=bool).copy()
    for _ in range(int(iterations)):
        g = _build_graph(sk, junction_merge_distance)
        deg = g.degrees()
        removed = False
        for path, (a, b) in zip(g.paths, g.ends, strict=True):
            da, db = deg[a], deg[b]
            if a == b or not ((da >= 3 and db == 1) or (da == 1 and db >= 3)):
                continue
            if _path_length(path) >= min_branch_length:
                continue
            # keep the junction end pixel, drop the rest of the spur
            body = path[1:] if da >= 3 else path[:-1]
            sk[body[:, 0], body[:, 1]] = False
            removed = True
        if not removed:
            break
        sk = _thin(sk, method=method).astype(bool)
    sk = _remove_small(sk, max(int(min_component_length), 2), 2)
    return sk


def _refine_junction(center: np.ndarray, arms: list[np.ndarray],
                     fit_range: tuple[float, float]) -> np.ndarray:
    """Least-squares meeting point of straight lines fitted to the junction's arms.

    Each arm is a branch path starting at the junction; the points at arc length
    ``fit_range[0]..fit_range[1]`` from it are fitted with a line (principal
    axis). The point minimizing the summed squared distances to the lines is
    returned, unless the lines are nearly parallel or the point lies farther
    than ``fit_range[1]`` from ``center`` (then ``center``).
    """
    f0, f1 = fit_range
    a = np.zeros((2, 2))
    b = np.zeros(2)
    n_lines = 0
    for arm in arms:
        arm = arm.astype(np.float64)
        if len(arm) < 3:
            continue
        steps = np.hypot(*np.diff(arm, axis=0).T)
        s = np.concatenate([[0.0], np.cumsum(steps)])
        pts = arm[(s >= f0) & (s <= f1)]
        if len(pts) < 3:
            continue
        c = pts.mean(axis=0)
        _, _, vt = np.linalg.svd(pts - c, full_matrices=False)
        d = vt[0]
        proj = np.eye(2) - np.outer(d, d)
        a += proj
        b += proj @ c
        n_lines += 1
    if n_lines < 2:
        return center
    eig = np.linalg.eigvalsh(a)
    if eig[0] < 0.05 * eig[1]:  # nearly parallel lines: the meeting point is ill-defined
        return center
    x = np.linalg.solve(a, b)
    return x if np.hypot(*(x - center)) <= f1 else center


def skeleton_graph(skeleton: np.ndarray, intensity: np.ndarray | None = None, *,
                   junction_merge_distance: float = 2.0, refine_junctions: bool = True,
                   junction_fit_range: tuple[float, float] = (2.0, 10.0),
                   somata: np.ndarray | None = None) -> dict[str, Any]:
    """Branch table, totals, junctions, endpoints, paths and labels of a skeleton.

    Parameters
    ----------
    skeleton : ndarray of bool, shape (Y, X)
    intensity : ndarray, shape (Y, X), optional
        Image whose mean along each branch is ``mean_intensity`` (NaN without).
    junction_merge_distance : float, optional
        See :class:`SkeletonParams`.
    refine_junctions : bool, optional
        Place each junction at the least-squares meeting point of lines fitted
        to its branches between ``junction_fit_range`` pixels from it (the
        skeleton of a thick branching structure meets off the branching point,
        displaced towards the acute angle by about half the width divided by
        the sine of half the angle); False: the centroid of its pixels.
    junction_fit_range : (float, float), optional
        See :class:`SkeletonParams`.
    somata : ndarray of int, shape (Y, X), optional
        Soma labels (:func:`find_somata`). A node of degree 3 or more inside a
        soma is the soma itself, where several neurites start, not a branching
        point of a neurite: it is not listed in ``junctions`` nor counted in
        ``n_junctions``.

    Returns
    -------
    dict
        ``branches`` (DataFrame), ``totals``, ``junctions``, ``endpoints``,
        ``paths``, ``branch_labels`` — as in :class:`SkeletonResult`.
    """
    import pandas as pd

    skeleton = np.asarray(skeleton, dtype=bool)
    shape = skeleton.shape
    g = _build_graph(skeleton, junction_merge_distance)
    deg = g.degrees()
    comp, n_comp = ndi.label(skeleton, structure=np.ones((3, 3), bool))
    rows = []
    paths: list[np.ndarray] = []
    # order branches by component, then by position, for stable ids
    order = sorted(range(len(g.paths)),
                   key=lambda i: (int(comp[tuple(g.paths[i][0])]), tuple(g.paths[i][0]),
                                  tuple(g.paths[i][-1])))
    for new_id, i in enumerate(order, start=1):
        path = g.paths[i]
        a, b = g.ends[i]
        da, db = deg[a], deg[b]
        if a == b:
            kind = 3
        elif da == 1 and db == 1:
            kind = 0
        elif da == 1 or db == 1:
            kind = 1
        else:
            kind = 2
        length = _path_length(path)
        eucl = float(np.hypot(*(path[-1] - path[0]).astype(float))) if kind != 3 else 0.0
        mean_int = (float(np.mean(intensity[path[:, 0], path[:, 1]]))
                    if intensity is not None else float("nan"))
        rows.append({
            "branch_id": new_id,
            "skeleton_id": int(comp[tuple(path[0])]),
            "length": length,
            "type": BRANCH_TYPES[kind],
            "euclidean_length": eucl,
            "tortuosity": length / eucl if eucl > 0 else float("nan"),
            "mean_intensity": mean_int,
            "n_pixels": int(len(path)),
            "src_row": int(path[0, 0]), "src_col": int(path[0, 1]),
            "dst_row": int(path[-1, 0]), "dst_col": int(path[-1, 1]),
        })
        paths.append(path)
    branches = pd.DataFrame(rows) if rows else _empty_branches()
    junction_nodes = [n for n, d in deg.items() if d >= 3]
    if somata is not None and len(junction_nodes):
        somata = np.asarray(somata)

        def in_soma(n: int) -> bool:
            return bool(any(somata[int(r), int(c)] > 0 for r, c in g.node_pixels[n]))

        junction_nodes = [n for n in junction_nodes if not in_soma(n)]
    end_nodes = [n for n, d in deg.items() if d == 1]
    junction_list = []
    for n in junction_nodes:
        center = np.mean(g.node_pixels[n], axis=0).astype(np.float64)
        if refine_junctions:
            arms = []
            for path, (a, b) in zip(g.paths, g.ends, strict=True):
                if a == n:
                    arms.append(path)
                if b == n:
                    arms.append(path[::-1])
            center = _refine_junction(center, arms, tuple(junction_fit_range))
        junction_list.append(center)
    junctions = np.array(junction_list, np.float64).reshape(-1, 2)
    endpoints = (np.array([np.mean(g.node_pixels[n], axis=0) for n in end_nodes])
                 .reshape(-1, 2).astype(np.float64))
    # labels: paint longest ids first so a shared junction pixel keeps the smallest id
    labels = np.zeros(shape, np.int32)
    for bid in range(len(paths), 0, -1):
        p = paths[bid - 1]
        labels[p[:, 0], p[:, 1]] = bid
    missing = skeleton & (labels == 0)
    if missing.any() and (labels > 0).any():
        _, (ri, ci) = ndi.distance_transform_edt(labels == 0, return_indices=True)
        labels[missing] = labels[ri[missing], ci[missing]]
    counts = branches["type"].value_counts().to_dict() if len(branches) else {}
    total_length = float(branches["length"].sum()) if len(branches) else 0.0
    totals = {
        "n_branches": int(len(branches)),
        "n_junctions": int(len(junctions)),
        "n_endpoints": int(len(endpoints)),
        "n_components": int(n_comp),
        "n_cycles": int(counts.get("cycle", 0)),
        "total_length": total_length,
        "mean_branch_length": total_length / len(branches) if len(branches) else 0.0,
        "skeleton_pixels": int(skeleton.sum()),
        "n_endpoint_endpoint": int(counts.get("endpoint-endpoint", 0)),
        "n_junction_endpoint": int(counts.get("junction-endpoint", 0)),
        "n_junction_junction": int(counts.get("junction-junction", 0)),
    }
    return {"branches": branches, "totals": totals, "junctions": junctions,
            "endpoints": endpoints, "paths": paths, "branch_labels": labels}


def _empty_branches():
    import pandas as pd

    return pd.DataFrame({
        "branch_id": pd.Series(dtype=np.int64), "skeleton_id": pd.Series(dtype=np.int64),
        "length": pd.Series(dtype=np.float64), "type": pd.Series(dtype=object),
        "euclidean_length": pd.Series(dtype=np.float64),
        "tortuosity": pd.Series(dtype=np.float64),
        "mean_intensity": pd.Series(dtype=np.float64), "n_pixels": pd.Series(dtype=np.int64),
        "src_row": pd.Series(dtype=np.int64), "src_col": pd.Series(dtype=np.int64),
        "dst_row": pd.Series(dtype=np.int64), "dst_col": pd.Series(dtype=np.int64),
    })


# --------------------------------------------------------------------------- pipeline
def _empty_warnings(p: SkeletonParams, binary: np.ndarray, mask: np.ndarray,
                    raw_skeleton: np.ndarray, skeleton: np.ndarray,
                    n_somata: int = 0) -> list[str]:
    """Why the skeleton is empty, naming the parameters to change ([] if it is not)."""
    if skeleton.any():
        return []
    if not binary.any():
        return [f"empty skeleton: no pixel exceeds its neighbourhood by threshold_offset="
                f"{p.threshold_offset:g} (a blank or constant image, or lower "
                "threshold_offset)."]
    if not mask.any():
        return [f"empty skeleton: the {int(binary.sum())} px of the thresholded structure "
                f"are all in objects smaller than objects_min_size={p.objects_min_size}; "
                "lower objects_min_size, or lower threshold_offset (now "
                f"{p.threshold_offset:g}) to grow the structure."]
    somata = (f" and {n_somata} soma(ta) (soma_radius={p.soma_radius:g}), which have no "
              "skeleton of their own," if n_somata else "")
    return [f"empty skeleton: the binary structure has {int(mask.sum())} px{somata} but every "
            f"skeleton piece ({int(raw_skeleton.sum())} px in all) is shorter than "
            f"min_component_length={p.min_component_length} or was pruned as a spur "
            f"(min_branch_length={p.min_branch_length:g}); lower min_component_length, "
            f"objects_min_size (now {p.objects_min_size}) or threshold_offset (now "
            f"{p.threshold_offset:g}, to join the pieces)."]


def _check_input(image_or_movie: Any) -> tuple[int, ...]:
    shape = getattr(image_or_movie, "shape", None)
    if shape is None:
        image_or_movie = np.asarray(image_or_movie)
        shape = image_or_movie.shape
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3):
        raise ValueError(
            f"skeletonize needs a 2-D (Y, X) image or a 3-D (T, Y, X) movie, got shape {shape}."
        )
    if any(s < 1 for s in shape):
        raise ValueError(f"skeletonize got an empty array of shape {shape}.")
    dtype = np.dtype(getattr(image_or_movie, "dtype", np.float64))
    if dtype.kind not in "biuf":
        raise ValueError(f"skeletonize needs real numbers, got dtype {dtype}.")
    return shape


def iter_skeletonize(
    image_or_movie: Any,
    params: SkeletonParams | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> ProgressGenerator[SkeletonResult]:
    """Generator twin of :func:`skeletonize`: yields :class:`Progress`, returns the result.

    While the movie is read (steps 1-2) it yields the frame progress of
    :func:`~napari_amnesia.core.summary.iter_summary_images` (message
    ``"summary images"``); then ``Progress(step, 8, "skeleton: <step>")``.
    """
    p = SkeletonParams.resolve(params, overrides)
    shape = _check_input(image_or_movie)
    start = time.perf_counter()
    timings: dict[str, float] = {}

    def tick(name: str, t: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - t, 4)
        return now

    t = start
    if len(shape) == 3 and shape[0] >= 2:
        summary = yield from _iter_summary(image_or_movie, p)
        n_frames = shape[0]
    else:
        image = np.asarray(image_or_movie[0] if len(shape) == 3 else image_or_movie,
                           dtype=np.float32)
        if not np.isfinite(image).all():
            raise ValueError("skeletonize: the image has NaN or infinite values.")
        summary = (ndi.gaussian_filter(image, p.denoise_sigma_space, mode="reflect")
                   if p.denoise_sigma_space > 0 else image)
        n_frames = 1 if len(shape) == 3 else 0
    summary = np.asarray(summary, np.float32)
    t = tick("summary", t)
    yield Progress(2, _STEPS, f"{_MESSAGE}: summary image")

    normalized = _normalize(summary, p.normalize_percentiles)
    equalized = _equalize(normalized, p)
    t = tick("equalization", t)
    yield Progress(3, _STEPS, f"{_MESSAGE}: equalization")

    smoothed = (ndi.gaussian_filter(equalized, p.smooth_sigma, mode="reflect")
                if p.smooth_sigma > 0 else equalized).astype(np.float32)
    t = tick("smoothing", t)
    yield Progress(4, _STEPS, f"{_MESSAGE}: smoothing")

    binary, local = _threshold(smoothed, p)
    mask = binary
    if p.closing_radius > 0 and mask.any():
        # pad so that the closing does not glue structures to the border
        r = p.closing_radius
        mask = ndi.binary_closing(np.pad(mask, r), _disk(r))[r:-r, r:-r]
    mask = _fill_small_holes(mask, p.holes_max_size)
    mask = _remove_small(mask, p.objects_min_size, 2)
    t = tick("threshold", t)
    yield Progress(5, _STEPS, f"{_MESSAGE}: threshold")

    from skimage.morphology import skeletonize as _thin

    raw_skeleton = (_thin(mask, method=p.skeleton_method).astype(bool) if mask.any()
                    else np.zeros(mask.shape, bool))
    somata, n_somata = find_somata(mask, p.soma_radius, smoothed)
    thinned = raw_skeleton
    if n_somata:
        # a soma is part of the structure, hollow centre included (the local threshold
        # hollows large bright blobs; find_somata fills them): the skeleton's straight
        # segments to the soma centres, and the 'active' projection, stay inside the mask
        mask = mask | (somata > 0)
        thinned = _thin(_collapse_somata(raw_skeleton, somata, n_somata, p.min_branch_length),
                        method=p.skeleton_method).astype(bool)
    t = tick("skeletonize", t)
    yield Progress(6, _STEPS, f"{_MESSAGE}: skeletonization")

    skeleton = prune_skeleton(
        thinned, min_branch_length=p.min_branch_length, iterations=p.prune_iterations,
        min_component_length=p.min_component_length,
        junction_merge_distance=p.junction_merge_distance, method=p.skeleton_method,
    )
    t = tick("cleaning", t)
    yield Progress(7, _STEPS, f"{_MESSAGE}: cleaning")

    graph = skeleton_graph(skeleton, summary, junction_merge_distance=p.junction_merge_distance,
                           refine_junctions=p.refine_junctions,
                           junction_fit_range=p.junction_fit_range,
                           somata=somata if n_somata else None)
    totals = dict(graph["totals"])
    totals["mask_area"] = int(mask.sum())
    totals["n_somata"] = n_somata
    tick("graph", t)
    yield Progress(8, _STEPS, f"{_MESSAGE}: branch graph")

    try:
        from importlib.metadata import version

        pkg_version = version("napari-amnesia")
    except Exception:  # pragma: no cover - not installed
        pkg_version = "unknown"
    info = {
        "input_shape": list(shape), "n_frames": n_frames,
        "elapsed": round(time.perf_counter() - start, 4), "timings": timings,
        "version": pkg_version, "warnings": _empty_warnings(p, binary, mask, raw_skeleton,
                                                            skeleton, n_somata),
    }
    for message in info["warnings"]:
        logger.warning("skeleton: %s", message)
    intermediates = {
        "summary": summary, "normalized": normalized, "equalized": equalized,
        "smoothed": smoothed, "threshold": local, "binary": binary, "mask": mask,
        "raw_skeleton": raw_skeleton,
    }
    return SkeletonResult(
        mask=mask, skeleton=skeleton, branch_labels=graph["branch_labels"],
        branches=graph["branches"], totals=totals, junctions=graph["junctions"],
        endpoints=graph["endpoints"], paths=graph["paths"], intermediates=intermediates,
        params=p, info=info, somata=somata,
    )


def skeletonize(
    image_or_movie: Any,
    params: SkeletonParams | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> SkeletonResult:
    """Skeleton of the neurites of a movie or image, with its branch graph.

    pyAMNESIA's skeletonization [1]_ (steps 1-8 of the module documentation),
    streaming over the movie in time chunks.

    Parameters
    ----------
    image_or_movie : array_like, shape (T, Y, X) or (Y, X)
        numpy or dask movie (any real dtype), or a 2-D image taken as the
        summary image (step 2 skipped, step 1 spatial only).
    params : SkeletonParams or dict, optional
        The parameters (default ``SkeletonParams()``).
    **overrides
        Parameters changed from ``params`` (``skeletonize(movie,
        min_branch_length=12)``); unknown names raise ``TypeError``.

    Returns
    -------
    SkeletonResult

    Raises
    ------
    ValueError
        Input not 2-D/3-D, empty, non-numeric, with NaN; a bad parameter (the
        message names it and the value).

    Notes
    -----
    A blank or constant input (fully dark or fully bright) gives an empty but
    valid result: no structure stands out of its neighbourhood, so the mask,
    skeleton and branch table are empty and every total is 0.

    References
    ----------
    .. [1] pyAMNESIA documentation, https://pyamnesia.readthedocs.io

    Examples
    --------
    >>> from napari_amnesia.core.simulate import simulate
    >>> movie, truth = simulate(n_frames=50, shape=(96, 96), n_cells=0,
    ...                         n_neurite_groups=1, branches_per_group=3,
    ...                         motion=False, rng=4)
    >>> result = skeletonize(movie)
    >>> int(result.branch_labels.max()) == result.totals["n_branches"]
    True
    """
    return drive(iter_skeletonize(image_or_movie, params, **overrides))


# --------------------------------------------------------------------------- statistics
def _describe_input(item: Any, index: int) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    return f"<array {index}>"


def iter_skeleton_statistics(
    inputs: Iterable[Any],
    params: SkeletonParams | Mapping[str, Any] | None = None,
    *,
    errors: str = "raise",
    save_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    **overrides: Any,
) -> Iterator[Progress | dict[str, Any]]:
    """Skeletonize several movies; yields :class:`Progress` and returns the rows.

    Parameters
    ----------
    inputs : iterable of path or array
        Movie files/folders (opened lazily with
        :func:`~napari_amnesia.core.io.open_movie`) or (T, Y, X) arrays.
    params : SkeletonParams or dict, optional
    errors : {"raise", "record"}, optional
        On a movie that fails: raise (the message names the movie), or record
        the error in the row's ``error`` column and go on.
    save_dir : path, optional
        Also save each :class:`SkeletonResult` to ``save_dir/<stem>.skeleton``.
    overwrite : bool, optional
        Replace existing saved results.
    **overrides
        Parameter overrides.

    Returns
    -------
    list of dict
        One row per movie: ``path``, ``n_frames``, ``height``, ``width`` and the
        totals (:data:`STATISTICS_COLUMNS`).
    """
    p = SkeletonParams.resolve(params, overrides)
    if errors not in ("raise", "record"):
        raise ValueError(f'errors should be "raise" or "record", got {errors!r}.')
    items = list(inputs)
    rows: list[dict[str, Any]] = []
    used_names: set[str] = set()
    for i, item in enumerate(items):
        label = _describe_input(item, i)
        yield Progress(i, len(items), f"skeleton statistics: {Path(label).name}")
        try:
            if isinstance(item, (str, os.PathLike)):
                from .io import open_movie

                movie = open_movie(item)
            else:
                movie = item
            result = drive(iter_skeletonize(movie, p))
        except Exception as exc:
            if errors == "raise":
                raise type(exc)(f"{label}: {exc}") from exc
            logger.warning("skeleton statistics: %s failed: %s", label, exc)
            rows.append({"path": label, "error": f"{type(exc).__name__}: {exc}"})
            continue
        shape = result.info["input_shape"]
        row = {"path": label, "n_frames": result.info["n_frames"],
               "height": shape[-2], "width": shape[-1], **result.totals, "error": ""}
        rows.append(row)
        if save_dir is not None:
            stem = Path(label).stem if isinstance(item, (str, os.PathLike)) else f"array_{i}"
            name, k = stem, 1
            while name in used_names:
                k += 1
                name = f"{stem}_{k}"
            used_names.add(name)
            result.save(Path(save_dir) / f"{name}.skeleton", overwrite=overwrite)
    yield Progress(len(items), len(items), "skeleton statistics")
    return rows


def skeleton_statistics(
    inputs: Iterable[Any],
    params: SkeletonParams | Mapping[str, Any] | None = None,
    *,
    errors: str = "raise",
    save_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Per-skeleton totals of several movies, one row each (see
    :func:`iter_skeleton_statistics`). Write them with :func:`write_statistics_csv`.

    Examples
    --------
    >>> import numpy as np
    >>> rows = skeleton_statistics([np.zeros((4, 32, 32), np.uint16)])
    >>> rows[0]["n_branches"], rows[0]["path"]
    (0, '<array 0>')
    """
    return drive(iter_skeleton_statistics(inputs, params, errors=errors, save_dir=save_dir,
                                          overwrite=overwrite, **overrides))


def write_statistics_csv(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike, *,
                         overwrite: bool = False) -> Path:
    """Write statistics rows to a CSV file, atomically.

    Columns: :data:`STATISTICS_COLUMNS` first (those present in some row), then
    any other key in order of first appearance. Missing values are empty.
    """
    rows = [dict(r) for r in rows]
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    columns = [c for c in STATISTICS_COLUMNS if c in keys] + [
        k for k in keys if k not in STATISTICS_COLUMNS
    ]
    if not columns:
        columns = list(STATISTICS_COLUMNS)
    path = Path(path)
    with atomic_file(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for r in rows:
                writer.writerow({k: jsonable(v) for k, v in r.items()})
    return path
