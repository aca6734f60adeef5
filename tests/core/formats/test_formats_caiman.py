"""CaImAn HDF5 results read as a CNMF result: same components, masks, traces, decisions."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from exchange_fixtures import iou, masks, write_caiman_file

from napari_amnesia.core.formats.caiman import is_caiman_file, read_caiman

SEEDS = (0, 1, 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_import_keeps_identity(tmp_path, seed):
    path = tmp_path / "analysis_results.hdf5"
    src = write_caiman_file(path, seed)
    truth = src["truth"]
    assert is_caiman_file(path)
    result = read_caiman(path)
    K, Y, X = src["dense"].shape
    assert result.K == K and result.shape == (Y, X) and result.n_frames == src["C"].shape[1]
    # masks equal to CaImAn's footprints, read in Fortran pixel order, and the planted cells
    images = result.footprint_images()
    assert iou(masks(images), masks(src["dense"])).min() >= 0.9
    assert iou(masks(images), masks(truth.footprints)).min() >= 0.9
    # footprints of unit norm, traces scaled by the norm: A·C and the planted calcium kept
    norms = np.sqrt((src["dense"] ** 2).sum(axis=(1, 2)))
    np.testing.assert_allclose(np.sqrt((images ** 2).sum(axis=(1, 2))), 1.0, rtol=1e-5)
    np.testing.assert_allclose(result.traces, src["C"] * norms[:, None], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result.traces, truth.traces, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(result.spikes, truth.spikes, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(result.residual_traces, src["YrA"] * norms[:, None],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result.baseline, src["bl"] * norms, rtol=1e-6)
    accepted = np.zeros(K, bool)
    accepted[src["idx"]] = True
    np.testing.assert_array_equal(result.accepted, accepted)
    np.testing.assert_allclose(result.snr, src["SNR_comp"])
    np.testing.assert_allclose(result.r_values, src["r_values"])
    np.testing.assert_allclose(result.dff, src["F_dff"], rtol=1e-6)
    np.testing.assert_allclose(result.info["cnn_preds"], src["cnn_preds"])
    # the background, also in C pixel order
    b = result.background_footprints[:, 0].reshape(Y, X)
    np.testing.assert_allclose(b, src["b"][:, 0].reshape((Y, X), order="F"), rtol=1e-6)
    np.testing.assert_allclose(result.background_traces, src["f"], rtol=1e-6)
    # the parameters that mean the same here
    p = result.params
    assert (p.fr, p.decay_time, p.gSig, p.K, p.gnb, p.merge_thr, p.min_SNR) == (
        15.0, 0.6, (3.0, 3.0), 4, 1, 0.8, 2.0)
    assert p.rf is None and p.stride == 6
    origin = result.provenance["imported_from"]
    assert origin["format"] == "caiman" and origin["path"] == str(path)
    assert origin["files"]["analysis_results.hdf5"]["size"] == path.stat().st_size
    assert origin["footprints_rescaled_to_unit_norm"]
    assert result.provenance["input_shape"] == [result.n_frames, Y, X]


def test_none_and_old_text_layout(tmp_path):
    """None written as CaImAn writes it; text as datasets (CaImAn before 1.9.9)."""
    path = tmp_path / "old.hdf5"
    src = write_caiman_file(path, 0, strings_as_attributes=False,
                            none=("S", "idx_components", "F_dff", "SNR_comp", "r_values",
                                  "b", "f", "bl"))
    result = read_caiman(path)
    assert result.K == len(src["dense"])
    assert result.accepted.all()  # not evaluated: every component stays
    assert not result.spikes.any() and result.dff is None and result.snr is None
    assert result.background_footprints.shape[1] == 0


def test_cnmf_e_ring_background_is_said_left_out(tmp_path):
    path = tmp_path / "cnmfe.hdf5"
    write_caiman_file(path, 1)
    with h5py.File(path, "r+") as fh:
        del fh["estimates/b0"]
        fh["estimates/b0"] = np.ones(src_pixels(fh))
    result = read_caiman(path)
    assert result.provenance["imported_from"]["ring_background_left_out"]


def src_pixels(fh) -> int:
    return int(np.prod(fh["dims"][()]))


def test_not_caiman_files(tmp_path):
    text = tmp_path / "notes.hdf5"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        read_caiman(text)
    other = tmp_path / "other.hdf5"
    with h5py.File(other, "w") as fh:
        fh["data"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a CaImAn result .no estimates/A"):
        read_caiman(other)
    assert not is_caiman_file(other) and not is_caiman_file(text)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_caiman(tmp_path / "missing.hdf5")


def test_arrays_that_disagree(tmp_path):
    path = tmp_path / "bad.hdf5"
    src = write_caiman_file(path, 2)
    K, Y, X = src["dense"].shape
    with h5py.File(path, "r+") as fh:
        del fh["estimates/dims"], fh["dims"]
        fh["estimates/dims"] = np.array([Y, X + 1])
    with pytest.raises(ValueError, match=f"estimates/A has {Y * X} pixels, the frames "
                                         f"{Y}x{X + 1}"):
        read_caiman(path)
    with h5py.File(path, "r+") as fh:
        del fh["estimates/dims"]
        fh["estimates/dims"] = np.array([Y, X])
        C = fh["estimates/C"][()]
        del fh["estimates/C"]
        fh["estimates/C"] = C[:-1]
    with pytest.raises(ValueError, match=rf"estimates/C should be \({K}, frames\)"):
        read_caiman(path)
    with h5py.File(path, "r+") as fh:
        del fh["estimates/C"]
        fh["estimates/C"] = C
        del fh["estimates/dims"]
        fh["estimates/dims"] = np.array([Y, X, 3])
    with pytest.raises(ValueError, match="only 2-D"):
        read_caiman(path)


def test_a_movie_of_another_size_is_refused(tmp_path):
    path = tmp_path / "r.hdf5"
    src = write_caiman_file(path, 0)
    T = src["C"].shape[1]
    Y, X = src["dense"].shape[1:]
    ok = read_caiman(path, movie=np.zeros((T, Y, X), np.float32))
    assert ok.provenance["movie"]["shape"] == [T, Y, X]
    with pytest.raises(ValueError, match=f"{T} frames of {Y}x{X} pixels, the movie {T} "
                                         f"frames of {X}x{Y}"):
        read_caiman(path, movie=np.zeros((T, X, Y), np.float32))
