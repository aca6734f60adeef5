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

Modules
-------
- :mod:`.params`: :class:`SkeletonParams`, the parameters of steps 1-8.
- :mod:`.image`: steps 1-5, from the movie to the binary structure (summary
  image, equalization, smoothing, local threshold, mask clean-up).
- :mod:`.somata`: step 6's somata (:func:`find_somata`), each made one node.
- :mod:`.graph`: steps 7-8, pruning (:func:`prune_skeleton`) and the branch
  graph (:func:`skeleton_graph`: branches, junctions, endpoints, paths, labels).
- :mod:`.result`: :class:`SkeletonResult`, saved to and loaded from a folder,
  and turned into napari layer data (:meth:`SkeletonResult.to_layers`).
- :mod:`.run`: the entry points :func:`skeletonize` / :func:`iter_skeletonize`.
- :mod:`.statistics`: totals of several movies (:func:`skeleton_statistics`,
  :func:`write_statistics_csv`).

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

from .graph import BRANCH_TYPES, prune_skeleton, skeleton_graph
from .params import SkeletonParams
from .result import PREVIEWS, SkeletonResult
from .run import iter_skeletonize, skeletonize
from .somata import find_somata
from .statistics import (
    STATISTICS_COLUMNS,
    iter_skeleton_statistics,
    skeleton_statistics,
    write_statistics_csv,
)

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
    "PREVIEWS",
]
