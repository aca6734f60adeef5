"""The "Source extraction" dock widget (CNMF, CaImAn's pipeline).

One control per :class:`~napari_amnesia.core.cnmf.CNMFParams` field, named after
it (CaImAn's names: ``w.rf.value = "15"; w.K.value = 6; w.gSig.value = (4, 4)``),
with the parameter's explanation as tooltip. *Show patches* draws the patch grid
(``rf``, ``stride``) over the movie before anything runs, and follows ``rf`` and
``stride`` as they are typed. *Extract sources* runs
:func:`~napari_amnesia.core.cnmf.iter_fit` (patches, whole-field refinement, then
the evaluation and ΔF/F) in a worker with a progress bar; *Cancel* stops it and
adds nothing. The result is kept in the viewer's session and shown as
(:func:`cnmf_layers`):

- ``<movie> · ROIs``: Labels of **all** components (rejected ones stay visible, in
  grey, so they can be inspected and rescued), label value = ``label_values[k]``;
  ``features``: ``index`` (= label value), ``component`` (position ``k`` in the
  result), ``snr``, ``r_value``, ``size``, ``accepted``;
- ``<movie> · contours`` (opt-in, *contours*): one polygon per component, coloured
  like its label;
- ``<movie> · footprints``: a hidden 2-D Image of all footprints, each scaled to its
  peak (:func:`footprint_map`), shown at every frame;
- ``<movie> · reconstruction`` (``A·C + b·f``) and ``<movie> · residual`` (movie
  minus reconstruction): hidden lazy movies, computed chunk by chunk as viewed.

The quality thresholds (``min_SNR``, ``SNR_lowest``, ``rval_thr``,
``rval_lowest``, ``min_size``, ``max_size``, and ``require_both``: SNR *and*
r-value must pass, instead of CaImAn's either) sit below the run button, with the
rule they make written out beside them (``rule``: "accepted if SNR ≥ 2.5 or r ≥
0.85; ..."), and **re-filter live**: each change calls
:func:`~napari_amnesia.core.cnmf.evaluate` with the new thresholds, which reuses
the stored SNR and spatial correlations (nothing is recomputed, the movie is not
read) and updates the ``accepted`` column and the colours in place. When ``K``
capped the number of components (most patches found ``K``), the status says so
("raise K"). Selecting a label plots that component's raw fluorescence (``C +
YrA``), calcium ``C``, spikes ``S`` and ΔF/F in the trace dock. *Export* writes
the result folder (:meth:`SourceResult.save
<napari_amnesia.core.cnmf.SourceResult.save>`), never over an existing one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, FileEdit, Label, PushButton, create_widget

from ...core.cnmf.params import CNMFParams
from .._session import session_for, unproxied
from ..layers import layer_name, movie_layer, provenance, show
from ._controls import controls_for, values_of
from ._stage import StageWidget

if TYPE_CHECKING:
    import napari

__all__ = ["SourceWidget", "cnmf_layers", "contour_layer", "patch_layers", "roi_features",
           "is_curated",
           "roi_colormap", "component_series", "lazy_reconstruction", "lazy_residual",
           "lazy_footprints", "footprint_map", "THRESHOLDS"]

logger = logging.getLogger(__name__)

#: The parameters :func:`~napari_amnesia.core.cnmf.evaluate` re-filters with.
THRESHOLDS = ("min_SNR", "SNR_lowest", "rval_thr", "rval_lowest", "min_size", "max_size",
              "require_both")
#: Colour of a rejected component (grey, half transparent).
REJECTED = (0.6, 0.6, 0.6, 0.6)
#: Fraction of each footprint's maximum that draws its label and its contour.
LABEL_THRESHOLD = 0.2
_CHUNK_BYTES = 8 * 2**20


# --------------------------------------------------------------------------- layers
def roi_features(result) -> dict[str, np.ndarray]:
    """The ``features`` table of the ROI Labels layer: one row per component."""
    K = result.K
    nan = np.full(K, np.nan)
    return {
        "index": np.asarray(result.label_values, np.int64),
        "component": np.arange(K),
        "snr": nan if result.snr is None else np.asarray(result.snr, np.float64),
        "r_value": nan if result.r_values is None else np.asarray(result.r_values, np.float64),
        "size": np.asarray(result.sizes(LABEL_THRESHOLD), np.int64),
        "accepted": np.asarray(result.accepted, bool),
    }


def is_curated(layer) -> bool:
    """Whether a ROI layer is being curated (its table and colours belong to that dock)."""
    return bool(layer.metadata.get("napari_amnesia", {}).get("curated"))


def _label_colors(label_values) -> np.ndarray:
    """napari's usual cyclic label colours, (K, 4)."""
    from napari.utils.colormaps import label_colormap

    values = np.asarray(label_values, np.int64)
    if values.size == 0:
        return np.zeros((0, 4), np.float32)
    return np.asarray(label_colormap(49).map(values), np.float32).reshape(-1, 4)


def roi_colormap(label_values, accepted, *, show_rejected: bool = True):
    """A DirectLabelColormap: accepted labels in colour, rejected in grey (or hidden)."""
    from napari.utils.colormaps import DirectLabelColormap

    colors = _label_colors(label_values)
    hidden = (0.0, 0.0, 0.0, 0.0)
    table: dict[Any, Any] = {None: hidden, 0: hidden}
    for value, ok, color in zip(label_values, accepted, colors, strict=True):
        table[int(value)] = tuple(color) if ok else (REJECTED if show_rejected else hidden)
    return DirectLabelColormap(color_dict=table)


def _contour_colors(result, *, show_rejected: bool = True) -> np.ndarray:
    colors = _label_colors(result.label_values)
    rejected = REJECTED if show_rejected else (0.0, 0.0, 0.0, 0.0)
    colors[~np.asarray(result.accepted, bool)] = rejected
    return colors


def _frames_per_chunk(T: int, shape: tuple[int, int]) -> int:
    return int(max(1, min(T, 64, _CHUNK_BYTES // max(1, 4 * shape[0] * shape[1]))))


def _reconstruct_block(times: np.ndarray, A, C, b, f, shape) -> np.ndarray:
    times = np.asarray(times, np.int64)
    out = np.asarray(A @ C[:, times], np.float32)  # (P, n): sparse x dense
    if b.shape[1]:
        out += b @ f[:, times]
    return np.ascontiguousarray(out.T).reshape(len(times), *shape)


def lazy_reconstruction(result):
    """The denoised movie ``A·C + b·f`` as a dask array, computed per time chunk."""
    import dask.array as da

    T, shape = result.n_frames, result.shape
    times = da.arange(T, chunks=_frames_per_chunk(T, shape), dtype=np.int64)
    b, f = result.background
    return times.map_blocks(
        _reconstruct_block, result.footprints, result.traces, b, f, shape,
        new_axis=[1, 2], chunks=(times.chunks[0], (shape[0],), (shape[1],)),
        dtype=np.float32, meta=np.empty((0, 0, 0), np.float32))


def _footprint_block(ks: np.ndarray, A, shape) -> np.ndarray:
    sub = A[:, np.asarray(ks, np.int64)]
    return np.ascontiguousarray(sub.toarray().T).reshape(len(ks), *shape).astype(np.float32)


def footprint_map(result) -> np.ndarray:
    """All footprints in one 2-D image: each scaled to its own peak, then the maximum
    over components.

    A 2-D layer shows at every frame (a ``(K, Y, X)`` stack would share the movie's
    time slider and go black past frame K); one component is seen by selecting its
    label, or as ``lazy_footprints(result)[k]`` in the console.
    """
    A = result.footprints.tocsc().astype(np.float32)
    peaks = np.asarray(A.max(axis=0).todense()).ravel()
    peaks[peaks <= 0] = 1.0
    scaled = A.multiply(1.0 / peaks[None, :]).tocsr()
    image = np.asarray(scaled.max(axis=1).todense()).ravel()
    return np.clip(image, 0.0, None).reshape(result.shape).astype(np.float32)


def lazy_footprints(result):
    """The footprints as a ``(K, Y, X)`` dask array (a few components per chunk)."""
    import dask.array as da

    K, shape = result.K, result.shape
    ks = da.arange(K, chunks=_frames_per_chunk(K, shape), dtype=np.int64)
    return ks.map_blocks(_footprint_block, result.footprints, shape, new_axis=[1, 2],
                         chunks=(ks.chunks[0], (shape[0],), (shape[1],)), dtype=np.float32,
                         meta=np.empty((0, 0, 0), np.float32))


def lazy_residual(result, movie):
    """``movie - (A·C + b·f)`` as a dask array (the movie is read chunk by chunk)."""
    import dask.array as da

    shape = tuple(int(n) for n in movie.shape)
    if shape != (result.n_frames, *result.shape):
        raise ValueError(f"the movie has shape {shape}, the result was fitted on "
                         f"{result.n_frames} frames of {result.shape}.")
    rec = lazy_reconstruction(result)
    if not isinstance(movie, da.Array):
        movie = da.from_array(movie, chunks=(rec.chunks[0][0], *shape[1:]))
    return movie.astype(np.float32) - rec


def contour_layer(result, source: str, *, show_rejected: bool = True,
                  metadata: dict | None = None) -> tuple | None:
    """LayerData of the components' outlines (Shapes polygons), or None when there is none.

    One polygon per component (its outline at ``LABEL_THRESHOLD`` of its maximum),
    coloured like its label; ``features`` as the ROI layer's, for the components
    drawn.
    """
    outlines = result.contours(LABEL_THRESHOLD, accepted_only=False)
    keep = [k for k, c in enumerate(outlines) if len(c) >= 3]
    if not keep:
        return None
    colors = _contour_colors(result, show_rejected=show_rejected)
    table = {key: np.asarray(value)[keep] for key, value in roi_features(result).items()}
    meta = metadata or provenance("cnmf", source, result.params.to_dict())
    return ([np.asarray(outlines[k], float) for k in keep],
            {"name": layer_name(source, "contours"), "shape_type": "polygon",
             "features": table, "edge_color": colors[keep], "face_color": "transparent",
             "edge_width": 0.5, "metadata": meta}, "shapes")


def cnmf_layers(result, source: str, *, movie=None, contours: bool = False,
                show_rejected: bool = True) -> list[tuple]:
    """LayerData of a :class:`~napari_amnesia.core.cnmf.SourceResult`.

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
        ``contours`` (Shapes, when asked), ``footprints`` (hidden ``(K, Y, X)``
        Image), ``reconstruction`` and ``residual`` (hidden lazy movies).
    """
    meta = provenance("cnmf", source, result.params.to_dict())
    meta["napari_amnesia"].update({"n_components": result.K,
                                   "n_accepted": int(np.sum(result.accepted)),
                                   "label_threshold": LABEL_THRESHOLD})
    features = roi_features(result)
    out: list[tuple] = [(
        np.asarray(result.labels(LABEL_THRESHOLD, accepted_only=False), np.int32),
        {"name": layer_name(source, "ROIs"), "features": features, "opacity": 0.6,
         "colormap": roi_colormap(result.label_values, result.accepted,
                                  show_rejected=show_rejected),
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


def patch_layers(shape, rf: int | None, stride: int, source: str) -> list[tuple]:
    """LayerData of the CNMF patch grid: one rectangle per patch (``patch_grid``)."""
    from ...core.cnmf.patches import patch_grid

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


def component_series(result, k: int) -> dict[str, np.ndarray]:
    """The four series of component ``k`` shown in the trace dock.

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


_SERIES_COLORS = {"raw F (C + YrA)": "0.6", "calcium C": "tab:blue", "spikes S": "tab:red",
                  "ΔF/F (%)": "tab:green"}


# --------------------------------------------------------------------------- widget
class SourceWidget(StageWidget):
    """CNMF source extraction of a movie layer, with live quality filtering.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari.

    Attributes
    ----------
    result : SourceResult or None
        The last result, re-filtered by the threshold controls (also in the
        viewer's session under ``(movie, "cnmf")``).
    """

    stage = "cnmf"
    title = "source extraction"
    run_text = "Extract sources"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer, scrollable=True)
        self._source: str | None = None
        self._movie_data = None
        self._patch_name: str | None = None
        self.movie = create_widget(annotation="napari.layers.Image", label="movie")
        self.movie.tooltip = ("The (T, Y, X) movie, motion-corrected (a lazy layer is read "
                              "patch by patch).")
        self.show_patches = CheckBox(name="show_patches", text="Show patches", value=False)
        self.show_patches.tooltip = ("Draw the patch grid of rf and stride over the movie "
                                     "(each patch is fitted on its own; check that a cell "
                                     "fits whole in the overlaps).")
        # one control per CNMFParams field, named after it: w.rf, w.K, w.gSig, w.min_SNR...
        self.parameters = self.with_nan_policy(controls_for(CNMFParams))
        by_name = {c.name: c for c in self.parameters}
        self.thresholds = [by_name[name] for name in THRESHOLDS]
        for name, (low, high, step) in {"rval_thr": (-1.0, 1.0, 0.05),
                                        "rval_lowest": (-1.0, 1.0, 0.05),
                                        "min_SNR": (-1e3, 1e3, 0.1),
                                        "SNR_lowest": (-1e3, 1e3, 0.1)}.items():
            control = by_name[name]
            control.min, control.max, control.step = low, high, step
        fit_controls = [c for c in self.parameters if c.name not in THRESHOLDS]
        self.quality_label = Label(value="Quality thresholds (re-filter live):")
        # the acceptance rule in words, following the thresholds as they are typed
        self.rule = Label(name="rule", value="")
        self.rule.tooltip = ("How the thresholds accept a component. 'require_both' "
                             "switches from CaImAn's rule (SNR or r) to both must hold.")
        self.show_rejected = CheckBox(name="show_rejected", text="Show rejected (grey)",
                                      value=True)
        self.show_rejected.tooltip = "Draw rejected components in grey, or hide them."
        self.contours = CheckBox(name="contours", text="Contours", value=False)
        self.contours.tooltip = ("Also draw each component's outline as a Shapes polygon "
                                 "(slow for thousands of components).")
        self.export_path = FileEdit(mode="w", label="export to", name="export_path")
        self.export_path.tooltip = ("A new folder for the result (arrays.npz, params.json, "
                                    "result.json; reload with SourceResult.load).")
        self.export_button = PushButton(text="Export", enabled=False)
        self.export_button.changed.connect(lambda *_: self.export())

        self.show_patches.changed.connect(self._patches_changed)
        for name in ("rf", "stride"):
            by_name[name].changed.connect(self._patches_changed)
        self.movie.changed.connect(self._patches_changed)
        for control in self.thresholds:
            control.changed.connect(self._show_rule)
            control.changed.connect(self.refilter)
        self._show_rule()
        self.show_rejected.changed.connect(self._recolor)
        self.contours.changed.connect(self._contours_changed)
        self.extend([self.movie, self.show_patches, *fit_controls, self.run_button,
                     self.cancel_button, self.quality_label, *self.thresholds, self.rule,
                     self.show_rejected, self.contours, self.export_path, self.export_button,
                     self.status])

    # ------------------------------------------------------------ parameters
    def params(self) -> CNMFParams:
        """The :class:`CNMFParams` the controls hold (raises ValueError if invalid)."""
        return CNMFParams(**values_of(self.parameters, CNMFParams))

    # --------------------------------------------------------------- patches
    def _patches_changed(self, *_: Any) -> None:
        if self.show_patches.value:
            self.show_patch_grid()
        else:
            self._remove(self._patch_name)
            self._patch_name = None

    def show_patch_grid(self):
        """Draw (or update) the patch grid of ``rf``/``stride``; return the Shapes layer."""
        layer = self.chosen_movie()
        if layer is None:
            return None
        try:
            params = CNMFParams(**values_of([self.rf, self.stride], CNMFParams))
            params.check_shape(tuple(layer.data.shape))
        except (TypeError, ValueError) as exc:
            self.status.value = f"Invalid parameter: {exc}"
            return None
        if self._patch_name not in (None, layer_name(layer.name, "patches")):
            self._remove(self._patch_name)  # the grid of the previously chosen movie
        [shapes] = show(self._viewer, patch_layers(layer.data.shape[1:], params.rf,
                                                   params.stride, layer.name))
        self._patch_name = shapes.name
        n = len(shapes.data)
        self.status.value = (f"{n} patch(es) of {params.patch_size} px, overlap "
                             f"{params.stride} px." if params.rf else
                             "rf is none: the whole frame is one patch.")
        return shapes

    # ------------------------------------------------------------------- run
    def run(self):
        """Extract the sources of the chosen movie in a worker; return the worker (or None)."""
        from ...core.cnmf import MIN_FRAMES, iter_fit

        layer = self.chosen_movie()
        if layer is None:
            return None
        shape = tuple(int(n) for n in layer.data.shape)
        try:
            params = self.params()
            params.check_shape(shape)
        except (TypeError, ValueError) as exc:
            self.status.value = f"Invalid parameter: {exc}"
            return None
        if shape[0] < MIN_FRAMES:
            self.status.value = (f"{layer.name!r} has {shape[0]} frames; CNMF needs at least "
                                 f"{MIN_FRAMES}.")
            return None
        source, movie = layer.name, layer.data

        def on_result(result) -> None:
            self._source, self._movie_data = source, movie
            self._show(result)

        run = self.movie_generator(layer, lambda movie: iter_fit(movie, params))
        return self.launch(run, source=source, on_result=on_result,
                           message=f"Extracting the sources of {source!r}...")

    # ---------------------------------------------------------------- layers
    def _layer(self, what: str):
        """The layer ``"<source> · <what>"`` of the current result (exact name), or None."""
        if self._source is None:
            return None
        name = layer_name(self._source, what)
        return next((lay for lay in self._viewer.layers if lay.name == name), None)

    def _remove(self, name: str | None) -> None:
        layer = next((lay for lay in self._viewer.layers if lay.name == name), None)
        if layer is not None:
            self._viewer.layers.remove(layer)

    def _show(self, result) -> None:
        source = self._source
        self.export_button.enabled = True
        if result.K == 0:
            self.status.value = (f"No component found in {source!r}: check gSig (the cell "
                                 "radius) and K, or lower the noise thresholds.")
            return
        if not self.contours.value:
            self._remove(layer_name(source, "contours"))
        layers = show(self._viewer, cnmf_layers(result, source, movie=self._movie_data,
                                                contours=self.contours.value,
                                                show_rejected=self.show_rejected.value))
        rois = unproxied(layers[0])
        # the trace dock plots a selected ROI's raw F, C, S and ΔF/F (not its pixels) —
        # unless the Curate dock holds the layer: its ROIs' traces are its re-extraction
        if not is_curated(rois):
            session_for(self._viewer).label_series[rois] = self.component_series
        rois.events.selected_label.disconnect(self._on_selected_label)  # once per layer
        rois.events.selected_label.connect(self._on_selected_label)
        self._recolor()
        self._report()
        if result.evaluated and self.threshold_values() != {
                name: getattr(result.params, name) for name in THRESHOLDS}:
            self.refilter()  # the thresholds were moved while it ran

    def _report(self) -> None:
        r = self.result
        if not r.evaluated:
            self.status.value = (f"{r.K} components (not evaluated: check 'evaluate' to "
                                 "filter them by quality).")
            return
        from ...core.cnmf import capped_message

        p = r.params
        self.status.value = (f"{r.K} components, {int(r.accepted.sum())} accepted "
                             f"(min_SNR={p.min_SNR:g}, rval_thr={p.rval_thr:g}"
                             f"{', both must hold' if p.require_both else ''}).")
        if r.info.get("k_capped"):
            self.status.value += " " + capped_message(r.info["k_capped"], name="K")

    def _recolor(self, *_: Any) -> None:
        """Colours and tables of the ROI and contour layers from ``self.result``."""
        result = self.result
        if result is None or result.K == 0:
            return
        rois = self._layer("ROIs")
        # a layer being curated (the "Curate ROIs" dock) keeps its own table and colours;
        # its metadata still changes, which tells that dock the thresholds moved
        curated = rois is not None and is_curated(rois)
        if rois is not None and (curated or len(rois.features) == result.K):
            if not curated:
                rois.features = roi_features(result)
                rois.colormap = roi_colormap(result.label_values, result.accepted,
                                             show_rejected=self.show_rejected.value)
            meta = dict(rois.metadata)
            info = dict(meta.get("napari_amnesia", {}))
            info.update(params=result.params.to_dict(),
                        n_accepted=int(np.sum(result.accepted)))
            meta["napari_amnesia"] = info
            rois.metadata = meta
        outlines = self._layer("contours")
        if outlines is not None and len(outlines.data):
            colors = _contour_colors(result, show_rejected=self.show_rejected.value)
            table = roi_features(result)
            k = np.asarray(outlines.features["component"], np.int64)
            if k.size and k.max() < result.K:
                outlines.features = {key: np.asarray(v)[k] for key, v in table.items()}
                outlines.edge_color = colors[k]

    def _contours_changed(self, *_: Any) -> None:
        if self.result is None or self._source is None or self.result.K == 0:
            return
        if not self.contours.value:
            self._remove(layer_name(self._source, "contours"))
            return
        outlines = contour_layer(self.result, self._source,
                                 show_rejected=self.show_rejected.value)
        if outlines is not None:
            show(self._viewer, [outlines])

    # -------------------------------------------------------------- re-filter
    def _show_rule(self, *_: Any) -> None:
        """Write the acceptance rule of the threshold controls in the rule label."""
        from ...core.cnmf.evaluation import describe_rule

        try:
            # one clause a line: the dock stays narrow, nothing is clipped
            self.rule.value = describe_rule(**self.threshold_values()).replace("; ", "\n")
        except (TypeError, ValueError) as exc:
            self.rule.value = f"Invalid threshold: {exc}"

    def threshold_values(self) -> dict[str, Any]:
        """The thresholds the controls hold, by parameter name."""
        return values_of(self.thresholds, CNMFParams)

    def refilter(self, *_: Any):
        """Accept/reject again with the threshold controls (metrics reused); return the result."""
        from ...core.cnmf import evaluate

        result = self.result
        if result is None or self._source is None or result.K == 0:
            return None
        if not result.evaluated:
            self.status.value = ("This result has no quality metrics (evaluate was off): "
                                 "check 'evaluate' and extract again.")
            return None
        try:
            new = evaluate(result, **self.threshold_values())
        except (TypeError, ValueError) as exc:
            self.status.value = f"Invalid threshold: {exc}"
            return None
        self.result = new
        session_for(self._viewer).results[(self._source, self.stage)] = new
        self._recolor()
        self._report()
        return new

    # ---------------------------------------------------------------- traces
    def _on_selected_label(self, event) -> None:
        # open the trace dock if needed; it plots component_series (registered above)
        from .clustering import trace_dock

        layer = event.source
        try:
            dock = trace_dock(self._viewer)
        except RuntimeError as exc:  # pragma: no cover - the dock was closed
            logger.debug("trace dock unavailable: %s", exc)
            return
        dock.show_label(layer, int(layer.selected_label))

    def component_of(self, label: int) -> int | None:
        """Position in the result of the component drawn with ``label`` (None: none)."""
        if self.result is None:
            return None
        hits = np.flatnonzero(np.asarray(self.result.label_values) == int(label))
        return int(hits[0]) if hits.size else None

    def component_series(self, label: int) -> tuple[str, dict, dict] | None:
        """``(title, {name: series}, colours)`` of the component drawn with ``label``."""
        k = self.component_of(label)
        if k is None or label == 0:
            return None
        result = self.result
        series = component_series(result, k)
        state = "accepted" if result.accepted[k] else "rejected"
        snr = "" if result.snr is None else \
            f", SNR {result.snr[k]:.1f}, r {result.r_values[k]:.2f}"
        title = f"{self._source}: ROI {label} ({state}{snr})"
        return title, series, {name: _SERIES_COLORS[name] for name in series}

    def show_component(self, label: int) -> dict | None:
        """Plot the raw F, C, S and ΔF/F of the component of ``label`` in the trace dock."""
        from .clustering import trace_dock

        shown = self.component_series(label)
        if shown is None:
            return None
        try:
            dock = trace_dock(self._viewer)
        except RuntimeError as exc:  # pragma: no cover - the dock was closed
            logger.debug("trace dock unavailable: %s", exc)
            return None
        title, series, colors = shown
        dock.show_series(title, series, colors=colors)
        return series

    # ---------------------------------------------------------------- export
    def export(self, path=None):
        """Write the result folder to ``path`` (or *export to*); return its path (or None)."""
        from ...core.files import OutputExistsError

        if self.result is None:
            self.status.value = "Extract sources first."
            return None
        path = Path(self.export_path.value if path is None else path)
        if str(path) in ("", "."):
            self.status.value = "Choose a new folder in 'export to' first."
            return None
        try:
            out = self.result.save(path)
        except OutputExistsError:
            self.status.value = (f"Not exported: {path} already exists; choose a new folder "
                                 "name (nothing was overwritten).")
            return None
        except OSError as exc:
            self.status.value = f"Not exported: {exc}"
            return None
        self.status.value = f"Exported {self.result.K} components to {out}."
        return out
