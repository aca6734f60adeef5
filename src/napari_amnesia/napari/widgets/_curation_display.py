"""How the Curate ROIs dock shows its editor's ROIs: their colours and the info line.

Pure functions of the editor's ROI table (see
:mod:`~napari_amnesia.core.curation.table`); the dock writes what they return to its
layer (``layer.colormap``) and its *info* label.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.cnmf.layers import REJECTED, label_colors

__all__ = ["COLOR_BY", "NEW_COLOR", "EDITED_COLORS", "roi_colormap", "describe"]

#: What the ROIs can be coloured by.
COLOR_BY = ("accepted", "snr", "r_value", "size", "edited")
#: Colour of labels not yet in the table (a ROI being painted).
NEW_COLOR = (1.0, 0.9, 0.1, 1.0)
#: Colours of edited and untouched ROIs when coloured by ``edited``.
EDITED_COLORS = {True: (1.0, 0.55, 0.0, 1.0), False: (0.25, 0.6, 1.0, 1.0)}


def roi_colors(table: dict[str, np.ndarray], by: str) -> np.ndarray:
    """Return the ``(n, 4)`` RGBA colour of each row of ``table``, coloured ``by``.

    ``by`` is one of :data:`COLOR_BY`: napari's label colours (``accepted``), orange
    for edited ROIs and blue for the others (``edited``), or viridis over the 2-98th
    percentiles of a metric (white where it is not a number).
    """
    values = table["index"]
    if by == "accepted":
        return label_colors(values)
    if by == "edited":
        return np.array([EDITED_COLORS[bool(e)] for e in table["edited"]],
                        np.float32).reshape(-1, 4)
    from napari.utils.colormaps import ensure_colormap

    metric = np.asarray(table[by], np.float64)
    finite = np.isfinite(metric)
    colors = np.ones((len(values), 4), np.float32)
    if finite.any():
        lo, hi = np.percentile(metric[finite], [2, 98])
        scaled = np.clip((metric[finite] - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
        colors[finite] = np.asarray(ensure_colormap("viridis").map(scaled),
                                    np.float32).reshape(-1, 4)
    return colors


def roi_colormap(table: dict[str, np.ndarray], by: str):
    """Return the DirectLabelColormap of ``table``'s ROIs coloured ``by`` (rejected: grey).

    Labels not in the table (a ROI being painted) are yellow, the background hidden.
    """
    from napari.utils.colormaps import DirectLabelColormap

    color_dict: dict[Any, Any] = {None: NEW_COLOR, 0: (0.0, 0.0, 0.0, 0.0)}
    for value, ok, color in zip(table["index"], table["accepted"], roi_colors(table, by),
                                strict=True):
        color_dict[int(value)] = tuple(float(c) for c in color) if ok else REJECTED
    return DirectLabelColormap(color_dict=color_dict)


def describe(label: int, row: dict[str, Any] | None) -> str:
    """Return the info line of ``label`` (0: none selected) whose table row is ``row``."""
    if row is None:
        return f"Label {label}: no ROI." if label else "No ROI selected."
    state = "accepted" if row["accepted"] else "rejected"
    state += " by you" if row["decided"] else ""
    metrics = "" if np.isnan(row["snr"]) else f", SNR {row['snr']:.1f}, r {row['r_value']:.2f}"
    flags = ", edited" * bool(row["edited"]) + ", needs re-extraction" * bool(row["stale"])
    return f"ROI {label}: {state}{metrics}, {row['size']} px{flags}."
