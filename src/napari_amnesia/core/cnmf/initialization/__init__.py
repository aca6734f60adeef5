"""Initial footprints and traces for CNMF: greedy seeds, sparse NMF, user seeds.

All three return an :class:`Initialization`: dense footprints ``A`` ``(P, K)``
(pixels in C order, ``p = row * X + column``), traces ``C`` ``(K, T)``, and a
background ``b`` ``(P, gnb)``, ``f`` ``(gnb, T)`` with ``Y ≈ A C + b f`` for the
movie ``Y`` seen as a ``(T, P)`` matrix. They work on a movie (or a patch of one)
held in memory; :func:`~napari_amnesia.core.cnmf.fit` calls them per patch.

Greedy initialisation (:func:`greedy_roi`)
------------------------------------------
The method of Pnevmatikakis et al. (2016, Methods, "Initialization") [1]_:

1. Each pixel's median over time is subtracted and the result divided by the
   pixel's noise level ``sn`` (so bright and dim regions compete on SNR), then the
   dominant slow background fluctuation is regressed out (rank 1: the per-frame
   median over pixels, robust to the cells).
2. Every frame is filtered with a Gaussian of width ``gSig`` truncated to the cell
   box ``gSiz`` (a matched filter for a cell); the "energy" of a pixel is the sum
   of squares of its filtered trace over the movie, or its largest sum over
   ``rolling_length`` consecutive frames (``rolling_sum``: finds cells that fire
   rarely). The energy is divided by what white noise alone would give, so the
   score of a pixel is a local signal-to-noise ratio.
3. The best pixel seeds a component: a rank-1 non-negative factorisation of the
   data in the ``gSiz`` box around it (``nIter`` alternating updates) gives its
   footprint and trace, which are subtracted from the data (and, the filter being
   linear, their filtered version from the filtered data), and the scores around it
   are recomputed.
4. A seed is kept only if its rank-1 component explains more than white noise
   would in its box (the largest singular value of an ``n``-pixel, ``T``-frame noise
   matrix, ``(sqrt(T) + sqrt(n))^2``, Marchenko-Pastur). The search stops after
   ``K`` components, when the best score is at the level white noise reaches, or
   after three rejected seeds in a row (so ``K`` larger than the number of cells
   does not invent components).
5. The background is a rank-``gnb`` NMF of the data minus the components.

References
----------
.. [1] Pnevmatikakis, E. A. et al. (2016). Simultaneous denoising, deconvolution, and
   demixing of calcium imaging data. Neuron 89, 285-299.
.. [2] Giovannucci, A. et al. (2019). CaImAn, an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173.
.. [3] Cichocki, A. & Phan, A.-H. (2009). Fast local algorithms for large scale
   nonnegative matrix and tensor factorizations. IEICE Trans. Fundamentals E92-A,
   708-721 (HALS).
.. [4] Hoyer, P. O. (2004). Non-negative matrix factorization with sparseness
   constraints. JMLR 5, 1457-1469 (sparse NMF).
Modules
-------
:mod:`.common` (:class:`Initialization` and shared helpers), :mod:`.background`,
:mod:`.greedy`, :mod:`.nmf` (sparse NMF), :mod:`.seeds`.
"""

from .background import background_nmf
from .common import (
    NOISE_FRAMES,
    Initialization,
    all_finite,
    as_matrix,
    fill_nonfinite,
    gaussian_matrix,
    nonfinite_pixels,
    pixel_noise,
)
from .greedy import greedy_roi
from .nmf import sparse_nmf
from .seeds import find_seeds, seed_masks, seeded

__all__ = ["Initialization", "greedy_roi", "sparse_nmf", "seeded", "seed_masks", "find_seeds",
           "background_nmf", "fill_nonfinite", "nonfinite_pixels", "pixel_noise",
           "all_finite", "as_matrix", "gaussian_matrix", "NOISE_FRAMES"]
