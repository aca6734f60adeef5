"""The Curate ROIs dock's Shapes-layer edits: *Draw shapes*, *Split by line*, *Add shapes*.

Lines (and paths) drawn in the dock's *shapes* layer split ROIs; polygons, ellipses
and rectangles become new ROIs. Each function takes the dock
(:class:`~napari_amnesia.napari.widgets.curation.CurationWidget`), reads the shapes,
hands them to the dock's editor (:class:`~napari_amnesia.core.curation.Curation`)
through the dock's ``_do`` (one undo step, then the layer is redrawn), removes the
shapes used and returns what the dock's method of the same name returns.
"""

from __future__ import annotations

import numpy as np

from ..layers import layer_name, provenance

__all__ = ["AREA_SHAPES", "LINE_SHAPES", "draw_shapes", "split_by_line", "add_shapes"]

#: Shape types that become new ROIs.
AREA_SHAPES = ("polygon", "ellipse", "rectangle")
#: Shape types that split a ROI.
LINE_SHAPES = ("line", "path")


def shapes_of(dock, kinds: tuple[str, ...]):
    """Return the dock's shapes layer and the indices of its shapes of type ``kinds``.

    ``(None, [])`` (and a status) if no shapes layer is chosen.
    """
    shapes = dock.shapes.value
    if shapes is None:
        dock.status.value = "Choose (or draw) a shapes layer first."
        return None, []
    return shapes, [i for i, t in enumerate(shapes.shape_type) if t in kinds]


def draw_shapes(dock):
    """Add (or select) the ``<movie> · ROI shapes`` layer, in polygon mode; return it."""
    if dock.layer is None:
        dock.status.value = "Choose a ROI Labels layer first."
        return None
    viewer, source = dock._viewer, dock.source or dock.layer.name
    name = layer_name(source, "ROI shapes")
    shapes = next((lay for lay in viewer.layers if lay.name == name), None)
    if shapes is None:
        shapes = viewer.add_shapes(name=name, edge_color="yellow", face_color="transparent",
                                   edge_width=0.5, metadata=provenance("curation", source))
    dock.shapes.reset_choices()
    dock.shapes.value = shapes
    viewer.layers.selection.active = shapes
    shapes.mode = "add_polygon"
    dock.status.value = ("Draw polygons / ellipses (then 'Add shapes as ROIs') or a line "
                         "across a ROI (then 'Split by line').")
    return shapes


def split_by_line(dock):
    """Split a ROI along the last line (or path) of the shapes layer; return the new label.

    The ROI is the selected one if the line cuts it, else the one the line crosses.
    """
    if not dock._ready():
        return None
    shapes, lines = shapes_of(dock, LINE_SHAPES)
    if shapes is None:
        return None
    if not lines:
        dock.status.value = f"Draw a line across a ROI in {shapes.name!r} first."
        return None
    i = lines[-1]
    line = np.asarray(shapes.data[i], float)[:, -2:]
    done = dock._do(dock.editor.split_by_line, line, prefer=int(dock.layer.selected_label))
    if done is None:
        dock.status.value = "The line cuts no ROI in two (draw it across one)."
        return None
    value, part = done
    shapes.selected_data = {i}
    shapes.remove_selected()
    dock.status.value = f"Split ROI {value}: the smaller part is ROI {part}."
    return part


def add_shapes(dock):
    """Add the polygons, ellipses and rectangles of the shapes layer as new ROIs.

    All of them in one undo step; the shapes used are removed from their layer.
    Returns the new labels.
    """
    if not dock._ready():
        return None
    shapes, areas = shapes_of(dock, AREA_SHAPES)
    if shapes is None:
        return None
    if not areas:
        dock.status.value = f"Draw polygons or ellipses in {shapes.name!r} first."
        return None
    masks = np.asarray(shapes.to_masks(mask_shape=dock.editor.labels.shape), bool)
    added = dock._do(dock.editor.add_masks, [masks[i] for i in areas])
    if added is None:
        dock.status.value = "The shapes cover no free pixel (they lie on other ROIs)."
        return None
    shapes.selected_data = set(areas)
    shapes.remove_selected()
    dock.layer.selected_label = added[-1]
    dock.status.value = f"Added ROI(s) {', '.join(map(str, added))}."
    return added
