"""The summary-image functions: the stage entry points and the local correlation image.

:func:`summary_images` (and its generator twin :func:`iter_summary_images`) take a
:class:`~.params.SummaryParams`, a dict, or the parameters as keywords; the one
streaming pass is :func:`~.stream._run`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ... import __version__
from ..progress import Progress, ProgressGenerator, drive
from .params import SummaryParams
from .result import SummaryImages
from .stream import _run

__all__ = [
    "summary_images",
    "iter_summary_images",
    "local_correlations",
    "iter_local_correlations",
]

_UNSET: Any = object()


def _resolve(params: Any, overrides: dict[str, Any], gsig_alias: Any) -> SummaryParams:
    """``params`` (None, a dict or a SummaryParams) with keyword overrides and ``gSig``."""
    if gsig_alias is not _UNSET:
        overrides = {**overrides, "gsig": gsig_alias}
    return SummaryParams.resolve(params, overrides)


def iter_summary_images(
    movie: Any,
    params: SummaryParams | Mapping[str, Any] | None = None,
    *,
    prefetch: bool | None = None,
    gSig: Any = _UNSET,  # noqa: N803 - CaImAn's name, accepted as an alias
    **overrides: Any,
) -> ProgressGenerator[SummaryImages]:
    """Compute all summary images in one streaming pass, yielding progress.

    The generator twin of :func:`summary_images`: it yields
    ``Progress(done_frames, total_frames, "summary images")`` after each chunk
    and returns the :class:`~.result.SummaryImages`. Parameters are those of
    :func:`summary_images`.
    """
    del prefetch  # ignored (see summary_images)
    resolved = _resolve(params, overrides, gSig)
    raw = yield from _run(movie, resolved, filtered=True)
    info = dict(raw["info"])
    info["noise_mean_frame"] = float(np.mean(raw["noise"]))
    return SummaryImages(
        mean=raw["mean"], max=raw["max"], std=raw["std"], corr=raw["corr"],
        pnr=raw["pnr"], corr_pnr=raw["corr_pnr"], max_corr=raw["max_corr"],
        noise=raw["noise"], n_frames=raw["n_frames"], params=raw["params"], info=info,
        provenance={"version": __version__,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "elapsed_s": raw["elapsed"]},
    )


def summary_images(
    movie: Any,
    params: SummaryParams | Mapping[str, Any] | None = None,
    *,
    progress: Callable[[Progress], Any] | None = None,
    prefetch: bool | None = None,
    gSig: Any = _UNSET,  # noqa: N803 - CaImAn's name, accepted as an alias
    **overrides: Any,
) -> SummaryImages:
    """Compute mean, max, std, local correlation, PNR and max-correlation images.

    One pass over the movie, one time chunk at a time (memory independent of the
    number of frames).

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        numpy or dask array (or anything sliceable along time with a ``shape``)
        of any real dtype, ``T >= 2``. Only ``movie[t0:t1]`` is ever read.
    params : SummaryParams or dict, optional
        The parameters (default: :class:`~.params.SummaryParams`); keyword
        ``overrides`` change some of them.
    progress : callable, optional
        Called with each :class:`~napari_amnesia.core.progress.Progress`.
    prefetch : bool, optional
        Ignored, accepted so that earlier calls keep working: chunks are read one
        after the other (a reading thread beside the computation gained less than
        10 %, see ``benchmarks/bench_readahead.py``).
    gSig : float or (float, float) or None, optional
        CaImAn's name of ``gsig``.
    **overrides
        Parameters by name, as documented below (the fields of
        :class:`~.params.SummaryParams`).
    eight_neighbours : bool, optional
        Correlate each pixel with its 8 neighbours (True) or 4 (False); used for
        ``corr``, ``corr_pnr`` and ``max_corr``.
    gsig : float or (float, float) or None, optional
        Gaussian width in pixels of the spatial filter applied before ``pnr`` and
        ``corr_pnr`` (CaImAn's ``gSig``, also accepted as ``gSig=``); kernel size
        ``int(2 * gsig) * 2 + 1`` (13 for 3). Default ``None``: no filtering, as
        in CaImAn's ``correlation_pnr(Y, gSig=None)``; ``pnr`` and ``corr_pnr``
        then describe the raw movie and come at little extra cost. The filter is
        a one-photon (CNMF-E) option: give the expected neuron radius in pixels
        (CaImAn's CNMF-E demos use ``gSig=3`` for their data) to remove the
        smooth background before the peak-to-noise ratio is taken.
    center_psf : bool, optional
        Subtract from the Gaussian its mean over its central disk support and set
        it to 0 outside (CaImAn's default ``background_filter='disk'``), which
        removes the smooth one-photon background; False: a plain Gaussian blur.
    bin_size : int, optional
        Length in frames of the time bins of ``max_corr`` (CaImAn's default
        1000; the binning follows ``max_correlation_image`` exactly).
    chunk_frames : int, optional
        Frames read at a time. Default: about 256 MB of float32 per chunk, a
        multiple of ``noise_frames``. The result does not depend on it beyond
        floating-point rounding.
    nan_policy : {"raise"}, optional
        "raise": a ValueError naming the number of NaN (and infinite) values and
        the first frame holding one. (No other policy is implemented.)
    noise_frames : int, optional
        Segment length of the Welch estimate of the noise spectrum; the first
        segment also gives the provisional mean and noise that threshold
        ``corr_pnr`` (exact when ``T <= noise_frames``). Default 256 frames,
        fewer for frames larger than 512 x 512 (a segment is kept in memory).
    noise_range : (float, float), optional
        Frequency band, as fractions of the frame rate, whose mean power is the
        noise variance (CaImAn's ``noise_range``).
    corr_pnr_threshold : float, optional
        Values of (filtered - mean) / noise below it are set to 0 before
        ``corr_pnr`` is computed (CaImAn uses 3).
    noise_max_frames : int, optional
        At most this many frames (whole segments, evenly spaced over the movie,
        the first included) enter the noise estimate, as CaImAn's
        ``get_noise_fft(max_num_samples_fft=3072)`` uses 3072 frames (the first,
        middle and last 1024). The FFTs are the costliest part of the pass after
        the spatial filter; this bounds their cost for long movies.

    Returns
    -------
    SummaryImages
        ``(Y, X)`` float32 images ``mean``, ``max``, ``std``, ``corr``, ``pnr``,
        ``corr_pnr``, ``max_corr``, ``noise`` with ``n_frames``, ``params`` (a
        :class:`~.params.SummaryParams`), ``info`` and ``provenance``.

    Raises
    ------
    ValueError
        For a movie that is not 3-D with at least 2 frames, a bad option (the
        message names it and its value), or NaN / infinite values in the movie.

    Notes
    -----
    See the module documentation for how each streaming estimate relates to
    CaImAn's in-memory definition: everything is exact up to rounding except the
    noise (a Welch average of the same periodogram band; exact for
    ``T <= noise_frames``) and the ``corr_pnr`` threshold (mean and noise of the
    first ``noise_frames`` frames).

    References
    ----------
    .. [1] Giovannucci A. et al. (2019). CaImAn, eLife 8:e38173
       (``caiman.summary_images.correlation_pnr``, ``local_correlations``,
       ``max_correlation_image``; ``get_noise_fft``).

    Examples
    --------
    >>> import numpy as np
    >>> movie = np.random.default_rng(0).poisson(10, (200, 24, 32)).astype(np.uint16)
    >>> images = summary_images(movie)
    >>> images.corr.shape, images.corr.dtype
    ((24, 32), dtype('float32'))
    >>> one_photon = summary_images(movie, gsig=2)  # CNMF-E's filtered PNR
    """
    return drive(iter_summary_images(movie, params, prefetch=prefetch, gSig=gSig, **overrides),
                 progress)


def iter_local_correlations(
    movie: Any,
    *,
    eight_neighbours: bool = True,
    chunk_frames: int | None = None,
    nan_policy: str = "raise",
    prefetch: bool | None = None,
) -> ProgressGenerator[np.ndarray]:
    """Compute the local correlation image, yielding progress (see :func:`local_correlations`)."""
    params = SummaryParams(
        eight_neighbours=eight_neighbours, gsig=None, center_psf=True,
        bin_size=max(2, int(movie.shape[0]) if hasattr(movie, "shape") and
                     len(movie.shape) == 3 else 2),
        chunk_frames=chunk_frames, nan_policy=nan_policy, noise_frames=None,
        noise_range=(0.25, 0.5), corr_pnr_threshold=3.0,
    )
    del prefetch  # ignored (see summary_images)
    raw = yield from _run(movie, params, filtered=False)
    return raw["corr"]


def local_correlations(
    movie: Any,
    *,
    eight_neighbours: bool = True,
    chunk_frames: int | None = None,
    nan_policy: str = "raise",
    prefetch: bool | None = None,
) -> np.ndarray:
    """Local correlation image, streaming over time chunks.

    Same definition as CaImAn's ``local_correlations``: for each pixel, the mean
    over its 4 or 8 neighbours of the Pearson correlation over time between the
    pixel and the neighbour; border pixels average over the neighbours they
    have; a constant pixel has correlation 0 with everything. Computed from
    per-pixel sums, sums of squares and the products with 4 neighbour offsets
    (right, down, down-right, down-left; the other 4 follow by symmetry),
    accumulated in float64 after centring each pixel on its first-frame value.

    Parameters
    ----------
    movie : array_like, shape (T, Y, X)
        numpy or dask array of any real dtype, ``T >= 2``.
    eight_neighbours : bool, optional
        8 neighbours (True) or 4 (False).
    chunk_frames, nan_policy, prefetch
        As in :func:`summary_images`.

    Returns
    -------
    ndarray, shape (Y, X), float32
        The local correlation image.

    References
    ----------
    .. [1] Giovannucci A. et al. (2019). CaImAn, eLife 8:e38173
       (``caiman.summary_images.local_correlations``).
    .. [2] Smith S. L., Häusser M. (2010). Parallel processing of visual space by
       neighboring neurons in mouse visual cortex. Nat. Neurosci. 13:1144-1149.
    """
    return drive(iter_local_correlations(
        movie, eight_neighbours=eight_neighbours, chunk_frames=chunk_frames,
        nan_policy=nan_policy, prefetch=prefetch,
    ))
