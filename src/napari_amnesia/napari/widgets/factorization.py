"""The "Factorization" dock widget (pyAMNESIA's factorization module).

Input: the chosen movie layer itself (read in time chunks and binned, see
:mod:`napari_amnesia.core.factorization`), or a projection of its skeleton
(``input``: skeleton/active pixels or branches; the skeleton comes from the
*Skeleton* dock through the viewer's session, and the projection is shared with
the *Coactive clustering* dock). One control per
:class:`~napari_amnesia.core.factorization.FactorizationParams` field (``method``
NMF/PCA/ICA, ``n_components``, ``min_skewness``...), with its explanation as
tooltip; *template* loads a shipped configuration (``factorization_nmf``).
*Factorize* runs :func:`~napari_amnesia.core.factorization.iter_factorize` in a
worker (progress, *Cancel*), then shows:

- ``<movie> · components``: the spatial components tiled in one 2-D Image (a
  mosaic, row by row: component 1 top left), to the right of the movie. A
  ``(K, Y, X)`` stack would share its first axis with the movie's time, and go
  black once the time slider passes K; a 2-D image shows at every frame. The
  layer's ``metadata["napari_amnesia"]["components"]`` lists each component's
  ``explained_variance``, ``skewness`` and ``tile`` (its top-left row, column
  in the mosaic), as
  :meth:`~napari_amnesia.core.factorization.FactorizationResult.to_layers` builds it;
- the temporal components in the trace dock, one series per component.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, create_widget

from ...core.clustering import template_entries
from ...core.factorization import FactorizationParams, mosaic
from ...core.projection import iter_current_projection
from ..layers import show
from ..session import session_for
from ._controls import controls_for, set_controls, values_of
from ._stage import NO_TEMPLATE, StageWidget, session_projection
from .traces import trace_dock

if TYPE_CHECKING:
    import napari

__all__ = ["FactorizationWidget", "mosaic", "INPUTS"]

logger = logging.getLogger(__name__)

#: input choice -> (substructure, method) of the projection (None: the movie itself)
INPUTS: dict[str, tuple[str, str] | None] = {
    "movie": None,
    "skeleton pixels": ("skeleton", "pixel"),
    "skeleton branches": ("skeleton", "branch"),
    "active pixels": ("active", "pixel"),
    "active branches": ("active", "branch"),
}


class FactorizationWidget(StageWidget):
    """NMF, PCA or PCA-ICA of a movie or of a projection of its skeleton.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Injected by napari.
    """

    stage = "factorization"
    run_text = "Factorize"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer, scrollable=True)
        self.movie = create_widget(annotation="napari.layers.Image", label="movie")
        self.movie.tooltip = "The (T, Y, X) movie to factorize (a lazy layer is read in chunks)."
        self.input = ComboBox(name="input", label="input", choices=list(INPUTS), value="movie")
        self.input.tooltip = (
            "'movie': every pixel (binned to at most max_pixels); or the traces of the "
            "skeleton's pixels/branches or of the active pixels (run the Skeleton dock first).")
        self._templates = template_entries("factorization")
        self.template = ComboBox(name="template", label="template",
                                 choices=[NO_TEMPLATE, *self._templates], value=NO_TEMPLATE)
        self.template.tooltip = ("Load the values of a shipped configuration (amnesia cluster "
                                 "--show NAME) into the controls below.")
        self.template.changed.connect(self.load_template)
        # one control per FactorizationParams field: w.method, w.n_components...
        self.parameters = controls_for(FactorizationParams)
        self.extend([self.movie, self.input, self.template, *self.parameters,
                     self.run_button, self.cancel_button, self.status])

    def params(self) -> FactorizationParams:
        """Return the :class:`FactorizationParams` the controls hold (ValueError if invalid)."""
        values = values_of(self.parameters, FactorizationParams)
        return FactorizationParams(**values)

    def load_template(self, name: str | None = None) -> None:
        """Load a template's factorization values (and input) into the controls."""
        name = self.template.value if name is None else name
        if name == NO_TEMPLATE or name is None:
            return
        projection, values = self._templates[name]
        try:
            params = FactorizationParams.from_dict(values or {})
        except (TypeError, ValueError) as exc:
            self.status.value = f"Template {name!r}: {exc}"
            return
        set_controls(self.parameters, params.to_dict())
        wanted = (projection.get("substructure", "skeleton"), projection.get("method", "branch")
                  ) if projection else None
        self.input.value = next((k for k, v in INPUTS.items() if v == wanted), "movie")
        if self.template.value != name:
            self.template.value = name
        self.status.value = f"Loaded template {name!r}."

    def run(self):
        """Factorize the chosen movie (or its projection); return the worker (or None)."""
        from ...core.factorization import iter_factorize

        layer = self.chosen_movie()
        if layer is None:
            return None
        try:
            params = self.params()
        except (TypeError, ValueError) as exc:
            self.status.value = f"Invalid parameter: {exc}"
            return None
        source = layer.name
        movie = layer.data
        choice = INPUTS[self.input.value]
        found: dict[str, Any] = {}
        if choice is None:
            generator = iter_factorize(movie, params)
            what = source
        else:
            substructure, method = choice
            try:
                skeleton, projection, n = session_projection(self._viewer, source, movie,
                                                             substructure, method)
            except ValueError as exc:
                self.status.value = str(exc)
                return None
            if params.n_components > n:
                self.status.value = (
                    f"n_components={params.n_components} is more than the {n} "
                    f"{self.input.value} of {source!r}: lower n_components.")
                return None

            def generator_():
                proj = yield from iter_current_projection(
                    movie, skeleton, substructure=substructure, method=method,
                    previous=projection)
                found["projection"] = proj
                return (yield from iter_factorize(proj, params))

            generator = generator_()
            what = f"the {self.input.value} of {source!r}"

        def on_result(result) -> None:
            if "projection" in found:
                session_for(self._viewer).set_result(source, "projection", found["projection"])
            k = result.n_components
            if k == 0:
                self.status.value = (
                    f"No component kept: none of the {result.info.get('n_fitted')} has a "
                    f"skewness >= min_skewness={params.min_skewness}; lower it (empty = keep "
                    "all).")
                return
            show(self._viewer, result.to_layers(source))
            self._plot_temporal(result, source)
            self.status.value = (f"{k} component(s) ({params.method.upper()}); explained "
                                 f"variance {float(np.sum(result.explained_variance)):.0%}.")

        return self.launch(generator, source=source, on_result=on_result,
                           message=f"Factorizing {what} ({params.method.upper()})...")

    def _plot_temporal(self, result, source: str) -> None:
        try:
            dock = trace_dock(self._viewer)
            series = {f"component {i + 1} (skew {s:.1f})": t
                      for i, (t, s) in enumerate(zip(result.temporal, result.skewness,
                                                     strict=True))}
            dock.show_series(f"{source}: {result.n_components} temporal components "
                             f"({result.params.method.upper()})", series)
        except RuntimeError as exc:  # the dock was closed
            logger.debug("trace dock unavailable: %s", exc)
