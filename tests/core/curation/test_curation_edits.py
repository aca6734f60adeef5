"""Edits of a label image: delete, merge, split by a line or by activity, add, append."""

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


def test_delete_and_merge_keep_the_other_rois_and_name_bad_values():
    labels = squares()
    before = labels.copy()
    out = curation.delete_labels(labels, [2])
    np.testing.assert_array_equal(labels, before)  # never in place
    assert set(np.unique(out)) == {0, 1, 5}
    np.testing.assert_array_equal(out == 1, labels == 1)
    merged = curation.merge_labels(labels, [5, 1])  # the first named keeps its value
    assert set(np.unique(merged)) == {0, 2, 5}
    assert (merged == 5).sum() == 100 + 36
    np.testing.assert_array_equal(merged == 2, labels == 2)
    assert set(np.unique(curation.merge_labels(labels, [1, 2, 5], into=2))) == {0, 2}
    with pytest.raises(ValueError, match=r"\[7\]"):
        curation.delete_labels(labels, [7])
    with pytest.raises(ValueError, match="two different"):
        curation.merge_labels(labels, [1, 1])
    with pytest.raises(ValueError, match="into=5"):
        curation.merge_labels(labels, [1, 2], into=5)
    with pytest.raises(ValueError, match="integer labels"):
        curation.delete_labels(labels.astype(float) + 0.5, [1])
    assert curation.next_label(labels) == 6 and curation.next_label(labels, used=[9]) == 10


def test_split_by_line_cuts_where_the_line_runs():
    labels = squares()
    # a vertical segment at column 8.5 across ROI 1 (cols 2-11): 7 columns left, 3 right
    out, new = curation.split_label_by_line(labels, 1, [(0, 8.5), (14, 8.5)])
    assert new == 6
    np.testing.assert_array_equal(np.argwhere(out == 1)[:, 1].max(), 8)
    assert (out == 1).sum() == 70 and (out == 6).sum() == 30  # the larger part keeps 1
    assert set(np.argwhere(out == 6)[:, 1]) == {9, 10, 11}
    np.testing.assert_array_equal(out == 2, labels == 2)
    # a line stopping short of the border still cuts (segments are extended); fresh
    # values skip the ones in `used` (a deleted ROI's value is not recycled)
    out, new = curation.split_label_by_line(labels, 2, [(5.5, 22), (5.5, 26)], used=[6, 7])
    assert new == 8 and (out == 2).sum() == 60 and (out == 8).sum() == 40
    # a polyline (an L): each pixel judged by its nearest segment
    out, _ = curation.split_label_by_line(labels, 1, [(6.5, 0), (6.5, 6.5), (14, 6.5)])
    assert (out == 1).sum() == 75 and (out == 6).sum() == 25
    np.testing.assert_array_equal(out[7:12, 2:7], 6)  # the corner the L cuts off
    with pytest.raises(ValueError, match="does not cut label 1"):
        curation.split_label_by_line(labels, 1, [(0, 15), (14, 15)])
    with pytest.raises(ValueError, match="n >= 2"):
        curation.split_label_by_line(labels, 1, [(0, 15)])


def test_split_kmeans_separates_two_cells_firing_independently():
    rng = np.random.default_rng(0)
    T = 400
    a = (rng.random(T) < 0.05).astype(float)
    b = (rng.random(T) < 0.05).astype(float)
    kernel = np.exp(-np.arange(30) / 6)
    ta, tb = np.convolve(a, kernel)[:T] * 5, np.convolve(b, kernel)[:T] * 5
    movie = rng.normal(10, 1, (T, 24, 24)).astype(np.float32)
    movie[:, 4:12, 4:10] += ta[:, None, None]
    movie[:, 4:12, 10:14] += tb[:, None, None]
    labels = np.zeros((24, 24), np.int32)
    labels[4:12, 4:14] = 4  # one ROI drawn over both cells
    labels[16:20, 16:20] = 9
    out, new = curation.split_label_kmeans(labels, 4, movie, k=2, rng=0, used=[12])
    assert new == [13]
    np.testing.assert_array_equal(out[4:12, 4:10], 4)    # the larger cell keeps the value
    np.testing.assert_array_equal(out[4:12, 10:14], 13)
    np.testing.assert_array_equal(out == 9, labels == 9)
    again, _ = curation.split_label_kmeans(labels, 4, movie, k=2, rng=0, used=[12])
    np.testing.assert_array_equal(again, out)  # seeded: reproducible
    import dask.array as da

    lazy, _ = curation.split_label_kmeans(labels, 4, da.from_array(movie, chunks=(50, 24, 24)),
                                          rng=0, used=[12])
    np.testing.assert_array_equal(lazy, out)
    with pytest.raises(ValueError, match="k should be at least 2"):
        curation.split_label_kmeans(labels, 4, movie, k=1)
    with pytest.raises(ValueError, match="movie should be"):
        curation.split_label_kmeans(labels, 4, movie[:, :10])


def test_add_mask_and_append_labels_use_fresh_values():
    labels = squares()
    mask = np.zeros_like(labels, bool)
    mask[8:16, 8:16] = True  # overlaps ROI 1
    out, value = curation.add_mask(labels, mask, used=[11])
    assert value == 12
    np.testing.assert_array_equal(out == 1, labels == 1)  # existing ROIs kept whole
    assert (out == 12).sum() == 64 - 16
    out, value = curation.add_mask(labels, mask, overwrite=True)
    assert value == 6 and (out == 6).sum() == 64 and (out == 1).sum() == 100 - 16
    with pytest.raises(ValueError, match="no free pixel"):
        curation.add_mask(labels, labels == 1)
    other = np.zeros_like(labels)
    other[28:31, 0:5] = 1
    other[0:1, 0:40] = 2      # free pixels only
    other[2:12, 2:12] = 3     # entirely on ROI 1: skipped
    out, mapping = curation.append_labels(labels, other, used=[30])
    assert mapping == {1: 31, 2: 32}
    assert (out == 31).sum() == 15 and (out == 32).sum() == 40
    np.testing.assert_array_equal(out == 1, labels == 1)
