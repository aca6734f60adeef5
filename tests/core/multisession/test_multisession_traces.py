"""Silent cells re-extracted: their carried footprints give back the planted traces."""

import numpy as np
import pytest

from napari_amnesia.core.multisession import reextract_silent, register
from napari_amnesia.core.multisession.traces import event_statistics
from napari_amnesia.core.simulate.sessions import simulate_sessions


def test_silent_cells_are_re_extracted_with_their_planted_traces():
    data = simulate_sessions(3, preset="standard", shape=(80, 80), n_cells=20, rng=0,
                             silent_fraction=0.3, new_fraction=0.0, movies=True,
                             n_frames=200)
    result = register(data.footprints, data.templates)
    cross = reextract_silent(result, data.movies, footprints=data.footprints,
                             frame_rate=10.0)
    correlations = []
    for t in range(result.n_tracks):
        cells = {data.identity[s][k] for s, k in enumerate(result.assignments[t]) if k >= 0}
        if len(cells) != 1 or min(cells) < 0:
            continue
        cell = cells.pop()
        for s in range(3):
            if result.assignments[t, s] >= 0:
                assert not cross.re_extracted[t, s] and cross.measured[t, s]
                continue
            assert cross.re_extracted[t, s], (t, s)
            planted = data.traces[s][cell]
            if planted.max() > 0:  # active that day
                correlations.append(np.corrcoef(cross.traces[s][t], planted)[0, 1])
    assert len(correlations) >= 6
    assert np.median(correlations) >= 0.9, correlations
    rows = cross.table()
    assert len(rows) == 3 * result.n_tracks
    flagged = [r for r in rows if r["re_extracted"]]
    assert flagged and all(r["footprint"] == -1 for r in flagged)
    assert all(np.isfinite(r["event_rate"]) for r in rows if r["measured"])


def test_event_statistics_count_planted_events():
    traces = np.zeros((1, 100))
    spikes = np.zeros((1, 100))
    for t0 in (10, 40, 70):
        spikes[0, t0] = 1.0
        traces[0, t0:] += 0.9 ** np.arange(100 - t0)
    rate, amplitude = event_statistics(traces, spikes, frame_rate=10.0)
    assert rate[0] == pytest.approx(3 / 10.0)
    assert amplitude[0] == pytest.approx(1.0, abs=0.15)


def test_movies_must_match_the_sessions():
    data = simulate_sessions(2, preset="standard", shape=(64, 64), n_cells=10, rng=1)
    result = register(data.footprints, data.templates, names=["a", "b"])
    with pytest.raises(ValueError, match="2 sessions but 1 movies"):
        reextract_silent(result, [None])
    with pytest.raises(ValueError, match=r"b: the movie should be \(T, 64, 64\)"):
        reextract_silent(result, [None, np.zeros((5, 32, 32))], footprints=data.footprints)
