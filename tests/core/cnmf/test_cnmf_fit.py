"""End-to-end CNMF fits (napari_amnesia.core.cnmf: fit, iter_fit, refit): the cells are
recovered with patches or the whole frame, streamed or in memory, seeded, with each
option, and on awkward movies (NaN pixels, constant regions); memory use.

The planted scene and the thresholds are those of ``cnmf_data``.
"""

from __future__ import annotations

import json
import warnings

import dask.array as da
import numpy as np
import pytest
from cnmf_data import FIT, N_CELLS, SHAPE, RecordingArray, T, assert_accurate, corr_rows, score
from scipy import sparse

from napari_amnesia.core import cnmf
from napari_amnesia.core.cnmf import SourceResult
from napari_amnesia.core.cnmf.patches import patch_grid
from napari_amnesia.core.progress import Cancelled, Progress, drive
from napari_amnesia.core.simulate import simulate


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
