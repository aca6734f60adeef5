"""What the classifier's training scenes add to the simulator (core.cnmf.training):
dark scan edges and vessel shadows, and small active spots (dendrite sections)."""

from __future__ import annotations

import numpy as np

from napari_amnesia.core.cnmf.training import add_puncta, dark_regions


def test_dark_regions_edge_and_vessels():
    shape = (80, 100)
    edge = dark_regions(shape, 1, edge=True, n_vessels=0)
    vessels = dark_regions(shape, 1, edge=False, n_vessels=2)
    assert edge.shape == vessels.shape == shape
    assert 0 < edge.min() < 0.15 and edge.max() <= 1.0
    # a band along one side: the darkest pixels touch an edge, most of the field is tissue
    rows, cols = np.nonzero(edge < 0.5)
    assert min(rows.min(), cols.min()) == 0 or rows.max() == 79 or cols.max() == 99
    assert np.mean(edge > 0.95) > 0.8
    # each shadow keeps 20-50 % of the light (two may cross)
    assert 0.04 <= vessels.min() < 0.6 and np.mean(vessels < 0.9) < 0.3
    np.testing.assert_array_equal(dark_regions(shape, 1), dark_regions(shape, 1))


def test_add_puncta_are_small_active_spots_away_from_cells():
    movie = np.full((400, 64, 64), 20.0, np.float32)
    avoid = np.array([[32.0, 32.0]])
    centres = add_puncta(movie, 3, 6, frame_rate=10.0, decay_time=0.5, avoid=avoid,
                         avoid_distance=12.0)
    assert centres.shape == (6, 2)
    assert np.all(np.hypot(*(centres - avoid).T) >= 12.0)
    raised = movie.max(axis=0) - 20.0
    for r, c in np.round(centres).astype(int):
        assert raised[r, c] > 2.0  # each spot is there and it fires
        assert raised[r, min(c + 6, 63)] < 0.05 * raised[r, c] or raised[r, c] == 0
    assert np.mean(raised > 0.5) < 0.05  # small: a few pixels each
