"""Open a results folder in napari (what ``amnesia demo --view`` does).

:func:`load_results` adds the movie (lazily, through this plugin's reader), the
summary images and the ground truth of a results folder to a viewer, and docks
the trace plot; :func:`view_results` does it in a new viewer and runs napari.
:func:`open_docks` opens every dock of the plugin (the stage docks share one
tabbed area, the trace dock sits below them) and :func:`raise_dock` brings one
to the front.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

__all__ = ["load_results", "view_results", "open_docks", "raise_dock"]

PLUGIN = "napari-amnesia"


def open_docks(viewer, names=None) -> dict:
    """Open the plugin's docks in ``viewer``; return ``{display name: widget}``.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    names : list of str, optional
        Display names of the docks (``"Source extraction"``...); all of the
        manifest's widgets by default. A dock already open is returned as it is.
    """
    import npe2

    if names is None:
        manager = npe2.PluginManager.instance()
        names = [w.display_name for w in manager.get_manifest(PLUGIN).contributions.widgets]
    return {name: viewer.window.add_plugin_dock_widget(PLUGIN, name)[1] for name in names}


def raise_dock(widget) -> None:
    """Show the dock holding ``widget`` (a dock's widget) in front of its tabbed area."""
    native = getattr(widget, "native", widget)
    dock = native.parent()
    if dock is not None:
        dock.show()
        dock.raise_()


def load_results(viewer, folder) -> list:
    """Add the layers of a results folder to ``viewer``; return them."""
    import tifffile

    from ..core.summary.result import FILE_NAMES
    from .layers import layer_name, provenance, show, summary_layers

    folder = Path(folder)
    if not (folder / "summary.json").is_file():
        raise FileNotFoundError(f"{folder} is not a napari-amnesia results folder "
                                "(no summary.json).")
    layers = []
    source = folder.name  # a batch's results folders are named after their recordings
    if (folder / "movie.tif").is_file():
        layers += viewer.open(folder / "movie.tif", plugin="napari-amnesia")
        source = layers[0].name
    corrected = folder / "motion" / "corrected.tif"
    if corrected.is_file():
        [layer] = viewer.open(corrected, plugin="napari-amnesia")
        layer.name = layer_name(source, "corrected")
        layers.append(layer)
    images = {}
    for attr, stem in FILE_NAMES.items():
        path = folder / "summary" / f"{stem}.tif"
        if path.is_file():
            images[attr] = tifffile.imread(path)
    if images:
        layers += show(viewer, summary_layers(SimpleNamespace(**images), source))
    # the true ROIs aligned with the summary images (of the corrected movie) when they moved
    rois = folder / "ground_truth" / "rois_aligned.tif"
    if not rois.is_file():
        rois = folder / "ground_truth" / "rois.tif"
    if rois.is_file():
        labels = tifffile.imread(rois).astype(np.int32)
        layers += show(viewer, [(labels, {"name": layer_name(source, "ground truth ROIs"),
                                          "opacity": 0.4,
                                          "metadata": provenance("ground truth", source)},
                                 "labels")])
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces")
    corrected_layer = next((layer for layer in layers
                            if layer.name == layer_name(source, "corrected")), None)
    if corrected_layer is not None:
        # traces of the true ROIs (aligned with the corrected movie) come from that movie
        dock.movie.value = corrected_layer
    return layers


def view_results(folder) -> None:
    """Open ``folder`` in a new napari window and run napari until it is closed."""
    import napari

    viewer = napari.Viewer(title=f"napari-amnesia: {Path(folder).name}")
    load_results(viewer, folder)
    napari.run()
