"""What the session computed, as a configuration and as Python ("Copy as Python").

The Curate ROIs dock's *Copy as Python* and *Save pipeline config* buttons call these
functions; they read the viewer's session (results per source and stage) and the
layers' provenance.
"""

from __future__ import annotations

from pathlib import Path

from ..session import session_for

__all__ = ["pipeline_stages", "pipeline_config", "python_script", "copy_python",
           "save_config", "save_config_of"]


def pipeline_stages(viewer, source: str) -> tuple[str | None, dict[str, dict]]:
    """Return the movie path and ``{stage: params}`` of what the session computed for ``source``.

    ``source`` is the movie the ROIs were extracted from; when it is a motion-corrected
    layer (``"<raw> · corrected"``), the motion parameters of ``<raw>`` come first and
    the movie path is the raw movie's. Parameters come from the session's results of
    each registered stage.
    """
    session = session_for(viewer)
    layers = {layer.name: layer for layer in viewer.layers}

    def meta(name: str) -> dict:
        layer = layers.get(name)
        return {} if layer is None else dict(layer.metadata.get("napari_amnesia", {}))

    from ...core.stages import STAGES, as_jsonable

    raw = source
    info = meta(source)
    stages: dict[str, dict] = {}
    for stage in STAGES.values():  # the registry's order, as amnesia run runs them
        if stage.gives_movie:
            # a stage that made the source movie (motion: "<raw> · corrected") ran on raw
            if info.get("stage") != stage.name or not info.get("source"):
                continue
            raw = info["source"]
            result = session.result(raw, stage.name)
        else:  # the later stages ran on the source movie itself
            result = session.result(source, stage.name)
        params = getattr(result, "params", None)
        if result is None or params is None:
            continue
        if len(stage.sections) > 1 and not isinstance(params, dict):
            continue  # a dock's single clustering: not a whole configuration section set
        stages[stage.name] = as_jsonable(params)
    path = meta(raw).get("path")
    if path is None and raw in layers:
        path = getattr(layers[raw].source, "path", None)
    if isinstance(path, (list, tuple)):
        path = path[0] if len(path) == 1 else None
    return (None if path is None else str(path)), stages


def pipeline_config(viewer, source: str | None) -> dict:
    """Return the configuration (:func:`~napari_amnesia.core.pipeline.load_config`) of ``source``.

    Raises
    ------
    ValueError
        If there is no source, or no stage of the session ran on it.
    """
    from ...core.pipeline import load_config

    if source is None:
        raise ValueError("choose a ROI layer made by a stage of this session first.")
    movie, stages = pipeline_stages(viewer, source)
    if not stages:
        raise ValueError(f"no stage of this session ran on {source!r}.")
    return load_config({"name": source, "input": {"movie": movie} if movie else {}, **stages})


def python_script(viewer, source: str | None, curation=None) -> str:
    """Return the Python of the session's stages, then of ``curation`` once it was saved."""
    from ...core.pipeline import python_script as script

    text = script(pipeline_config(viewer, source))
    if curation is not None:
        text += curation.python_lines()
    return text


def copy_python(dock):
    """Put the Python of ``dock``'s session on the clipboard and show it; return the text.

    ``dock`` is the Curate ROIs dock (its ``python_script()``, ``script`` and ``status``).
    """
    from qtpy.QtWidgets import QApplication

    try:
        text = dock.python_script()
    except ValueError as exc:
        dock.status.value = f"Nothing to copy: {exc}"
        return None
    QApplication.clipboard().setText(text)
    dock.script.value = text
    dock.status.value = "The Python of this session is on the clipboard."
    return text


def save_config(viewer, source: str | None, path) -> Path:
    """Write the session's pipeline configuration (``amnesia run``) to ``path``; return it.

    Raises
    ------
    OutputExistsError
        If ``path`` exists (nothing is overwritten).
    """
    from ...core.pipeline import write_config

    config = pipeline_config(viewer, source)
    return write_config(path, movie=config["input"].get("movie"), stages=config["stages"],
                        name=config.get("name"))


def save_config_of(dock, path=None):
    """Write the pipeline configuration of ``dock``'s session; return its path (or None).

    ``path`` defaults to the dock's *config* field; the dock's status says what happened.
    """
    from ...core.files import OutputExistsError

    path = Path(dock.config_path.value if path is None else path)
    if str(path) in ("", "."):
        dock.status.value = "Choose a new .yaml file in 'config' first."
        return None
    try:
        out = save_config(dock._viewer, dock.source, path)
    except OutputExistsError:
        dock.status.value = (f"Not saved: {path} already exists; choose a new name "
                             "(nothing was overwritten).")
        return None
    except (OSError, ValueError) as exc:
        dock.status.value = f"Not saved: {exc}"
        return None
    dock.status.value = f"Pipeline configuration written to {out} (amnesia run {out.name})."
    return out
