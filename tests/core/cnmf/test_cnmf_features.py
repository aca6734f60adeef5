"""Features of CNMF components (napari_amnesia.core.cnmf.features) on hand-made
footprints and traces whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from napari_amnesia.core.cnmf import CNMFParams, SourceResult
from napari_amnesia.core.cnmf.features import (
    FEATURE_NAMES,
    component_features,
    decay_match,
    shape_features,
)

N = 64
YY, XX = np.mgrid[:N, :N]


def disk(cy, cx, r):
    return ((YY - cy) ** 2 + (XX - cx) ** 2 <= r * r).astype(float)


def stack(*images):
    return sparse.csc_matrix(np.stack([im.ravel() for im in images], axis=1))


def test_shape_features_disk_line_ring():
    d = disk(15, 15, 5)
    line = ((YY == 45) & (XX > 10) & (XX < 50)).astype(float)
    ring = disk(15, 45, 6) - 0.8 * disk(15, 45, 2.5)
    blob = np.exp(-((YY - 45) ** 2 + (XX - 45) ** 2) / (2 * 3.0**2))  # brightest centre
    f = shape_features(stack(d, line, ring, blob), (N, N), 5.0)
    # compactness: about 1 for a disk (within pixelation), tiny for a line
    assert 0.85 < f["compactness"][0] < 1.15 and f["compactness"][1] < 0.15, f["compactness"]
    # eccentricity: a disk is round, a line elongated
    assert f["eccentricity"][0] < 0.1 and f["eccentricity"][1] > 0.99
    # dark nucleus: the ring's centre is dim against its rim; a disk is flat, a
    # Gaussian blob brighter in the centre
    assert f["nucleus_contrast"][2] < 0.5, f["nucleus_contrast"]
    assert 0.9 < f["nucleus_contrast"][0] < 1.1 and f["nucleus_contrast"][3] > 1.3
    # area against the expected soma (pi * gSig^2): a disk of radius gSig is 1
    assert abs(f["log_area_ratio"][0]) < 0.15
    assert f["abs_log_area_ratio"][1] > 0.5
    # a flat footprint has peak_fraction 1
    assert abs(f["peak_fraction"][0] - 1) < 1e-9 and f["peak_fraction"][3] > 1.5


def test_shape_features_scale_free_and_gsig_pairs():
    d = disk(30, 30, 6)
    a = shape_features(stack(d), (N, N), 4.0)
    b = shape_features(stack(7.5 * d), (N, N), (4.0, 4.0))
    for k in a:
        np.testing.assert_allclose(a[k], b[k])
    with pytest.raises(ValueError, match="gSig"):
        shape_features(stack(d), (N, N), -1)
    with pytest.raises(ValueError, match="rows"):
        shape_features(sparse.csc_matrix((10, 1)), (N, N), 4)


def test_corr_image_fit():
    """A footprint on a bright spot of the correlation image fits it; one on a flat
    stretch, or on a spot elsewhere, does not."""
    rng = np.random.default_rng(0)
    ci = 0.1 * rng.random((N, N)) + 0.8 * disk(20, 20, 5)
    f = shape_features(stack(disk(20, 20, 5), disk(45, 45, 5)), (N, N), 5,
                       correlation_image=ci)
    assert f["corr_image_fit"][0] > 0.9 and abs(f["corr_image_fit"][1]) < 0.3
    assert np.all(shape_features(stack(disk(20, 20, 5)), (N, N), 5)["corr_image_fit"] == 0)
    with pytest.raises(ValueError, match="correlation_image"):
        shape_features(stack(disk(20, 20, 5)), (N, N), 5, correlation_image=np.zeros((3, 3)))


def test_decay_match():
    rng = np.random.default_rng(1)
    T = 2000
    s = (rng.random((2, T)) < 0.01).astype(float)
    kern = 0.9 ** np.arange(60)
    good = np.array([np.convolve(s[0], kern)[:T]]) + 0.05 * rng.normal(size=(1, T))
    # a square pulse of 10 frames after each event: not the indicator's decay
    square = np.array([np.convolve(s[1], np.ones(10))[:T]]) + 0.05 * rng.normal(size=(1, T))
    m = decay_match(np.vstack([good, square]), s, -1 / np.log(0.9))
    assert m[0] > 0.95 and m[1] < m[0] - 0.1, m
    assert decay_match(good, np.zeros((1, T)), 9.5)[0] == 0.0


def _result(footprints, traces, *, background=None, T=400):
    K = footprints.shape[1]
    b, f = background if background is not None else (np.zeros((N * N, 0)), np.zeros((0, T)))
    return SourceResult(
        footprints=footprints, traces=traces, spikes=np.zeros((K, T)),
        residual_traces=np.zeros((K, T)), background_footprints=b, background_traces=f,
        baseline=np.zeros(K), g=np.full((K, 1), 0.9), lam=np.zeros(K),
        sn=np.ones((N, N)), shape=(N, N), params=CNMFParams(gSig=5),
        snr=np.array([3.0] * K), r_values=np.array([0.9] * K))


def test_overlap_and_neuropil():
    rng = np.random.default_rng(2)
    T = 400
    A = stack(disk(20, 20, 5), disk(20, 26, 5), disk(48, 48, 5))
    traces = rng.random((3, T))
    # the movie: components plus a neuropil signal around the third one only
    neuropil = rng.normal(size=T)
    movie = (A.toarray() @ traces).T.reshape(T, N, N)
    around = (disk(48, 48, 14) - disk(48, 48, 7)) > 0
    movie = movie + around[None] * neuropil[:, None, None]
    res = _result(A, traces)
    res.residual_traces[2] = 3 * neuropil  # its raw trace is contaminated
    F = component_features(res, movie)
    col = dict(zip(FEATURE_NAMES, F.T, strict=True))
    assert col["overlap"][0] > 0.2 and col["overlap"][1] > 0.2 and col["overlap"][2] == 0
    assert col["neuropil_corr"][2] > 0.8 and np.all(np.abs(col["neuropil_corr"][:2]) < 0.3)
    assert F.shape == (3, len(FEATURE_NAMES)) and np.isfinite(F).all()
    # without the movie: the background model stands for the surroundings
    bg = (around.ravel()[:, None].astype(float), neuropil[None])
    res2 = _result(A, traces, background=bg)
    res2.residual_traces[2] = 3 * neuropil
    F2 = component_features(res2)
    assert dict(zip(FEATURE_NAMES, F2.T, strict=True))["neuropil_corr"][2] > 0.8


def test_component_features_empty_and_unevaluated():
    res = _result(sparse.csc_matrix((N * N, 0)), np.zeros((0, 400)))
    assert component_features(res).shape == (0, len(FEATURE_NAMES))
    one = _result(stack(disk(30, 30, 5)), np.random.default_rng(3).random((1, 400)))
    one.snr = one.r_values = None
    F = component_features(one)
    assert F[0, FEATURE_NAMES.index("log_snr")] == 0 and np.isfinite(F).all()


def test_brightness_tells_dark_places_from_tissue():
    """A component in a blanked scan edge sits near 0, one in tissue near 1 or above,
    with the movie or, without it, the model's own mean image; gain and offset do not
    change it."""
    rng = np.random.default_rng(4)
    T = 400
    A = stack(disk(30, 4, 3), disk(30, 40, 5))
    traces = 1 + rng.random((2, T))
    tissue = np.full((N, N), 50.0)
    tissue[:, :9] = 1.0  # the dark edge
    movie = tissue[None] * (1 + 0.05 * rng.random((T, N, N))) \
        + (A.toarray() @ traces).T.reshape(T, N, N)
    res = _result(A, traces, background=(tissue.reshape(-1, 1), np.ones((1, T))))
    col = FEATURE_NAMES.index("brightness")
    with_movie = component_features(res, movie)[:, col]
    without = component_features(res)[:, col]
    for b in (with_movie, without):
        assert b[0] < 0.2 and b[1] > 0.9, b
    rescaled = component_features(res, 3.0 * movie + 100.0)[:, col]
    np.testing.assert_allclose(rescaled, with_movie, rtol=1e-6)
