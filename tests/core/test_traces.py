"""Traces of pixels and labels read in time chunks; the trace preprocessing."""

import dask.array as da
import numpy as np
import pytest

from napari_amnesia.core.progress import Progress
from napari_amnesia.core.traces import (
    detrend_traces,
    difference_traces,
    iter_label_traces,
    label_traces,
    normalize_traces,
    pixel_trace,
    trace_snr,
)


@pytest.fixture
def movie():
    """Return a small random movie ``(T, Y, X)``."""
    rng = np.random.default_rng(1)
    return rng.normal(100, 10, size=(57, 20, 24)).astype(np.float32)


def test_pixel_trace_matches_direct(movie):
    """Check that pixel trace matches direct."""
    lazy = da.from_array(movie, chunks=(10, 20, 24))
    np.testing.assert_array_equal(pixel_trace(lazy, 3, 7), movie[:, 3, 7])
    with pytest.raises(ValueError, match=r"\(20, 7\) is outside"):
        pixel_trace(movie, 20, 7)


def test_label_traces_are_means_over_labels(movie):
    """Check that label traces are means over labels."""
    labels = np.zeros((20, 24), np.int32)
    labels[2:5, 3:9] = 4
    labels[10:15, 10:12] = 9
    labels[18, 20] = 2
    lazy = da.from_array(movie, chunks=(8, 20, 24))
    ids, traces = label_traces(lazy, labels, chunk_frames=13)
    assert list(ids) == [2, 4, 9]
    for i, value in enumerate(ids):
        np.testing.assert_allclose(traces[i], movie[:, labels == value].mean(axis=1), rtol=1e-5)
    only, trace = label_traces(movie, labels, label_ids=[9])
    np.testing.assert_allclose(trace[0], traces[2], rtol=1e-6)
    missing_ids, missing = label_traces(movie, labels, label_ids=[5])
    assert np.isnan(missing).all()


def test_label_traces_progress_and_errors(movie):
    """Check the progress and errors of label traces."""
    labels = np.ones((20, 24), np.int32)
    steps = []
    gen = iter_label_traces(movie, labels, chunk_frames=20)
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as stop:
        ids, traces = stop.value
    assert [s.done for s in steps] == [20, 40, 57]
    assert all(isinstance(s, Progress) and s.total == 57 for s in steps)
    with pytest.raises(ValueError, match="does not match the movie frame"):
        label_traces(movie, np.ones((5, 5), int))


def test_preprocessing_of_traces():
    """Check normalization, detrending, differences and SNR of traces."""
    rng = np.random.default_rng(2)
    x = rng.normal(50, 5, size=(4, 80)).astype(np.float32)
    z = normalize_traces(x, "zscore")
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=1), 1, atol=1e-5)
    assert (normalize_traces(np.ones((2, 5)), "zscore") == 0).all()   # constant rows
    f0 = np.percentile(x, 10, axis=1, keepdims=True)
    np.testing.assert_allclose(normalize_traces(x, "dff"), (x - f0) / f0, rtol=1e-5)
    with pytest.raises(ValueError, match="element 1 has F0"):
        normalize_traces(np.stack([x[0], -x[1]]), "dff")
    with pytest.raises(ValueError, match='"none", "zscore", "dff", got .max'):
        normalize_traces(x, "max")
    t = np.linspace(-1, 1, 80, dtype=np.float32)
    drift = x + 3 * t ** 2 - t
    np.testing.assert_allclose(detrend_traces(drift, 2), detrend_traces(x, 2), atol=1e-3)
    assert detrend_traces(x, 0) is not None and (detrend_traces(x, 0) == x).all()
    np.testing.assert_array_equal(difference_traces(x, 3), x[:, 3:] - x[:, :-3])
    snr = trace_snr(np.vstack([np.full(80, 2.0), x[0]]))
    assert snr[0] == 0 and snr[1] > 0
