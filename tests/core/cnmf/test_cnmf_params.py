"""CNMF parameters: defaults, validation, names (napari_amnesia.core.cnmf.params)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_amnesia.core import cnmf
from napari_amnesia.core.cnmf import CNMFParams


def test_params_defaults_roundtrip_and_describe():
    p = CNMFParams(rf=15, stride=10, K=6, gSig=(4, 5))
    assert p.gSig == (4.0, 5.0) and p.cell_box == (9, 11)
    assert CNMFParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    info = CNMFParams.describe()
    assert all(v["help"] for v in info.values())
    assert info["method_init"]["choices"] == ("greedy_roi", "sparse_nmf", "corr_pnr")
    # gSiz left to None follows gSig through replace()
    assert p.replace(gSig=6).cell_box == (13, 13)


@pytest.mark.parametrize("bad, match", [
    (dict(rf=5, stride=10), "stride"),
    (dict(K=0), "K should be"),
    (dict(gSig=0), "gSig"),
    (dict(gSig=(4, -1)), "gSig"),
    (dict(merge_thr=0.0), "merge_thr"),
    (dict(merge_thr=1.5), "merge_thr"),
    (dict(p=3), "p should be"),
    (dict(method_init="pca"), "method_init"),
    (dict(noise_range=(0.5, 0.25)), "noise_range"),
    (dict(min_SNR=1.0, SNR_lowest=2.0), "SNR_lowest"),
    (dict(min_size=50, max_size=10), "min_size"),
])
def test_params_validation(bad, match):
    with pytest.raises(ValueError, match=match):
        CNMFParams(**bad)


def test_params_unknown_name():
    with pytest.raises(TypeError, match="unknown CNMFParams"):
        CNMFParams().replace(gsig=4)


def test_rf_larger_than_frame_is_refused():
    movie = np.zeros((40, 32, 32), np.float32)
    with pytest.raises(ValueError, match="rf=40"):
        cnmf.fit(movie, rf=40, stride=10)
    with pytest.raises(ValueError, match="gSiz"):
        cnmf.fit(movie, gSig=20)
