"""Curation of ROIs: edits of a label image, the ROI table, re-extraction, saving.

The napari *Curate ROIs* dock edits a label image (one ROI = one label value) through
a :class:`Curation`, the edit model (:mod:`.model`: the ROIs, their table, the edit
log, undo and redo). Every operation is also a pure function, so a script does the
same work with or without the model::

    from napari_amnesia.core import curation

    labels = result.labels(0.2, accepted_only=False)       # a CNMF result's ROIs
    table = curation.table_from_result(result, labels)      # one row per label
    labels = curation.merge_labels(labels, [3, 7])          # 7 becomes 3
    labels, new = curation.split_label_by_line(labels, 5, [(10, 0), (10, 40)])
    labels, new = curation.split_label_kmeans(labels, 9, movie, k=2, rng=0)
    labels = curation.delete_labels(labels, [12])
    labels, value = curation.add_mask(labels, mask)         # a drawn ROI, a fresh value
    table = curation.table_from_labels(labels, table)       # decisions kept per label
    table = curation.set_decision(table, [4], accepted=False)
    curated = curation.reextract(movie, labels, result=result)   # traces of the edits
    curation.save_curation("day1/curation", labels, table, result=curated)

The package, by what it does:

- :mod:`.edits`: edits of a label image (delete, merge, split by a line or by
  activity, add a mask, append the ROIs of another image);
- :mod:`.table`: the ROI table (:data:`COLUMNS`), rebuilt from the image after
  every edit, and the user's decisions;
- :mod:`.reextract`: re-extraction of the traces of edited ROIs, and the result
  to export;
- :mod:`.saving`: the curation folder, ImageJ ROI files and labels TIFFs;
- :mod:`.model`: :class:`Curation`, the edit model.

Identity
--------
A ROI *is* its label value. Edits never renumber the ROIs they do not touch: a merge
keeps the value of the first ROI named, a split keeps the value on the larger part
and gives the other part(s) fresh values, new ROIs get fresh values (larger than
any value in use or ``used``, so a deleted ROI's value is never recycled).
:func:`reextract` fits component ``k`` to the ``k``-th smallest label and records
the label in ``result.label_values``, so a ROI keeps its value — and the decision
taken on it — across re-extractions.
"""

from .edits import (
    add_mask,
    append_labels,
    changed_labels,
    delete_labels,
    merge_labels,
    next_label,
    split_label_by_line,
    split_label_kmeans,
)
from .model import Curation, crossed_labels, load_curation
from .reextract import curated_result, iter_reextract, reextract
from .saving import read_curation, read_rois, save_curation
from .table import (
    COLUMNS,
    apply_decisions,
    decisions,
    set_decision,
    table_from_labels,
    table_from_result,
)

__all__ = [
    "COLUMNS",
    "Curation",
    "next_label",
    "changed_labels",
    "crossed_labels",
    "delete_labels",
    "merge_labels",
    "split_label_by_line",
    "split_label_kmeans",
    "add_mask",
    "append_labels",
    "read_rois",
    "table_from_labels",
    "table_from_result",
    "set_decision",
    "decisions",
    "apply_decisions",
    "curated_result",
    "iter_reextract",
    "reextract",
    "save_curation",
    "read_curation",
    "load_curation",
]
