"""Tests of napari_amnesia.core.summary.params: checked parameters and movies."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from summary_reference import IMAGES

from napari_amnesia.core.summary import (
    SummaryParams,
    local_correlations,
    summary_images,
)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"eight_neighbours": 1}, "eight_neighbours.*1"),
        ({"gsig": -1}, "gsig.*-1"),
        ({"gsig": 0}, "gsig.*0"),
        ({"bin_size": 1}, "bin_size.*1"),
        ({"chunk_frames": 0}, "chunk_frames.*0"),
        ({"nan_policy": "ignore"}, "nan_policy.*ignore"),
        ({"noise_range": (0.3, 0.2)}, r"noise_range.*0\.3"),
        ({"noise_frames": 4}, "noise_frames.*4"),
        ({"noise_max_frames": 0}, "noise_max_frames.*0"),
    ],
)
def test_bad_arguments(movie, kwargs, match):
    with pytest.raises(ValueError, match=match):
        summary_images(movie[:10], **kwargs)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((1, 4, 4)), "T=1"),
        (np.zeros((4, 4)), r"3-D.*\(4, 4\)"),
        (np.zeros((4, 4, 4), complex), "complex"),
    ],
)
def test_bad_movies(bad, match):
    with pytest.raises(ValueError, match=match):
        summary_images(bad)
    with pytest.raises(ValueError, match=match):
        local_correlations(bad)


def test_params_dataclass_dict_and_keywords_agree(movie):
    params = SummaryParams(gsig=2, noise_frames=512, bin_size=100)
    by_class = summary_images(movie, params)
    by_dict = summary_images(movie, params.to_dict())
    by_keywords = summary_images(movie, gsig=2, noise_frames=512, bin_size=100)
    by_override = summary_images(movie, {"gsig": 2, "bin_size": 100}, noise_frames=512)
    for other in (by_dict, by_keywords, by_override):
        for name in IMAGES:
            np.testing.assert_array_equal(getattr(other, name), getattr(by_class, name))
    assert by_class.params == params.replace(chunk_frames=len(movie))
    with pytest.raises(TypeError, match="unknown SummaryParams parameter.*'gsigma'"):
        summary_images(movie, gsigma=2)


def test_params_round_trip_and_description():
    params = SummaryParams(gsig=(2, 3), noise_range=[0.2, 0.4], chunk_frames=np.int64(50))
    assert params.gsig == (2.0, 3.0) and params.noise_range == (0.2, 0.4)
    assert params.chunk_frames == 50 and type(params.chunk_frames) is int
    assert SummaryParams(gsig=(2, 2)).gsig == 2.0
    data = json.loads(json.dumps(params.to_dict()))
    assert SummaryParams.from_dict(data) == params
    described = SummaryParams.describe()
    assert set(described) == {f.name for f in dataclasses.fields(SummaryParams)}
    assert all(entry["help"] for entry in described.values())
    assert set(SummaryParams.ESSENTIALS) <= set(described)
