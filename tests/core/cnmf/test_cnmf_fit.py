"""Tests of CNMF source extraction: parameters, initialisation, updates, patches, the
fit, evaluation, ΔF/F, saving and the edge cases (napari_amnesia.core.cnmf).

Ground truth is planted by ``core.simulate`` (somata only, no motion): found
footprints are matched to the true ones one to one (``metrics.match_components``:
Hungarian on the IoU of footprints binarised at 20 % of their maximum) and matched
traces are compared with the true calcium and spikes. The thresholds are the issue's:
F1 >= 0.95, median trace r >= 0.95, median spike r >= 0.9.
"""

from __future__ import annotations

import json
import warnings

import dask.array as da
import numpy as np
import pytest
from scipy import sparse

from napari_amnesia.core import cnmf
from napari_amnesia.core.cnmf import CNMFParams, SourceResult
from napari_amnesia.core.cnmf.initialization import greedy_roi, seed_masks, seeded, sparse_nmf
from napari_amnesia.core.cnmf.patches import patch_grid, patch_task, read_patch
from napari_amnesia.core.cnmf.updates import (
    Deconvolution,
    hals,
    merge_components,
    normalize_components,
    update_spatial,
    update_temporal,
)
from napari_amnesia.core.files import OutputExistsError
from napari_amnesia.core.metrics import match_components
from napari_amnesia.core.progress import Cancelled, Progress, drive
from napari_amnesia.core.simulate import simulate

SHAPE = (96, 96)
T = 600
N_CELLS = 15
FIT = dict(rf=15, stride=10, K=6, gSig=4, p=1, gnb=2, merge_thr=0.85, min_SNR=2.0,
           rval_thr=0.85)


def corr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return np.divide((a * b).sum(1), den, out=np.zeros(len(a)), where=den > 0)


def score(result: SourceResult, truth, *, accepted: bool = True) -> dict:
    idx = np.flatnonzero(result.accepted) if accepted else np.arange(result.K)
    m = match_components(result.footprint_images(idx), truth.footprints)
    fi, ti = m["pairs"].T
    m["trace_r"] = corr_rows(result.traces[idx[fi]], truth.traces[ti])
    m["spike_r"] = corr_rows(result.spikes[idx[fi]], truth.spikes[ti])
    m["true_index"] = ti
    m["found_index"] = idx[fi]
    return m


def assert_accurate(result: SourceResult, truth, *, accepted: bool = True) -> dict:
    m = score(result, truth, accepted=accepted)
    assert m["f1"] >= 0.95, m
    assert np.median(m["trace_r"]) >= 0.95, m["trace_r"]
    assert np.median(m["spike_r"]) >= 0.9, m["spike_r"]
    return m


@pytest.fixture(scope="module")
def sim():
    return simulate(n_frames=T, shape=SHAPE, n_cells=N_CELLS, n_neurite_groups=0,
                    motion=False, rng=1)


@pytest.fixture(scope="module")
def fitted(sim):
    movie, _ = sim
    return cnmf.fit(movie, **FIT)


# --------------------------------------------------------------------------- parameters
def test_params_defaults_roundtrip_and_describe():
    p = CNMFParams(rf=15, stride=10, K=6, gSig=(4, 5))
    assert p.gSig == (4.0, 5.0) and p.cell_box == (9, 11)
    assert CNMFParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    info = CNMFParams.describe()
    assert all(v["help"] for v in info.values())
    assert info["method_init"]["choices"] == ("greedy_roi", "sparse_nmf")
    # gSiz left to None follows gSig through replace()
    assert p.replace(gSig=6).cell_box == (13, 13)


@pytest.mark.parametrize("bad, match", [
    (dict(rf=5, stride=10), "stride"),
    (dict(K=0), "K should be"),
    (dict(gSig=0), "gSig"),
    (dict(gSig=(4, -1)), "gSig"),
    (dict(merge_thr=0.0), "merge_thr"),
    (dict(merge_thr=1.5), "merge_thr"),
    (dict(p=3), "p should be"),
    (dict(method_init="pca"), "method_init"),
    (dict(noise_range=(0.5, 0.25)), "noise_range"),
    (dict(min_SNR=1.0, SNR_lowest=2.0), "SNR_lowest"),
    (dict(min_size=50, max_size=10), "min_size"),
])
def test_params_validation(bad, match):
    with pytest.raises(ValueError, match=match):
        CNMFParams(**bad)


def test_params_unknown_name():
    with pytest.raises(TypeError, match="unknown CNMFParams"):
        CNMFParams().replace(gsig=4)


def test_rf_larger_than_frame_is_refused():
    movie = np.zeros((40, 32, 32), np.float32)
    with pytest.raises(ValueError, match="rf=40"):
        cnmf.fit(movie, rf=40, stride=10)
    with pytest.raises(ValueError, match="gSiz"):
        cnmf.fit(movie, gSig=20)


# --------------------------------------------------------------------------- building blocks
def test_patch_grid_covers_the_frame_with_overlaps():
    grid = patch_grid((96, 70), 15, 10)
    cover = np.zeros((96, 70), int)
    for y0, y1, x0, x1 in grid:
        assert y1 - y0 == 30 and x1 - x0 == 30
        cover[y0:y1, x0:x1] += 1
    assert cover.min() >= 1
    assert patch_grid((96, 70), None, 10) == [(0, 96, 0, 70)]


class RecordingArray:
    """An array-like that records the region of every read."""

    def __init__(self, data):
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.ndim = data.ndim
        self.reads = []

    def __getitem__(self, key):
        out = self.data[key]
        if out.size:  # dask probes with empty slices for the dtype
            self.reads.append(out.shape)
        return out


def test_patch_task_reads_only_its_region(sim):
    movie, _ = sim
    rec = RecordingArray(movie)
    lazy = da.from_array(rec, chunks=(150, *SHAPE), asarray=False)
    bounds = (20, 50, 40, 70)
    Y = read_patch(lazy, bounds)
    assert Y.shape == (T, 30, 30) and Y.dtype == np.float32
    assert rec.reads and all(r[1:] == (30, 30) for r in rec.reads), rec.reads
    np.testing.assert_array_equal(Y, movie[:, 20:50, 40:70])
    rec.reads.clear()
    fit = patch_task(lazy, bounds, CNMFParams(**FIT))
    assert all(r[1:] == (30, 30) for r in rec.reads)
    assert fit.A.shape[0] == 900 and fit.C.shape == (fit.K, T)


def test_greedy_roi_finds_every_cell_and_no_more(sim):
    movie, truth = sim
    init = greedy_roi(movie, K=40, gSig=4, gnb=2)
    d = np.linalg.norm(init.centers[:, None] - truth.centers[None], axis=2)
    assert np.all(d.min(axis=0) < 3)  # every cell seeded
    assert init.K <= N_CELLS + 3  # K larger than the cells: no invented components
    assert init.A.shape == (SHAPE[0] * SHAPE[1], init.K) and init.C.shape == (init.K, T)
    assert init.b.shape[1] == 2 and init.f.shape == (2, T)


def test_sparse_nmf_components_lie_on_cells(sim):
    movie, truth = sim
    init = sparse_nmf(movie, K=20, alpha=0.5, gnb=2, rng=0)
    assert 1 <= init.K <= 20
    A = init.A / np.maximum(np.linalg.norm(init.A, axis=0), 1e-12)
    overlap = truth.footprints.reshape(N_CELLS, -1) @ A  # cosine with true cells
    # the strongest components are cells
    energy = np.linalg.norm(init.C, axis=1)
    top = np.argsort(energy)[::-1][:5]
    assert np.all(overlap[:, top].max(axis=0) > 0.5)


def test_seed_masks_keep_label_order():
    labels = np.zeros((20, 20), int)
    labels[2:5, 2:5] = 12
    labels[10:14, 10:14] = 3
    labels[15:18, 2:6] = 7
    masks, values = seed_masks(labels)
    assert values.tolist() == [3, 7, 12]
    for k, v in enumerate(values):
        np.testing.assert_array_equal(masks[k] > 0, labels == v)
    with pytest.raises(ValueError, match="frame shape"):
        seed_masks(labels, (10, 10))
    with pytest.raises(ValueError, match="label image"):
        seed_masks(np.zeros(5))


def test_hals_reduces_the_residual(sim):
    movie, _ = sim
    Y = movie.reshape(T, -1).astype(np.float32)
    init = greedy_roi(movie, K=20, gSig=4, gnb=2)

    def residual(A, C, b, f):
        return np.linalg.norm(Y - C.T @ A.T - f.T @ b.T)

    before = residual(init.A, init.C, init.b, init.f)
    A, C, b, f = hals(Y, init.A, init.C, init.b, init.f, dims=SHAPE, n_iter=5)
    assert residual(A, C, b, f) < before
    assert np.all(A >= 0) and np.all(C >= 0)


def test_spatial_and_temporal_updates_recover_planted_factors(sim):
    movie, truth = sim
    Y = movie.reshape(T, -1).astype(np.float32)
    K = N_CELLS
    true_A = sparse.csc_matrix(truth.footprints.reshape(K, -1).T)
    from napari_amnesia.core.cnmf.initialization import pixel_noise

    sn = pixel_noise(Y)
    # temporal update from the true footprints and a flat background start
    b0 = np.ones((Y.shape[1], 1), np.float32) * Y.mean(axis=0)[:, None]
    f0 = np.ones((1, T), np.float32)
    A0, _ = normalize_components(true_A, np.zeros((K, T)))
    tr = update_temporal(Y, A0, b0, np.zeros((K, T)), f0, dims=SHAPE,
                         deconvolution=Deconvolution(p=1), ITER=2)
    assert np.median(corr_rows(tr.C, truth.traces)) > 0.95
    assert np.median(corr_rows(tr.S, truth.spikes)) > 0.9
    # spatial update from the recovered traces, starting from shrunken footprints
    start = true_A.copy()
    start.data[start.data < 0.5 * start.max()] = 0
    start.eliminate_zeros()
    A, b, _ = update_spatial(Y, tr.C, tr.f, start, sn, dims=SHAPE, support_dilation=3)
    An, _ = normalize_components(A, np.zeros((K, 1)))
    cos = np.asarray((An.multiply(A0)).sum(axis=0)).ravel()
    assert np.median(cos) > 0.9


def test_merge_components_joins_two_halves_of_a_cell(sim):
    movie, truth = sim
    a = truth.footprints[0].ravel()
    left, right = a.copy(), a.copy()
    cols = np.arange(a.size) % SHAPE[1]
    centre = truth.centers[0, 1]
    left[cols > centre + 1] = 0  # the halves share two columns
    right[cols < centre - 1] = 0
    other = truth.footprints[5].ravel()
    A = sparse.csc_matrix(np.stack([left, right, other], axis=1))
    c = truth.traces[[0, 0, 5]].astype(np.float32)
    rng = np.random.default_rng(0)
    C = c + rng.normal(0, 1, c.shape).astype(np.float32)
    YrA = np.zeros_like(C)
    A2, C2, _, extra, groups = merge_components(A, C, YrA, merge_thr=0.85,
                                                deconvolution=Deconvolution(p=1),
                                                extra={"S": np.zeros_like(C)})
    assert groups == [[0, 1]]
    assert A2.shape[1] == 2 and C2.shape == (2, T) and extra["S"].shape == (2, T)
    merged = A2[:, 1].toarray().ravel()
    both = left + right  # the rank-1 approximation of left c' + right c'
    assert merged @ (both / np.linalg.norm(both)) > 0.99
    assert np.corrcoef(C2[1], truth.traces[0])[0, 1] > 0.95


def test_match_components():
    img = np.zeros((3, 20, 20))
    img[0, 2:6, 2:6] = 1
    img[1, 10:15, 10:15] = 1
    img[2, 2:6, 12:16] = 1
    found = img[[1, 0]].copy()
    found[0] = np.roll(found[0], 1, axis=1)
    m = match_components(found, img)
    assert m["matched"] == 2 and m["pairs"].tolist() == [[0, 1], [1, 0]]
    assert m["precision"] == 1.0 and m["recall"] == pytest.approx(2 / 3)
    assert match_components(np.zeros((0, 20, 20)), np.zeros((0, 20, 20)))["f1"] == 1.0


# --------------------------------------------------------------------------- the fit
def test_fit_with_patches_recovers_the_cells(fitted, sim):
    _, truth = sim
    result = fitted
    assert result.info["n_patches"] == len(patch_grid(SHAPE, 15, 10))
    assert result.footprints.shape == (SHAPE[0] * SHAPE[1], result.K)
    assert sparse.isspmatrix_csc(result.footprints)
    norms = np.sqrt(np.asarray(result.footprints.multiply(result.footprints).sum(0)))
    np.testing.assert_allclose(norms, 1, rtol=1e-5)
    for name in ("traces", "spikes", "residual_traces", "dff"):
        arr = getattr(result, name)
        assert arr.shape == (result.K, T) and np.all(np.isfinite(arr)), name
    assert result.snr.shape == result.r_values.shape == result.accepted.shape == (result.K,)
    assert result.g.shape == (result.K, 1) and np.all((result.g > 0.8) & (result.g < 1))
    b, f = result.background
    assert b.shape == (SHAPE[0] * SHAPE[1], 2) and f.shape == (2, T)
    assert result.sn.shape == SHAPE and np.all(result.sn > 0)
    assert_accurate(result, truth)


def test_fit_whole_frame_recovers_the_cells(sim):
    movie, truth = sim
    result = cnmf.fit(movie, **{**FIT, "rf": None, "K": 30})
    assert result.info["n_patches"] == 1
    assert_accurate(result, truth)


def test_fit_streamed_matches_in_memory(sim, fitted):
    movie, truth = sim
    rec = RecordingArray(movie)
    lazy = da.from_array(rec, chunks=(150, *SHAPE), asarray=False)
    streamed = cnmf.fit(lazy, **FIT, max_in_memory_mb=0, chunk_frames=64, evaluate=False)
    # never the whole movie: bands of rows for the patches, chunks of 64 frames for
    # the whole-field passes
    assert rec.reads
    assert all(r[1] < SHAPE[0] or r[0] <= 64 for r in rec.reads), sorted(set(rec.reads))
    rec.reads.clear()
    streamed = cnmf.evaluate(streamed, lazy)  # reads chunks of the lazy movie
    assert all(r[0] <= 150 for r in rec.reads)
    assert streamed.K == fitted.K
    m = assert_accurate(streamed, truth)
    # same components, same traces up to float rounding of the chunked sums
    np.testing.assert_allclose(streamed.traces, fitted.traces, rtol=1e-2,
                               atol=1e-2 * float(np.abs(fitted.traces).max()))
    assert m["matched"] >= N_CELLS - 1


def test_fit_with_large_K_invents_nothing(sim):
    movie, truth = sim
    result = cnmf.fit(movie, **{**FIT, "K": 25})
    assert result.K <= N_CELLS + 3
    assert_accurate(result, truth)


def test_fit_says_when_K_capped_the_count(sim, fitted):
    movie, _ = sim
    # 15 cells, 16 patches of 30 px: most patches hold more cells than K=1
    with pytest.warns(UserWarning, match="capped") as said:
        capped = cnmf.fit(movie, **{**FIT, "K": 1, "evaluate": False, "compute_dff": False})
    warned = [str(w.message) for w in said if "capped" in str(w.message)]
    assert len(warned) == 1 and warned[0].startswith("K=1 capped the count"), warned
    assert warned[0].endswith("raise 'K'.")
    counted = capped.info["k_capped"]
    assert counted["K"] == 1 and 0 < counted["of"] <= counted["patches"] * 2, counted
    assert cnmf.capped_message(counted, name="--k").endswith("raise --k.")
    # K above the cells of any patch: nothing is said
    assert "k_capped" not in fitted.info
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        cnmf.fit(movie[:300], **{**FIT, "evaluate": False, "compute_dff": False})
    # one patch (rf=None) holding 15 cells with K=5
    with pytest.warns(UserWarning, match="the whole frame found 5 components"):
        whole = cnmf.fit(movie, **{**FIT, "rf": None, "K": 5, "evaluate": False,
                                  "compute_dff": False})
    assert whole.info["k_capped"] == {"K": 5, "patches": 1, "of": 1}


def test_cnmf_command_says_when_K_capped_the_count(tmp_path, capsys):
    from napari_amnesia.cli import main
    from napari_amnesia.core.io import save_movie

    movie, _ = simulate(n_frames=300, shape=(64, 64), n_cells=12, n_neurite_groups=0,
                        motion=False, rng=2)
    save_movie(movie, tmp_path / "m.tif")
    assert main(["-q", "cnmf", str(tmp_path / "m.tif"), "--out", str(tmp_path / "res"),
                 "--rf", "15", "--k", "1", "--no-report"]) == 0
    captured = capsys.readouterr()
    said = [line for line in (captured.out + captured.err).splitlines() if "capped" in line]
    # one line, in the command's words
    assert said == [line for line in said if line.startswith("amnesia: warning: --k 1 "
                                                              "capped the count")], said
    assert len(said) == 1 and said[0].endswith("raise --k."), said


def test_iter_fit_progress_and_cancel(sim):
    movie, _ = sim
    steps = []
    result = drive(cnmf.iter_fit(movie, **FIT), steps.append)
    assert isinstance(result, SourceResult)
    assert all(isinstance(s, Progress) for s in steps)
    messages = {s.message for s in steps}
    assert "fitting patches" in messages and any("whole field" in m for m in messages)
    # closing the generator stops the work
    gen = cnmf.iter_fit(movie, **FIT)
    first = next(gen)
    assert isinstance(first, Progress)
    gen.close()
    with pytest.raises(Cancelled):
        cnmf.fit(movie, **FIT, progress=None) if False else drive(
            cnmf.iter_fit(movie, **FIT), cancel=lambda: True)


def test_fit_rejects_bad_movies():
    with pytest.raises(ValueError, match=r"\(T, Y, X\)"):
        cnmf.fit(np.zeros((64, 64)))
    with pytest.raises(ValueError, match="frames"):
        cnmf.fit(np.zeros((5, 32, 32)))
    with pytest.raises(ValueError, match="real numbers"):
        cnmf.fit(np.zeros((40, 32, 32), complex))


# --------------------------------------------------------------------------- evaluation
def test_evaluate_refilters_without_recomputing(fitted):
    result = fitted
    strict = cnmf.evaluate(result, min_SNR=1e3, rval_thr=1.0, SNR_lowest=0.5)
    assert strict.snr is result.snr or np.array_equal(strict.snr, result.snr)
    np.testing.assert_array_equal(strict.r_values, result.r_values)
    assert strict.accepted.sum() < result.accepted.sum()
    assert strict.params.min_SNR == 1e3 and result.params.min_SNR == 2.0
    loose = cnmf.evaluate(strict, min_SNR=2.0, rval_thr=0.85)
    np.testing.assert_array_equal(loose.accepted, result.accepted)
    with pytest.raises(TypeError, match="unknown threshold"):
        cnmf.evaluate(result, min_snr=2)
    bare = SourceResult(**{**_fields(result), "snr": None, "r_values": None})
    with pytest.raises(ValueError, match="needs the movie"):
        cnmf.evaluate(bare)


def test_evaluate_require_both(fitted):
    # a constructed case: the stored metrics are set, evaluate only re-filters
    K = fitted.K
    snr = np.where(np.arange(K) % 2 == 0, 8.0, 1.5)  # half pass min_SNR=5
    r_values = np.where(np.arange(K) % 3 == 0, 0.2, 0.95)  # two thirds pass rval_thr
    case = SourceResult(**{**_fields(fitted), "snr": snr, "r_values": r_values})
    either = cnmf.evaluate(case, min_SNR=5.0, rval_thr=0.85)
    both = cnmf.evaluate(case, min_SNR=5.0, rval_thr=0.85, require_both=True)
    np.testing.assert_array_equal(either.accepted, (snr >= 5) | (r_values >= 0.85))
    np.testing.assert_array_equal(both.accepted, (snr >= 5) & (r_values >= 0.85))
    assert both.accepted.sum() < either.accepted.sum()
    assert both.params.require_both and not either.params.require_both
    assert both.info["evaluation"]["require_both"] is True
    # CaImAn's rule is the default, and the option reaches the command line
    assert CNMFParams().require_both is False
    import argparse

    from napari_amnesia._fields import add_options, overrides

    parser = argparse.ArgumentParser()
    add_options(parser, CNMFParams)
    assert overrides(parser.parse_args(["--require-both", "true"]), CNMFParams) == {
        "require_both": True}


def _fields(result: SourceResult) -> dict:
    import dataclasses

    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}


def spurious_scene(seed: int):
    """15 planted cells plus five structures that are not cells, in free space.

    Two blobs whose brightness is white noise (3 noise levels), a static bright
    blob (20 noise levels, no transient), a blob drifting slowly (a sine of 5 noise
    levels over the movie) and a thin neurite fragment flickering with white noise.
    Returns the movie, the truth and the centres of the five structures.
    """
    movie, truth = simulate(n_frames=T, shape=SHAPE, n_cells=N_CELLS, n_neurite_groups=0,
                            motion=False, rng=seed)
    movie = movie.astype(np.float32)
    rng = np.random.default_rng(100 + seed)
    taken = truth.footprints.max(axis=0) > 0.02 * truth.footprints.max()
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    noise = float(np.median(np.std(np.diff(movie, axis=0), axis=0))) / np.sqrt(2)

    def free_spot(r: int) -> tuple[int, int]:
        while True:
            cy, cx = (int(v) for v in rng.integers(r + 2, SHAPE[0] - r - 2, 2))
            box = (slice(cy - r - 2, cy + r + 2), slice(cx - r - 2, cx + r + 2))
            if not taken[box].any():
                taken[box] = True
                return cy, cx

    def blob(cy: int, cx: int) -> np.ndarray:
        return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0).astype(np.float32)

    spots = []
    for _ in range(2):
        spots.append(free_spot(5))
        movie += rng.normal(0, 3 * noise, (T, 1, 1)).astype(np.float32) * blob(*spots[-1])
    spots.append(free_spot(5))
    movie += 20 * noise * blob(*spots[-1])
    spots.append(free_spot(5))
    wave = 5 * noise * np.sin(np.linspace(0, 3 * np.pi, T))
    movie += wave[:, None, None].astype(np.float32) * blob(*spots[-1])
    spots.append(free_spot(7))
    cy, cx = spots[-1]
    line = np.zeros(SHAPE, np.float32)
    line[cy, cx - 7:cx + 8] = 1.0
    line[cy + 1, cx - 7:cx + 8] = 0.5
    movie += rng.normal(0, 3 * noise, (T, 1, 1)).astype(np.float32) * line
    return movie, truth, np.array(spots, float)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_evaluation_rejects_spurious_components_and_keeps_the_cells(seed):
    movie, truth, spots = spurious_scene(seed)
    result = cnmf.fit(movie, **{**FIT, "K": 25})
    every = score(result, truth, accepted=False)
    extra = np.setdiff1d(np.arange(result.K), every["found_index"])
    # the fit finds components on the planted structures (not only elsewhere)...
    assert extra.size, "the scene gave no spurious component: the test checks nothing"
    distance = np.linalg.norm(result.centers()[extra][:, None] - spots[None], axis=2)
    assert (distance.min(axis=1) < 3).any(), (result.centers()[extra], spots)
    # ...the evaluation rejects every component that is not a cell, on its metrics
    assert not result.accepted[extra].any(), (result.snr[extra], result.r_values[extra])
    assert np.all(result.snr[extra] < FIT["min_SNR"])
    # ...and keeps the cells
    assert every["recall"] == 1.0
    assert_accurate(result, truth)


def test_dff_and_short_movie(sim):
    movie, _ = sim
    short = movie[:300]
    result = cnmf.fit(short, **FIT)  # frames_window 500 > 300 frames
    assert result.dff.shape == (result.K, 300) and np.all(np.isfinite(result.dff))
    again = cnmf.compute_dff(result, frames_window=100, flag_auto=False)
    assert again.shape == result.dff.shape


# --------------------------------------------------------------------------- saving, labels
def test_save_load_roundtrip(fitted, tmp_path):
    result = fitted
    folder = result.save(tmp_path / "cnmf")
    back = SourceResult.load(folder)
    for name, value in _fields(result).items():
        other = getattr(back, name)
        if sparse.issparse(value):
            assert (value != other).nnz == 0 and value.dtype == other.dtype
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, other)
            assert value.dtype == other.dtype, name
        elif name == "info":
            assert json.dumps(value, sort_keys=True, default=str) == json.dumps(
                other, sort_keys=True, default=str)
        else:
            assert value == other, name
    with pytest.raises(OutputExistsError):
        result.save(folder)
    result.save(folder, overwrite=True)
    with pytest.raises(FileNotFoundError):
        SourceResult.load(tmp_path / "nothing")


def test_labels_and_contours(fitted):
    result = fitted
    lab = result.labels()
    assert lab.shape == SHAPE and lab.dtype == np.int32
    drawn = set(np.unique(lab)) - {0}
    assert drawn <= set(result.label_values[result.accepted].tolist())
    assert len(drawn) >= result.accepted.sum() - 1
    # a pixel goes to the footprint where it is relatively strongest
    images = result.footprint_images()
    k = int(np.flatnonzero(result.accepted)[0])
    peak = np.unravel_index(np.argmax(images[k]), SHAPE)
    assert lab[peak] == result.label_values[k]
    outlines = result.contours()
    assert len(outlines) == result.accepted.sum() and all(o.shape[1] == 2 for o in outlines)
    sub = result.select(result.accepted)
    assert sub.K == result.accepted.sum() and np.all(sub.accepted)


def test_seeded_fit_keeps_labels_and_order(sim):
    movie, truth = sim
    labels_true = truth.labels()
    chosen = [2, 5, 9, 11]
    seeds = np.zeros(SHAPE, np.int32)
    values = [40, 7, 19, 3]  # arbitrary label values
    for c, v in zip(chosen, values, strict=True):
        seeds[labels_true == c + 1] = v
    result = cnmf.fit(movie, seeds=seeds, **FIT)
    assert result.K == 4
    order = np.argsort(values)
    assert result.label_values.tolist() == sorted(values)
    true_idx = np.array(chosen)[order]
    r = corr_rows(result.traces, truth.traces[true_idx])
    assert np.all(r > 0.9), r
    # footprints stay inside the seeds
    for k, v in enumerate(result.label_values):
        img = result.footprint_images([k])[0]
        assert np.all(img[seeds != v] == 0)
    lab = result.labels(accepted_only=False)
    assert set(np.unique(lab)) - {0} <= set(values)
    # a stack of masks works too, label values are 1..K
    stack = np.stack([labels_true == c + 1 for c in chosen])
    res2 = cnmf.fit(movie, seeds=stack, **FIT)
    assert res2.label_values.tolist() == [1, 2, 3, 4]
    assert np.all(corr_rows(res2.traces, truth.traces[chosen]) > 0.9)


def test_seeded_building_block(sim):
    movie, truth = sim
    init = seeded(movie, truth.labels(), gnb=1)
    assert init.K == N_CELLS and init.label_values.tolist() == list(range(1, N_CELLS + 1))
    assert np.median(corr_rows(init.C, truth.traces)) > 0.8


def test_refit_keeps_components(fitted, sim):
    movie, truth = sim
    good = fitted.select(fitted.accepted)
    again = cnmf.refit(good, movie)
    assert again.K == good.K
    np.testing.assert_array_equal(again.label_values, good.label_values)
    assert_accurate(again, truth)


# --------------------------------------------------------------------------- edge cases
def test_nan_pixels_are_filled_with_a_warning(sim, caplog):
    movie, truth = sim
    bad = movie.astype(np.float32)
    bad[:, 10:12, 10:40] = np.nan  # two rows of dead pixels
    bad[::7, 50, 50] = np.nan  # a flickering pixel
    before = bad.copy()
    with pytest.warns(RuntimeWarning, match="NaN") as caught:
        result = cnmf.fit(bad, **FIT)
    # one warning, not a log line as well
    assert sum("NaN" in str(w.message) for w in caught) == 1
    assert not [r for r in caplog.records if "NaN" in r.getMessage()]
    np.testing.assert_array_equal(bad, before)  # the caller's movie is not modified
    assert result.info["nonfinite_pixels"] == 61
    with pytest.warns(RuntimeWarning, match="NaN"):
        whole = cnmf.fit(bad, **{**FIT, "rf": None, "K": 30, "evaluate": False})
    np.testing.assert_array_equal(bad, before)
    assert whole.info["nonfinite_pixels"] == 61 and np.all(np.isfinite(whole.traces))
    for name in ("traces", "spikes", "dff"):
        assert np.all(np.isfinite(getattr(result, name)))
    assert_accurate(result, truth)


def test_constant_region_and_constant_movie(sim):
    movie, truth = sim
    flat = movie.copy()
    flat[:, :40, :40] = 100  # an empty, constant corner: several whole patches
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = cnmf.fit(flat, **FIT)
    centers = result.centers()
    assert not np.any((centers[:, 0] < 30) & (centers[:, 1] < 30))
    assert np.all(np.isfinite(result.traces))
    const = np.full((60, 48, 48), 7, np.uint16)
    empty = cnmf.fit(const, **FIT)
    assert empty.K == 0 and empty.labels().max() == 0


def test_empty_result_saves_and_loads(tmp_path):
    empty = cnmf.fit(np.full((60, 48, 48), 7, np.uint16), **FIT)
    back = SourceResult.load(empty.save(tmp_path / "empty"))
    assert back.K == 0 and back.traces.shape == (0, 60) and back.g.shape == (0, 1)
    assert back.footprint_images().shape == (0, 48, 48)
    assert cnmf.evaluate(back).accepted.shape == (0,)


@pytest.mark.parametrize("options", [
    dict(p=0),
    dict(p=2, gnb=1, ssub=2),
    dict(only_init=False, method_ls="nnls"),
])
def test_fit_options(sim, options):
    movie, truth = sim
    result = cnmf.fit(movie, **{**FIT, **options})
    assert result.g.shape == (result.K, options.get("p", 1))
    assert result.background_footprints.shape[1] == options.get("gnb", 2)
    m = score(result, truth)
    assert m["f1"] >= 0.95, m
    assert np.median(m["trace_r"]) >= 0.95
    if options.get("p", 1):
        assert np.median(m["spike_r"]) >= 0.9


def test_fit_sparse_nmf_initialisation(sim):
    movie, truth = sim
    # unlike the greedy search, NMF splits a cell among the spare components when K
    # exceeds the sources of a patch: K is set near the cells per patch (<= 4 here)
    result = cnmf.fit(movie, **{**FIT, "method_init": "sparse_nmf", "K": 4})
    assert_accurate(result, truth)


def test_fit_without_background_model(sim):
    _, truth = sim
    # gnb=0 is for data without background: footprints x calcium + white noise
    rng = np.random.default_rng(0)
    clean = np.einsum("kyx,kt->tyx", truth.footprints, truth.traces)
    movie = (clean + rng.normal(0, 2.0, clean.shape)).astype(np.float32)
    result = cnmf.fit(movie, **{**FIT, "gnb": 0})
    b, f = result.background
    assert b.shape == (SHAPE[0] * SHAPE[1], 0) and f.shape == (0, T)
    assert np.all(np.isfinite(result.traces))
    assert_accurate(result, truth)


# --------------------------------------------------------------------------- memory
MEMORY_RUNNER = r"""
import json, sys
import numpy as np
from napari_amnesia._memory import peak_mb, reset_peak
from napari_amnesia.core import cnmf
from napari_amnesia.core.io import open_movie

movie = open_movie(sys.argv[1])
settings = dict(rf=15, stride=10, K=6, gSig=4, p=1, gnb=2)
cnmf.fit(np.asarray(movie[:200, :64, :64]), **settings)  # kernels compiled before the window
base = reset_peak()
result = cnmf.fit(movie, **settings)
print(json.dumps({"increase_mb": peak_mb() - base, "K": result.K}))
"""


def _can_measure_peak() -> bool:
    import sys

    from napari_amnesia._memory import can_reset_peak

    return sys.platform.startswith("linux") and can_reset_peak()


@pytest.mark.skipif(not _can_measure_peak(),
                    reason="needs Linux /proc/self/clear_refs to measure peak memory")
def test_fit_holds_no_float32_copy_of_an_integer_movie(tmp_path):
    import subprocess
    import sys

    from napari_amnesia.core.simulate import write_simulated_movie

    n_frames, shape = 6000, (128, 128)
    tif = tmp_path / "movie.tif"
    write_simulated_movie(tif, n_frames=n_frames, shape=shape, n_cells=30,
                          n_neurite_groups=0, motion=False, rng=2)  # uint16
    done = subprocess.run([sys.executable, "-c", MEMORY_RUNNER, str(tif)],
                          capture_output=True, text=True, check=True)
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    assert stats["K"] >= 25
    float32_mb = n_frames * shape[0] * shape[1] * 4 / 2**20  # 375 MB
    # the uint16 movie is held as it is (188 MB) and cast a few frames at a time:
    # the fit's peak stays below one float32 copy of the movie (measured: 298 MB;
    # with a float32 copy, 553 MB)
    assert stats["increase_mb"] < 0.9 * float32_mb, stats
