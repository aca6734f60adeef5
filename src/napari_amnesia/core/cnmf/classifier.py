"""A small shipped classifier: the probability that a CNMF component is a cell.

The model is a logistic regression on the standardised features of
:mod:`.features` (shape, fit to the local correlation image, trace skewness,
decay shape, overlap, neuropil, SNR and r value). Its weights ship inside the
package (``classifier_weights.json``, read with :mod:`importlib.resources`: no
download) and it is evaluated with numpy alone.

It was trained by ``benchmarks/train_classifier.py`` on simulated scenes only
(:func:`training_scene`): planted somata found by a generous CNMF fit are the
cells; everything else the fit found — neurite fragments, out-of-focus cells (the
simulator's ``n_out_of_focus``: broad, dim, blurred cells of another plane), neuropil,
partial copies — is not. Most training scenes have ragged, unevenly bright somata
(the simulator's ``soma_irregularity``), as real ones are. The weights file records
the seeds, the scenes and the held-out scores.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from .features import FEATURE_NAMES, component_features

__all__ = [
    "FEATURE_NAMES",
    "WEIGHTS_FILE",
    "load_model",
    "cell_probability",
    "classify",
    "training_scene",
]

logger = logging.getLogger(__name__)

#: Name of the weights file inside ``napari_amnesia.core.cnmf``.
WEIGHTS_FILE = "classifier_weights.json"


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(WEIGHTS_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def load_model(path: Any = None) -> dict[str, Any]:
    """Return the classifier's weights: the shipped ones, or those of a JSON file.

    Parameters
    ----------
    path : str or path-like, optional
        A weights file written by ``benchmarks/train_classifier.py``.

    Returns
    -------
    dict
        ``features`` (names, in order), ``mean``, ``scale``, ``coef``,
        ``intercept`` and the training record (``trained_on``, ``held_out``...).

    Examples
    --------
    >>> model = load_model()
    >>> model["features"] == list(FEATURE_NAMES)
    True
    """
    if path is None:
        model = dict(_shipped())
    else:
        with open(path, encoding="utf-8") as fh:
            model = json.load(fh)
    missing = [k for k in ("features", "mean", "scale", "coef", "intercept") if k not in model]
    if missing:
        raise ValueError(f"classifier weights {path or WEIGHTS_FILE!s} lack {missing}.")
    return model


def cell_probability(features: Any, model: dict[str, Any] | None = None) -> np.ndarray:
    """Return the probability that each component is a cell, from its features.

    Parameters
    ----------
    features : array_like, shape (K, n_features)
        From :func:`~napari_amnesia.core.cnmf.features.component_features`
        (columns in the order of ``model["features"]``).
    model : dict, optional
        From :func:`load_model` (default: the shipped weights).

    Returns
    -------
    ndarray, shape (K,)
        In [0, 1].

    Examples
    --------
    >>> cell_probability(np.zeros((0, len(FEATURE_NAMES)))).shape
    (0,)
    """
    model = load_model() if model is None else model
    F = np.atleast_2d(np.asarray(features, np.float64))
    n = len(model["features"])
    if F.shape[-1] != n:
        raise ValueError(f"features should have {n} columns ({', '.join(model['features'])}),"
                         f" got shape {F.shape}.")
    z = (F - np.asarray(model["mean"])) / np.asarray(model["scale"])
    logit = z @ np.asarray(model["coef"], np.float64) + float(model["intercept"])
    return 0.5 * (1.0 + np.tanh(0.5 * logit))  # the logistic function, without overflow


def classify(result: Any, movie: Any = None, *, correlation_image: Any = None,
             model: dict[str, Any] | None = None) -> np.ndarray:
    """Return the cell probability of every component of a result.

    Parameters
    ----------
    result : SourceResult
        Evaluated (``snr`` and ``r_values`` set), as the model was trained.
    movie : array_like, shape (T, Y, X), optional
        The movie the result was fitted on: for the neuropil feature, and for the
        local correlation image when ``correlation_image`` is not given.
    correlation_image : array_like, shape (Y, X), optional
    model : dict, optional
        From :func:`load_model` (default: the shipped weights).

    Returns
    -------
    ndarray, shape (K,)
    """
    if correlation_image is None and movie is not None and result.K:
        from ..summary import local_correlations

        correlation_image = local_correlations(movie)
    F = component_features(result, movie, correlation_image=correlation_image)
    return cell_probability(F, model)


# --------------------------------------------------------------------------- training
def training_scene(seed: int, *, shape: tuple[int, int] = (96, 96), n_frames: int = 600,
                   frame_rate: float = 15.0, cell_density: float = 1.4e-3,
                   n_neurite_groups: int = 4, out_of_focus: int = 6,
                   gSig: float = 4.0, k_factor: float = 1.6,  # noqa: N803
                   decay_error: float = 1.0, irregularity: float = 0.0,
                   spike_amplitude: float | None = None) -> dict[str, Any]:
    """Simulate a scene, fit it generously and label each component (cell or not).

    The movie (:func:`~napari_amnesia.core.simulate.simulate`, two-photon, no
    motion) holds ``cell_density * Y * X`` somata, ``n_neurite_groups`` neurite
    trees, neuropil and background, somata as ragged as ``irregularity`` asks
    (the simulator's ``soma_irregularity``), and ``out_of_focus`` broad, dim,
    blurred cells of another plane (the simulator's ``n_out_of_focus``: twice the
    cells' radius, blur 3 px, a quarter of their brightness, their own spikes).
    CNMF then runs on the whole field with
    ``K = k_factor`` times the somata present and low thresholds, so that it also
    finds what is not a cell; the decay time it is given is the planted one times
    ``decay_error`` (a user's guess is seldom exact). A component matched one to one
    to a planted soma (:func:`~napari_amnesia.core.metrics.match_components`) is a
    cell; any other is not.

    Parameters
    ----------
    seed : int
        Seeds the simulation.
    shape, n_frames, frame_rate, cell_density, n_neurite_groups, out_of_focus
        The scene.
    irregularity : float
        The simulator's ``soma_irregularity`` (0: smooth ellipses).
    spike_amplitude : float, optional
        Mean ΔF/F of one spike (default: the simulator's).
    gSig, k_factor, decay_error
        The fit.

    Returns
    -------
    dict
        ``result`` (SourceResult, evaluated), ``movie``, ``correlation_image``,
        ``features`` ``(K, n_features)``, ``is_cell`` (bool, ``(K,)``) and ``truth``.
    """
    from ..metrics import match_components
    from ..simulate import simulate
    from ..summary import local_correlations
    from . import fit

    n_cells = max(2, int(round(cell_density * shape[0] * shape[1])))
    movie, truth = simulate(n_frames=n_frames, shape=shape, n_cells=n_cells,
                            n_neurite_groups=n_neurite_groups, motion=False,
                            frame_rate=frame_rate, dtype="float32", rng=seed,
                            soma_irregularity=irregularity, n_out_of_focus=out_of_focus,
                            out_of_focus_brightness=0.25, spike_amplitude=spike_amplitude)
    movie = np.asarray(movie, np.float32)
    K = max(2, int(np.ceil(k_factor * n_cells)))
    result = fit(movie, rf=None, gSig=gSig, K=K, fr=frame_rate,
                 decay_time=decay_error * truth.params["decay_time"], min_SNR=1.0, rval_thr=0.5,
                 compute_dff=False)
    ci = local_correlations(movie)
    is_cell = np.zeros(result.K, bool)
    if result.K:
        m = match_components(result.footprint_images(), truth.footprints)
        is_cell[m["pairs"][:, 0]] = True
    F = component_features(result, movie, correlation_image=ci)
    return {"result": result, "movie": movie, "correlation_image": ci, "features": F,
            "is_cell": is_cell, "truth": truth}
