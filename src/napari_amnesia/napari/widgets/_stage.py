"""What every stage's dock widget shares: run in a worker, cancel, status, result.

A stage widget subclasses :class:`StageWidget`, builds its own controls, and in its
``run()`` validates them and calls :meth:`StageWidget.launch` with the core
progress generator and a function that turns the result into layers. Progress,
errors, the Cancel button, the session's record of the result and the re-enabling
of the buttons are handled here, once.

:func:`tab_with_siblings` keeps the plugin's docks on a screen: the first time a
stage dock is docked into the napari window it joins the plugin's other stage
docks of that side as a tab (Qt's ``QMainWindow.tabifyDockWidget``, reached
through the widget's parents; no private napari API), instead of stacking below
them until the window is taller than the screen. The trace dock stays beside them,
so a plot and the stage that feeds it are seen together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

from magicgui.widgets import ComboBox, Container, Label, PushButton
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QComboBox, QDockWidget, QMainWindow

from ...core.projection import reusable_projection
from .._workers import first_line, start
from ..session import session_for
from ._controls import ADVANCED

__all__ = ["StageWidget", "tab_with_siblings", "narrow_choices", "NO_TEMPLATE",
           "session_projection"]

logger = logging.getLogger(__name__)

#: the first choice of a dock's template list: the parameters as the controls hold them
NO_TEMPLATE = "(parameters below)"

#: Qt property naming the group of a napari-amnesia dock ("stages", "traces")
_GROUP = "napari_amnesia_dock_group"


def _ancestor(widget, kind):
    while widget is not None and not isinstance(widget, kind):
        widget = widget.parent()
    return widget


def _join_siblings(dock: QDockWidget) -> None:
    """Tab ``dock`` with the docks of its group on the same side of the window."""
    window = _ancestor(dock.parent(), QMainWindow)
    if window is None or dock.isFloating():
        return
    area = window.dockWidgetArea(dock)
    group = dock.property(_GROUP)
    # a dock removed from the window has no area; one added just before this one,
    # with no event processed in between, may not be shown yet: prefer shown ones
    siblings = [other for other in window.findChildren(QDockWidget)
                if other is not dock and other.property(_GROUP) == group
                and not other.isFloating() and window.dockWidgetArea(other) == area]
    siblings.sort(key=lambda other: not other.isHidden())
    if siblings:
        window.tabifyDockWidget(siblings[-1], dock)
        dock.show()
        dock.raise_()  # the new dock is the tab in front


class _DockWatcher(QObject):
    """Marks the dock a widget is put in, and tabs it with its group once docked."""

    def __init__(self, native, group: str) -> None:
        super().__init__(native)
        self._group = group
        native.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.ParentChange:
            dock = _ancestor(obj.parent(), QDockWidget)
            if dock is not None and dock.property(_GROUP) is None:
                dock.setProperty(_GROUP, self._group)

                def docked(_area, dock=dock) -> None:
                    # a Qt slot: an exception escaping it would abort a plain script
                    try:
                        dock.dockLocationChanged.disconnect(docked)  # the first docking only
                        _join_siblings(dock)
                    except Exception as exc:  # noqa: BLE001 - the layout is a convenience
                        logger.debug("could not tab the dock: %s", exc)

                dock.dockLocationChanged.connect(docked)
        return False


class _FitWidth(QObject):
    """Keeps a scroll area at least as wide as its contents: nothing is cut on the right.

    A vertical scroll area never scrolls sideways, so contents wider than the dock
    (a two-number field, a long choice) would be clipped; whenever the contents'
    layout changes, the scroll area's minimum width follows their minimum width.
    """

    def __init__(self, scroll) -> None:
        super().__init__(scroll)
        self._scroll = scroll
        scroll.widget().installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.LayoutRequest:
            try:
                scroll = self._scroll
                width = (obj.minimumSizeHint().width() + 2 * scroll.frameWidth()
                         + scroll.verticalScrollBar().sizeHint().width())
                if scroll.minimumWidth() != width:
                    scroll.setMinimumWidth(width)
            except RuntimeError:  # the scroll area is being deleted (the dock was closed)
                pass
        return False


def narrow_choices(native, *, characters: int = 12) -> None:
    """Size a drop-down list (``QComboBox``) for ``characters``, not for its longest item.

    Layer names such as ``"<movie> · corrected · reconstruction"`` would otherwise set
    the minimum width of the dock, and of the window.
    """
    if isinstance(native, QComboBox):
        native.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        native.setMinimumContentsLength(characters)


def tab_with_siblings(native, *, group: str = "stages") -> None:
    """Tab the dock that ``native`` will be put in with the plugin's docks of ``group``.

    Parameters
    ----------
    native : QWidget
        The widget napari puts in a dock (a magicgui widget's ``native``).
    group : str
        Docks of the same group share one tabbed area on each side of the window.
    """
    native._napari_amnesia_watcher = _DockWatcher(native, group)


class StageWidget(Container):
    """Base of the stage dock widgets (see the module documentation).

    Attributes
    ----------
    result : object or None
        The latest result of the dock's stage for the movie it last ran on, read from
        the viewer's session (``(source, stage)``), which alone holds it.
    run_button, cancel_button : PushButton
    status : Label
    """

    #: the stage's name (:mod:`napari_amnesia.core.stages`): the key of its results in
    #: the viewer's session and the ``stage`` of its layers' metadata
    stage: str = "stage"
    #: the stage in plain words, for the progress bar and messages (default: ``stage``)
    title: str = ""
    #: text of the run button
    run_text: str = "Run"

    def __init__(self, viewer, *, scrollable: bool = True) -> None:
        super().__init__(labels=True, scrollable=scrollable)
        from ...core.stages import STAGES

        if not self.title and self.stage in STAGES:  # plain words from the registry
            self.title = STAGES[self.stage].title
        self._viewer = viewer
        self._worker = None
        self._result_source: str | None = None  # the movie the dock last ran on
        self._showing: Any = None  # the result whose layers are being added
        self.run_button = PushButton(text=self.run_text)
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.status = Label(value="")
        self.status.native.setWordWrap(True)  # a long message wraps, never widens the dock
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        viewer.layers.events.inserted.connect(self.reset_choices)
        viewer.layers.events.removed.connect(self.reset_choices)
        tab_with_siblings(self.native)
        if scrollable:
            self.native._napari_amnesia_width = _FitWidth(self.native)
            # rows packed at the top of a tall dock (magicgui inserts before the stretch)
            self.native.widget().layout().addStretch(1)

    @property
    def result(self) -> Any:
        """Return the latest result of the dock's stage for its movie (the session's)."""
        if self._showing is not None:
            return self._showing
        if self._result_source is None:
            return None
        return session_for(self._viewer).result(self._result_source, self.stage)

    @property
    def native(self):
        """The Qt widget napari docks: the scroll area around the controls.

        napari docks a magicgui widget's ``native``, which for a scrollable container
        is the widget *inside* the scroll area; handing it the scroll area keeps the
        dock scrollable, so a long stage never makes the window taller than the screen.
        """
        return self.root_native_widget

    def insert(self, key: int, widget) -> None:
        """Add ``widget`` at ``key``, never wider than the dock needs.

        A text :class:`Label` wraps, and a choice of layers keeps the width of a dozen
        characters however long the layer names are (the full name shows when it opens).
        """
        if isinstance(widget, Label):
            widget.native.setWordWrap(True)
        narrow_choices(widget.native)
        super().insert(key, widget)

    def run(self):  # pragma: no cover - every stage defines it
        raise NotImplementedError

    def chosen_movie(self):
        """Return the ``(T, Y, X)`` movie layer of the ``movie`` control, or None (and why)."""
        layer = getattr(self, "movie", None)
        layer = None if layer is None else layer.value
        if layer is None:
            self.status.value = "Choose a (T, Y, X) movie first."
            return None
        if layer.ndim != 3 or getattr(layer, "rgb", False):
            self.status.value = (f"Choose a (T, Y, X) movie first ({layer.name!r} has shape "
                                 f"{tuple(layer.data.shape)}).")
            return None
        return layer

    def with_nan_policy(self, controls: list) -> list:
        """Add the *NaN frames* choice (``nan_policy``) to ``controls``; return them.

        The choice joins the "Advanced settings" section when ``controls`` has one,
        else it is appended. The Summary images, Motion correction, Skeleton and Source
        extraction docks offer it, with the command line's default (``raise``) and meaning
        (``amnesia ... --nan-policy``): see :meth:`movie_generator`. (The clustering and
        factorization docks, which read a movie through a projection, do not yet.)
        """
        from ...core.io import NAN_POLICIES

        self.nan_policy = ComboBox(
            name="nan_policy", label="NaN frames", choices=list(NAN_POLICIES), value="raise",
            tooltip="Frames holding NaN or infinite pixels: 'raise' stops and names them; "
                    "'fill' replaces them by each pixel's mean over its other frames "
                    "(the command line's --nan-policy).")
        toggle = next((c for c in controls if getattr(c, "name", "") == ADVANCED), None)
        if toggle is not None:
            toggle.controls.append(self.nan_policy)
            self.nan_policy.visible = bool(toggle.value)
            toggle.text = f"Advanced settings ({len(toggle.controls)})"
        return [*controls, self.nan_policy]

    def movie_generator(self, layer, make: Callable[[Any], Generator]) -> Generator:
        """Return a generator applying the dock's NaN policy to ``layer``'s movie, then ``make``.

        ``make(movie)`` runs after the check, both in the worker: the check reads every
        frame of a float movie; integer movies are not read.
        """
        from ...core.io import MovieError, iter_apply_nan_policy

        policy = getattr(getattr(self, "nan_policy", None), "value", "raise")
        data, name = layer.data, layer.name

        def generator():
            movie = data
            if getattr(data, "ndim", 0) == 3:
                try:
                    movie = yield from iter_apply_nan_policy(data, policy, label=repr(name))
                except MovieError as exc:
                    text = str(exc).replace(
                        "pass nan_policy='fill'",
                        "choose 'fill' for NaN frames (Advanced settings)")
                    raise MovieError(text) from None
            return (yield from make(movie))

        return generator()

    def launch(self, generator: Generator, *, source: str, message: str,
               on_result: Callable[[Any], Any]):
        """Run ``generator`` in a worker; ``on_result(result)`` adds the layers."""
        session = session_for(self._viewer)
        self.status.value = message
        self.run_button.enabled = False
        self.cancel_button.enabled = True

        def returned(result) -> None:
            self._result_source = source
            self._showing = result  # what self.result is while its layers are added
            try:
                on_result(result)  # layers first: a listener may look for them
            finally:
                self._showing = None
            session.set_result(source, self.stage, result)

        def failed(exc) -> None:
            # the first line here; the whole message and traceback in one notification
            self.status.value = f"Failed: {first_line(exc)}"

        def finished() -> None:
            self.run_button.enabled = True
            self.cancel_button.enabled = False
            self._worker = None

        self._worker = start(generator, on_returned=returned, on_error=failed,
                             on_finished=finished, description=self.title or self.stage,
                             session=session)
        return self._worker

    def cancel(self) -> None:
        """Stop the running computation at its next step (nothing is added)."""
        if self._worker is not None:
            self._worker.quit()
            self.status.value = "Cancelled."


def session_projection(viewer, source: str, movie, substructure: str, method: str):
    """Check the skeleton of ``source`` in the session and find its projection.

    Returns ``(skeleton, projection_or_None, n_elements)``; the projection is the
    session's (stage ``"projection"``) while it is current
    (:func:`~napari_amnesia.core.projection.reusable_projection`; None: to compute).
    Raises ValueError with a message for the user when there is no usable skeleton.
    """
    session = session_for(viewer)
    skeleton = session.result(source, "skeleton")
    if skeleton is None:
        raise ValueError(f"No skeleton of {source!r} yet: run the Skeleton dock on this "
                         "movie first.")
    projection, n = reusable_projection(session.result(source, "projection"), movie, skeleton,
                                        substructure=substructure, method=method, name=source)
    return skeleton, projection, n
