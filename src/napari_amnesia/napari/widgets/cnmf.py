"""The "Source extraction" dock widget (CNMF, CaImAn's pipeline).

One control per :class:`~napari_amnesia.core.cnmf.CNMFParams` field, named after
it (CaImAn's names: ``w.rf.value = "15"; w.K.value = 6; w.gSig.value = (4, 4)``),
with the parameter's explanation as tooltip. *Show patches* draws the patch grid
(``rf``, ``stride``) over the movie before anything runs, and follows ``rf`` and
``stride`` as they are typed. *Extract sources* runs
:func:`~napari_amnesia.core.cnmf.iter_fit` (patches, whole-field refinement, then
the evaluation and ΔF/F) in a worker with a progress bar; *Cancel* stops it and
adds nothing. The result is kept in the viewer's session and shown as the layers
it gives (:meth:`SourceResult.to_layers
<napari_amnesia.core.cnmf.SourceResult.to_layers>`, built in
:mod:`napari_amnesia.core.cnmf.layers`):

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
``rval_lowest``, ``min_size``, ``max_size``, ``require_both``: SNR *and*
r-value must pass, instead of CaImAn's either, and ``joint_SNR``/``joint_rval``: a
weaker pair that accepts when both are reached, and ``max_width_ratio``: footprints
wider than the clear cells are rejected) sit below the run button, with the
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

from ...core.cnmf.layers import (
    LABEL_THRESHOLD,
    REJECTED,
    SERIES_COLORS,
    cnmf_layers,
    component_series,
    contour_colors,
    contour_layer,
    footprint_map,
    label_colors,
    patch_layers,
    roi_color_dict,
    roi_features,
)
from ...core.cnmf.lazy import lazy_footprints, lazy_reconstruction, lazy_residual
from ...core.cnmf.params import CNMFParams
from ..layers import layer_name, show
from ..session import session_for, unproxied
from ._controls import controls_for, values_of
from ._stage import StageWidget
from .seed_picker import SeedPicker

if TYPE_CHECKING:
    import napari

__all__ = ["SourceWidget", "cnmf_layers", "contour_layer", "patch_layers", "roi_features",
           "is_curated",
           "roi_colormap", "component_series", "lazy_reconstruction", "lazy_residual",
           "lazy_footprints", "footprint_map", "THRESHOLDS", "REJECTED", "LABEL_THRESHOLD"]

logger = logging.getLogger(__name__)

#: The parameters :func:`~napari_amnesia.core.cnmf.evaluate` re-filters with.
THRESHOLDS = ("min_SNR", "SNR_lowest", "rval_thr", "rval_lowest", "min_size", "max_size",
              "require_both", "joint_SNR", "joint_rval", "max_width_ratio",
              "min_cell_probability")
# the layer builders live in the core (napari_amnesia.core.cnmf.layers); the names
# below stay importable from here for the Curate dock and scripts
_label_colors = label_colors


def is_curated(layer) -> bool:
    """Whether a ROI layer is being curated (its table and colours belong to that dock)."""
    return bool(layer.metadata.get("napari_amnesia", {}).get("curated"))


def roi_colormap(label_values, accepted, *, show_rejected: bool = True):
    """Return a DirectLabelColormap: accepted labels in colour, rejected in grey (or hidden)."""
    from napari.utils.colormaps import DirectLabelColormap

    return DirectLabelColormap(color_dict=roi_color_dict(label_values, accepted,
                                                         show_rejected=show_rejected))


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
        self._mode_control = by_name["mode"]  # read before the controls join the dock
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
        by_name["mode"].changed.connect(self._mode_changed)  # before the seed picker's
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
        # one-photon mode: the CNMF-E seed picker, above the run button (seed_picker.py)
        self.seed_picker = SeedPicker(viewer, self)
        self.insert(self.index(self.run_button), self.seed_picker)

    # ------------------------------------------------------------ parameters
    def params(self) -> CNMFParams:
        """Return the :class:`CNMFParams` the controls hold (raises ValueError if invalid)."""
        return CNMFParams(**values_of(self.parameters, CNMFParams))

    def _mode_changed(self, *_: Any) -> None:
        """Show the one-photon preset in the controls left as they were (or the defaults)."""
        from ...core.cnmf.params import ONE_PHOTON

        def text(value: Any) -> str:  # as a text box shows it (None is "none")
            return "none" if value is None else str(value)

        one = str(self.mode.value) == "one_photon"
        for name, preset in ONE_PHOTON.items():
            control = getattr(self, name)
            default = CNMFParams.field_info(name)["default"]
            old, new = (default, preset) if one else (preset, default)
            if text(control.value).lower() == text(old).lower():
                control.value = text(new) if isinstance(control.value, str) else new
        self._show_rule()  # the classifier's "auto" reads differently in each mode

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
            params = CNMFParams(**values_of([self.rf, self.stride, self.gSig, self.K],
                                            CNMFParams))
            params = params.sized(tuple(layer.data.shape[1:]))[0]  # "auto": as fit chooses
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
        seeds = None
        if self.seed_picker.active:  # its thresholds; its points when edited by hand
            try:
                params, seeds = self.seed_picker.fit_inputs(params)
            except ValueError as exc:
                self.status.value = str(exc)
                return None

        def on_result(result) -> None:
            self._source, self._movie_data = source, movie
            self._show(result)

        run = self.movie_generator(layer, lambda movie: iter_fit(movie, params, seeds=seeds))
        return self.launch(run, source=source, on_result=on_result,
                           message=f"Extracting the sources of {source!r}...")

    # ---------------------------------------------------------------- layers
    def _layer(self, what: str):
        """Return the layer ``"<source> · <what>"`` of the current result, or None."""
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
        layers = show(self._viewer, result.to_layers(source, movie=self._movie_data,
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
        from ...core.cnmf.evaluation import describe_rule

        p = r.params
        rule = describe_rule(**{name: getattr(p, name) for name in THRESHOLDS})
        self.status.value = (f"{r.K} components, {int(r.accepted.sum())} accepted "
                             f"({rule.split('; ')[0]}).")
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
            colors = contour_colors(result, show_rejected=self.show_rejected.value)
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

        one_photon = str(self._mode_control.value) == "one_photon"
        try:
            # one clause a line: the dock stays narrow, nothing is clipped
            self.rule.value = describe_rule(**self.threshold_values(),
                                            one_photon=one_photon).replace("; ", "\n")
        except (TypeError, ValueError) as exc:
            self.rule.value = f"Invalid threshold: {exc}"

    def threshold_values(self) -> dict[str, Any]:
        """Return the thresholds the controls hold, by parameter name."""
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
            # the movie: the cell classifier's features, the first time it is asked for
            new = evaluate(result, self._movie_data, **self.threshold_values())
        except (TypeError, ValueError) as exc:
            self.status.value = f"Invalid threshold: {exc}"
            return None
        session_for(self._viewer).set_result(self._source, self.stage, new)
        self._recolor()
        self._report()
        return new

    # ---------------------------------------------------------------- traces
    def _on_selected_label(self, event) -> None:
        # open the trace dock if needed; it plots component_series (registered above)
        from .traces import trace_dock

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
        return title, series, {name: SERIES_COLORS[name] for name in series}

    def show_component(self, label: int) -> dict | None:
        """Plot the raw F, C, S and ΔF/F of the component of ``label`` in the trace dock."""
        from .traces import trace_dock

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
