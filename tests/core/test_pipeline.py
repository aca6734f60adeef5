import json

import numpy as np
import pytest

from napari_amnesia.core.pipeline import STAGES, run


def test_pipeline_writes_record_and_refuses_unknown_stage(tmp_path):
    rng = np.random.default_rng(0)
    movie = rng.normal(100, 5, size=(60, 24, 24)).astype(np.float32)
    labels = np.zeros((24, 24), int)
    labels[4:9, 4:9] = 1
    movie[:, 4:9, 4:9] += 20 * rng.random((60, 1, 1)).astype(np.float32)  # a coactive cell
    record = run(movie, tmp_path / "out", truth_labels=labels, params={"summary": {"gsig": None}})
    assert "summary" in STAGES
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["stages"]["summary"]["roi_auc"]["corr"] > 0.95
    assert saved["input"]["shape"] == [60, 24, 24]
    assert record["results"]["summary"].mean.shape == (24, 24)
    with pytest.raises(ValueError, match="unknown stage"):
        run(movie, tmp_path / "other", stages=("nope",))
    assert not (tmp_path / "other").exists()
