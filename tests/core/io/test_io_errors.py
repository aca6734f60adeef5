"""Tests of napari_amnesia.core.io.errors: pixel types a movie may have."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_amnesia.core.io import (
    MovieError,
    open_movie,
)


def test_unsupported_dtypes(tmp_path):
    path = tmp_path / "complex.npy"
    np.save(path, np.zeros((3, 4, 5), np.complex64))
    with pytest.raises(MovieError, match=r"complex.npy.*pixel type complex64"):
        open_movie(path)
    path = tmp_path / "bool.tif"
    tifffile.imwrite(path, np.zeros((3, 4, 5), bool))
    with pytest.raises(MovieError, match=r"bool.tif.*pixel type bool"):
        open_movie(path)
    path = tmp_path / "object.npy"
    np.save(path, np.empty((3, 4, 5), object), allow_pickle=True)
    with pytest.raises(MovieError, match=r"object.npy.*pixel type object"):
        open_movie(path)
