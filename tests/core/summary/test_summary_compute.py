"""Tests of napari_amnesia.core.summary.compute: every image against its in-memory reference."""

from __future__ import annotations

import numpy as np
import pytest
from summary_reference import (
    IMAGES,
    make_movie,
    ref_local_corr,
    ref_max_corr,
    ref_pnr,
)

from napari_amnesia.core.summary import (
    local_correlations,
    summary_images,
)


def test_moments_exact(movie, images):
    y = movie.astype(np.float64)
    np.testing.assert_allclose(images.mean, y.mean(0), rtol=1e-6)
    np.testing.assert_array_equal(images.max, y.max(0))
    np.testing.assert_allclose(images.std, y.std(0), rtol=1e-5, atol=1e-6)
    for name in IMAGES:
        img = getattr(images, name)
        assert img.shape == movie.shape[1:] and img.dtype == np.float32, name
    assert images.n_frames == len(movie)
    assert set(images.as_dict()) == set(IMAGES)


@pytest.mark.parametrize("eight", [True, False])
def test_local_correlations_exact(movie, eight):
    ref = ref_local_corr(movie, eight)
    got = local_correlations(movie, eight_neighbours=eight, chunk_frames=64)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert got[0, 0] == 0  # constant pixel: 0, not NaN
    assert np.isfinite(got).all()


def test_corr_and_max_corr_exact(movie, images):
    np.testing.assert_allclose(images.corr, ref_local_corr(movie), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        images.max_corr, ref_max_corr(movie, 100), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("n, bin_size", [(330, 100), (350, 100), (90, 100)])
def test_max_corr_binning_follows_caiman(n, bin_size):
    # 330: remainder 30 < 50 -> 3 bins of 110; 350: 3 bins of 100, 50 frames unused;
    # 90 <= bin_size: the plain correlation image
    movie = make_movie(n=n, ny=12, nx=14, seed=3)
    got = summary_images(movie, gsig=None, bin_size=bin_size, chunk_frames=37)
    np.testing.assert_allclose(
        got.max_corr, ref_max_corr(movie, bin_size), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("gsig, center", [(2, True), (2, False), (None, True)])
def test_pnr_and_corr_pnr_exact_when_one_segment(movie, gsig, center):
    # with T <= noise_frames the noise is CaImAn's full-length FFT estimate and the
    # corr_pnr threshold uses the final mean and noise: the definition is matched
    # exactly. rtol 1e-4: the filter runs in float32 on values ~100 while the
    # filtered values are ~1 (float32 eps 6e-8 x 100 x ~30 taps, relative to ~1).
    got = summary_images(movie, gsig=gsig, center_psf=center, noise_frames=512)
    pnr, corr_pnr, noise = ref_pnr(movie, gsig, center)
    np.testing.assert_allclose(got.noise, noise, rtol=1e-4)
    np.testing.assert_allclose(got.pnr, pnr, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got.corr_pnr, corr_pnr, rtol=1e-4, atol=1e-4)
    assert got.info["corr_pnr_exact"]


def test_gsig_alias(movie, images):
    alias = summary_images(movie, gSig=2, noise_frames=512, bin_size=100)
    np.testing.assert_array_equal(alias.pnr, images.pnr)


def test_default_is_unfiltered(movie):
    # CaImAn's correlation_pnr(Y, gSig=None): no spatial filter unless asked for
    got = summary_images(movie, noise_frames=512)
    assert got.params.gsig is None
    pnr, corr_pnr, noise = ref_pnr(movie, None)
    np.testing.assert_allclose(got.pnr, pnr, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got.corr_pnr, corr_pnr, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got.noise, noise, rtol=1e-4)


def test_wide_range_integers_keep_float64_accuracy():
    # uint16 values over the whole range: the float32 partial sums (64 frames) of
    # the squares and products (~1e9 each) are no longer exact integers, so they
    # carry float32 rounding (relative ~1e-7 per 64-frame sum) before the float64
    # accumulation. Same tolerances as the exact tests.
    rng = np.random.default_rng(7)
    n, ny, nx = 400, 12, 14
    shared = rng.integers(0, 30000, n)[:, None, None]
    movie = (rng.integers(0, 35000, (n, ny, nx)) + shared * (np.arange(nx) % 2)).astype(np.uint16)
    ref = ref_local_corr(movie)
    got = local_correlations(movie, chunk_frames=100)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    images = summary_images(movie, noise_frames=512)
    np.testing.assert_allclose(images.std, movie.std(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(images.mean, movie.mean(0), rtol=1e-6)


def test_planted_block_is_correlated():
    rng = np.random.default_rng(2)
    n, ny, nx = 400, 24, 24
    movie = rng.normal(0, 1, (n, ny, nx)).astype(np.float32)
    shared = rng.normal(0, 2, n).astype(np.float32)
    movie[:, 8:16, 8:16] += shared[:, None, None]
    res = summary_images(movie, gsig=None)
    inner = res.corr[9:15, 9:15]
    outside = np.ones((ny, nx), bool)
    outside[7:17, 7:17] = False
    assert inner.min() > 0.7
    assert np.abs(res.corr[outside]).max() < 0.2
    assert res.max_corr[9:15, 9:15].min() >= inner.min() - 1e-6
