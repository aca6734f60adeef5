"""Synthetic calcium-imaging movies with a complete ground truth.

:func:`simulate` builds a static scene (somata, neurite trees, neuropil and background),
draws activity for every source, then renders the movie frame by frame with
photobleaching, rigid and non-rigid motion, photon shot noise and read noise. The
returned :class:`GroundTruth` holds everything that was planted — footprints, traces,
spikes, AR coefficients, the branch graph and its coactive groups, background
components, shifts and the non-rigid displacement field — so every stage of
napari-amnesia can be tested by recovering it. :func:`write_simulated_movie` renders
the same movie straight to a TIFF file in bounded memory (benchmarks, ``amnesia demo``).

The package, by what each part does
-----------------------------------
- :mod:`.params` — :class:`SimulationParams`, every argument of :func:`simulate`
  (help, units, the essentials a user sets), mode defaults and validation;
- the scene, what is planted: :mod:`.cells` (soma positions and shapes),
  :mod:`.neurites` (branching trees and their graph), :mod:`.activity` (spikes and
  calcium), :mod:`.motion` (rigid shifts and the non-rigid field);
- the one-photon (miniscope) scene: :mod:`.one_photon` (out-of-focus population,
  neuropil haze, presets) and :mod:`.vessels` (vignetting, illumination fall-off,
  vessels' shadows);
- the rendering: :mod:`.background` (neuropil, low-rank background, bleaching),
  :mod:`.noise` (shot and read noise), :mod:`.rendering` (the scene turned into
  frames);
- :mod:`.scene` assembles a :class:`GroundTruth` (:mod:`.truth`: what was planted,
  label images, noiseless renderings); :mod:`.simulation` is :func:`simulate`;
- :mod:`.writing` streams a movie to a TIFF file in bounded memory.

Image model
-----------
With footprints normalised to unit L2 norm (the CNMF convention), the expected movie
of frame ``t`` *before motion* is::

    scene_t = sum_k footprints[k] * (baseline[k] + traces[k, t])
            + sum_b branch_footprints[b] * (branch_baseline[b] + branch_traces[b, t])
            + sum_j background_spatial[j] * background_temporal[j, t]
    expected_t = offset + bleaching[t] * scene_t     (then moved, see below)

and the recorded frame adds photon shot noise of variance ``gain * bleaching[t] *
scene_t`` and Gaussian read noise of standard deviation ``read_noise`` (all values are
in movie counts).

Calcium follows the autoregressive model of Vogelstein et al. (2010) and Pnevmatikakis
et al. (2016): ``traces[k, t] = sum_i g[i] * traces[k, t - 1 - i] + spikes[k, t]``
exactly, with ``spikes`` the Poisson spike counts times a per-cell amplitude. For
``ar_order=1``, ``g = exp(-1 / (decay_time * frame_rate))``; for ``ar_order=2`` the
two roots are the decay and rise factors ``d = exp(-1 / (decay_time * frame_rate))``
and ``r = exp(-1 / (rise_time * frame_rate))``, ``g = (d + r, -d * r)`` (Friedrich,
Zhou & Paninski 2017).

Motion convention
-----------------
``shifts[t] = (dy, dx)`` is the displacement of the *content* of frame ``t`` relative
to the reference (unmoved) scene: an object at ``(r, c)`` in the reference appears at
``(r + dy, c + dx)`` in frame ``t``, i.e. ``frame_t = scipy.ndimage.shift(reference,
shifts[t])``. Motion correction undoes it by shifting frame ``t`` by ``-shifts[t]``.
The non-rigid part follows the same convention: ``GroundTruth.displacement(t)`` is the
total (rigid + non-rigid) displacement field ``d`` of frame ``t`` sampled on the pixel
grid *of that frame*, and the frame is rendered as ``frame_t[o] = reference[o - d(o)]``
for every pixel ``o`` (bilinear interpolation). The field is smooth (three
low-frequency cosine modes; NoRMCorre [5]_ models motion the same way, piecewise), so
``d(o)`` and ``d(o - d(o))`` differ by at most ``|grad d| * |d|`` (a few tenths of a
pixel at most): :meth:`GroundTruth.frame_to_reference` maps frame positions to the
reference exactly and :meth:`GroundTruth.reference_to_frame` inverts it.

References
----------
.. [1] Vogelstein, J. T. et al. (2010). Fast nonnegative deconvolution for spike train
   inference from population calcium imaging. J. Neurophysiol. 104, 3691-3704.
.. [2] Pnevmatikakis, E. A. et al. (2016). Simultaneous denoising, deconvolution, and
   demixing of calcium imaging data. Neuron 89, 285-299.
.. [3] Friedrich, J., Zhou, P. & Paninski, L. (2017). Fast online deconvolution of
   calcium imaging data. PLoS Comput. Biol. 13, e1005423.
.. [4] Zhou, P. et al. (2018). Efficient and accurate extraction of in vivo calcium
   signals from microendoscopic video data. eLife 7, e28728.
.. [5] Pnevmatikakis, E. A. & Giovannucci, A. (2017). NoRMCorre: an online algorithm
   for piecewise rigid motion correction of calcium imaging data. J. Neurosci. Methods
   291, 83-94.
.. [6] Chen, T.-W. et al. (2013). Ultrasensitive fluorescent proteins for imaging
   neuronal activity. Nature 499, 295-300.

Examples
--------
>>> movie, truth = simulate(n_frames=40, shape=(64, 64), n_cells=4, rng=1)
>>> movie.shape, movie.dtype.name
((40, 64, 64), 'uint16')
>>> truth.footprints.shape, truth.traces.shape
((4, 64, 64), (4, 40))
"""

from __future__ import annotations

from .activity import ar_coefficients
from .neurites import attach_somata
from .one_photon import ONE_PHOTON_PRESETS, one_photon_params
from .params import MODE_DEFAULTS, SimulationParams
from .simulation import simulate
from .truth import GroundTruth, label_footprints
from .writing import iter_write_simulated_movie, write_simulated_movie

__all__ = [
    "attach_somata",
    "label_footprints",
    "GroundTruth",
    "simulate",
    "write_simulated_movie",
    "iter_write_simulated_movie",
    "ar_coefficients",
    "MODE_DEFAULTS",
    "SimulationParams",
    "ONE_PHOTON_PRESETS",
    "one_photon_params",
]
