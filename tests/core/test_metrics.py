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
