"""The Curate ROIs dock's file buttons: *Save* / *Open curation*, *Export*, *Import ROIs*.

Each function takes the dock (:class:`~napari_amnesia.napari.widgets.curation.CurationWidget`:
its ``editor``, ``layer``, *folder*, *export as*, *NWB metadata* and *import* fields and
``status``) and returns what the dock's method of the same name returns; the dock's
status says what happened. Nothing is ever written over an existing folder.
:func:`adopt_imported` gives ROIs opened from suite2p or CaImAn results their CNMF
result in the session, so they are curated like the package's own.
"""

from __future__ import annotations

from pathlib import Path

from ...core import curation as core
from ..layers import layer_name, provenance, show
from ..session import session_for
from ._pipeline import pipeline_stages

__all__ = ["state", "save", "open_curation", "export", "import_rois", "adopt_imported",
           "EXPORT_FORMATS"]

#: The dock's *export as* choices: (label, format of :func:`napari_amnesia.core.formats.export`).
EXPORT_FORMATS = [("CSV folder", "csv"), ("suite2p", "suite2p"), ("NWB", "nwb"),
                  ("ImageJ zip", "imagej"), ("labels TIFF", "labels")]
#: The file each file format writes inside the new folder.
_FILES = {"nwb": "{name}.nwb", "imagej": "rois.zip", "labels": "labels.tif"}


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


def export(dock, folder=None, *, format=None, metadata=None):  # noqa: A002
    """Export ``dock``'s curated ROIs into a new folder, in the format of *export as*.

    ``csv`` (the exports folder: labels TIFF, CSV, ImageJ zip of the accepted ROIs) and
    ``suite2p`` (``plane0/``: every ROI, iscell from the decisions) fill the folder;
    ``imagej``, ``labels`` and ``nwb`` write one file in it. NWB (with the *NWB
    metadata* YAML, the session's summary and motion results of the movie) runs in a
    worker. Returns what was written (None if refused, or while NWB is being written).
    """
    from ...core.files import OutputExistsError, check_destination
    from ...core.formats import export as export_as

    fmt = dock.export_format.value if format is None else format
    if fmt not in [value for _, value in EXPORT_FORMATS]:
        dock.status.value = (f"Not exported: the format should be one of "
                             f"{', '.join(v for _, v in EXPORT_FORMATS)}, got {fmt!r}.")
        return None
    if dock.layer is None or dock.curated is None:
        dock.status.value = "Extract (or re-extract) the ROIs' traces first."
        return None
    if (folder := _folder(dock, folder)) is None:
        return None
    options = {}
    if fmt == "nwb":
        meta = dock.nwb_metadata.value if metadata is None else metadata
        if str(meta) in ("", "."):
            dock.status.value = ("Choose the NWB metadata YAML first (amnesia export "
                                 "--metadata-template writes one to fill).")
            return None
        options["metadata"] = Path(meta)
    dock.sync(action="paint")
    made = False
    try:
        result = core.curated_result(dock.curated, dock.editor.table)
        target = folder
        if fmt in _FILES:
            check_destination(folder, False, folder=True)
            name = "".join(c if c.isalnum() or c in "-_." else "_"
                           for c in (dock.source or "rois"))
            target = folder / _FILES[fmt].format(name=name)
            folder.mkdir(exist_ok=True)
            made = True
        if fmt == "nwb":
            return _export_nwb(dock, result, target, options)
        out = export_as(result, fmt, target, **options)
    except OutputExistsError:
        dock.status.value = (f"Not exported: {folder} already exists; choose a new "
                             "folder (nothing was overwritten).")
        return None
    except (OSError, ValueError, ImportError) as exc:
        if made:
            _remove_if_empty(folder)
        dock.status.value = f"Not exported: {exc}"
        return None
    n = int(result.accepted.sum())
    dock.status.value = f"Exported {result.K} ROIs ({n} accepted) as {fmt} to {out}."
    return out


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _export_nwb(dock, result, target: Path, options: dict):
    """Write the NWB file in a worker: the curated ROIs and the session's other stages."""
    from ...core.formats import iter_export
    from .._workers import start

    session = session_for(dock._viewer)
    results = {"cnmf": result}
    for stage in ("summary", "motion", "skeleton"):
        found = session.result(dock.source, stage) if dock.source else None
        if found is not None:
            results[stage] = found
    generator = iter_export(results, "nwb", target, **options)

    def done(path) -> None:
        dock.status.value = f"Exported {result.K} ROIs as NWB to {path}."

    def failed(exc) -> None:
        _remove_if_empty(target.parent)
        dock.status.value = f"Not exported: {str(exc).splitlines()[0] if str(exc) else exc}"

    dock.status.value = f"Writing {target.name}..."
    start(generator, on_returned=done, on_error=failed, description="NWB export",
          session=session)
    return target if target.is_file() else None


def adopt_imported(dock, layer) -> None:
    """Read the CNMF result of ROIs opened from suite2p or CaImAn into the session.

    napari-amnesia's reader marks such layers (``metadata["napari_amnesia"]
    ["imported"]``: format and path); their result becomes the session's ``cnmf``
    result of their source, as a fit of the Source extraction dock would, unless the
    session has one already.
    """
    info = layer.metadata.get("napari_amnesia") or {}
    origin, source = info.get("imported"), info.get("source")
    if not isinstance(origin, dict) or not source or not origin.get("path"):
        return
    session = session_for(dock._viewer)
    if session.result(source, "cnmf") is not None:
        return
    from ...core.formats import read_results

    try:
        result = read_results(origin["path"])
    except (OSError, ValueError) as exc:
        dock.status.value = f"Could not read the ROIs' {origin.get('format')} results: {exc}"
        return
    session.set_result(source, "cnmf", result)


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
