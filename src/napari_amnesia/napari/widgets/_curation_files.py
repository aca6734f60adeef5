"""The Curate ROIs dock's file buttons: *Save* / *Open curation*, *Export*, *Import ROIs*.

Each function takes the dock (:class:`~napari_amnesia.napari.widgets.curation.CurationWidget`:
its ``editor``, ``layer``, *folder* and *import* fields and ``status``) and returns what
the dock's method of the same name returns; the dock's status says what happened.
Nothing is ever written over an existing folder.
"""

from __future__ import annotations

from pathlib import Path

from ...core import curation as core
from ..layers import layer_name, provenance, show
from ..session import session_for
from ._pipeline import pipeline_stages

__all__ = ["state", "save", "open_curation", "export", "import_rois"]


def state(dock) -> core.Curation:
    """Return ``dock``'s editor, up to date with its layer and with the session's pipeline."""
    dock.sync(action="paint")
    movie, stages = pipeline_stages(dock._viewer, dock.source) if dock.source else (None, {})
    dock.editor.pipeline = {"movie": movie, "stages": stages}
    return dock.editor


def _folder(dock, folder) -> Path | None:
    """Return ``folder`` (default: the dock's *folder* field), or None if none was chosen."""
    folder = Path(dock.folder.value if folder is None else folder)
    if str(folder) in ("", "."):
        dock.status.value = "Choose a new folder in 'folder' first."
        return None
    return folder


def save(dock, folder=None) -> Path | None:
    """Save ``dock``'s curation into a new folder; return its path (None if refused)."""
    from ...core.files import OutputExistsError

    if dock.layer is None:
        dock.status.value = "Choose a ROI Labels layer first."
        return None
    if (folder := _folder(dock, folder)) is None:
        return None
    try:
        out = state(dock).save(folder)
    except OutputExistsError:
        dock.status.value = (f"Not saved: {folder} already exists; choose a new folder "
                             "(nothing was overwritten).")
        return None
    except (OSError, ValueError) as exc:
        dock.status.value = f"Not saved: {exc}"
        return None
    dock.status.value = f"Curation saved to {out}."
    return out


def open_curation(dock, folder=None):
    """Open a saved curation: its ROIs as ``<movie> · ROIs``, curated by ``dock``.

    The curation's extraction becomes the session's ``curation`` result of its movie.
    Returns the new layer (None if refused).
    """
    if (folder := _folder(dock, folder)) is None:
        return None
    try:
        loaded = core.load_curation(folder)
    except (OSError, ValueError) as exc:
        dock.status.value = f"Not opened: {exc}"
        return None
    source = loaded.source or Path(folder).name
    dock._unbind()
    meta = provenance("curation", source, {} if loaded.result is None
                      else loaded.result.params.to_dict())
    [layer] = show(dock._viewer, [(loaded.labels, {"name": layer_name(source, "ROIs"),
                                                   "opacity": 0.6, "metadata": meta},
                                   "labels")])
    if loaded.result is not None:
        session_for(dock._viewer).set_result(source, "curation", loaded.result)
    dock.rois.reset_choices()
    dock.bind(layer, state=loaded)
    dock.editor.saved_to = Path(folder)
    dock.status.value = (f"Opened the curation of {source!r} "
                         f"({len(loaded.table['index'])} ROIs).")
    return dock.layer


def export(dock, folder=None) -> Path | None:
    """Export ``dock``'s accepted ROIs and their traces (labels TIFF, CSV, ImageJ zip).

    Returns the new folder (None if refused).
    """
    from ...core.cnmf.export import export as export_result
    from ...core.files import OutputExistsError

    if dock.layer is None or dock.curated is None:
        dock.status.value = "Extract (or re-extract) the ROIs' traces first."
        return None
    if (folder := _folder(dock, folder)) is None:
        return None
    dock.sync(action="paint")
    try:
        result = core.curated_result(dock.curated, dock.editor.table)
        out = export_result(result, folder)
    except OutputExistsError:
        dock.status.value = (f"Not exported: {folder} already exists; choose a new "
                             "folder (nothing was overwritten).")
        return None
    except (OSError, ValueError) as exc:
        dock.status.value = f"Not exported: {exc}"
        return None
    dock.status.value = f"Exported {int(result.accepted.sum())} accepted ROIs to {out}."
    return out


def import_rois(dock, path=None) -> dict[int, int] | None:
    """Add the ROIs of an ImageJ zip/.roi or a labels TIFF to ``dock``'s, with fresh labels.

    ``path`` defaults to the dock's *import* field; one undo step. Returns the
    editor's ``{imported label: new label}`` (None if nothing was imported).
    """
    if not dock._ready():
        return None
    path = Path(dock.import_path.value if path is None else path)
    try:
        mapping = dock.editor.import_rois(path)
    except (OSError, ValueError) as exc:
        dock.status.value = f"Not imported: {exc}"
        return None
    if not mapping:
        dock.status.value = f"No ROI of {path.name} has a free pixel; nothing imported."
        return None
    dock._draw()
    dock.status.value = f"Imported {len(mapping)} ROI(s) from {path.name}."
    return mapping
