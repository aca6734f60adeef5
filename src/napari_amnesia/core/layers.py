"""Result → layer converters, with deterministic names (no napari import).

Each converter returns napari *LayerData tuples* ``(data, kwargs, layer_type)``:
plain data and keyword arguments, so the same output serves readers, sample data,
widgets, the console and the results' own ``to_layers()`` methods, and the core
stays free of napari. :func:`napari_amnesia.napari.layers.show` adds them to a
viewer, or updates in place a layer of the same name (re-running a stage refreshes
its layers instead of piling up copies).

Names are ``"<source> · <what>"``. Every layer carries one namespaced metadata key,
``layer.metadata["napari_amnesia"] = {"stage", "source", "params", "version"}``.
"""

from __future__ import annotations

import numpy as np

from .. import __version__

__all__ = [
    "layer_name",
    "provenance",
    "movie_layer",
    "summary_layers",
    "ground_truth_layers",
    "SUMMARY_NAMES",
]

#: Summary image attribute → the word used in layer names and file names.
SUMMARY_NAMES = {
    "mean": "mean",
    "max": "max",
    "std": "std",
    "corr": "correlation",
    "pnr": "PNR",
    "corr_pnr": "correlation (PNR)",
    "max_corr": "max correlation",
}


def layer_name(source: str, what: str) -> str:
    """Return the deterministic name of a layer: ``"<source> · <what>"``.

    Examples
    --------
    >>> layer_name("movie.tif", SUMMARY_NAMES["corr"])
    'movie.tif · correlation'
    """
    return f"{source} · {what}"


def provenance(stage: str, source: str, params: dict | None = None) -> dict:
    """Return the ``metadata`` entry every napari-amnesia layer carries.

    Examples
    --------
    >>> meta = provenance("summary", "movie.tif", {"gSig": 3})
    >>> sorted(meta["napari_amnesia"])
    ['params', 'source', 'stage', 'version']
    >>> meta["napari_amnesia"]["stage"], meta["napari_amnesia"]["params"]
    ('summary', {'gSig': 3})
    """
    return {
        "napari_amnesia": {
            "stage": stage,
            "source": source,
            "params": dict(params or {}),
            "version": __version__,
        }
    }


def movie_layer(movie, name: str, *, contrast_limits=None, metadata: dict | None = None):
    """Return the LayerData for a (T, Y, X) movie, lazy if ``movie`` is a dask array.

    Contrast limits are estimated from sampled frames when not given (napari would
    otherwise compute them on the whole lazy movie). napari's dask cache is off for
    the layer: that cache is shared by every dask computation while a frame is
    sliced, and is not thread-safe, so a stage or a trace read computing in a worker
    at the same time failed at random with a ``KeyError`` of dask's cache.
    """
    from .io import contrast_limits as estimate_limits

    if contrast_limits is None:
        contrast_limits = estimate_limits(movie)
    meta = provenance("movie", name)
    meta.update(metadata or {})
    kwargs = {
        "name": name,
        "contrast_limits": [float(contrast_limits[0]), float(contrast_limits[1])],
        "multiscale": False,
        "colormap": "gray",
        "metadata": meta,
        "cache": False,
    }
    return (movie, kwargs, "image")


def _limits(image: np.ndarray) -> list[float]:
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return [0.0, 1.0]
    lo, hi = np.percentile(finite, [0.5, 99.8])
    if hi <= lo:
        hi = lo + 1.0
    return [float(lo), float(hi)]


def summary_layers(summary, source: str) -> list[tuple]:
    """Return LayerData for every image of a :class:`~napari_amnesia.core.summary.SummaryImages`.

    Only the mean image is visible at first; the others are stacked, hidden, above it.
    """
    params = getattr(summary, "params", None) or {}
    params = params.to_dict() if hasattr(params, "to_dict") else dict(params)
    colormaps = {"corr": "viridis", "pnr": "magma", "corr_pnr": "viridis", "max_corr": "viridis"}
    out = []
    for attr, word in SUMMARY_NAMES.items():
        image = getattr(summary, attr, None)
        if image is None:
            continue
        image = np.asarray(image, dtype=np.float32)
        kwargs = {
            "name": layer_name(source, word),
            "colormap": colormaps.get(attr, "gray"),
            "contrast_limits": _limits(image),
            "visible": attr == "mean",
            "blending": "translucent",
            "metadata": provenance("summary", source, params),
        }
        out.append((image, kwargs, "image"))
    return out


def ground_truth_layers(truth, source: str) -> list[tuple]:
    """Return LayerData for a simulation's ground truth: soma ROIs and neurite branches as Labels.

    The soma Labels layer carries a ``features`` table (``index`` = label value) with
    the area and peak of each footprint.
    """
    layers = []
    soma = np.asarray(truth.labels(), dtype=np.int32)
    ids = np.arange(1, len(truth.footprints) + 1)
    areas = np.array([(soma == i).sum() for i in ids])
    features = {"index": ids, "area": areas, "accepted": np.ones(len(ids), bool)}
    layers.append(
        (
            soma,
            {
                "name": layer_name(source, "ground truth ROIs"),
                "features": features,
                "opacity": 0.4,
                "metadata": provenance("ground truth", source, getattr(truth, "params", {})),
            },
            "labels",
        )
    )
    branch_labels = getattr(truth, "branch_labels", None)
    if callable(branch_labels):
        branches = np.asarray(branch_labels(), dtype=np.int32)
        if branches.any():
            layers.append(
                (
                    branches,
                    {
                        "name": layer_name(source, "ground truth branches"),
                        "opacity": 0.5,
                        "visible": False,
                        "metadata": provenance("ground truth", source, {}),
                    },
                    "labels",
                )
            )
    return layers
