import dask.array as da
import numpy as np
import pytest

from napari_amnesia.core.progress import Progress
from napari_amnesia.core.traces import iter_label_traces, label_traces, pixel_trace


@pytest.fixture
def movie():
    rng = np.random.default_rng(1)
    return rng.normal(100, 10, size=(57, 20, 24)).astype(np.float32)


def test_pixel_trace_matches_direct(movie):
    lazy = da.from_array(movie, chunks=(10, 20, 24))
    np.testing.assert_array_equal(pixel_trace(lazy, 3, 7), movie[:, 3, 7])
    with pytest.raises(ValueError, match=r"\(20, 7\) is outside"):
        pixel_trace(movie, 20, 7)


def test_label_traces_are_means_over_labels(movie):
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
