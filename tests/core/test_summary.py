"""Tests of napari_amnesia.core.summary against direct in-memory references.

The references below are written from CaImAn's definitions (local_correlations,
max_correlation_image, correlation_pnr, get_noise_fft) with plain numpy/scipy on
the whole (small) movie, in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_amnesia.core.progress import Progress
from napari_amnesia.core.summary import (
    SummaryImages,
    iter_summary_images,
    local_correlations,
    summary_images,
)

IMAGES = ("mean", "max", "std", "corr", "pnr", "corr_pnr", "max_corr", "noise")


# --------------------------------------------------------------------------- references
def ref_local_corr(movie: np.ndarray, eight: bool = True) -> np.ndarray:
    y = movie.astype(np.float64)
    y = y - y.mean(0)
    sd = y.std(0)
    sd[sd == 0] = np.inf
    z = y / sd
    ny, nx = z.shape[1:]
    total = np.zeros((ny, nx))
    count = np.zeros((ny, nx))
    offsets = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if eight:
        offsets += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    for dy, dx in offsets:
        ys = slice(max(0, -dy), ny - max(0, dy))
        xs = slice(max(0, -dx), nx - max(0, dx))
        ys2 = slice(max(0, dy), ny - max(0, -dy))
        xs2 = slice(max(0, dx), nx - max(0, -dx))
        total[ys, xs] += (z[:, ys, xs] * z[:, ys2, xs2]).mean(0)
        count[ys, xs] += 1
    return total / count


def ref_kernel(gsig: float, center: bool = True) -> np.ndarray:
    k = int(2 * gsig) * 2 + 1
    x = np.arange(k) - (k - 1) / 2
    g = np.exp(-(x**2) / (2 * gsig**2))
    g = (g / g.sum()).astype(np.float32)
    psf = np.outer(g, g).astype(np.float32)
    if not center:
        return psf.astype(np.float64)
    disk = psf >= psf[0].max()
    psf = psf - psf[disk].mean()
    psf[~disk] = 0
    return psf.astype(np.float64)


def ref_filter(movie: np.ndarray, gsig, center: bool = True) -> np.ndarray:
    y = movie.astype(np.float64)
    if gsig is None:
        return y
    kern = ref_kernel(gsig, center)
    return np.stack([ndimage.correlate(f, kern, mode="nearest") for f in y])


def ref_noise_fft(data: np.ndarray, noise_range=(0.25, 0.5)) -> np.ndarray:
    """CaImAn's get_noise_fft(method='mean'), full length, time on axis 0."""
    n = data.shape[0]
    ff = np.arange(0, 0.5 + 1.0 / n, 1.0 / n)
    ind = (ff > noise_range[0]) & (ff <= noise_range[1])
    spec = np.fft.rfft(data, axis=0)
    psd = 2.0 / n * np.abs(spec[ind[: spec.shape[0]]]) ** 2
    return np.sqrt(np.mean(psd / 2, axis=0))


def ref_pnr(movie: np.ndarray, gsig, center: bool = True, eight: bool = True):
    f = ref_filter(movie, gsig, center)
    f = f - f.mean(0)
    noise = ref_noise_fft(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        pnr = f.max(0) / noise
        z = f / noise
    pnr[~(pnr > 0)] = 0  # negative -> 0 (CaImAn); 0/0 (constant pixel) -> 0 (ours)
    z[~(z >= 3)] = 0
    return pnr, ref_local_corr(z, eight), noise


def ref_max_corr(movie: np.ndarray, bin_size: int, eight: bool = True) -> np.ndarray:
    n = movie.shape[0]
    if n <= bin_size:
        return ref_local_corr(movie, eight)
    if n % bin_size < bin_size / 2:
        bin_size = n // (n // bin_size)
    return np.max(
        [ref_local_corr(movie[i * bin_size : (i + 1) * bin_size], eight)
         for i in range(n // bin_size)],
        axis=0,
    )


# --------------------------------------------------------------------------- data
def make_movie(n=300, ny=32, nx=40, seed=0, dtype=np.uint16) -> np.ndarray:
    """Noise + a slow background + two 'cells' with sparse transients."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:ny, :nx]
    movie = 100 + 0.2 * xx[None] + rng.normal(0, 3, (n, ny, nx))
    for cy, cx in [(10, 12), (22, 28)]:
        foot = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 2.5**2))
        spikes = (rng.random(n) < 0.03).astype(float)
        trace = np.convolve(spikes, np.exp(-np.arange(30) / 6.0))[:n] * 40
        movie += trace[:, None, None] * foot[None]
    movie[:, 0, 0] = 77  # a constant pixel
    if np.dtype(dtype).kind == "u":
        movie = np.clip(np.round(movie), 0, None)
    return movie.astype(dtype)


@pytest.fixture(scope="module")
def movie() -> np.ndarray:
    return make_movie()


@pytest.fixture(scope="module")
def images(movie) -> SummaryImages:
    # noise_frames >= T: every image has an exact in-memory reference
    return summary_images(movie, gsig=2, noise_frames=512, bin_size=100)


# --------------------------------------------------------------------------- exact images
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
    assert got.params["corr_pnr_exact"]


def test_gsig_alias(movie, images):
    alias = summary_images(movie, gSig=2, noise_frames=512, bin_size=100)
    np.testing.assert_array_equal(alias.pnr, images.pnr)


def test_default_is_unfiltered(movie):
    # CaImAn's correlation_pnr(Y, gSig=None): no spatial filter unless asked for
    got = summary_images(movie, noise_frames=512)
    assert got.params["gsig"] is None
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


@pytest.mark.parametrize("n", [64, 256, 100, 37])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_band_power_matches_numpy_fft(n, dtype):
    # the lane FFT (powers of two) and the scipy path (other lengths) against a
    # float64 numpy FFT; 1000 pixels is not a multiple of the 256-pixel groups
    from napari_amnesia.core.summary import _band_bins, _band_power_sum

    rng = np.random.default_rng(n)
    seg = (1000 + rng.normal(0, 5, (n, 20, 50)) + np.linspace(0, 30, n)[:, None, None])
    seg = np.round(seg).astype(dtype)
    band = _band_bins(n, (0.25, 0.5))
    got = np.zeros((20, 50))
    _band_power_sum(seg, got, band)
    x = seg.astype(np.float64)
    spec = np.fft.rfft(x - x.mean(0), axis=0)[band[0] : band[1]]
    ref = (np.abs(spec) ** 2).sum(0) / n
    np.testing.assert_allclose(got, ref, rtol=1e-4)


@pytest.mark.parametrize("gsig", [1.0, 3.0, 4.2, (2.0, 3.0)])
@pytest.mark.parametrize("center", [True, False])
def test_spatial_filter_matches_ndimage(gsig, center):
    # the ring-buffer filter against a direct 2-D correlation with CaImAn's kernel;
    # float32 arithmetic on values ~100: errors ~1e-5 (measured <= 2.2e-5)
    from napari_amnesia.core.summary import _filter_frames, _filter_taps

    movie = make_movie(n=3, ny=40, nx=37, seed=9)
    sig = (gsig, gsig) if np.isscalar(gsig) else gsig
    taps = _filter_taps(sig, center)
    got = np.empty(movie.shape, np.float32)
    _filter_frames(movie, got, taps.gy, taps.gx, taps.widths, taps.wi, np.float32(taps.m),
                   taps.use_box)
    kern = taps.kernel.astype(np.float64)
    ref = np.stack([ndimage.correlate(f.astype(np.float64), kern, mode="nearest") for f in movie])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
    if np.isscalar(gsig):
        np.testing.assert_allclose(kern, ref_kernel(gsig, center), rtol=1e-6, atol=1e-9)


def test_huge_values_raise():
    movie = np.random.default_rng(0).normal(0, 1e30, (20, 6, 6))
    with pytest.raises(ValueError, match="too large"):
        summary_images(movie)


# --------------------------------------------------------------------------- streaming
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
    # prefetching copies every chunk into one of two reused buffers
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
    assert capped.params["noise_max_frames"] == 256
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
    assert not got.params["corr_pnr_exact"]
    _, exact, _ = ref_pnr(movie, 2)
    cells = exact > 0.5
    assert cells.sum() > 20
    np.testing.assert_allclose(got.corr_pnr[cells], exact[cells], atol=0.05)
    assert np.mean(np.abs(got.corr_pnr - exact)) < 0.04
    assert np.corrcoef(got.corr_pnr.ravel(), exact.ravel())[0, 1] > 0.9


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


# --------------------------------------------------------------------------- protocol
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
    assert result.params["chunk_frames"] == 64 and result.elapsed > 0


# --------------------------------------------------------------------------- errors
def test_nan_raises_naming_count_and_frame(movie):
    bad = movie.astype(np.float32)
    bad[123, 4, 5] = np.nan
    bad[130, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"2 NaN.*frame 123"):
        summary_images(bad, chunk_frames=50)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"eight_neighbours": 1}, "eight_neighbours.*1"),
        ({"gsig": -1}, "gsig.*-1"),
        ({"gsig": 0}, "gsig.*0"),
        ({"bin_size": 1}, "bin_size.*1"),
        ({"chunk_frames": 0}, "chunk_frames.*0"),
        ({"nan_policy": "ignore"}, "nan_policy.*ignore"),
        ({"noise_range": (0.3, 0.2)}, r"noise_range.*0\.3"),
        ({"noise_frames": 4}, "noise_frames.*4"),
        ({"noise_max_frames": 0}, "noise_max_frames.*0"),
    ],
)
def test_bad_arguments(movie, kwargs, match):
    with pytest.raises(ValueError, match=match):
        summary_images(movie[:10], **kwargs)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((1, 4, 4)), "T=1"),
        (np.zeros((4, 4)), r"3-D.*\(4, 4\)"),
        (np.zeros((4, 4, 4), complex), "complex"),
    ],
)
def test_bad_movies(bad, match):
    with pytest.raises(ValueError, match=match):
        summary_images(bad)
    with pytest.raises(ValueError, match=match):
        local_correlations(bad)
