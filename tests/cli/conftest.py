"""The fixtures the ``amnesia`` tests share."""

import numpy as np
import pytest
import tifffile


@pytest.fixture
def nan_movie(tmp_path):
    data = np.random.default_rng(2).random((30, 24, 24)).astype(np.float32) + 1
    data[[3, 7, 20]] = np.nan
    data[25, 2, 2] = np.nan
    path = tmp_path / "nan.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    return path
