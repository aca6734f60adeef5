"""Helpers shared by the tests of napari_amnesia.core.io: test movies and read spies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_amnesia.core.io.array import _MovieArray


def _ramp(t=12, y=10, x=14, dtype="uint16", seed=0):
    """Return a movie whose frame k is k x 100 plus small seeded noise (values distinct)."""
    rng = np.random.default_rng(seed)
    data = np.arange(t, dtype=np.float64)[:, None, None] * 100 + rng.integers(0, 50, (t, y, x))
    return data.astype(dtype)


def _write_frames(folder: Path, n: int, name="image{}.tif", shape=(6, 7)):
    folder.mkdir(exist_ok=True)
    for k in range(1, n + 1):
        tifffile.imwrite(folder / name.format(k), np.full(shape, k, np.uint16))


def _record_reads(monkeypatch):
    """Record the time keys the movie's array-like is asked for by dask."""
    calls = []
    original = _MovieArray.__getitem__

    def spy(self, key):
        result = original(self, key)
        calls.append(result.shape[0] if result.ndim == 3 else 1)
        return result

    monkeypatch.setattr(_MovieArray, "__getitem__", spy)
    return calls


@pytest.fixture
def ramp():
    """``ramp(t=12, y=10, x=14, dtype="uint16", seed=0)``: a test movie, frame k ≈ 100 k."""
    return _ramp


@pytest.fixture
def write_frames():
    """``write_frames(folder, n, name="image{}.tif")``: n single-frame TIFFs valued 1..n."""
    return _write_frames


@pytest.fixture
def record_reads():
    """``record_reads(monkeypatch)``: from then on, the frames each movie read returns."""
    return _record_reads
