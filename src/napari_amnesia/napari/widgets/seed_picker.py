"""The seed picker of the Source extraction dock's one-photon mode (CNMF-E).

CNMF-E seeds its cells where the local correlation *and* the peak-to-noise ratio
(PNR) of the spatially filtered movie are both high (Zhou et al. 2018 [1]_). CaImAn
shows the two images once, in a static figure (``inspect_correlation_pnr``), and the
user guesses ``min_corr`` and ``min_pnr`` from it. Here the images and the seeds
they give stay in the viewer, and the seeds follow the thresholds as they move:

- **Show seeds** puts the correlation and PNR images of the chosen movie in the
  viewer (Image layers ``"<movie> · seed correlation"`` and ``"<movie> · seed
  PNR"``, the PNR one hidden). They are the images the fit seeds from
  (:func:`~napari_amnesia.core.cnmf.initialization.corr_pnr.correlation_pnr` with the
  dock's ``gSig`` and ``center_psf``): taken from the session's summary images of
  the movie when those were computed with the same filter (``gsig = gSig``,
  ``center_psf``, the other summary settings at their defaults), otherwise computed
  in a worker (one streaming pass over the movie, with a progress bar and
  *Cancel*).
- Two sliders, ``min_corr`` (0..1) and ``min_pnr`` (> 0), are the dock's CNMF
  parameters of the same names (moving one moves the other). Each move runs
  :func:`~napari_amnesia.core.cnmf.initialization.seeds.find_seeds` and redraws the
  seeds as a Points layer ``"<movie> · seeds"`` (rows, columns of the movie's
  frame) with their count ("23 seeds"). With no seed above the thresholds the
  count says so, with the largest correlation and PNR of the images.
- The user may **add, delete or move points** with napari's own point tools. From
  then on the points are the user's: slider moves no longer replace them (the count
  tells how many seeds the sliders would give), until **Reset to automatic seeds**.

What *Extract sources* fits (:meth:`SeedPicker.fit_inputs`):

- automatic seeds (the points were not edited): the fit is given the sliders'
  thresholds and no points; it computes the same images and finds exactly the
  seeds drawn (tested), then, as CNMF-E does, runs its second seeding pass on the
  background-subtracted residual, which can add cells hidden under the background;
- edited points: the fit is given the points as ``seeds=`` (an ``(n, 2)`` array of
  row, column), visited in the layer's order (automatic seeds best first, added
  ones after), and runs no second pass: the seeds are the whole set. A point is
  still fitted only where the residual at it reaches ``min_corr`` and ``min_pnr``
  once the components before it are removed (the fit's greedy initialisation).

References
----------
.. [1] Zhou, P. et al. (2018). Efficient and accurate extraction of in vivo calcium
   signals from microendoscopic video data. eLife 7, e28728.
.. [2] Giovannucci, A. et al. (2019). CaImAn, an open source tool for scalable calcium
   imaging data analysis. eLife 8, e38173 (``inspect_correlation_pnr``).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from magicgui.widgets import Container, FloatSlider, Label, PushButton

from .._workers import first_line, start
from ..layers import layer_name, show
from ..session import session_for

__all__ = ["SeedPicker", "ONE_PHOTON_MODE", "SUMMARY_DEFAULTS"]

logger = logging.getLogger(__name__)

#: the value of the dock's ``mode`` control that shows the picker
ONE_PHOTON_MODE = "one_photon"
#: summary settings that must hold their defaults for the session's summary images to
#: be the fit's images (``gsig`` and ``center_psf`` are compared with the dock's)
SUMMARY_DEFAULTS = ("eight_neighbours", "noise_range", "corr_pnr_threshold",
                    "noise_max_frames")
#: the picker's layers, after the movie's name
CORRELATION, PNR, SEEDS = "seed correlation", "seed PNR", "seeds"


class SeedPicker(Container):
    """CNMF-E seed picker embedded in the Source extraction dock (module documentation).

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The dock's viewer.
    dock : SourceWidget
        The Source extraction dock: its ``movie``, ``mode``, ``gSig``, ``center_psf``,
        ``min_corr`` and ``min_pnr`` controls and its ``params()`` and
        ``movie_generator()`` are used.

    Attributes
    ----------
    min_corr, min_pnr : FloatSlider
        The seed thresholds, bound to the dock's controls of the same names.
    show_button, cancel_button, reset_button : PushButton
    count : Label
        "N seeds", or why there is none.
    edited : bool
        Whether the points were added, deleted or moved by hand since the last
        automatic drawing.
    """

    def __init__(self, viewer, dock) -> None:
        super().__init__(name="seed_picker", label="", labels=True)
        self._viewer = viewer
        self._dock = dock
        # (key, correlation, PNR, where they come from): see images and _key
        self._images: tuple[tuple, np.ndarray, np.ndarray, str] | None = None
        self._points = None  # the Points layer drawn last
        self._writing = False  # the picker itself is changing the points
        self._syncing = False  # a slider and its dock control are being aligned
        self._worker = None
        self.edited = False
        self.title = Label(value="Seed picker: cells are seeded where correlation and "
                                 "PNR both pass.")
        self.min_corr = FloatSlider(name="min_corr", label="seed correlation ≥", min=0.0,
                                    max=1.0, step=0.01, value=0.8)
        self.min_corr.tooltip = ("min_corr: smallest local correlation of a seed pixel, "
                                 "in [0, 1] (the dock's min_corr).")
        self.min_pnr = FloatSlider(name="min_pnr", label="seed PNR ≥", min=0.1, max=50.0,
                                   step=0.1, value=7.0)
        self.min_pnr.tooltip = ("min_pnr: smallest peak-to-noise ratio of a seed pixel, > 0 "
                                "(the dock's min_pnr).")
        self.show_button = PushButton(text="Show seeds")
        self.show_button.tooltip = ("Show the correlation and PNR images the fit seeds "
                                    "from (the summary images when computed with "
                                    "gsig = gSig, else computed now) and the seeds.")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.reset_button = PushButton(text="Reset to automatic seeds")
        self.reset_button.tooltip = ("Forget the points added, deleted or moved by hand and "
                                     "draw the seeds of the sliders again.")
        self.count = Label(value="")
        for widget in (self.title, self.count):
            widget.native.setWordWrap(True)
        self.extend([self.title, self.min_corr, self.min_pnr, self.show_button,
                     self.cancel_button, self.count, self.reset_button])
        self.show_button.changed.connect(lambda *_: self.show_seeds())
        self.cancel_button.changed.connect(lambda *_: self.cancel())
        self.reset_button.changed.connect(lambda *_: self.reset())
        for name in ("min_corr", "min_pnr"):
            getattr(self, name).changed.connect(
                lambda value, name=name: self._slider_moved(name, value))
            getattr(dock, name).changed.connect(
                lambda value, name=name: self._control_changed(name, value))
        dock.mode.changed.connect(self._mode_changed)
        for name in ("movie", "gSig", "center_psf"):
            getattr(dock, name).changed.connect(self._images_changed)
        session_for(viewer).result_changed.connect(self._result_changed)
        self.visible = False
        self._mode_changed()

    # ------------------------------------------------------------------ state
    @property
    def active(self) -> bool:
        """Whether the dock is in one-photon mode (the picker is shown and used)."""
        return str(self._dock.mode.value) == ONE_PHOTON_MODE

    @property
    def images(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The correlation and PNR images shown, or None (none yet, or outdated)."""
        if self._images is None or self._images[0] != self._key():
            return None
        return self._images[1], self._images[2]

    @property
    def points_layer(self):
        """The Points layer of the chosen movie's seeds, or None (not drawn, or removed)."""
        layer, movie = self._points, self._dock.movie.value
        if layer is None or movie is None or layer not in self._viewer.layers \
                or layer.name != layer_name(movie.name, SEEDS):
            return None
        return layer

    def thresholds(self) -> dict[str, float]:
        """Return ``{"min_corr": ..., "min_pnr": ...}`` as the sliders hold them."""
        return {"min_corr": float(self.min_corr.value), "min_pnr": float(self.min_pnr.value)}

    def _params(self):
        """Return the dock's CNMFParams with the sliders' thresholds (raises ValueError)."""
        return self._dock.params().replace(**self.thresholds())

    def _key(self) -> tuple | None:
        """Return what the images depend on: the movie layer, ``gSig`` and ``center_psf``."""
        layer = self._dock.movie.value
        if layer is None:
            return None
        try:
            p = self._dock.params()
        except (TypeError, ValueError):
            return None
        return (id(layer.data), layer.name, tuple(p.gSig), bool(p.center_psf))

    # --------------------------------------------------------------- binding
    def _mode_changed(self, *_: Any) -> None:
        self.visible = self.active
        if not self.active:
            return
        try:  # the thresholds the fit would use (the one-photon preset's at first)
            p = self._dock.params()
        except (TypeError, ValueError):
            return
        self._set_sliders(p.min_corr, p.min_pnr)
        self._refresh_from_session()

    def _set_sliders(self, min_corr: float, min_pnr: float) -> None:
        """Put the thresholds in the sliders and in the dock's controls."""
        if min_pnr > self.min_pnr.max:
            self.min_pnr.max = float(math.ceil(min_pnr))
        self.min_corr.value = float(min_corr)
        self.min_pnr.value = float(min_pnr)
        self._syncing = True
        try:  # a slider already at that value sent no event: the controls follow here
            for name, value in self.thresholds().items():
                getattr(self._dock, name).value = value
        finally:
            self._syncing = False

    def _slider_moved(self, name: str, value: float) -> None:
        if not self._syncing:
            self._syncing = True
            try:
                getattr(self._dock, name).value = float(value)
            finally:
                self._syncing = False
        self.update_seeds()

    def _control_changed(self, name: str, value: float) -> None:
        if self._syncing:
            return
        slider = getattr(self, name)
        value = float(value)
        if not slider.min <= value <= slider.max:
            if name == "min_pnr" and value > slider.max:
                slider.max = float(math.ceil(value))
            else:
                return  # out of range: the dock's params() names the bad value
        self._syncing = True
        try:
            slider.value = value
        finally:
            self._syncing = False

    def _images_changed(self, *_: Any) -> None:
        """Forget the images when the movie, gSig or center_psf changed."""
        if self._images is None or self._images[0] == self._key():
            return
        self._images = None
        if not self._refresh_from_session() and self.active:
            self.count.value = ("The movie, gSig or center_psf changed: press 'Show seeds' "
                                "for the new images.")

    def _result_changed(self, source: str, stage: str, result: Any) -> None:
        layer = self._dock.movie.value
        if stage == "summary" and result is not None and layer is not None \
                and source == layer.name and self.active:
            self._refresh_from_session()

    # ---------------------------------------------------------------- images
    def session_images(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Return the session's summary ``corr_pnr`` and ``pnr`` if they are the fit's images.

        They are when the summary of the chosen movie was computed with ``gsig`` equal
        to the dock's ``gSig``, the same ``center_psf``, and the other settings that
        change these images at their defaults (:data:`SUMMARY_DEFAULTS`).
        """
        from ...core.summary import SummaryParams

        layer = self._dock.movie.value
        if layer is None:
            return None
        summary = session_for(self._viewer).result(layer.name, "summary")
        if summary is None:
            return None
        try:
            p = self._dock.params()
        except (TypeError, ValueError):
            return None
        have, default = summary.params, SummaryParams()
        same = (have.gsig_pair is not None
                and tuple(map(float, have.gsig_pair)) == tuple(map(float, p.gSig))
                and bool(have.center_psf) == bool(p.center_psf)
                and all(getattr(have, n) == getattr(default, n) for n in SUMMARY_DEFAULTS)
                and tuple(summary.corr_pnr.shape) == tuple(layer.data.shape[-2:])
                and int(summary.n_frames) == int(layer.data.shape[0]))
        if not same:
            return None
        return (np.asarray(summary.corr_pnr, np.float32),
                np.asarray(summary.pnr, np.float32))

    def _refresh_from_session(self) -> bool:
        """Use the session's summary images when they fit (no computation); return True."""
        images = self.session_images()
        if images is None:
            return False
        self._images = (self._key(), *images, "from the summary images")
        self._show_images()
        return True

    def show_seeds(self):
        """Show the images and the seeds; compute the images in a worker if needed.

        Returns the worker when the images are computed (None otherwise; None too in
        synchronous mode, ``NAPARI_AMNESIA_SYNC=1``, where they are there on return).
        """
        from ...core.summary import SummaryParams, iter_summary_images

        if self.images is not None:
            self._show_images()
            return None
        if self._refresh_from_session():
            return None
        layer = self._dock.chosen_movie()
        if layer is None:
            self.count.value = self._dock.status.value
            return None
        try:
            p = self._params()
        except (TypeError, ValueError) as exc:
            self.count.value = f"Invalid parameter: {exc}"
            return None
        key = self._key()
        params = SummaryParams(gsig=p.gSig, center_psf=p.center_psf)
        run = self._dock.movie_generator(layer, lambda movie: iter_summary_images(movie,
                                                                                  params))

        def returned(summary) -> None:
            self._images = (key, np.asarray(summary.corr_pnr, np.float32),
                            np.asarray(summary.pnr, np.float32),
                            f"computed in {summary.elapsed:.1f} s")
            if key == self._key():
                self._show_images()
            else:
                self.count.value = ("The movie, gSig or center_psf changed meanwhile: press "
                                    "'Show seeds' again.")

        def failed(exc) -> None:
            self.count.value = f"Failed: {first_line(exc)}"

        def finished() -> None:
            self.show_button.enabled = True
            self.cancel_button.enabled = False
            self._worker = None

        self.count.value = f"Computing the correlation and PNR images of {layer.name!r}..."
        self.show_button.enabled = False
        self.cancel_button.enabled = True
        self._worker = start(run, on_returned=returned, on_error=failed,
                             on_finished=finished, description="seed images",
                             session=session_for(self._viewer))
        return self._worker

    def cancel(self) -> None:
        """Stop computing the images (nothing is added)."""
        if self._worker is not None:
            self._worker.quit()
            self.count.value = "Cancelled."

    def _show_images(self) -> None:
        layer = self._dock.movie.value
        images = self.images
        if layer is None or images is None:
            return
        corr, pnr = images
        origin = self._images[3]
        scale, translate = tuple(layer.scale[-2:]), tuple(layer.translate[-2:])
        meta = {"napari_amnesia": {"stage": "cnmf", "source": layer.name,
                                   "what": "seed images", "origin": origin}}
        data = []
        for image, what, visible, cmap in ((corr, CORRELATION, True, "gray"),
                                           (pnr, PNR, False, "magma")):
            finite = image[np.isfinite(image)]
            low, high = (np.percentile(finite, [1, 99.5]).tolist() if finite.size
                         else (0.0, 1.0))
            data.append((image, {"name": layer_name(layer.name, what), "scale": scale,
                                 "translate": translate, "colormap": cmap,
                                 "visible": visible, "metadata": meta,
                                 "contrast_limits": (low, max(high, low + 1e-6))}, "image"))
        show(self._viewer, data)
        finite = pnr[np.isfinite(pnr)]
        if finite.size and float(finite.max()) > self.min_pnr.max:
            self.min_pnr.max = float(math.ceil(finite.max()))
        self.update_seeds(force=self.points_layer is None)

    # ----------------------------------------------------------------- seeds
    def automatic_seeds(self) -> np.ndarray | None:
        """:func:`find_seeds` of the images with the sliders' thresholds (None: no images).

        Returns
        -------
        ndarray of int64, shape (n, 2) or None
            ``(row, column)`` of each seed, best first: the seeds of the fit's first
            pass with these thresholds.
        """
        from ...core.cnmf.initialization.seeds import find_seeds

        images = self.images
        if images is None:
            return None
        p = self._params()
        return find_seeds(images[0], images[1], min_corr=p.min_corr, min_pnr=p.min_pnr,
                          gSig=p.gSig)

    def update_seeds(self, *, force: bool = False) -> np.ndarray | None:
        """Redraw the automatic seeds (unless edited by hand, or ``force``); return them."""
        if self.images is None or not self.active:
            return None
        try:
            seeds = self.automatic_seeds()
        except (TypeError, ValueError) as exc:
            self.count.value = f"Invalid parameter: {exc}"
            return None
        if self.points_layer is None:
            self.edited = False  # the edited layer is gone, or belongs to another movie
        if self.edited and not force:
            self._report(seeds)
            return seeds
        self.edited = False
        self._draw(seeds)
        self._report(seeds)
        return seeds

    def reset(self) -> np.ndarray | None:
        """Forget the hand edits and draw the sliders' seeds again; return them."""
        self.edited = False
        return self.update_seeds(force=True)

    def _draw(self, seeds: np.ndarray) -> None:
        layer = self._dock.movie.value
        p = self._dock.params()
        size = 2 * float(max(p.gSig))
        kwargs = {"name": layer_name(layer.name, SEEDS), "ndim": 2,
                  "scale": tuple(layer.scale[-2:]), "translate": tuple(layer.translate[-2:]),
                  "size": size, "face_color": "transparent", "border_color": "#ff4040",
                  "border_width": 0.15, "border_width_is_relative": True,
                  "metadata": {"napari_amnesia": {"stage": "cnmf", "source": layer.name,
                                                  "what": "seeds"}}}
        self._writing = True
        try:
            points = self.points_layer
            if points is None:
                [points] = show(self._viewer, [(seeds.astype(float), kwargs, "points")])
                points.events.data.connect(self._points_edited)
                self._points = points
            else:  # one refresh: the data's (the size is set only when gSig changed)
                if points.current_size != size:
                    points.current_size = size
                    points.size = size
                points.data = seeds.astype(float)
        finally:
            self._writing = False

    def _points_edited(self, event) -> None:
        if self._writing:
            return
        action = str(getattr(event, "action", "changed"))
        if action.endswith("ing"):  # "adding", "removing", "changing": not done yet
            return
        if not self.edited:
            self.edited = True
        self._report(self._safe_automatic())

    def _safe_automatic(self) -> np.ndarray | None:
        try:
            return self.automatic_seeds()
        except (TypeError, ValueError):
            return None

    def _report(self, automatic: np.ndarray | None) -> None:
        """Write the count (and why there is no seed) in the ``count`` label."""
        points = self.points_layer
        n = len(points.data) if points is not None else 0
        images = self.images
        if not self.edited and automatic is not None and len(automatic) == 0 and images:
            corr, pnr = images
            t = self.thresholds()
            both = int(np.sum((corr >= t["min_corr"]) & (pnr >= t["min_pnr"])))
            self.count.value = (
                f"No seed: no pixel reaches min_corr={t['min_corr']:g} and "
                f"min_pnr={t['min_pnr']:g} ({both} pass both). The largest correlation is "
                f"{float(np.nanmax(corr)):.3f} and the largest PNR "
                f"{float(np.nanmax(pnr)):.2f}: lower the sliders, or check gSig.")
            return
        text = f"{n} seed{'s' if n != 1 else ''}"
        if self.edited:
            more = "" if automatic is None else f"; the sliders give {len(automatic)}"
            text += (f" (edited by hand{more}: 'Reset to automatic seeds' to use them)."
                     " Extract sources fits these points only.")
        self.count.value = text

    # ------------------------------------------------------------------- fit
    def fit_inputs(self, params):
        """Return ``(params, seeds)`` for the fit: the sliders' thresholds and the points.

        Parameters
        ----------
        params : CNMFParams
            The dock's parameters.

        Returns
        -------
        params : CNMFParams
            ``params`` with the sliders' ``min_corr`` and ``min_pnr`` (given
            explicitly, so the one-photon preset never replaces them).
        seeds : ndarray of float, shape (n, 2), or None
            The Points layer's ``(row, column)`` when edited by hand, else None (the
            fit finds the automatic seeds itself: the same ones, see the module
            documentation).

        Raises
        ------
        ValueError
            When the edited points are none.
        """
        params = params.replace(**self.thresholds())
        points = self.points_layer
        if not self.edited or points is None:
            return params, None
        seeds = np.asarray(points.data, float).reshape(-1, 2)
        if len(seeds) == 0:
            raise ValueError("No seed point: add points to the seeds layer, or press "
                             "'Reset to automatic seeds'.")
        return params, seeds
