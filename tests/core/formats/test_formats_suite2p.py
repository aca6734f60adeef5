"""suite2p plane folders: export for suite2p's GUI, import keeping the ROIs' identity."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from exchange_fixtures import iou, masks, planted_result, write_suite2p_plane

from napari_amnesia.core.files import NotOwnedError, OutputExistsError
from napari_amnesia.core.formats.suite2p import (
    find_plane,
    is_suite2p_plane,
    read_suite2p,
    roi_stats,
    write_suite2p,
)

SEEDS = (0, 1, 2)


def _source_masks(stat, shape):
    images = np.zeros((len(stat), *shape), np.float32)
    for k, roi in enumerate(stat):
        images[k, roi["ypix"], roi["xpix"]] = roi["lam"]
    return masks(images)


@pytest.mark.parametrize("seed", SEEDS)
def test_export_is_a_suite2p_plane(tmp_path, seed):
    result, truth = planted_result(seed)
    plane = write_suite2p(result, tmp_path / "suite2p", fs=12.5)
    assert plane == tmp_path / "suite2p" / "plane0"
    K, T = result.K, result.n_frames
    F, Fneu, spks = (np.load(plane / f"{n}.npy") for n in ("F", "Fneu", "spks"))
    assert F.shape == Fneu.shape == spks.shape == (K, T)
    iscell = np.load(plane / "iscell.npy")
    assert iscell.shape == (K, 2)
    np.testing.assert_array_equal(iscell[:, 0].astype(bool), result.accepted)
    stat = np.load(plane / "stat.npy", allow_pickle=True)
    assert len(stat) == K
    for key in ("ypix", "xpix", "lam", "med", "npix", "radius", "compact", "aspect_ratio",
                "npix_norm", "overlap", "skew", "std", "snr", "soma_crop"):
        assert key in stat[0], key
    ops = np.load(plane / "ops.npy", allow_pickle=True).item()
    assert (ops["Ly"], ops["Lx"]) == result.shape and ops["fs"] == 12.5
    for key in ("meanImg", "meanImgE", "max_proj", "Vcorr"):
        assert ops[key].shape == result.shape, key
    # the masks are the footprints' (every pixel above 20% of the peak kept)
    assert iou(_source_masks(stat, result.shape),
               masks(result.footprint_images())).min() >= 0.99
    # F is suite2p's: the lam-weighted mean of the ROI's pixels, here of the movie of
    # its own component (CNMF's raw traces are demixed from the other components)
    images = result.footprint_images()
    for k, roi in enumerate(stat):
        w = roi["lam"] / roi["lam"].sum()
        own = np.einsum("yx,t->tyx", images[k], result.raw_traces[k])
        np.testing.assert_allclose(F[k], own[:, roi["ypix"], roi["xpix"]] @ w,
                                   rtol=1e-4, atol=1e-4)
    # a CNMF result's traces are demixed from the background already: no neuropil
    assert not Fneu.any()
    # the planted spikes are carried over (in F's units: a ROI's spikes explain its F)
    r = [np.corrcoef(spks[k], truth.spikes[k])[0, 1] for k in range(K)
         if truth.spikes[k].any()]
    assert min(r) > 0.999


@pytest.mark.parametrize("seed", SEEDS)
def test_round_trip_keeps_identity(tmp_path, seed):
    result, _ = planted_result(seed)
    write_suite2p(result, tmp_path / "s2p")
    back = read_suite2p(tmp_path / "s2p")
    assert back.K == result.K and back.shape == result.shape
    assert iou(masks(back.footprint_images()), masks(result.footprint_images())).min() >= 0.9
    np.testing.assert_allclose(back.raw_traces, result.raw_traces, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(back.spikes, result.spikes, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(back.accepted, result.accepted)
    np.testing.assert_array_equal(back.label_values, result.label_values)
    np.testing.assert_allclose(back.snr, result.snr)
    np.testing.assert_allclose(back.r_values, result.r_values)
    assert back.provenance["imported_from"]["format"] == "suite2p"
    assert back.provenance["imported_from"]["path"] == str(tmp_path / "s2p" / "plane0")


@pytest.mark.parametrize("seed", SEEDS)
def test_import_of_a_plane_written_as_suite2p_does(tmp_path, seed):
    plane = tmp_path / "suite2p" / "plane0"
    src = write_suite2p_plane(plane, seed)
    truth = src["truth"]
    result = read_suite2p(tmp_path / "suite2p")  # the suite2p folder of one plane
    K = len(src["stat"])
    assert result.K == K and result.shape == truth.footprints.shape[1:]
    assert iou(masks(result.footprint_images()), masks(src["images"])).min() >= 0.9
    # and the ROIs are the planted cells
    assert iou(masks(result.footprint_images()), masks(truth.footprints)).min() >= 0.9
    # F = lam-weighted mean of the ROI: raw traces are F in footprint units (x sum(a)),
    # traces the neuropil-corrected F less its baseline
    scale = np.asarray(result.footprints.sum(axis=0)).ravel()[:, None]
    np.testing.assert_allclose(result.raw_traces / scale, src["F"], rtol=1e-5, atol=1e-3)
    corrected = src["F"] - 0.7 * src["Fneu"]
    np.testing.assert_allclose(result.traces / scale,
                               corrected - np.percentile(corrected, 8, axis=1)[:, None],
                               rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(result.spikes / scale, src["spks"], rtol=1e-5, atol=1e-6)
    # for a ROI holding its whole cell, the neuropil-corrected raw trace is the planted
    # calcium (plus baseline) of the cell, in the movie's units
    whole = [k for k in range(K) if not any(
        np.logical_and(masks(truth.footprints)[k], masks(truth.footprints)[j]).any()
        for j in range(K) if j != k)]
    assert whole
    for k in whole:
        neuropil_free = (result.traces[k] + result.baseline[k])
        planted = truth.traces[k] + truth.baseline[k]
        np.testing.assert_allclose(neuropil_free, planted, rtol=0.1,
                                   atol=0.1 * planted.max())
    np.testing.assert_array_equal(result.accepted, src["iscell"][:, 0] > 0.5)
    np.testing.assert_allclose(result.info["cell_probability"], src["iscell"][:, 1])
    np.testing.assert_allclose(result.mean_image, src["mean"])
    assert result.params.fr == 15.0 and result.params.decay_time == 1.25
    origin = result.provenance["imported_from"]
    assert origin["format"] == "suite2p" and origin["path"] == str(plane)
    assert {"stat.npy", "F.npy", "Fneu.npy", "spks.npy", "iscell.npy", "ops.npy"} <= set(
        origin["files"])
    assert origin["suite2p_version"] == "0.14.4"
    # exported again, suite2p gets its own F, Fneu and spks back
    again = write_suite2p(result, tmp_path / "again")
    for name in ("F", "Fneu", "spks"):
        np.testing.assert_allclose(np.load(again / f"{name}.npy"), src[name], rtol=1e-4,
                                   atol=1e-3, err_msg=name)


def test_import_of_suite2p_1_layout(tmp_path):
    """suite2p >= 1.0 splits ops.npy into settings/db/reg_outputs: read those."""
    src = write_suite2p_plane(tmp_path / "plane0", 3, ops_layout="split")
    result = read_suite2p(tmp_path / "plane0" / "stat.npy")
    assert result.K == len(src["stat"]) and result.shape == src["mean"].shape
    assert result.params.fr == 15.0
    assert "settings.npy" in result.provenance["imported_from"]["files"]


def test_find_plane_says_what_is_missing(tmp_path):
    write_suite2p_plane(tmp_path / "plane0", 0)
    (tmp_path / "plane0" / "Fneu.npy").unlink()
    with pytest.raises(FileNotFoundError, match="Fneu.npy is missing"):
        find_plane(tmp_path / "plane0")
    assert not is_suite2p_plane(tmp_path / "plane0")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="stat.npy, F.npy, Fneu.npy, spks.npy are"):
        find_plane(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_plane(tmp_path / "nowhere")


def test_several_planes_are_named(tmp_path):
    for name in ("plane0", "plane1"):
        write_suite2p_plane(tmp_path / "suite2p" / name, 0)
    with pytest.raises(FileNotFoundError, match="several suite2p planes.*plane1"):
        read_suite2p(tmp_path / "suite2p")
    assert read_suite2p(tmp_path / "suite2p" / "plane1").K > 0


def test_files_that_disagree_are_refused(tmp_path):
    plane = tmp_path / "plane0"
    src = write_suite2p_plane(plane, 0)
    np.save(plane / "spks.npy", src["spks"][:, :-1])
    with pytest.raises(ValueError, match=r"spks.npy should be \(\d+, 120\)"):
        read_suite2p(plane)
    np.save(plane / "spks.npy", src["spks"])
    np.save(plane / "F.npy", src["F"][:-1])
    with pytest.raises(ValueError, match="F.npy should be .*one row per ROI"):
        read_suite2p(plane)
    np.save(plane / "F.npy", src["F"])
    stat = list(src["stat"])
    stat[2] = dict(stat[2], ypix=stat[2]["ypix"] + 100)
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="ROI 2 has pixels outside the 40x56 frame"):
        read_suite2p(plane)


def test_a_movie_of_another_size_is_refused(tmp_path):
    src = write_suite2p_plane(tmp_path / "plane0", 0)
    movie = src["movie"]
    assert read_suite2p(tmp_path / "plane0", movie=movie).provenance["movie"]["shape"] == \
        list(movie.shape)
    with pytest.raises(ValueError, match="not of the same recording"):
        read_suite2p(tmp_path / "plane0", movie=movie[:, :, :-4])
    with pytest.raises(ValueError, match="120 frames.*100 frames"):
        read_suite2p(tmp_path / "plane0", movie=movie[:100])


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch BOOM",))


def test_pickled_code_in_stat_is_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = write_suite2p_plane(tmp_path / "plane0", 0)
    stat = list(src["stat"])
    stat[0] = dict(stat[0], evil=_Boom())
    np.save(tmp_path / "plane0" / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    result = read_suite2p(tmp_path / "plane0")
    assert result.K == len(stat)
    assert not (tmp_path / "BOOM").exists()
    # a stat.npy that is one pickled call, not a list of ROIs
    with open(tmp_path / "plane0" / "stat.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "|O", "fortran_order": False, "shape": ()})
        pickle.dump(_Boom(), fh)
    with pytest.raises(ValueError, match="one dictionary per ROI"):
        read_suite2p(tmp_path / "plane0")
    assert not (tmp_path / "BOOM").exists()


def test_existing_outputs(tmp_path):
    result, _ = planted_result(0)
    write_suite2p(result, tmp_path / "s2p")
    with pytest.raises(OutputExistsError):
        write_suite2p(result, tmp_path / "s2p")
    sub = result.select(np.arange(3))
    write_suite2p(sub, tmp_path / "s2p", overwrite=True)
    assert len(np.load(tmp_path / "s2p" / "plane0" / "F.npy")) == 3
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(NotOwnedError):
        write_suite2p(result, tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_roi_stats_of_a_disk():
    yy, xx = np.mgrid[:31, :31]
    disk = ((yy - 15) ** 2 + (xx - 15) ** 2 <= 36).astype(np.float32)
    long = np.zeros((31, 31), np.float32)
    long[14:17, 2:29] = 1
    from scipy import sparse

    A = sparse.csc_matrix(np.stack([disk.ravel(), long.ravel()], axis=1))
    disk_stat, long_stat = roi_stats(A, (31, 31))
    assert disk_stat["med"] == [15, 15] and disk_stat["npix"] == int(disk.sum())
    assert disk_stat["compact"] == pytest.approx(1.0, abs=0.02)
    assert long_stat["compact"] > 1.5
    assert disk_stat["aspect_ratio"] == pytest.approx(1.0, abs=0.02)
    assert long_stat["aspect_ratio"] > 1.8
    # radius: twice the standard deviation along the major axis (disk of radius 6: 6)
    assert disk_stat["radius"] == pytest.approx(6.0, rel=0.05)
    shared = int((disk * long).sum())
    assert shared and disk_stat["overlap"].sum() == long_stat["overlap"].sum() == shared


def test_a_result_without_rois(tmp_path):
    result, _ = planted_result(0)
    empty = result.select(np.zeros(result.K, bool))
    plane = write_suite2p(empty, tmp_path / "s2p")
    assert np.load(plane / "F.npy").shape == (0, result.n_frames)
    back = read_suite2p(plane)
    assert back.K == 0 and back.n_frames == result.n_frames and back.shape == result.shape


def test_iscell_probability_of_unscored_rois_is_their_flag(tmp_path):
    """Silent cells proposed from the mean image have no classifier probability (None):
    iscell's second column then holds their accepted flag, never NaN."""
    from dataclasses import replace

    result, _ = planted_result(SEEDS[0])
    prob = [0.9] * (result.K - 1) + [None]
    result = replace(result, info={**result.info, "cell_probability": prob})
    plane = write_suite2p(result, tmp_path / "s2p")
    iscell = np.load(plane / "iscell.npy")
    assert np.all(np.isfinite(iscell))
    assert iscell[-1, 1] == float(result.accepted[-1])
    np.testing.assert_allclose(iscell[:-1, 1], 0.9)
