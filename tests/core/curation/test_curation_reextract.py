"""Re-extraction of edited ROIs: identities, decisions and traces kept."""

import numpy as np
import pytest

from napari_amnesia.core import curation


def corr(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_reextract_keeps_identity_decisions_and_recovers_traces(planted):
    from napari_amnesia.core.cnmf import SourceResult

    movie, truth, labels = planted
    params = {"K": 6, "gSig": (4, 4), "p": 1, "gnb": 2, "min_SNR": 2.0, "rval_thr": 0.85}
    first = curation.reextract(movie, labels, **params)
    assert isinstance(first, SourceResult) and first.evaluated and first.dff is not None
    assert list(first.label_values) == list(range(3, 31, 3))
    for k in range(first.K):
        assert corr(first.traces[k], truth.traces[k]) > 0.8, k
    assert np.median([corr(first.traces[k], truth.traces[k]) for k in range(10)]) > 0.93
    assert (first.r_values > 0.85).all()  # the refined footprints', not a flat mask's
    table = curation.table_from_result(first, labels, original=labels)
    table = curation.set_decision(table, [9], accepted=False)
    table = curation.set_decision(table, [12], accepted=True)

    # merge two planted cells into one ROI, split it again by activity, delete one
    edited = curation.merge_labels(labels, [6, 27])
    edited, [new] = curation.split_label_kmeans(edited, 6, movie, k=2, rng=0)
    assert new == 31
    agree = max(((edited == 6) == (labels == 6)).mean(), ((edited == 6) == (labels == 27)).mean())
    assert agree > 0.99
    edited = curation.delete_labels(edited, [30])
    table = curation.table_from_labels(edited, table, original=labels, extracted=labels)
    assert list(table["index"]) == [3, 6, 9, 12, 15, 18, 21, 24, 31]
    stale = set(table["index"][table["stale"]].tolist())
    assert 31 in stale and stale <= {6, 31}  # 6 is stale unless k-means gave it back whole
    with pytest.raises(ValueError, match="re-extract first"):
        curation.curated_result(first, table)

    again = curation.reextract(movie, edited, result=first, reference=labels)
    assert list(again.label_values) == [3, 6, 9, 12, 15, 18, 21, 24, 31]
    assert set(again.info["reused_footprints"]) == {3, 6, 9, 12, 15, 18, 21, 24} - stale
    table = curation.table_from_result(again, edited, table, original=labels)
    assert not table["stale"].any()
    assert curation.decisions(table) == {9: False, 12: True}
    assert not table["accepted"][list(table["index"]).index(9)]
    # untouched ROIs: the same traces as before; the re-split pair: each one cell
    for v in (3, 15, 24):
        k0, k1 = list(first.label_values).index(v), list(again.label_values).index(v)
        assert corr(first.traces[k0], again.traces[k1]) > 0.99
    trace = {v: again.traces[list(again.label_values).index(v)] for v in (6, 31)}
    straight = min(corr(trace[6], truth.traces[1]), corr(trace[31], truth.traces[8]))
    crossed = min(corr(trace[6], truth.traces[8]), corr(trace[31], truth.traces[1]))
    assert max(straight, crossed) > 0.8  # each part has one planted cell's activity
    # refined footprints too (a seeded CNMF), same identities; inputs untouched
    refined = curation.reextract(movie, edited, result=again, update_footprints=True)
    assert list(refined.label_values) == list(again.label_values)
    assert refined.footprints.shape == again.footprints.shape
    curated = curation.curated_result(again, table)
    assert list(curated.label_values) == list(table["index"])
    assert list(curated.accepted) == list(table["accepted"])
    assert list(first.label_values) == list(range(3, 31, 3))  # not modified in place
    with pytest.raises(ValueError, match="empty"):
        curation.reextract(movie, np.zeros_like(labels))
    with pytest.raises(ValueError, match="like the ROIs"):
        curation.reextract(movie[:, :40], labels)
