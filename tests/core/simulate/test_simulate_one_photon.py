"""Tests of the one-photon (miniscope) movies: optics, out-of-focus cells, haze, camera."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_amnesia.core.simulate import (
    ONE_PHOTON_PRESETS,
    SimulationParams,
    one_photon_params,
    simulate,
)

SEEDS = [0, 1, 2]
#: a small standard-preset movie: 12 cells in 96 x 96, 150 frames at 20 Hz
SMALL = dict(n_frames=150, shape=(96, 96), n_cells=12, spike_rate=1.0)


def small(seed, **kw):
    """Simulate a small movie of the standard preset."""
    return simulate(one_photon_params("standard", **{**SMALL, "rng": seed, **kw}))


@pytest.fixture(scope="module", params=SEEDS)
def planted(request):
    """A small movie and its truth, one per seed."""
    return small(request.param)


def test_same_seed_same_movie_other_seed_other_movie():
    """Everything is seeded: a seed gives the same pixels, chunk by chunk too."""
    a, ta = small(4, n_frames=40)
    b, tb = small(4, n_frames=40)
    c, _ = small(5, n_frames=40)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(ta.out_of_focus_traces, tb.out_of_focus_traces)
    np.testing.assert_array_equal(ta.vessels, tb.vessels)
    np.testing.assert_array_equal(ta.render(13, 29), a[13:29])
    np.testing.assert_array_equal(ta.to_dask(chunk_frames=7)[5:20].compute(), a[5:20])


def test_twelve_bit_counts():
    """uint16 counts of a 12-bit camera: 0..4095, clipped where the light saturates."""
    movie, truth = small(0, n_frames=20)
    assert movie.dtype == np.uint16 and movie.max() <= 4095
    assert truth.mode == "one_photon"
    bright, _ = small(0, n_frames=5, background_brightness=8000.0)
    assert bright.max() == 4095
    assert np.mean(bright == 4095) > 0.2  # saturated, not wrapped around
    two_photon, _ = simulate(n_frames=5, shape=(48, 48), n_cells=2,
                             background_brightness=8000.0, rng=0)
    assert two_photon.max() > 4095  # the two-photon camera is 16-bit


def test_truth_holds_the_in_focus_cells_only(planted):
    """Cells of the truth: in-focus somata, exactly; out-of-focus ones apart."""
    movie, truth = planted
    K, T = truth.n_cells, truth.n_frames
    assert truth.footprints.shape == (K, 96, 96) and truth.traces.shape == (K, T)
    assert len(truth.out_of_focus_footprints) == 2 * K  # the mode default
    assert truth.n_branches == 0  # the presets plant no neurites
    norms = np.linalg.norm(truth.footprints.reshape(K, -1), axis=1)
    np.testing.assert_allclose(norms, 1, rtol=1e-5)
    # the AR model of calcium still holds exactly after the optics' attenuation
    g = truth.g[0]
    np.testing.assert_allclose(truth.traces[:, 1:] - g * truth.traces[:, :-1],
                               truth.spikes[:, 1:], atol=1e-3 * truth.spikes.max())
    # the movie is the cells' part plus the planted background (no noise here)
    cells = np.einsum("kyx,kt->tyx", truth.footprints,
                      (truth.baseline[:, None] + truth.traces) * truth.bleaching)
    clean = truth.clean_frames(0, 40)
    np.testing.assert_allclose(clean - truth.background_frames(0, 40), cells[:40],
                               atol=1e-3 * clean.max())
    # out-of-focus cells: blurred (wider than the cells), dimmer at their peak
    def area(fps):
        return (fps >= 0.5 * fps.reshape(len(fps), -1).max(axis=1)[:, None, None]).sum((1, 2))

    assert np.median(area(truth.out_of_focus_footprints)) > 2 * np.median(area(truth.footprints))
    oof_peak = truth.out_of_focus_footprints.reshape(2 * K, -1).max(axis=1) * np.median(
        truth.out_of_focus_traces, axis=1)
    cell_peak = truth.footprints.reshape(K, -1).max(axis=1) * truth.baseline
    assert np.median(oof_peak) < 0.5 * np.median(cell_peak)
    # and they flicker: most fire in these 7.5 s
    flicker = truth.out_of_focus_traces.max(axis=1) > 1.05 * truth.out_of_focus_traces.min(1)
    assert flicker.mean() > 0.5


def test_background_dominates_and_is_in_the_movie(planted):
    """The background carries most of the light and most of the fluctuations."""
    movie, truth = planted
    background = truth.background_frames()
    cells = truth.clean_frames() - background
    # share of the fluorescence above the camera offset
    light = float((background - truth.offset).sum() / (truth.clean_frames() - truth.offset).sum())
    assert light > 0.8, light
    # share of the fluctuations (each pixel's mean removed)
    var_b = float(((background - background.mean(0)) ** 2).sum())
    var_c = float(((cells - cells.mean(0)) ** 2).sum())
    assert var_b / (var_b + var_c) > 0.5, var_b / (var_b + var_c)
    # the planted background is what the movie shows where the cells are not:
    # spatially smoothed fluctuations of the movie follow the background's
    smooth = ndimage.gaussian_filter(movie.astype(np.float32) - movie.mean(0), (0, 3, 3))
    bsmooth = ndimage.gaussian_filter(background - background.mean(0), (0, 3, 3))
    off_cells = truth.labels() == 0
    r = np.corrcoef(smooth[:, off_cells].ravel(), bsmooth[:, off_cells].ravel())[0, 1]
    assert r > 0.8, r


def test_vessels_are_dark_and_fixed(planted):
    """Vessels absorb light: their pixels are darker than the tissue beside them."""
    movie, truth = planted
    vessel = truth.vessels > 0.25
    assert vessel.sum() > 20  # every field has at least one vessel
    beside = ndimage.binary_dilation(vessel, iterations=6) & (truth.vessels < 0.01)
    mean = movie.mean(axis=0) - truth.offset
    ratio = mean[vessel].mean() / mean[beside].mean()
    assert ratio < 0.85, ratio
    # fixed in space: the same in the first and last quarter of the movie
    early, late = movie[:40].mean(0) - truth.offset, movie[-40:].mean(0) - truth.offset
    assert early[vessel].mean() / early[beside].mean() < 0.85
    assert late[vessel].mean() / late[beside].mean() < 0.85


def test_vignetting_darkens_the_corners(planted):
    """The centre of the field is brighter than its corners (vignetting, fall-off)."""
    movie, truth = planted
    mean = movie.mean(axis=0) - truth.offset
    c = 16
    centre = mean[48 - c:48 + c, 48 - c:48 + c].mean()
    corners = np.mean([mean[:c, :c].mean(), mean[:c, -c:].mean(), mean[-c:, :c].mean(),
                       mean[-c:, -c:].mean()])
    assert corners < 0.85 * centre, (corners, centre)
    assert truth.illumination.max() == pytest.approx(1.0)
    assert truth.illumination.min() > 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_is_shot_plus_read_noise(seed):
    """The residual variance grows with the expected count: gain * mean + read noise^2."""
    movie, truth = small(seed, n_frames=60, photon_noise="poisson")
    clean = truth.clean_frames()
    residual = movie.astype(np.float32) - clean
    level = clean - truth.offset
    edges = np.quantile(level, [0.05, 0.25, 0.5, 0.75, 0.95])
    means, variances = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (level >= lo) & (level < hi)
        means.append(level[sel].mean())
        variances.append(residual[sel].var())
    slope, intercept = np.polyfit(means, variances, 1)
    assert np.all(np.diff(variances) > 0)
    assert slope == pytest.approx(truth.gain, rel=0.1)
    # the read noise (5 counts) plus the rounding to counts (1/12)
    assert intercept == pytest.approx(truth.read_noise**2 + 1 / 12, abs=20)


def test_presets_are_documented_movies():
    """The presets give the issue's movies; the dense one is denser and dimmer."""
    standard = one_photon_params("standard")
    dense = one_photon_params("dense")
    assert (standard.n_frames, standard.shape, standard.frame_rate) == (2000, (256, 256), 20.0)
    assert standard.n_cells == 150 and standard.mode == "one_photon"
    assert dense.n_cells > standard.n_cells and dense.brightness < standard.brightness
    assert set(ONE_PHOTON_PRESETS) == {"standard", "dense"}
    assert one_photon_params("dense", n_cells=7).n_cells == 7
    assert SimulationParams(mode="one_photon", n_cells=9).resolved()["n_out_of_focus"] == 18
    assert SimulationParams(n_cells=9).resolved()["n_out_of_focus"] == 0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: one_photon_params("crowded"), 'preset must be one of "standard", "dense"'),
    (lambda: one_photon_params(n_out_of_focus=-1), "n_out_of_focus must be an integer >= 0"),
    (lambda: one_photon_params(n_out_of_focus=2.5), "n_out_of_focus must be an integer >= 0"),
    (lambda: one_photon_params(out_of_focus_brightness=0), "out_of_focus_brightness"),
    (lambda: one_photon_params(background_brightness=-1), "background_brightness"),
    (lambda: one_photon_params(cell_radius=(8, 5)), "cell_radius"),
    (lambda: one_photon_params(brightness=float("nan")), "brightness"),
    (lambda: one_photon_params(not_a_parameter=1), "not_a_parameter"),
])
def test_bad_parameters_are_named(call, message):
    """Each bad value gets one message that names it."""
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_no_out_of_focus_cells_on_request():
    """n_out_of_focus=0: the one-photon scene without its other planes."""
    _, truth = small(0, n_frames=10, n_out_of_focus=0)
    assert truth.out_of_focus_footprints.shape == (0, 96, 96)
