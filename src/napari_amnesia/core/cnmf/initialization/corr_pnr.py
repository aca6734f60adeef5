"""CNMF-E's correlation and peak-to-noise images, as the one-photon fit computes them.

:func:`correlation_pnr` is what :func:`~napari_amnesia.core.cnmf.fit` computes with
``method_init="corr_pnr"`` before it seeds: the summary stage's ``corr_pnr`` and
``pnr`` images (one streaming pass over time chunks, memory independent of the
movie's length) with the fit's ``gSig`` and ``center_psf``. A seed picker that
passes these images to :func:`~.seeds.find_seeds` with the fit's ``min_corr``,
``min_pnr`` and ``gSig`` gets exactly the seeds of the fit's first pass.

References
----------
.. [1] Zhou, P. et al. (2018). Efficient and accurate extraction of in vivo calcium
   signals from microendoscopic video data. eLife 7, e28728.
.. [2] Giovannucci, A. et al. (2019). CaImAn, an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173 (``correlation_pnr``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["correlation_pnr"]


def correlation_pnr(
    movie: Any,
    *,
    gSig: float | tuple[float, float],  # noqa: N803 - CaImAn's name
    center_psf: bool = True,
    progress: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Correlation and PNR images of the spatially filtered movie (CNMF-E's seeding images).

    Every frame is filtered with CaImAn's ``correlation_pnr`` kernel (a Gaussian of
    width ``gSig``, size ``int(2 * gSig) * 2 + 1``, minus its mean over its disk
    support when ``center_psf``: a matched filter that removes the smooth
    background); the PNR is the largest value of each filtered pixel over time
    (minus its mean) divided by its noise level; the correlation image is the local
    correlation of the filtered movie divided by its noise and thresholded at 3.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        numpy or dask array; read one time chunk at a time.
    gSig : float or (float, float)
        Cell radius in pixels (the fit's ``gSig``).
    center_psf : bool
        The fit's ``center_psf``.
    progress : callable, optional
        Called with each :class:`~napari_amnesia.core.progress.Progress`.

    Returns
    -------
    correlation, pnr : ndarray, shape (Y, X), float32
        ``summary_images(movie, gsig=gSig, center_psf=center_psf)``'s ``corr_pnr``
        and ``pnr``.
    """
    from ...summary import summary_images

    images = summary_images(movie, gsig=gSig, center_psf=center_psf, progress=progress)
    return (np.asarray(images.corr_pnr, np.float32), np.asarray(images.pnr, np.float32))
