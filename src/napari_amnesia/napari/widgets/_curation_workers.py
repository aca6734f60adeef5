"""The Curate ROIs dock's edits that run in a worker: *Re-extract*, *Split by activity*.

Both read the dock's movie; the image they start from is copied first, and a result
that comes back after the ROIs changed is not applied over them. Each function takes
the dock (:class:`~napari_amnesia.napari.widgets.curation.CurationWidget`) and returns
the worker (None when refused, or when run synchronously).
"""

from __future__ import annotations

import numpy as np

from ...core import curation as core
from .._workers import start
from ..session import session_for

__all__ = ["reextract", "split_by_activity"]


def reextract(dock):
    """Re-extract one component per ROI of ``dock`` in a worker (its *Re-extract*).

    *update footprints* also refines each footprint inside its ROI; every ROI keeps
    its label value and the decisions taken on it.
    """
    from ...core.cnmf import MIN_FRAMES

    if not dock._ready():
        return None
    movie = dock.movie.value
    editor = dock.editor
    labels = editor.labels.copy()
    if movie is None or movie.ndim != 3 or tuple(movie.data.shape[1:]) != labels.shape:
        dock.status.value = (f"Choose the (T, Y, X) movie of these ROIs (frames of "
                             f"{labels.shape}) first.")
        return None
    if movie.data.shape[0] < MIN_FRAMES:
        dock.status.value = f"{movie.name!r} is too short to extract traces."
        return None
    if not labels.any():
        dock.status.value = "There is no ROI to extract."
        return None
    update = bool(dock.update_footprints.value)
    generator = editor.iter_reextract(movie.data, update_footprints=update, apply=False)

    def on_result(result) -> None:
        editor.apply_extraction(result, labels, update_footprints=update)
        if editor is dock.editor:
            dock.sync(force=True)
            dock.status.value = (f"Re-extracted {result.K} ROIs; "
                                 f"{int(editor.table['accepted'].sum())} accepted.")

    return dock.launch(generator, source=dock.source or movie.name, on_result=on_result,
                       message=f"Re-extracting {int(len(np.unique(labels)) - 1)} ROIs...")


def split_by_activity(dock):
    """Split ``dock``'s selected ROI into *k* parts by k-means on its pixels' traces.

    Runs in a worker (it reads the ROI's box of the movie).
    """
    if not dock._ready() or (values := dock._targets()) is None:
        return None
    movie = dock.movie.value
    if movie is None or movie.ndim != 3:
        dock.status.value = "Choose the (T, Y, X) movie of these ROIs first."
        return None
    value, k = values[0], int(dock.k.value)
    editor = dock.editor
    before, used = editor.labels.copy(), editor.used

    def work():
        from ...core.progress import Progress

        yield Progress(0, 1, f"splitting ROI {value}")
        out = core.split_label_kmeans(before, value, movie.data, k=k, rng=0, used=used)
        yield Progress(1, 1, f"splitting ROI {value}")
        return out

    def done(out) -> None:
        new, parts = out
        if dock.editor is editor:
            dock.sync(action="paint")  # catch up with anything napari did meanwhile
        if dock.editor is not editor or not np.array_equal(editor.labels, before):
            dock.status.value = "The ROIs changed while splitting; split again."
            return
        editor.edit(new, "split by activity", labels=[value], new=parts, k=k)
        dock._draw()
        dock.labels.value = ""
        dock.status.value = (f"Split ROI {value} by activity: new ROI(s) "
                             f"{', '.join(map(str, parts))}.")

    def failed(exc) -> None:
        dock.status.value = f"Not split: {exc}"

    return start(work(), on_returned=done, on_error=failed, description="split ROI",
                 session=session_for(dock._viewer))
