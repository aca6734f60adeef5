"""Tests of napari_amnesia.core.motion.params: checked parameters and their JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_amnesia.core.motion import (
    MotionParams,
    correct,
)


# --------------------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(max_shifts=70), "max_shifts"),
        (dict(max_shifts=-1), "max_shifts"),
        (dict(max_shifts=(1, 2, 3)), "max_shifts"),
        (dict(pw_rigid=True, strides=200), "strides"),
        (dict(pw_rigid=True, strides=100, overlaps=40), "strides"),
        (dict(strides=32, overlaps=32), "overlaps"),
        (dict(max_deviation_rigid=-1), "max_deviation_rigid"),
        (dict(upsample_factor=0), "upsample_factor"),
        (dict(upsample_factor_grid=0), "upsample_factor_grid"),
        (dict(border_nan="wrap"), "border_nan"),
        (dict(gSig_filt=-2), "gSig_filt"),
        (dict(highpass_sigma=0), "highpass_sigma"),
        (dict(smooth_sigma=-1), "smooth_sigma"),
        (dict(template_frames=0), "template_frames"),
        (dict(num_frames_split=0), "num_frames_split"),
        (dict(scan_phase="sometimes"), "scan_phase"),
        (dict(interpolation="nearest"), "interpolation"),
        (dict(pw_rigid="yes"), "pw_rigid"),
        (dict(min_shift_support=-1), "min_shift_support"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, name):
    movie = np.zeros((5, 128, 128), np.float32)
    with pytest.raises(ValueError, match=name):
        correct(movie, **kwargs)


def test_params_dict_json_round_trip():
    p = MotionParams(max_shifts=(4, 8), pw_rigid=True, gSig_filt=3, scan_phase=0.5)
    assert MotionParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert MotionParams.from_json(p.to_json()) == p
    assert p.replace(max_shifts=5).max_shifts == (5, 5)
    assert p.filter_sigmas == (1.5, 6.0)
