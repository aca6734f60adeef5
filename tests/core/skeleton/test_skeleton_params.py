"""Tests of core.skeleton.params: SkeletonParams validation, round trip, metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_amnesia.core.skeleton import (
    SkeletonParams,
    skeletonize,
)


def test_params_roundtrip_replace_and_metadata():
    """Round-trip the parameters through JSON; replace them; read their metadata."""
    p = SkeletonParams()
    assert SkeletonParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    q = p.replace(summary="STD", threshold_block_size=31)
    assert q.summary == "std" and q.threshold_block_size == 31 and p.summary == "mean"
    info = SkeletonParams.describe()
    assert set(info) == set(p.to_dict())
    for name, meta in info.items():
        assert meta["help"] and 1 <= meta["step"] <= 8, name
    assert info["skeleton_method"]["choices"] == ("lee", "zhang")
    assert skeletonize(np.zeros((8, 8)), {"skeleton_method": "zhang"}).params.skeleton_method \
        == "zhang"


@pytest.mark.parametrize("name, value", [
    ("skeleton_method", "medial"), ("summary", "median"), ("equalization", 3),
    ("threshold_block_size", 20), ("threshold_block_size", 1), ("threshold_offset", 2.0),
    ("denoise_sigma_time", -1), ("smooth_sigma", float("nan")), ("clahe_clip_limit", 0),
    ("holes_max_size", 1.5), ("objects_min_size", -3), ("min_branch_length", "long"),
    ("chunk_frames", 0), ("normalize_percentiles", (90, 10)), ("refine_junctions", "yes"),
    ("junction_fit_range", (5, 2)), ("prune_iterations", True), ("soma_radius", -1.0),
])
def test_bad_parameters_name_the_parameter_and_value(name, value):
    """Refuse a bad parameter with a message naming it and its value."""
    with pytest.raises(ValueError, match=name) as err:
        SkeletonParams(**{name: value})
    assert repr(value) in str(err.value)
