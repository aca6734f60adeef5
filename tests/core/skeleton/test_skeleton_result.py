"""Tests of core.skeleton.result: SkeletonResult save/load and layers."""

from __future__ import annotations

import numpy as np
import pytest

from napari_amnesia.core.skeleton import (
    SkeletonResult,
    skeletonize,
)


def test_save_and_load_roundtrip(tmp_path, clean_scenes):
    movie, _ = clean_scenes[1]
    r = skeletonize(movie, min_branch_length=5)
    folder = r.save(tmp_path / "sk")
    back = SkeletonResult.load(folder)
    assert back.params == r.params and back.totals == r.totals
    np.testing.assert_array_equal(back.branch_labels, r.branch_labels)
    np.testing.assert_array_equal(back.mask, r.mask)
    np.testing.assert_array_equal(back.somata, r.somata)
    np.testing.assert_allclose(back.junctions, r.junctions)
    assert len(back.paths) == len(r.paths)
    assert all((a == b).all() for a, b in zip(back.paths, r.paths, strict=True))
    assert list(back.branches.columns) == list(r.branches.columns)
    np.testing.assert_allclose(back.branches["length"], r.branches["length"])
    np.testing.assert_allclose(back.summary, r.summary)
    with pytest.raises(FileExistsError):
        r.save(folder)
    r.save(folder, overwrite=True)
    empty = skeletonize(np.zeros((16, 16)))
    assert SkeletonResult.load(empty.save(tmp_path / "empty")).totals["n_branches"] == 0
    with pytest.raises(FileNotFoundError):
        SkeletonResult.load(tmp_path)
