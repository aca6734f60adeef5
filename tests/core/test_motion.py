"""Tests of napari_amnesia.core.motion: planted motion recovered, laziness, borders,
applying and saving shifts, scan phase, bad parameters, progress and cancel.

Accuracy is measured against ``core.simulate``'s ground truth in its own sign
convention (``shifts[t]`` = displacement of the content of frame t). The template
is built from the movie, so it sits at some offset ``c`` from the unmoved reference
scene; registering the reference itself (``truth.mean_image()``, noise free) to the
template measures that offset as ``-c`` (rigid) or ``-c(p)`` at each patch centre,
and ``estimate - estimate(reference)`` is then compared with the truth directly —
no fitting of a constant to the errors. Tests with ``template=truth.mean_image()``
need no offset at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage

from napari_amnesia.core.files import OutputExistsError
from napari_amnesia.core.motion import (
    MotionParams,
    MotionResult,
    apply_shifts,
    correct,
    correct_scan_phase,
    estimate_scan_phase,
    estimate_shifts,
    iter_correct,
    make_template,
)
from napari_amnesia.core.motion._register import PatchRegistrar, RigidRegistrar
from napari_amnesia.core.progress import Progress, drive
from napari_amnesia.core.simulate import simulate

RIGID_RMSE = 0.1  # px, the target
PW_RMSE = 0.25  # px at patch centres


def _rmse(err: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum(err**2, axis=-1))))


@pytest.fixture(scope="module")
def rigid_movie():
    return simulate(n_frames=200, shape=(128, 128), n_cells=20, max_shift=6.0,
                    nonrigid=False, rng=11)


@pytest.fixture(scope="module")
def nonrigid_movie():
    # 192 px: a 3 x 3 patch grid with the default 96-px patches, whose outer centres
    # see most of the planted deformation (the cosine modes vanish mid-frame); seed 3
    # is the first whose deformation at the patch centres exceeds 1.5 px (seed 4 was,
    # before the neurite trees got their own random stream)
    return simulate(n_frames=100, shape=(192, 192), n_cells=30, max_shift=6.0,
                    nonrigid=True, nonrigid_amplitude=3.0, rng=3)


@pytest.fixture(scope="module")
def rigid_result(rigid_movie):
    movie, _ = rigid_movie
    return correct(movie, num_frames_split=40)  # defaults


@pytest.fixture(scope="module")
def pw_result(nonrigid_movie):
    movie, _ = nonrigid_movie
    return correct(movie, pw_rigid=True, compute_metrics=False)  # defaults otherwise


def _template_offset(result: MotionResult, truth) -> np.ndarray:
    """Displacement of the reference scene relative to the template (rigid)."""
    reg = RigidRegistrar(result.template, result.params)
    return reg.estimate(reg.spectra(truth.mean_image()[None]))[0]


# --------------------------------------------------------------------------- accuracy
def test_rigid_shifts_recovered(rigid_movie, rigid_result):
    _, truth = rigid_movie
    assert np.abs(truth.shifts).max() > 5.5  # the planted walk really reaches ~6 px
    offset = _template_offset(rigid_result, truth)
    err = rigid_result.shifts - offset - truth.shifts
    assert _rmse(err) <= RIGID_RMSE, _rmse(err)
    assert len(rigid_result.rejected_frames) == 0  # every planted shift is supported


def test_rigid_with_reference_template_needs_no_offset(rigid_movie):
    movie, truth = rigid_movie
    shifts = estimate_shifts(movie, truth.mean_image(), max_shifts=6)
    assert _rmse(shifts - truth.shifts) <= RIGID_RMSE


def test_phase_correlation_option(rigid_movie):
    movie, truth = rigid_movie
    shifts = estimate_shifts(movie, truth.mean_image(), max_shifts=6, phase_correlation=True)
    assert _rmse(shifts - truth.shifts) <= RIGID_RMSE


def test_piecewise_rigid_field_recovered(nonrigid_movie, pw_result):
    _, truth = nonrigid_movie
    res = pw_result
    T = truth.n_frames
    ny, nx = res.patch_centers.shape[:2]
    assert res.shifts_pw.shape == (T, ny, nx, 2)
    # offset field of the template: register the reference scene piecewise
    reg = RigidRegistrar(res.template, res.params)
    preg = PatchRegistrar(res.template, res.params, reg)
    spec = reg.spectra(truth.mean_image()[None])
    offset = preg.estimate(reg.filtered(spec), reg.estimate(spec))[0]
    centers = res.patch_centers.reshape(-1, 2)
    true_pw = np.stack([truth.displacement_at(centers, t) for t in range(T)])
    true_pw = true_pw.reshape(res.shifts_pw.shape)
    nonrigid = np.abs(true_pw - truth.shifts[:, None, None, :]).max()
    assert nonrigid > 1.5  # the deformation is really there
    err = res.shifts_pw - offset[None] - true_pw
    assert _rmse(err) <= PW_RMSE, _rmse(err)
    assert len(res.rejected_frames) == 0
    # and it beats a rigid-only description of the same frames
    rigid_err = res.shifts[:, None, None, :] - offset[None] - true_pw
    assert _rmse(err) < 0.5 * _rmse(rigid_err)


def _field_error(res, truth) -> float:
    """Field RMSE at the patch centres, the template's own offset field measured by
    registering the noise-free reference scene to it (see the module docstring)."""
    reg = RigidRegistrar(res.template, res.params)
    preg = PatchRegistrar(res.template, res.params, reg)
    spec = reg.spectra(truth.mean_image()[None])
    offset = preg.estimate(reg.filtered(spec), reg.estimate(spec))[0]
    centers = res.patch_centers.reshape(-1, 2)
    true_pw = np.stack([truth.displacement_at(centers, t) for t in range(truth.n_frames)])
    return _rmse(res.shifts_pw - offset[None] - true_pw.reshape(res.shifts_pw.shape))


def test_piecewise_rigid_field_on_deformations_of_other_kinds():
    # 2-3 px deformations of other spatial frequencies and orientations (three random
    # cosine modes of up to two half cycles across the frame, a different set per
    # seed): the worst seed must hold the target, not only our usual field (an unseen
    # movie of this kind gave 0.258 px; the worst of these seeds was 0.27 px before the
    # grid was spread evenly and the smoothing scaled to it, 0.22 after)
    errors = {}
    for seed in range(1, 6):
        movie, truth = simulate(n_frames=120, shape=(256, 256), n_cells=40, max_shift=6.0,
                                nonrigid=True, nonrigid_amplitude=2.0 + (seed % 3) / 2,
                                nonrigid_frequency=2, n_neurite_groups=2, rng=seed)
        res = correct(movie, pw_rigid=True, compute_metrics=False)
        assert res.shifts_pw.shape[1:3] == (4, 4)
        errors[seed] = _field_error(res, truth)
    assert max(errors.values()) <= PW_RMSE, errors


def test_piecewise_rigid_one_photon_background_with_defaults():
    # strong smooth background: the band-pass default must keep patches unbiased
    movie, truth = simulate(n_frames=100, shape=(128, 128), n_cells=12, mode="one_photon",
                            max_shift=5.0, nonrigid=True, nonrigid_amplitude=2.0, rng=7)
    # a 128-px frame: bound the search near the planted rigid range (5 px) so that the
    # patches keep most of their pixels (the template margin grows with max_shifts)
    res = correct(movie, template=truth.mean_image(), pw_rigid=True, max_shifts=6,
                  compute_metrics=False)
    centers = res.patch_centers.reshape(-1, 2)
    true_pw = np.stack([truth.displacement_at(centers, t) for t in range(100)])
    assert _rmse(res.shifts_pw - true_pw.reshape(res.shifts_pw.shape)) <= PW_RMSE


def test_corrected_movie_is_aligned(rigid_movie, rigid_result):
    _, truth = rigid_movie
    corrected = rigid_result.corrected
    # corrected frames all look like the template: high, uniform correlation
    m = rigid_result.metrics
    assert m["mean_correlation_after"] > m["mean_correlation_before"] + 0.1
    assert m["crispness_mean_after"] > m["crispness_mean_before"]
    assert np.asarray(m["correlation_after"]).shape == (truth.n_frames,)
    for key in ("mean_before", "mean_after", "max_before", "max_after", "corr_before",
                "corr_after"):
        assert m[key].shape == truth.shape
    frame = corrected[17].compute()
    assert frame.dtype == np.float32 and frame.shape == truth.shape


# --------------------------------------------------------------------------- laziness
class _CountingArray:
    def __init__(self, data):
        self.data = data
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim
        self.reads: list[tuple[int, int]] = []

    def __getitem__(self, key):
        t = key[0]
        self.reads.append((t.start or 0, t.stop))
        return self.data[key]


def test_corrected_is_lazy_and_one_frame_reads_one_chunk(rigid_movie):
    movie, _ = rigid_movie
    source = _CountingArray(movie)
    lazy = da.from_array(source, chunks=(25, *movie.shape[1:]), asarray=True)
    res = correct(lazy, max_shifts=6, compute_metrics=False, num_frames_split=25)
    assert isinstance(res.corrected, da.Array)
    assert res.corrected.dtype == np.float32 and res.corrected.shape == movie.shape
    source.reads.clear()
    res.corrected[60].compute()
    assert source.reads and all(50 <= a and b <= 75 for a, b in source.reads), source.reads


# --------------------------------------------------------------------------- borders
def _bar_movie():
    frame = np.zeros((32, 40), np.float32)
    frame[0, :] = 100.0  # bright top row
    frame[10:20, 10:20] = 5.0
    frame += 1.0
    return np.repeat(frame[None], 3, axis=0)


@pytest.mark.parametrize("mode", ["nan", "copy", "min", "zero"])
def test_border_modes_and_no_wrap_around(mode):
    movie = _bar_movie()
    shifts = np.tile([-3.0, 0.0], (3, 1))  # content moved up: correction moves it down
    out = apply_shifts(movie, shifts, border_nan=mode).compute()
    assert out.shape == movie.shape
    # rows 0-2 of the corrected frame come from outside the frame (rows -3..-1)
    top = out[:, :3]
    if mode == "nan":
        assert np.isnan(top).all()
    elif mode == "zero":
        assert (top == 0).all()
    elif mode == "min":
        assert np.allclose(top, 1.0)
    else:  # copy: the nearest row inside, the bright one
        assert np.allclose(top, 101.0)
    # the bright top row moved down by 3 and did not wrap to the bottom
    assert np.allclose(out[:, 3], 101.0)
    assert out[:, -5:].max() <= 1.0 + 1e-4
    # interior moved by exactly 3 rows
    assert np.allclose(out[0, 13:23, 10:20], 6.0, atol=1e-4)


def test_border_nan_true_means_nan():
    assert MotionParams(border_nan=True).border_nan == "nan"
    assert MotionParams(border_nan=False).border_nan == "copy"


def test_subpixel_shift_applied_with_correct_sign():
    rng = np.random.default_rng(0)
    img = ndimage.gaussian_filter(rng.random((48, 48)), 2).astype(np.float32)
    d = (1.3, -0.6)
    moved = ndimage.shift(img, d, order=3, mode="nearest")[None]
    out = apply_shifts(moved, np.array([d])).compute()[0]
    inner = (slice(6, -6), slice(6, -6))
    assert np.abs(out[inner] - img[inner]).max() < 0.02 * np.ptp(img)


# --------------------------------------------------------------------------- apply / save
def test_apply_shifts_to_another_movie_equals_correcting_it(rigid_movie, rigid_result):
    movie, _ = rigid_movie
    other = 2.0 * movie.astype(np.float32) + 5.0  # e.g. a functional channel
    applied = apply_shifts(other, rigid_result).compute()
    expected = 2.0 * rigid_result.corrected.compute() + 5.0
    np.testing.assert_allclose(applied, expected, rtol=1e-5, atol=1e-2)
    # and the piecewise variant through the result's method
    same = rigid_result.apply(movie).compute()
    np.testing.assert_array_equal(same, rigid_result.corrected.compute())


def test_apply_shifts_checks_shapes(rigid_result, rigid_movie):
    movie, _ = rigid_movie
    with pytest.raises(ValueError, match="shifts should have shape"):
        apply_shifts(movie[:10], rigid_result.shifts)
    with pytest.raises(ValueError, match="border_nan"):
        apply_shifts(movie, rigid_result.shifts, border_nan="wrap")


def test_save_load_round_trip(tmp_path, nonrigid_movie, pw_result):
    movie, _ = nonrigid_movie
    folder = pw_result.save(tmp_path / "motion")
    for name in ("shifts.csv", "shifts_pw.csv", "template.tif", "params.json", "result.json",
                 "metrics.json"):
        assert (folder / name).is_file(), name
    loaded = MotionResult.load(folder, movie=movie)
    np.testing.assert_array_equal(loaded.shifts, pw_result.shifts)
    np.testing.assert_array_equal(loaded.shifts_pw, pw_result.shifts_pw)
    np.testing.assert_array_equal(loaded.patch_centers, pw_result.patch_centers)
    np.testing.assert_array_equal(loaded.template, pw_result.template)
    assert loaded.params == pw_result.params
    np.testing.assert_array_equal(loaded.corrected[:20].compute(),
                                  pw_result.corrected[:20].compute())
    info = json.loads((folder / "result.json").read_text())
    assert info["input_shape"] == list(movie.shape) and "version" in info
    with pytest.raises(OutputExistsError):
        pw_result.save(folder)
    pw_result.save(folder, overwrite=True)


def test_save_with_metrics_and_corrected_movie(tmp_path, rigid_result):
    folder = rigid_result.save(tmp_path / "m", corrected=True)
    loaded = MotionResult.load(folder)
    assert loaded.corrected is None
    np.testing.assert_allclose(loaded.metrics["correlation_after"],
                               rigid_result.metrics["correlation_after"])
    np.testing.assert_array_equal(loaded.metrics["corr_after"], rigid_result.metrics["corr_after"])
    import tifffile

    saved = tifffile.imread(folder / "corrected.tif")
    np.testing.assert_array_equal(saved[:5], rigid_result.corrected[:5].compute())


def test_cancelled_save_leaves_nothing(tmp_path, rigid_result):
    gen = rigid_result.iter_save(tmp_path / "out", corrected=True)
    next(gen)
    next(gen)
    gen.close()
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- scan phase
def _with_scan_phase(movie: np.ndarray, phase: float) -> np.ndarray:
    out = movie.astype(np.float32).copy()
    out[:, 1::2] = ndimage.shift(out[:, 1::2], (0, 0, phase), order=3, mode="nearest")
    return out


def test_scan_phase_estimated_and_corrected(rigid_movie):
    movie, truth = rigid_movie
    comb = _with_scan_phase(movie[:60], 1.4)
    assert abs(estimate_scan_phase(comb.mean(axis=0)) - 1.4) < 0.1
    fixed = correct_scan_phase(comb, 1.4)
    assert abs(estimate_scan_phase(fixed.mean(axis=0))) < 0.1  # no comb left
    assert abs(estimate_scan_phase(movie[:60].mean(axis=0))) < 0.1  # none planted: none found
    res = correct(comb, scan_phase="auto", max_shifts=6, compute_metrics=False)
    assert abs(res.scan_phase - 1.4) < 0.1
    assert res.params.scan_phase == "auto"


# --------------------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(max_shifts=70), "max_shifts"),
        (dict(max_shifts=-1), "max_shifts"),
        (dict(max_shifts=(1, 2, 3)), "max_shifts"),
        (dict(pw_rigid=True, strides=200), "strides"),
        (dict(pw_rigid=True, strides=100, overlaps=40), "strides"),
        (dict(strides=32, overlaps=32), "overlaps"),
        (dict(max_deviation_rigid=-1), "max_deviation_rigid"),
        (dict(upsample_factor=0), "upsample_factor"),
        (dict(upsample_factor_grid=0), "upsample_factor_grid"),
        (dict(border_nan="wrap"), "border_nan"),
        (dict(gSig_filt=-2), "gSig_filt"),
        (dict(highpass_sigma=0), "highpass_sigma"),
        (dict(smooth_sigma=-1), "smooth_sigma"),
        (dict(template_frames=0), "template_frames"),
        (dict(num_frames_split=0), "num_frames_split"),
        (dict(scan_phase="sometimes"), "scan_phase"),
        (dict(interpolation="nearest"), "interpolation"),
        (dict(pw_rigid="yes"), "pw_rigid"),
        (dict(min_shift_support=-1), "min_shift_support"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, name):
    movie = np.zeros((5, 128, 128), np.float32)
    with pytest.raises(ValueError, match=name):
        correct(movie, **kwargs)


def test_template_of_wrong_shape():
    movie = np.random.default_rng(0).random((5, 64, 64)).astype(np.float32)
    with pytest.raises(ValueError, match="template"):
        correct(movie, template=np.zeros((64, 32)), max_shifts=4)


def test_unknown_parameter_and_bad_movie():
    with pytest.raises(TypeError, match="max_shift"):
        correct(np.zeros((5, 64, 64)), max_shift=3)
    with pytest.raises(ValueError, match="shape"):
        correct(np.zeros((64, 64)))


def test_params_dict_json_round_trip():
    p = MotionParams(max_shifts=(4, 8), pw_rigid=True, gSig_filt=3, scan_phase=0.5)
    assert MotionParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert MotionParams.from_json(p.to_json()) == p
    assert p.replace(max_shifts=5).max_shifts == (5, 5)
    assert p.filter_sigmas == (1.5, 6.0)


# --------------------------------------------------------------------------- progress
def test_progress_generator_and_cancel(rigid_movie, tmp_path):
    movie, _ = rigid_movie
    gen = iter_correct(movie[:80], max_shifts=6, num_frames_split=20)
    steps = []
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as stop:
        result = stop.value
    assert isinstance(result, MotionResult)
    assert all(isinstance(s, Progress) for s in steps)
    by_message: dict[str, list[float]] = {}
    for s in steps:
        by_message.setdefault(s.message, []).append(s.fraction)
    assert "estimating shifts" in by_message
    for fractions in by_message.values():
        assert fractions == sorted(fractions)
    assert by_message["estimating shifts"][-1] == 1.0
    # cancel after the first step: closing runs clean-up, nothing written anywhere
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        gen = iter_correct(movie[:80], max_shifts=6, num_frames_split=20)
        next(gen)
        gen.close()
    finally:
        os.chdir(cwd)
    assert list(tmp_path.iterdir()) == []


def test_correct_progress_callback_and_make_template(rigid_movie):
    movie, _ = rigid_movie
    seen = []
    res = correct(movie[:60], max_shifts=6, compute_metrics=False, progress=seen.append)
    assert seen and res.shifts.shape == (60, 2)
    tmpl = make_template(movie[:60], max_shifts=6)
    assert tmpl.shape == movie.shape[1:] and tmpl.dtype == np.float32
    assert drive(iter_correct(movie[:30], max_shifts=6, compute_metrics=False)).shifts.shape == (
        30, 2)


# --------------------------------------------------------------------------- NaN frames
def test_nan_pixels_and_frames_are_handled(rigid_movie, caplog):
    # a float movie with a dropped frame (all NaN) and NaN pixels in others (e.g. the
    # NaN border of an earlier correction): registration ignores the NaNs, the empty
    # frame is named in a warning, its shift is interpolated from its neighbours, and
    # its corrected frame stays NaN
    movie, truth = rigid_movie
    bad = movie[:120].astype(np.float32)
    bad[7] = np.nan
    bad[30:40, :5, :] = np.nan
    bad[50, 60:70, 60:70] = np.inf
    with pytest.warns(RuntimeWarning,
                      match=r"1 frame\(s\) contain no finite pixel.*: 7;") as got:
        res = correct(bad, template=truth.mean_image(), max_shifts=6, num_frames_split=25)
    # one warning, and no log line repeating it
    assert sum("no finite pixel" in str(w.message) for w in got) == 1
    assert not [r for r in caplog.records if "no finite pixel" in r.getMessage()]
    assert res.provenance["nonfinite_frames"] == [7]
    assert np.all(np.isfinite(res.shifts))
    keep = np.ones(120, bool)
    keep[7] = False
    assert _rmse(res.shifts[keep] - truth.shifts[:120][keep]) <= RIGID_RMSE
    assert np.abs(res.shifts[7] - 0.5 * (res.shifts[6] + res.shifts[8])).max() < 1e-9
    corrected = res.corrected.compute()
    assert np.isnan(corrected[7]).all()
    assert np.isfinite(corrected[8]).all()
    m = res.metrics
    assert np.isfinite(m["mean_before"]).all() and np.isfinite(m["mean_correlation_after"])
    assert np.isnan(m["correlation_before"][7])


def test_all_nan_movie_is_refused():
    movie = np.full((20, 64, 64), np.nan, np.float32)
    with pytest.raises(ValueError, match="no finite pixel"):
        correct(movie, max_shifts=4)


def test_input_array_is_not_modified(rigid_movie):
    movie, _ = rigid_movie
    data = movie[:40].astype(np.float32)
    data[3, :4] = np.nan
    before = data.copy()
    correct(data, max_shifts=6, compute_metrics=False)
    np.testing.assert_array_equal(data, before)


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
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
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


# --------------------------------------------------------------------------- supported shifts
def test_shifts_of_frames_without_usable_structure_are_rejected(rigid_movie):
    # frames of pure noise (same level and noise as the movie) have a correlation
    # peak anywhere in the search window; their shifts must be rejected and replaced
    # by the neighbours' (interpolated), while every planted shift is kept
    movie, truth = rigid_movie
    mov = movie.astype(np.float32)
    noise = float(np.std(np.diff(mov, axis=0))) / np.sqrt(2)
    level = float(np.median(mov))
    blank = np.arange(5, truth.n_frames, 13)  # isolated frames
    rng = np.random.default_rng(0)
    mov[blank] = level + rng.normal(0.0, noise, (len(blank), *truth.shape))
    res = correct(mov, template=truth.mean_image(), max_shifts=8, compute_metrics=False)
    assert sorted(res.rejected_frames.tolist()) == blank.tolist()
    assert any(f"{len(blank)} of {truth.n_frames} frame(s)" in m for m in res.messages)
    keep = np.setdiff1d(np.arange(truth.n_frames), blank)
    assert _rmse(res.shifts[keep] - truth.shifts[keep]) <= RIGID_RMSE
    # a replaced shift is the mean of its two neighbours' (one frame between two kept
    # ones), as far from the planted one as the walk is from its own interpolation
    np.testing.assert_allclose(res.shifts[blank],
                               0.5 * (res.shifts[blank - 1] + res.shifts[blank + 1]))
    walk = np.abs(truth.shifts[blank] - 0.5 * (truth.shifts[blank - 1]
                                               + truth.shifts[blank + 1])).max()
    assert np.abs(res.shifts[blank] - truth.shifts[blank]).max() < walk + 3 * RIGID_RMSE
    # the control: with the test off, the same frames get shifts read from noise
    raw = correct(mov, template=truth.mean_image(), max_shifts=8, min_shift_support=0,
                  compute_metrics=False)
    assert len(raw.rejected_frames) == 0
    assert np.abs(raw.shifts[blank] - truth.shifts[blank]).max() > 3.0


def test_rejected_frames_are_saved_and_loaded(tmp_path, rigid_movie):
    movie, truth = rigid_movie
    mov = movie[:60].astype(np.float32)
    mov[30] = float(np.median(mov)) + np.random.default_rng(1).normal(
        0.0, 5.0, truth.shape)
    res = correct(mov, template=truth.mean_image(), max_shifts=8, compute_metrics=False)
    assert res.rejected_frames.tolist() == [30]
    loaded = MotionResult.load(res.save(tmp_path / "m"))
    assert loaded.rejected_frames.tolist() == [30] and loaded.messages == res.messages


def test_piecewise_shifts_of_rejected_frames_follow_their_neighbours(nonrigid_movie):
    movie, truth = nonrigid_movie
    mov = movie[:60].astype(np.float32)
    noise = float(np.std(np.diff(mov, axis=0))) / np.sqrt(2)
    mov[20] = float(np.median(mov)) + np.random.default_rng(2).normal(0.0, noise, truth.shape)
    res = correct(mov, template=truth.mean_image(), pw_rigid=True, compute_metrics=False)
    assert res.rejected_frames.tolist() == [20]
    expected = 0.5 * (res.shifts_pw[19] + res.shifts_pw[21])
    np.testing.assert_allclose(res.shifts_pw[20], expected, atol=1e-9)
