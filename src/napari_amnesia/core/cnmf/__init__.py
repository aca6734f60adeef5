"""Source extraction: CNMF with patches, component evaluation, OASIS deconvolution, ΔF/F.

A re-implementation of the constrained non-negative matrix factorization of
Pnevmatikakis et al. (2016) and CaImAn (Giovannucci et al. 2019), built from the
published method; see the submodules.
"""
