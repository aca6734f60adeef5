"""Tests of napari_amnesia.core.summary.stream: the one streaming pass (chunks, segments,
progress, inputs)."""

from __future__ import annotations

import numpy as np
import pytest
from summary_reference import (
    IMAGES,
    make_movie,
    ref_noise_fft,
    ref_pnr,
)

from napari_amnesia.core.progress import Progress
from napari_amnesia.core.summary import (
    SummaryImages,
    iter_summary_images,
    summary_images,
)


def test_huge_values_raise():
    movie = np.random.default_rng(0).normal(0, 1e30, (20, 6, 6))
    with pytest.raises(ValueError, match="too large"):
        summary_images(movie)


@pytest.mark.parametrize("gsig", [2, None])
def test_independent_of_chunk_size(movie, gsig):
    # chunk_frames=7 < noise_frames: the chunks read before the first noise
    # segment is complete are kept and their thresholded products added later
    small = summary_images(movie, gsig=gsig, chunk_frames=7, noise_frames=64, bin_size=100)
    large = summary_images(movie, gsig=gsig, chunk_frames=1000, noise_frames=64, bin_size=100)
    for name in IMAGES:
        np.testing.assert_allclose(
            getattr(small, name), getattr(large, name), rtol=1e-5, atol=1e-6, err_msg=name
        )


def test_dask_and_numpy_agree(movie):
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(movie, chunks=(50, 16, 40))
    a = summary_images(lazy, gsig=2, chunk_frames=64)
    b = summary_images(movie, gsig=2, chunk_frames=64)
    # prefetch is accepted (and ignored: chunks are read in turn) as before
    c = summary_images(movie, gsig=2, chunk_frames=64, prefetch=True)
    for name in IMAGES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        np.testing.assert_array_equal(getattr(c, name), getattr(b, name), err_msg=name)


def test_dtypes_agree(movie):
    a = summary_images(movie, gsig=2, chunk_frames=100)
    b = summary_images(movie.astype(np.float64), gsig=2, chunk_frames=100)
    for name in IMAGES:
        np.testing.assert_allclose(
            getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-5, err_msg=name
        )


def test_welch_noise_matches_full_length_fft():
    # Noise-dominated data (white noise): the streaming (Welch, 256-frame segments)
    # and the full-length estimates average the same periodogram band, each over
    # T/4 = 512 bins (relative standard error 1/sqrt(512) = 4.4 % on the variance,
    # 2.2 % on the noise). The two are strongly correlated (same samples, same
    # band); measured: mean ratio 1.00001, 99 % of pixels within 0.9 %. Bounds:
    # mean ratio within 0.5 %, 99 % of pixels within 3 % (the standard error of
    # one estimate, i.e. far below the spread of either around the truth).
    rng = np.random.default_rng(1)
    n = 2048
    movie = rng.normal(0, 2.0, (n, 20, 20)) + 50
    got = summary_images(movie, gsig=None, noise_frames=256, chunk_frames=300)
    ref = ref_noise_fft(movie - movie.mean(0))
    ratio = got.noise / ref
    assert abs(ratio.mean() - 1) < 0.005, ratio.mean()
    assert np.quantile(np.abs(ratio - 1), 0.99) < 0.03
    assert abs(np.median(got.noise) - 2.0) < 0.05
    # With a slow drift the full-length FFT leaks the ramp's wrap-around jump into
    # the band (biased up, measured +0.6 %); the segments leak much less.
    drifting = movie + np.linspace(0, 20, n)[:, None, None]
    got = summary_images(drifting, gsig=None, noise_frames=256, chunk_frames=300)
    ref = ref_noise_fft(drifting - drifting.mean(0))
    assert abs(np.median(got.noise) - 2.0) < abs(np.median(ref) - 2.0)
    assert abs(np.mean(got.noise / ref) - 1) < 0.02


def test_noise_segment_cap_keeps_the_estimate():
    # noise_max_frames (CaImAn uses 3072 frames at most) limits the FFT work to
    # evenly spaced whole segments; on stationary noise the estimate is unchanged
    # within its standard error (2/sqrt(64 bins x 4 segments) = 12.5 % on the
    # variance, 6 % on the noise per pixel; 0.5 % on the mean over 400 pixels).
    rng = np.random.default_rng(4)
    movie = rng.normal(0, 2.0, (1024, 20, 20)) + 50
    full = summary_images(movie, gsig=None, noise_frames=64, noise_max_frames=4096)
    capped = summary_images(movie, gsig=None, noise_frames=64, noise_max_frames=256)
    assert capped.params.noise_max_frames == 256
    assert not np.allclose(full.noise, capped.noise)
    assert abs(np.mean(capped.noise / full.noise) - 1) < 0.02
    assert abs(np.median(capped.noise) - 2.0) < 0.1


def test_corr_pnr_provisional_threshold_close_to_exact():
    # T > noise_frames: the threshold of corr_pnr uses the mean and noise of the
    # first 128 frames (noise known to ~1/sqrt(128) = 9 % per pixel). Cells, whose
    # transients are far above threshold, keep their correlation (measured max
    # difference 0.034); background values come from rare >3-sigma noise
    # excursions (0.13 % of samples) whose number changes by tens of percent
    # with a 9 % error on sigma, so they move by a few hundredths (measured mean
    # |difference| 0.028 for background values of ~0.08) and the images stay
    # alike (measured correlation 0.954).
    movie = make_movie(n=600, seed=5)
    got = summary_images(movie, gsig=2, noise_frames=128)
    assert not got.info["corr_pnr_exact"]
    _, exact, _ = ref_pnr(movie, 2)
    cells = exact > 0.5
    assert cells.sum() > 20
    np.testing.assert_allclose(got.corr_pnr[cells], exact[cells], atol=0.05)
    assert np.mean(np.abs(got.corr_pnr - exact)) < 0.04
    assert np.corrcoef(got.corr_pnr.ravel(), exact.ravel())[0, 1] > 0.9


def test_progress_generator(movie, images):
    gen = iter_summary_images(movie, gsig=2, noise_frames=512, bin_size=100, chunk_frames=64)
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert all(isinstance(s, Progress) for s in steps)
    done = [s.done for s in steps]
    assert done == sorted(done) and done[-1] == len(movie) and len(steps) == 5
    assert all(s.total == len(movie) and s.message == "summary images" for s in steps)
    assert isinstance(result, SummaryImages)
    np.testing.assert_allclose(result.corr, images.corr, rtol=1e-5, atol=1e-6)
    assert result.params.chunk_frames == 64 and result.elapsed > 0


def test_nan_raises_naming_count_and_frame(movie):
    bad = movie.astype(np.float32)
    bad[123, 4, 5] = np.nan
    bad[130, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"2 NaN.*frame 123"):
        summary_images(bad, chunk_frames=50)
