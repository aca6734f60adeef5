"""The CNMF updates: HALS, spatial, temporal, merging — in memory or streamed.

The model of Pnevmatikakis et al. (2016) [1]_: the movie seen as a ``(T, P)``
matrix ``Y`` (pixels in C order) is ``Y ≈ (A C + b f)^T + noise`` with non-negative
footprints ``A`` ``(P, K)`` (sparse, CSC), calcium traces ``C`` ``(K, T)`` following
an autoregressive model, and a low-rank background ``b`` ``(P, gnb)``, ``f``
``(gnb, T)``. Each update below solves for one factor with the others fixed.

The movie enters only through products with it (``Y C^T`` on the supports, ``A^T
Y``, ``b^T Y``, each pixel's ``|y|^2``), computed by :class:`Frames` in one pass over
time chunks: a movie held in memory is read as views, a lazy (dask) movie is read
chunk by chunk as dask tasks, so the whole field never needs to be in memory.

Spatial update (:func:`update_spatial`)
---------------------------------------
Each pixel ``p`` is regressed on the traces of the components whose *dilated*
support contains it (the support grown by ``support_dilation`` pixels: a
footprint can grow, not jump) plus the background traces, with non-negative
coefficients. CaImAn solves this per pixel by LARS stopped where the residual
reaches the noise level, ``|y_p - a_p [C; f]|^2 <= sn_p^2 T`` ([1]_, eq. 9 and
"Spatial update"). Here the same solution is reached without LARS:

* ``method_ls="nnls"``: the non-negative least-squares solution, by coordinate
  descent on the small Gram matrix of the pixel's active traces (exact).
* ``method_ls="lasso_lars"`` (default): the noise-constrained one. LARS computes the
  lasso path ``min 1/2 |y_p - a [C; f]|^2 + lam |a_neurons|_1``, ``a >= 0``, and
  stops at the ``lam`` where the residual equals ``sn_p^2 T``. The residual of the
  lasso solution grows monotonically with ``lam``, so that point is found by
  bisection on ``lam`` (30 steps, each a warm-started coordinate descent): the
  plain NNLS fit when its residual is already above the noise level, all-zero
  neural coefficients when the background alone fits the pixel within the noise,
  and otherwise the largest ``lam`` whose residual is at most ``sn_p^2 T`` — the
  sparsest fit the noise allows, as LARS gives. The background coefficients are
  never penalised. ``sn_p`` is the noise level *as CaImAn computes it*
  (:func:`caiman_noise_scale`: its PSD average is not debiased, 0.75 of the true
  level for ``"logmexp"``), so the same data get the same sparsity as with
  CaImAn; with the true level the bound would fall inside the residual's own
  random fluctuation (``sn^2 sqrt(2T)``) and zero about half of the weak pixels at
  random.

The footprints are then cleaned as in [1]_/[2]_: values below ``maxthr`` times the
footprint's maximum are dropped, only the largest pixels holding ``nrgthr`` of its
energy are kept, and (``extract_cc``) only its connected piece (8-connectivity) of
largest energy. Footprints are scaled to unit L2 norm, the traces by the inverse,
and empty components are dropped.

Temporal update (:func:`update_temporal`)
-----------------------------------------
Block-coordinate descent over groups of components whose footprints do not overlap
([1]_, "Temporal update"; CaImAn's ``update_order``): for a group, the *raw trace*
of each member is its footprint's projection of the movie minus the background and
the other components, ``y_k = c_k + a_k^T (Y - b f - A C) / |a_k|^2`` — members of a
group do not overlap, so they are independent — and it is deconvolved by OASIS
(:func:`~napari_amnesia.core.cnmf.deconvolution.deconvolve_many`) into calcium
``c_k``, activity ``s_k``, a baseline, AR coefficients and a sparsity penalty. The
*residual trace* is ``y_k - c_k`` (it holds the baseline, as CaImAn's ``YrA``:
``traces + residual_traces`` is the raw trace). After each pass the background
traces get a HALS update. ``ITER`` passes.

Merging (:func:`merge_components`)
----------------------------------
Components that share pixels and whose traces correlate above ``merge_thr`` are
grouped (connected pieces of that graph); each group becomes one component, the
best rank-1 non-negative approximation of ``sum_k a_k (c_k + r_k)^T`` on the union
of their supports (alternating updates, [1]_ "Merging"), deconvolved again.

References
----------
.. [1] Pnevmatikakis, E. A. et al. (2016). Simultaneous denoising, deconvolution, and
   demixing of calcium imaging data. Neuron 89, 285-299.
.. [2] Giovannucci, A. et al. (2019). CaImAn, an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173.
.. [3] Cichocki, A. & Phan, A.-H. (2009). Fast local algorithms for large scale
   nonnegative matrix and tensor factorizations. IEICE Trans. Fundamentals E92-A,
   708-721.
.. [4] Friedrich, J., Zhou, P. & Paninski, L. (2017). Fast online deconvolution of
   calcium imaging data. PLoS Comput. Biol. 13, e1005423.
Modules
-------
:mod:`.frames` (the movie's products with the factors), :mod:`.spatial`,
:mod:`.temporal`, :mod:`.background` (HALS), :mod:`.merging`.
"""

from .background import hals, update_background_traces
from .frames import Frames, as_frames, float_rows
from .merging import merge_components, overlapping_pairs, pair_correlation
from .spatial import (
    caiman_noise_scale,
    dilated_supports,
    normalize_components,
    threshold_components,
    update_spatial,
)
from .temporal import Deconvolution, TemporalResult, overlap_groups, project, update_temporal

__all__ = [
    "Frames",
    "Deconvolution",
    "TemporalResult",
    "hals",
    "update_spatial",
    "threshold_components",
    "update_temporal",
    "update_background_traces",
    "merge_components",
    "overlap_groups",
    "normalize_components",
    "caiman_noise_scale",
    "overlapping_pairs",
    "pair_correlation",
    "as_frames",
    "float_rows",
    "dilated_supports",
    "project",
]
