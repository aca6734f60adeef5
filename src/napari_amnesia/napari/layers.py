"""Adding the core's layer data to a viewer.

The converters themselves (:mod:`napari_amnesia.core.layers`, re-exported here) build
napari *LayerData tuples* without importing napari; :func:`show` is the one place
they become layers.
"""

from __future__ import annotations

from ..core.layers import (
    SUMMARY_NAMES,
    ground_truth_layers,
    layer_name,
    movie_layer,
    provenance,
    summary_layers,
)

__all__ = [
    "layer_name",
    "provenance",
    "movie_layer",
    "summary_layers",
    "ground_truth_layers",
    "show",
    "SUMMARY_NAMES",
]


def show(viewer, layer_data: list[tuple]) -> list:
    """Add LayerData tuples to ``viewer``, updating in place layers of the same name.

    Returns the layers, in the order given.
    """
    shown = []
    for data, kwargs, layer_type in layer_data:
        name = kwargs.get("name")
        existing = next((layer for layer in viewer.layers if layer.name == name), None)
        if existing is not None and type(existing).__name__.lower() == layer_type:
            existing.data = data
            for key in ("contrast_limits", "features", "metadata"):
                if key in kwargs:
                    setattr(existing, key, kwargs[key])
            shown.append(existing)
            continue
        add = getattr(viewer, f"add_{layer_type}")
        shown.append(add(data, **kwargs))
    return shown
