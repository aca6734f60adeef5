"""The napari layers of a CNMF result, as LayerData tuples (no napari import).

:func:`cnmf_layers` (also :meth:`SourceResult.to_layers
<napari_amnesia.core.cnmf.SourceResult.to_layers>`) gives, for a movie layer named
``<source>``:

- ``<source> · ROIs``: Labels of **all** components (rejected ones in grey), label
  value = ``label_values[k]``; ``features``: ``index`` (= label value),
  ``component`` (position ``k`` in the result), ``snr``, ``r_value``, ``size``,
  ``accepted`` (:func:`roi_features`), and ``anatomical`` when the result holds
  components proposed from the mean image (silent cells, drawn in
  :data:`ANATOMICAL` orange while accepted);
- ``<source> · contours`` (opt-in): one polygon per component, coloured like its
  label (:func:`contour_layer`);
- ``<source> · footprints``: a hidden 2-D Image of all footprints, each scaled to
  its peak (:func:`footprint_map`);
- ``<source> · reconstruction`` (``A·C + b·f``) and ``<source> · residual`` (movie
  minus reconstruction): hidden lazy movies.

:func:`patch_layers` draws the patch grid, :func:`component_series` the series a
trace dock plots for one component. Label colours are napari's default cyclic
label colours (:func:`label_colors`), so the ROIs look as any Labels layer does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers import layer_name, movie_layer, provenance
from .lazy import lazy_reconstruction, lazy_residual

__all__ = ["cnmf_layers", "contour_layer", "patch_layers", "roi_features", "roi_color_dict",
           "label_colors", "contour_colors", "footprint_map", "component_series",
           "LABEL_THRESHOLD", "REJECTED", "ANATOMICAL", "SERIES_COLORS"]

#: Colour of a rejected component (grey, half transparent).
REJECTED = (0.6, 0.6, 0.6, 0.6)
#: Colour of an accepted anatomical component (a silent cell proposed from the mean
#: image, :mod:`.anatomical`): orange, so that they stand apart from CNMF's cells.
ANATOMICAL = (1.0, 0.55, 0.0, 1.0)
#: Fraction of each footprint's maximum that draws its label and its contour.
LABEL_THRESHOLD = 0.2
#: Colours of the series of :func:`component_series` (matplotlib colour names).
SERIES_COLORS = {"raw F (C + YrA)": "0.6", "calcium C": "tab:blue", "spikes S": "tab:red",
                 "ΔF/F (%)": "tab:green"}
#: napari's default label colours (``label_colormap(49)``, 8-bit RGB): label ``v``
#: gets colour ``(v - 1) % 49`` (tests/napari checks the table against napari's).
_PALETTE = np.array([
    [120, 37, 6], [91, 213, 248], [146, 137, 232], [108, 2, 193], [71, 58, 159],
    [171, 236, 138], [143, 173, 178], [134, 144, 154], [254, 247, 28], [247, 68, 59],
    [3, 78, 57], [113, 178, 96], [105, 149, 74], [60, 27, 135], [46, 71, 16],
    [92, 183, 222], [71, 157, 118], [71, 66, 88], [239, 86, 101], [184, 80, 123],
    [166, 42, 100], [241, 180, 236], [75, 30, 32], [180, 197, 62], [156, 96, 47],
    [138, 67, 27], [216, 190, 154], [180, 125, 189], [166, 94, 164], [96, 122, 52],
    [193, 227, 87], [215, 149, 85], [158, 135, 111], [0, 44, 235], [202, 230, 224],
    [225, 139, 30], [120, 240, 1], [123, 142, 15], [229, 221, 178], [171, 236, 138],
    [66, 216, 166], [70, 186, 142], [254, 247, 28], [247, 68, 59], [175, 75, 242],
    [176, 12, 63], [105, 149, 74], [246, 135, 167], [203, 50, 199]], np.uint8)


def label_colors(label_values: Any) -> np.ndarray:
    """Return napari's default colour of each label, ``(K, 4)`` float32 RGBA.

    Examples
    --------
    >>> label_colors([1, 50]).tolist() == [label_colors([1])[0].tolist()] * 2
    True
    """
    values = np.asarray(label_values, np.int64).reshape(-1)
    if values.size == 0:
        return np.zeros((0, 4), np.float32)
    rgba = np.concatenate([_PALETTE.astype(np.float32) / 255,
                           np.ones((len(_PALETTE), 1), np.float32)], axis=1)
    out = rgba[(values - 1) % len(_PALETTE)]
    out[values == 0] = 0.0
    return out


def roi_features(result: Any) -> dict[str, np.ndarray]:
    """Return the ``features`` table of the ROI Labels layer: one row per component."""
    K = result.K
    nan = np.full(K, np.nan)
    return {
        "index": np.asarray(result.label_values, np.int64),
        "component": np.arange(K),
        "snr": nan if result.snr is None else np.asarray(result.snr, np.float64),
        "r_value": nan if result.r_values is None else np.asarray(result.r_values, np.float64),
        "size": np.asarray(result.sizes(LABEL_THRESHOLD), np.int64),
        "accepted": np.asarray(result.accepted, bool),
    } | _anatomical_column(result)


def _anatomical_column(result: Any) -> dict[str, np.ndarray]:
    """``{"anatomical": flags}`` when some component is anatomical, else empty."""
    flags = getattr(result, "anatomical", None)
    if flags is None or not np.any(flags):
        return {}
    return {"anatomical": np.asarray(flags, bool)}


def roi_color_dict(label_values: Any, accepted: Any, *, show_rejected: bool = True,
                   anatomical: Any = None) -> dict[Any, tuple]:
    """Return the ROI colours as napari's direct label colormap dictionary.

    Accepted labels get their colour (:func:`label_colors`; accepted ``anatomical``
    ones :data:`ANATOMICAL`), rejected ones grey (or transparent without
    ``show_rejected``); ``None`` (any other label) and 0 are transparent. napari
    makes a ``DirectLabelColormap`` of it.
    """
    colors = label_colors(label_values)
    if anatomical is not None:
        colors[np.asarray(anatomical, bool).reshape(-1)] = ANATOMICAL
    hidden = (0.0, 0.0, 0.0, 0.0)
    table: dict[Any, Any] = {None: hidden, 0: hidden}
    for value, ok, color in zip(label_values, accepted, colors, strict=True):
        table[int(value)] = tuple(color) if ok else (REJECTED if show_rejected else hidden)
    return table


def contour_colors(result: Any, *, show_rejected: bool = True) -> np.ndarray:
    """Return the edge colour of each component's contour, ``(K, 4)``."""
    colors = label_colors(result.label_values)
    flags = getattr(result, "anatomical", None)
    if flags is not None:
        colors[np.asarray(flags, bool)] = ANATOMICAL
    rejected = REJECTED if show_rejected else (0.0, 0.0, 0.0, 0.0)
    colors[~np.asarray(result.accepted, bool)] = rejected
    return colors


def footprint_map(result: Any) -> np.ndarray:
    """Return all footprints in one 2-D image, each scaled to its own peak (maximum).

    A 2-D layer shows at every frame (a ``(K, Y, X)`` stack would share the movie's
    time slider and go black past frame K); one component is seen by selecting its
    label, or as ``lazy_footprints(result)[k]`` in the console.
    """
    A = result.footprints.tocsc().astype(np.float32)
    if A.shape[1] == 0:  # no component (an empty suite2p plane, a fit that found none)
        return np.zeros(result.shape, np.float32)
    peaks = np.asarray(A.max(axis=0).todense()).ravel()
    peaks[peaks <= 0] = 1.0
    scaled = A.multiply(1.0 / peaks[None, :]).tocsr()
    image = np.asarray(scaled.max(axis=1).todense()).ravel()
    return np.clip(image, 0.0, None).reshape(result.shape).astype(np.float32)


def contour_layer(result: Any, source: str, *, show_rejected: bool = True,
                  metadata: dict | None = None) -> tuple | None:
    """Return the LayerData of the components' outlines (Shapes polygons), or None.

    One polygon per component (its outline at ``LABEL_THRESHOLD`` of its maximum),
    coloured like its label; ``features`` as the ROI layer's, for the components
    drawn. None when no component has an outline.
    """
    outlines = result.contours(LABEL_THRESHOLD, accepted_only=False)
    keep = [k for k, c in enumerate(outlines) if len(c) >= 3]
    if not keep:
        return None
    colors = contour_colors(result, show_rejected=show_rejected)
    table = {key: np.asarray(value)[keep] for key, value in roi_features(result).items()}
    meta = metadata or provenance("cnmf", source, result.params.to_dict())
    return ([np.asarray(outlines[k], float) for k in keep],
            {"name": layer_name(source, "contours"), "shape_type": "polygon",
             "features": table, "edge_color": colors[keep], "face_color": "transparent",
             "edge_width": 0.5, "metadata": meta}, "shapes")


def cnmf_layers(result: Any, source: str, *, movie: Any = None, contours: bool = False,
                show_rejected: bool = True) -> list[tuple]:
    """Return the LayerData of a :class:`~napari_amnesia.core.cnmf.SourceResult`.

    Parameters
    ----------
    result : SourceResult
    source : str
        Name of the movie layer (layers are named ``"<source> · <what>"``).
    movie : array_like, shape (T, Y, X), optional
        The movie the result was fitted on: adds the lazy ``residual`` movie.
    contours : bool
        Also return the outlines as a Shapes layer (slow for thousands of components).
    show_rejected : bool
        Draw rejected components in grey (else transparent).

    Returns
    -------
    list of LayerData
        ``ROIs`` (Labels of every component, the metrics as ``features``),
        ``contours`` (Shapes, when asked), ``footprints`` (hidden 2-D Image),
        ``reconstruction`` and ``residual`` (hidden lazy movies).

    Examples
    --------
    >>> from napari_amnesia.core.cnmf import SourceResult, CNMFParams
    >>> from scipy import sparse
    >>> A = sparse.csc_matrix(np.eye(16, 1, -5, np.float32))
    >>> z = np.zeros((1, 20), np.float32)
    >>> r = SourceResult(A, z + 1, z, z, np.zeros((16, 0)), np.zeros((0, 20)), [0.0],
    ...                  np.zeros((1, 1)), [0.0], np.ones((4, 4)), (4, 4), CNMFParams())
    >>> [(kw["name"], kind) for _, kw, kind in cnmf_layers(r, "movie")]
    [('movie · ROIs', 'labels'), ('movie · footprints', 'image'), \
('movie · reconstruction', 'image')]
    """
    meta = provenance("cnmf", source, result.params.to_dict())
    meta["napari_amnesia"].update({"n_components": result.K,
                                   "n_accepted": int(np.sum(result.accepted)),
                                   "label_threshold": LABEL_THRESHOLD})
    if "anatomical" in (features := roi_features(result)):
        meta["napari_amnesia"]["n_anatomical"] = int(features["anatomical"].sum())
    out: list[tuple] = [(
        np.asarray(result.labels(LABEL_THRESHOLD, accepted_only=False), np.int32),
        {"name": layer_name(source, "ROIs"), "features": features, "opacity": 0.6,
         "colormap": roi_color_dict(result.label_values, result.accepted,
                                    show_rejected=show_rejected,
                                    anatomical=getattr(result, "anatomical", None)),
         "metadata": meta}, "labels")]
    if contours:
        outlines = contour_layer(result, source, show_rejected=show_rejected, metadata=meta)
        if outlines is not None:
            out.append(outlines)
    if result.K:
        out.append((footprint_map(result), {
            "name": layer_name(source, "footprints"), "colormap": "magma",
            "contrast_limits": [0.0, 1.0], "multiscale": False,
            "blending": "additive", "visible": False, "metadata": meta}, "image"))
    rec = movie_layer(lazy_reconstruction(result), layer_name(source, "reconstruction"),
                      metadata=meta)
    rec[1]["visible"] = False
    out.append(rec)
    if movie is not None:
        res = movie_layer(lazy_residual(result, movie), layer_name(source, "residual"),
                          metadata=meta)
        res[1]["visible"] = False
        out.append(res)
    return out


def patch_layers(shape: Any, rf: int | None, stride: int, source: str) -> list[tuple]:
    """Return the LayerData of the CNMF patch grid: one rectangle per patch.

    Examples
    --------
    >>> [(rects, kwargs, kind)] = patch_layers((40, 40), 10, 5, "movie")
    >>> len(rects), kwargs["name"], kind
    (9, 'movie · patches', 'shapes')
    """
    from .patches import patch_grid

    grid = patch_grid(tuple(int(v) for v in shape), rf, stride)
    rects = [np.array([[y0 - 0.5, x0 - 0.5], [y0 - 0.5, x1 - 0.5], [y1 - 0.5, x1 - 0.5],
                       [y1 - 0.5, x0 - 0.5]], float) for y0, y1, x0, x1 in grid]
    bounds = np.asarray(grid, np.int64).reshape(-1, 4)
    features = {"patch": np.arange(len(grid)), "row_start": bounds[:, 0],
                "row_stop": bounds[:, 1], "col_start": bounds[:, 2], "col_stop": bounds[:, 3]}
    meta = provenance("cnmf", source, {"rf": rf, "stride": stride})
    return [(rects, {"name": layer_name(source, "patches"), "shape_type": "rectangle",
                     "features": features, "edge_color": "yellow", "edge_width": 1.0,
                     "face_color": "transparent", "opacity": 0.8, "metadata": meta},
             "shapes")]


def component_series(result: Any, k: int) -> dict[str, np.ndarray]:
    """Return the four series of component ``k`` shown in a trace dock.

    ``raw F (C + YrA)``, ``calcium C``, ``spikes S`` and, when computed,
    ``ΔF/F (%)`` (ΔF/F × 100, so that it shares the axes with the others).
    """
    series = {
        "raw F (C + YrA)": result.traces[k] + result.residual_traces[k],
        "calcium C": result.traces[k],
        "spikes S": result.spikes[k],
    }
    if result.dff is not None:
        series["ΔF/F (%)"] = 100.0 * np.asarray(result.dff[k], np.float32)
    return series
