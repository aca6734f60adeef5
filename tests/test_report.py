"""The report pictures say what they show: spikes point up, sharpness rises after correction."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from napari_amnesia.core import cnmf, motion  # noqa: E402
from napari_amnesia.core.simulate import simulate  # noqa: E402
from napari_amnesia.report import cnmf_figure, motion_figure  # noqa: E402


def test_cnmf_picture_draws_spikes_upward():
    movie, _ = simulate(n_frames=300, shape=(64, 64), n_cells=6, n_neurite_groups=0,
                        motion=False, rng=2)
    result = cnmf.fit(movie, rf=None, K=8, gSig=(3, 3), p=1)
    fig = cnmf_figure(result, n_traces=3)
    traces = fig.axes[1]
    bars = [c for c in traces.collections if len(c.get_segments())]
    assert bars, "no spike bars drawn"
    for collection in bars:
        for (x0, y0), (x1, y1) in collection.get_segments():
            assert x0 == x1
            assert y1 >= y0  # every bar rises from its baseline
        assert any(s[1][1] > s[0][1] for s in collection.get_segments())
    # the bars sit below their trace, not on it
    lines = [ln for ln in traces.get_lines()]
    lowest_trace = min(float(np.min(ln.get_ydata())) for ln in lines[:2])
    highest_bar = max(s[1][1] for s in bars[0].get_segments())
    assert highest_bar < lowest_trace


def test_motion_picture_sharpness_rises_after_a_correct_correction():
    movie, truth = simulate(n_frames=200, shape=(96, 96), n_cells=12, motion=True, rng=4)
    result = motion.correct(movie, max_shifts=(8, 8))
    m = result.metrics
    # the correction is right...
    assert m["mean_correlation_after"] > m["mean_correlation_before"]
    # ...and the figure's sharpness measure says it is better, not worse
    assert m["crispness_mean_after"] > m["crispness_mean_before"]
    fig = motion_figure(result, truth_shifts=truth.shifts)
    titles = [ax.get_title() for ax in fig.axes]
    before = next(t for t in titles if t.startswith("mean image before"))
    after = next(t for t in titles if t.startswith("mean image after"))

    def value(title):
        return float(title.split("crispness ")[1].split(" ")[0])

    assert value(after) > value(before)
    assert "higher = sharper" in after
