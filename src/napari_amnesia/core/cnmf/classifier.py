"""A small shipped classifier: the probability that a CNMF component is a cell.

The model is a logistic regression on the standardised features of
:mod:`.features` (shape, fit to the local correlation image, trace skewness,
decay shape, overlap, neuropil, SNR and r value). Its weights ship inside the
package (``classifier_weights.json``, read with :mod:`importlib.resources`: no
download) and it is evaluated with numpy alone.

It was trained by ``benchmarks/train_classifier.py`` on simulated scenes only
(:func:`.training.training_scene`): planted somata found by a generous CNMF fit
are the cells; everything else the fit found — neurite fragments, out-of-focus
cells (the simulator's ``n_out_of_focus``: broad, dim, blurred cells of another
plane), neuropil, dendrite sections, noise in dark scan edges and vessel shadows,
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
from .training import training_scene  # noqa: F401 - re-exported: where the model learns

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
    >>> set(model["features"]) <= set(FEATURE_NAMES)
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
        From :func:`~napari_amnesia.core.cnmf.features.component_features`: either
        the columns of ``model["features"]``, in that order, or all of
        :data:`FEATURE_NAMES` (the model's columns are then picked by name).
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
    if F.shape[-1] == len(FEATURE_NAMES) != n and set(model["features"]) <= set(FEATURE_NAMES):
        F = F[:, [FEATURE_NAMES.index(name) for name in model["features"]]]
    if F.shape[-1] != n:
        raise ValueError(f"features should have {n} columns ({', '.join(model['features'])}),"
                         f" got shape {F.shape}.")
    z = (F - np.asarray(model["mean"])) / np.asarray(model["scale"])
    # a value far beyond the training scenes' counts as the farthest they showed: a
    # linear model must not extrapolate (a noisy r value on a short movie, a cell far
    # larger than the gSig given)
    clip = float(model.get("clip", np.inf))
    z = np.clip(z, -clip, clip)
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
