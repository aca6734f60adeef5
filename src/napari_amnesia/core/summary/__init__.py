"""Summary images of a calcium-imaging movie, computed in one streaming pass.

Every image is computed from ONE read of the movie, one time chunk at a time, so
memory does not depend on the number of frames:

- ``mean``, ``max``, ``std`` (population standard deviation, ``ddof=0``);
- ``corr``: the local correlation image (CaImAn's ``local_correlations``);
- ``max_corr``: the maximum over consecutive time bins of the per-bin local
  correlation image (CaImAn's ``max_correlation_image``);
- ``pnr`` and ``corr_pnr``: the peak-to-noise ratio of the movie and the
  correlation image of the noise-normalized, thresholded movie (CaImAn's
  ``correlation_pnr``, used to seed CNMF-E on one-photon data). By default
  (``gsig=None``, CaImAn's default too) the movie is taken as it is; with
  ``gsig`` it is first filtered with CaImAn's spatial kernel (a one-photon
  option, sized to the neurons).

The per-pixel work (sums, sums of squares, maxima, products with the neighbours,
the spatial filter) runs in fused numba kernels: one sweep over each chunk does
what a plain-numpy implementation needs about fifteen passes for. The kernels
sum up to 64 frames in float32 (full SIMD width, buffers in the L1 cache) before
folding the sums into float64 accumulators. Without the spatial filter, the
"filtered" movie is the raw one: its mean and maximum are the raw ones and its
thresholded products are accumulated in the same sweep as the raw products.

The package
-----------
- :mod:`.params`: :class:`SummaryParams`, the parameters (CLI, dock, JSON);
- :mod:`.compute`: :func:`summary_images`, :func:`iter_summary_images`,
  :func:`local_correlations`;
- :mod:`.result`: :class:`SummaryImages`, with ``save``/``load``/``to_layers``;
- :mod:`.stream`: the one streaming pass, which uses :mod:`.reading` (chunks),
  :mod:`.spatial_filter` (CaImAn's one-photon kernel), :mod:`.noise` (the Welch
  noise spectrum) and :mod:`.correlation` (the fused moment kernels and the
  correlation images).

How the streaming estimates relate to CaImAn's in-memory definitions
--------------------------------------------------------------------
``mean``, ``max``, ``std``, ``corr``, ``max_corr`` and ``pnr``'s numerator are
exact (up to floating-point rounding): they are finished from per-pixel sums,
sums of squares and neighbour cross-products accumulated in float64 (over
float32 partial sums of at most 64 frames) after centring every pixel on its
value in the first frame. For integer movies of up to 16 bits, the float32
partial sums are exact while they stay below 2**24.

The noise level used by ``pnr`` is CaImAn's ``get_noise_fft`` quantity
(``noise_range=(0.25, 0.5)`` of the sampling rate, method ``'mean'``): the mean
of the periodogram ``|X_k|^2 / n`` over the frequency bins ``0.25 < k/n <= 0.5``.
A full-length FFT is not streamable, so the periodogram is averaged over
consecutive segments of ``noise_frames`` frames (a Welch estimate with a
rectangular window and no overlap; removing each segment's mean would change
only its zero-frequency bin, which is outside the band). The estimate is the
mean over *all* band bins of the segments used (a shorter last segment
contributes its own bins); like CaImAn, which uses 3072 frames at most, at most
``noise_max_frames`` frames (3072 by default; whole segments spread evenly over
the movie, the first included) are used. When the movie is no longer than one segment it is exactly
CaImAn's full-length estimate; otherwise it estimates the same spectral density
with the same number of degrees of freedom (T/4 bins) -- CaImAn itself uses only
3072 frames (three pieces of 1024 concatenated) when T > 3072.

``corr_pnr`` thresholds ``(filtered - mean) / noise`` at 3 before correlating.
That needs the mean and the noise before the pass is over; they are taken from
the first ``noise_frames`` frames (the first Welch segment: its FFT is done as
soon as its frames are read, before the chunk's sweep; chunks read before it is
complete, when ``chunk_frames < noise_frames``, are kept in memory until then).
When ``T <= noise_frames`` this is
exact; otherwise the threshold is a provisional one: per pixel, the noise is
known to about ``1/sqrt(noise_frames)`` (6 % for 256 frames) and a slow drift of
the baseline after the first segment shifts the threshold. The correlation
itself is insensitive to the per-pixel scale, so only which samples pass the
threshold is affected. The tests measure the difference against the exact
in-memory definition.

References
----------
.. [1] Giovannucci A. et al. (2019). CaImAn an open source tool for scalable
   calcium imaging data analysis. eLife 8:e38173. ``caiman.summary_images``:
   ``local_correlations``, ``max_correlation_image``, ``correlation_pnr``;
   ``caiman.source_extraction.cnmf.pre_processing.get_noise_fft``.
.. [2] Zhou P. et al. (2018). Efficient and accurate extraction of in vivo
   calcium signals from microendoscopic video data. eLife 7:e28728 (CNMF-E:
   peak-to-noise ratio and correlation images of the filtered movie).
.. [3] Welch P. (1967). The use of fast Fourier transform for the estimation of
   power spectra. IEEE Trans. Audio Electroacoust. 15(2):70-73.
"""

from .compute import (
    iter_local_correlations,
    iter_summary_images,
    local_correlations,
    summary_images,
)
from .params import SummaryParams
from .result import SummaryImages

__all__ = [
    "SummaryImages",
    "SummaryParams",
    "summary_images",
    "iter_summary_images",
    "local_correlations",
    "iter_local_correlations",
]
