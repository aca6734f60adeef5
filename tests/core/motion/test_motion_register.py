"""Tests of napari_amnesia.core.motion._register: the patch grid and low-confidence patches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from motion_reference import PW_RMSE, _rmse

from napari_amnesia.core.motion import (
    correct,
)
from napari_amnesia.core.motion._register import PatchRegistrar
from napari_amnesia.core.simulate import simulate


def _scene_with_an_empty_corner(seed: int, T: int = 60, corner: int = 100):
    """A 192² non-rigid movie whose tissue has no structure in a corner.

    The corner ``[:corner, :corner]`` of the *reference* scene is replaced by noise at
    the movie's level, in every frame at the pixels whose content comes from there
    (``truth.frame_to_reference``): the empty region moves with the tissue, as a
    vessel or a dark corner of a field of view does. (Blanking the same pixels of
    every frame instead, as this test once did, plants a motionless edge that pulls
    the patches it crosses towards zero motion: 0.36 px of error on a textured patch
    at seed 4, a bias no registration should follow.)
    """
    movie, truth = simulate(n_frames=T, shape=(192, 192), n_cells=30, max_shift=6.0,
                            nonrigid=True, nonrigid_amplitude=3.0, rng=seed)
    mov = movie.astype(np.float32)
    noise = float(np.std(np.diff(mov[:, 100:140, 100:140], axis=0))) / np.sqrt(2)
    level = float(np.median(mov))
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:192, :192]
    pixels = np.stack([rows.ravel(), cols.ravel()], axis=1).astype(np.float64)
    for t in range(T):
        ref = truth.frame_to_reference(pixels, t)
        empty = ((ref[:, 0] < corner) & (ref[:, 1] < corner)).reshape(192, 192)
        mov[t][empty] = level + rng.normal(0.0, noise, int(empty.sum()))
    template = truth.mean_image().astype(np.float32)
    template[:corner, :corner] = level
    return mov, template, truth


def _affine_continuation_error(centers, true_pw, textured):
    """Per-patch RMSE of the affine continuation of the textured patches' true shifts.

    The displacement planted at the textured patch centres is fitted, frame by frame,
    by ``a + b·row + c·column`` (least squares) and evaluated at every centre: what a
    first-order (Taylor) continuation of the data can know about a region without
    data.
    """
    c = centers.reshape(-1, 2)
    tp = true_pw.reshape(len(true_pw), -1, 2)
    design = np.column_stack([np.ones(len(c)), c])
    values = tp[:, textured].transpose(1, 0, 2).reshape(int(textured.sum()), -1)
    coef = np.linalg.lstsq(design[textured], values, rcond=None)[0]
    pred = (design @ coef).reshape(len(c), len(tp), 2).transpose(1, 0, 2)
    return np.sqrt(np.mean(np.sum((pred - tp) ** 2, axis=-1), axis=0))


def test_patches_without_structure_take_their_neighbours_shift(monkeypatch):
    """An empty corner: textured patches keep their accuracy, the others a bound.

    Patches are 96 px, starts 0, 48 and 96 on a 192-px frame, the empty corner is
    ``[:100, :100]`` of the tissue. Patches with at most 5 % of their area in the
    corner (the last row and column of the grid) are textured and must each be
    within ``PW_RMSE`` of the planted field, on every seed. The corner patch holds no
    structure at all and its three neighbours partly none: no registration can
    measure the field there, only continue it from the textured patches. Their bound
    is the error of the affine (first-order Taylor) continuation of the *planted*
    shifts at the textured centres, computed from the truth frame by frame
    (:func:`_affine_continuation_error`): a patch without data must do no worse than
    that, and a shift read from the noise of the empty corner (the control, every
    texture safeguard off) does much worse.
    """
    from napari_amnesia.core.motion import _register

    T = 60
    starts = np.array([0, 48, 96])
    sy, sx = np.meshgrid(starts, starts, indexing="ij")
    empty_area = (np.clip(100 - sy, 0, 96) * np.clip(100 - sx, 0, 96)) / 96**2
    textured = (empty_area < 0.05).ravel()
    assert textured.sum() == 5
    corner, ratios = [], []
    for seed in range(1, 6):
        mov, template, truth = _scene_with_an_empty_corner(seed, T)

        def errors(mov=mov, template=template, truth=truth):
            res = correct(mov, template=template, pw_rigid=True, compute_metrics=False)
            centers = res.patch_centers
            true_pw = np.stack([truth.displacement_at(centers.reshape(-1, 2), t)
                                for t in range(T)]).reshape(res.shifts_pw.shape)
            err = res.shifts_pw - true_pw
            rmse = np.sqrt(np.mean(np.sum(err**2, axis=-1), axis=0)).ravel()
            return res, rmse, true_pw

        res, rmse, true_pw = errors()
        assert res.patch_centers.shape[:2] == (3, 3)
        preg = PatchRegistrar(template, res.params)
        assert not preg.valid[0, 0] and preg.valid.ravel()[textured].all()
        # every textured patch, every seed
        assert rmse[textured].max() <= PW_RMSE, (seed, rmse.round(3))
        bound = _affine_continuation_error(res.patch_centers, true_pw, textured)
        assert np.all(rmse[~textured] <= bound[~textured]), (
            seed, rmse[~textured].round(3), bound[~textured].round(3))
        # the control: every texture safeguard off, each patch its own estimate
        with monkeypatch.context() as m:
            m.setattr(_register, "_MIN_TEXTURE", 0.0)
            m.setattr(_register, "_SMOOTHING", 0.0)
            _, rmse_noisy, _ = errors()
        assert rmse_noisy[0] > bound[0], (seed, rmse_noisy[0], bound[0])
        corner.append(rmse[0])
        ratios.append(rmse[0] / rmse_noisy[0])
    # and the earlier absolute bounds on the corner patch still hold: under 1.6 px on
    # every seed, and well below the control's error (median ratio < 0.6)
    assert max(corner) < 1.6 and np.median(ratios) < 0.6, (corner, ratios)


# --------------------------------------------------------------------------- small frames
DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


ALLEN = DATA / "allen2p_100x100x100.tif"


def _field_errors(res, truth):
    centers = res.patch_centers.reshape(-1, 2)
    true_pw = np.stack([truth.displacement_at(centers, t) for t in range(truth.n_frames)])
    true_pw = true_pw.reshape(res.shifts_pw.shape)
    return res.shifts_pw - true_pw, res.shifts[:, None, None, :] - true_pw


def test_piecewise_rigid_on_a_small_frame_adapts_the_patch_grid():
    # 100 x 100: the default 96-px patches both cover every pixel the search margin
    # leaves (same centre, so no spline between them: an all-NaN template and
    # "patch_centers should increase" before); the default grid is fitted instead
    movie, truth = simulate(n_frames=100, shape=(100, 100), n_cells=12, max_shift=4.0,
                            nonrigid=True, nonrigid_amplitude=2.0, rng=2)
    res = correct(movie, pw_rigid=True, compute_metrics=False)
    assert np.isfinite(res.template).all()
    assert res.shifts_pw.shape[1:3] == (2, 2)
    assert res.params.strides == (40, 40) and res.params.overlaps == (20, 20)
    assert any("does not fit frames of 100x100 px" in m for m in res.messages)
    assert np.all(np.diff(res.patch_centers[:, 0, 0]) > 10)
    assert np.isfinite(res.corrected[:5].compute()).all()
    # and the field is right (against the reference scene as template: no offset)
    res = correct(movie, template=truth.mean_image(), pw_rigid=True, compute_metrics=False)
    err, rigid_err = _field_errors(res, truth)
    assert _rmse(err) <= PW_RMSE and _rmse(err) < 0.7 * _rmse(rigid_err), (
        _rmse(err), _rmse(rigid_err))


def test_piecewise_rigid_falls_back_to_rigid_when_two_patches_do_not_fit():
    # a frame smaller than one default patch (96 px): no two patches fit inside the
    # search margin, so the correction is rigid, and says why (before: a ValueError)
    movie, truth = simulate(n_frames=80, shape=(64, 64), n_cells=8, max_shift=4.0,
                            nonrigid=False, rng=4)
    res = correct(movie, template=truth.mean_image(), pw_rigid=True, compute_metrics=False)
    assert res.shifts_pw is None and not res.params.pw_rigid
    assert any("corrected rigidly" in m for m in res.messages), res.messages
    rigid = correct(movie, template=truth.mean_image(), compute_metrics=False)
    np.testing.assert_array_equal(res.shifts, rigid.shifts)  # exactly the rigid correction
    assert np.isfinite(res.template).all()
    # patches set by hand that cover the whole 100-px frame: rigid as well, never NaN
    movie, truth = simulate(n_frames=60, shape=(100, 100), n_cells=12, max_shift=4.0,
                            nonrigid=False, rng=2)
    res = correct(movie, pw_rigid=True, strides=60, overlaps=36, compute_metrics=False)
    assert res.shifts_pw is None and np.isfinite(res.template).all()
    assert any("strides" in m and "rigidly" in m for m in res.messages)
    # a grid set by hand that does not fit is still refused, naming itself
    with pytest.raises(ValueError, match="strides"):
        correct(movie, pw_rigid=True, strides=80, overlaps=40)


def test_patch_grid_drops_patches_that_compare_the_same_pixels():
    from napari_amnesia.core.motion._register import patch_grid
    from napari_amnesia.core.motion._warp import interpolation_weights

    # equal centres used to give NaN weights (and an all-NaN template), silently
    with pytest.raises(ValueError, match="increase strictly"):
        interpolation_weights(np.array([50.0, 50.0]), np.arange(5.0))

    assert patch_grid(100, 64, 32).tolist() == [0, 4]
    assert patch_grid(100, 64, 32, margin=16).tolist() == [0]  # both see rows 16-84
    assert patch_grid(192, 64, 32, margin=16).tolist() == [0, 48, 96]  # spread evenly


@pytest.mark.skipif(not ALLEN.is_file(), reason="real movies of ../shared/data absent")
def test_piecewise_rigid_on_the_allen_crop():
    from napari_amnesia.core.io import open_movie

    res = correct(open_movie(ALLEN), pw_rigid=True, compute_metrics=False)
    assert np.isfinite(res.template).all() and res.shifts_pw.shape[1:3] == (2, 2)
    assert np.isfinite(res.shifts_pw).all()
    # frame 8's (8.4, 9.5) px jump correlates no better than no shift: rejected
    assert 8 in res.rejected_frames
    assert np.abs(res.shifts).max() < 3.0
