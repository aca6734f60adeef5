"""The ROI table: rebuilt from the image, decisions kept per label."""

import json

import numpy as np
import pytest

from napari_amnesia.core import curation


def squares():
    """Three ROIs: 1 (rows 2-11, cols 2-11), 2 (rows 2-11, cols 20-29), 5 (rows 20-25)."""
    labels = np.zeros((32, 40), np.int32)
    labels[2:12, 2:12] = 1
    labels[2:12, 20:30] = 2
    labels[20:26, 20:26] = 5
    return labels


def test_table_follows_the_image_and_keeps_decisions_per_label():
    original = squares()
    table = curation.table_from_labels(original, original=original, extracted=original)
    assert list(table["index"]) == [1, 2, 5] and list(table["size"]) == [100, 100, 36]
    assert not table["edited"].any() and not table["stale"].any()
    table = curation.set_decision(table, [2], accepted=False)
    assert curation.decisions(table) == {2: False}
    # delete 2, then "undo" (the image comes back): its decision comes back too
    deleted = curation.delete_labels(original, [2])
    memory = table  # the dock keeps every row it has seen
    t1 = curation.table_from_labels(deleted, memory, original=original, extracted=original)
    assert list(t1["index"]) == [1, 5]
    t2 = curation.table_from_labels(original, memory, original=original, extracted=original)
    assert list(t2["accepted"]) == [True, False, True] and list(t2["decided"]) == [0, 1, 0]
    assert not t2["edited"].any()
    # a split: 1 keeps its row (edited), the new part is new (edited, accepted, stale)
    split, new = curation.split_label_by_line(original, 1, [(0, 8.5), (14, 8.5)])
    t3 = curation.table_from_labels(split, t2, original=original, extracted=original)
    assert list(t3["index"]) == [1, 2, 5, new]
    assert list(t3["edited"]) == [True, False, False, True]
    assert list(t3["stale"]) == [True, False, False, True]
    assert list(t3["size"]) == [70, 100, 36, 30]
    assert t3["component"][3] == -1 and np.isnan(t3["snr"][3]) and t3["accepted"][3]
    # decisions round trip through a plain dict (JSON keys are text)
    chosen = json.loads(json.dumps({str(k): v for k, v in curation.decisions(t3).items()}))
    fresh = curation.table_from_labels(split)
    back = curation.apply_decisions(fresh, chosen)
    assert curation.decisions(back) == curation.decisions(t3) == {2: False}
    with pytest.raises(ValueError, match=r"\[42\]"):
        curation.set_decision(t3, [42], accepted=True)
