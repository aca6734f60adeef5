"""Scores against ground truth (core.metrics): ROI AUC and one-to-one matching."""

import numpy as np
import pytest

from napari_amnesia.core.metrics import match_components, roi_auc


def test_roi_auc_reflects_separation():
    labels = np.zeros((40, 40), int)
    labels[10:20, 10:20] = 1
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(40, 40))
    assert abs(roi_auc(noise, labels) - 0.5) < 0.15
    assert roi_auc(noise + 10 * (labels > 0), labels) == 1.0
    with pytest.raises(ValueError, match="differs"):
        roi_auc(noise, labels[:5])


def test_match_components():
    img = np.zeros((3, 20, 20))
    img[0, 2:6, 2:6] = 1
    img[1, 10:15, 10:15] = 1
    img[2, 2:6, 12:16] = 1
    found = img[[1, 0]].copy()
    found[0] = np.roll(found[0], 1, axis=1)
    m = match_components(found, img)
    assert m["matched"] == 2 and m["pairs"].tolist() == [[0, 1], [1, 0]]
    assert m["precision"] == 1.0 and m["recall"] == pytest.approx(2 / 3)
    assert match_components(np.zeros((0, 20, 20)), np.zeros((0, 20, 20)))["f1"] == 1.0


# -- human-labelled regions: masks, activity, one-to-one scores ---------------------------

from napari_amnesia.core.metrics import (  # noqa: E402
    active_regions,
    region_traces,
    regions_to_masks,
    score_regions,
    transient_scores,
)


def test_regions_to_masks_reads_neurofinder_format(tmp_path):
    regions = [{"coordinates": [[2, 3], [2, 4], [3, 3]]},
               {"coordinates": [[0, 0], [-1, 5], [7, 9], [30, 1]]},  # partly outside
               {"coordinates": []}]
    masks = regions_to_masks(regions, (8, 10))
    assert masks.dtype == bool and masks.shape == (3, 8, 10)
    assert np.argwhere(masks[0]).tolist() == [[2, 3], [2, 4], [3, 3]]  # (row, column)
    assert np.argwhere(masks[1]).tolist() == [[0, 0], [7, 9]]
    assert not masks[2].any()
    path = tmp_path / "regions.json"
    path.write_text(__import__("json").dumps(regions))
    assert np.array_equal(regions_to_masks(path, (8, 10)), masks)
    with pytest.raises(ValueError, match="region 0 has no 'coordinates'"):
        regions_to_masks([{"coords": [[0, 0]]}], (4, 4))
    with pytest.raises(ValueError, match="region 0: coordinates"):
        regions_to_masks([{"coordinates": [1, 2, 3]}], (4, 4))


def test_region_traces_streams_chunks_and_handles_empty_masks():
    rng = np.random.default_rng(1)
    movie = rng.normal(size=(37, 6, 7)).astype(np.float32)
    masks = np.zeros((3, 6, 7), bool)
    masks[0, :3, :3] = True
    masks[1, 2:, 4:] = True
    whole = region_traces(movie, masks)
    assert np.allclose(whole[0], movie[:, :3, :3].mean(axis=(1, 2)), atol=1e-6)
    assert np.isnan(whole[2]).all()
    assert np.array_equal(region_traces(movie, masks, chunk_frames=5), whole, equal_nan=True)
    with pytest.raises(ValueError, match="frame shape"):
        region_traces(movie, masks[:, :5])


def test_transient_scores_baseline_and_robust_sigma():
    rng = np.random.default_rng(2)
    f = rng.normal(50.0, 2.0, size=(3, 2000))
    f[1, 500:520] += 30.0                      # 15 sigma
    f[2] += np.linspace(40, 0, 2000)           # bleaching of 20 sigma, no transient
    s = transient_scores(f)
    assert s[0] < 5 and 14 < s[1] < 19
    assert s[2] > 8                             # the whole-trace median takes it for one...
    assert transient_scores(f, window=101)[2] < 5  # ...a running median does not
    assert 14 < transient_scores(f, window=101)[1] < 19
    assert transient_scores(np.full(10, 3.0)) == 0.0
    assert np.isnan(transient_scores([[np.nan] * 5])[0])


def test_active_regions_finds_the_cells_that_fire():
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=300, shape=(64, 64), n_cells=6, n_neurite_groups=0,
                            motion=False, spike_rate=0.0, overlap_fraction=0.0,
                            bleaching=0.0, rng=1)
    assert truth.spike_counts.sum() == 0  # every planted cell silent...
    movie = movie.astype(np.float32)
    kernel = np.exp(-np.arange(300) / 30.0)  # one-second decay at 30 Hz
    firing = [0, 2, 4]                       # ...then these ones fire once
    for k, t0 in zip(firing, (40, 120, 200), strict=True):
        trace = np.zeros(300)
        trace[t0:] = truth.baseline[k] * kernel[:300 - t0]  # one large transient: ΔF/F 1
        movie += trace[:, None, None].astype(np.float32) * truth.footprints[k]
    fp = truth.footprints
    masks = fp >= 0.2 * fp.max(axis=(1, 2), keepdims=True)
    active = active_regions(movie, masks)
    assert np.flatnonzero(active).tolist() == firing
    assert np.array_equal(active_regions(movie, masks, chunk_frames=16), active)


def test_score_regions_hand_made_masks():
    true = np.zeros((4, 30, 30), bool)
    true[0, 2:7, 2:7] = True       # found shifted by 2 px: centroid rule
    true[1, 10:20, 10:20] = True   # found as a larger blob, centroid 4 px off: IoU rule
    true[2, 2:7, 22:27] = True     # missed
    true[3, 24:28, 2:6] = True     # missed, and active
    found = np.zeros((3, 30, 30), bool)
    found[0, 4:9, 2:7] = True
    found[1, 10:28, 10:20] = True  # IoU 100/180 = 0.56, centroid 4 px away (not < 4)
    found[2, 24:28, 14:18] = True  # nothing near it
    s = score_regions(found, true, active=[True, True, False, True])
    assert s["pairs"].tolist() == [[0, 0], [1, 1]]
    assert (s["matched"], s["n_found"], s["n_true"]) == (2, 3, 4)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == 0.5
    assert s["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert (s["n_active"], s["active_found"]) == (3, 2)
    assert s["active_recall"] == pytest.approx(2 / 3)
    # stricter rules: the shifted square (IoU 15/35 = 0.43, 2 px away) no longer matches
    strict = score_regions(found, true, max_distance=1.0, min_iou=0.5)
    assert strict["pairs"].tolist() == [[1, 1]]
    assert "active_recall" not in strict
    none = score_regions(np.zeros((0, 30, 30), bool), true, active=np.zeros(4, bool))
    assert none["f1"] == 0.0 and np.isnan(none["active_recall"])
    with pytest.raises(ValueError, match="one flag per true region"):
        score_regions(found, true, active=[True])
