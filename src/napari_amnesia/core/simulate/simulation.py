"""The entry point: :func:`simulate`, a whole movie in memory with its ground truth."""

from __future__ import annotations

import datetime as _dt
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from .params import SimulationParams, _resolve_seed
from .scene import build
from .truth import GroundTruth

__all__ = ["simulate"]

logger = logging.getLogger(__name__)


def _prepare(params: SimulationParams | Mapping[str, Any] | None,
             overrides: Mapping[str, Any]) -> GroundTruth:
    """Resolve the parameters and the seed, and build the scene (no pixels yet)."""
    from ... import __version__

    chosen = SimulationParams.resolve(params, overrides)
    resolved = chosen.resolved()
    seed = _resolve_seed(chosen.rng)
    resolved["rng"] = seed
    t0 = time.perf_counter()
    truth = build(resolved, seed)
    truth.provenance = {
        "version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "elapsed_s": round(time.perf_counter() - t0, 6),
    }
    return truth


def simulate(
    params: SimulationParams | Mapping[str, Any] | None = None, **overrides: Any
) -> tuple[np.ndarray, GroundTruth]:
    """Simulate a calcium-imaging movie and return it with its ground truth.

    The scene holds elliptic somata (soft edges, some pairs overlapping on purpose, a
    fraction with a dark nucleus), neurite trees organised in coactive groups, a
    spatially smooth neuropil following the population activity, and a low-rank
    background. Spikes are Poisson; calcium follows an AR(1) or AR(2) model [1]_ [2]_
    [3]_. The movie then gets exponential photobleaching, rigid random-walk motion plus
    a smooth non-rigid deformation [5]_, photon shot noise and Gaussian read noise.
    ``mode="one_photon"`` imitates a microendoscope [4]_: a bright, blurry background
    with its own fluctuations dominates larger, blurred cells at low SNR.

    Parameters
    ----------
    params : SimulationParams or dict, optional
        The parameters (see :class:`SimulationParams` for each one, its meaning,
        units and default); None: the defaults.
    **overrides
        Any parameter of :class:`SimulationParams` by name (``n_frames``, ``shape``,
        ``n_cells``, ``mode``, ``rng``...), applied on top of ``params``. Those
        marked "mode default" take the value of ``MODE_DEFAULTS[mode]`` when None.
        Every value lands in ``truth.params``.

    Returns
    -------
    movie : ndarray, shape (n_frames, rows, columns)
        The movie.
    truth : GroundTruth
        Everything planted (see :class:`GroundTruth`).

    Raises
    ------
    ValueError
        When a parameter is out of range; the message names it and its value.
    TypeError
        When a name is not a parameter.

    See Also
    --------
    write_simulated_movie : the same movie written to TIFF in bounded memory.

    Notes
    -----
    The movie is rendered in blocks of 32 frames (in parallel on dask's local threads)
    by the same renderer that :func:`write_simulated_movie`, :meth:`GroundTruth.render`,
    :meth:`GroundTruth.to_dask` and :meth:`GroundTruth.clean_frames` use; the noise of
    frame ``t`` comes from its own seeded stream, so the pixels do not depend on how the
    rendering is chunked or scheduled.

    References
    ----------
    .. [1] Vogelstein, J. T. et al. (2010). Fast nonnegative deconvolution for spike
       train inference from population calcium imaging. J. Neurophysiol. 104,
       3691-3704.
    .. [2] Pnevmatikakis, E. A. et al. (2016). Simultaneous denoising, deconvolution,
       and demixing of calcium imaging data. Neuron 89, 285-299.
    .. [3] Friedrich, J., Zhou, P. & Paninski, L. (2017). Fast online deconvolution of
       calcium imaging data. PLoS Comput. Biol. 13, e1005423.
    .. [4] Zhou, P. et al. (2018). Efficient and accurate extraction of in vivo calcium
       signals from microendoscopic video data. eLife 7, e28728.
    .. [5] Pnevmatikakis, E. A. & Giovannucci, A. (2017). NoRMCorre: an online
       algorithm for piecewise rigid motion correction of calcium imaging data.
       J. Neurosci. Methods 291, 83-94.

    Examples
    --------
    >>> movie, truth = simulate(n_frames=60, shape=(96, 96), n_cells=5,
    ...                         n_neurite_groups=2, branches_per_group=3, rng=3)
    >>> movie.shape, truth.footprints.shape, truth.branch_footprints.shape
    ((60, 96, 96), (5, 96, 96), (6, 96, 96))
    >>> truth.g.round(3)
    array([0.92])
    >>> bool(np.all(np.abs(truth.shifts) <= 4.0))
    True

    The same movie from a parameter object (or its dict, e.g. read from JSON):

    >>> p = SimulationParams(n_frames=60, shape=(96, 96), n_cells=5,
    ...                      n_neurite_groups=2, branches_per_group=3, rng=3)
    >>> again, _ = simulate(p.to_dict())
    >>> bool((again == movie).all())
    True
    """
    t0 = time.perf_counter()
    truth = _prepare(params, overrides)
    import dask.array as da

    movie = np.empty((truth.n_frames, *truth.shape), dtype=np.dtype(truth.params["dtype"]))
    # blocks of frames rendered in parallel by dask's local threads (numpy, scipy and
    # the random generators release the GIL); a local scheduler even when a
    # distributed client exists, since the result is a local array
    da.store(truth.to_dask(), movie, lock=False, scheduler="threads")
    truth.provenance["elapsed_s"] = round(time.perf_counter() - t0, 6)
    logger.debug("simulate: rendered %s", truth)
    return movie, truth
