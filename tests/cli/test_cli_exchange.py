"""``amnesia import`` and ``amnesia export``: other tools' results in, every format out."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from cli_data import _one_error

from napari_amnesia.cli import main
from napari_amnesia.core.cnmf import SourceResult

sys.path.insert(0, str(Path(__file__).parents[1] / "core" / "formats"))
from exchange_fixtures import write_caiman_file, write_suite2p_plane  # noqa: E402


def test_import_suite2p_then_export_every_format(tmp_path, capsys):
    src = write_suite2p_plane(tmp_path / "rec" / "suite2p" / "plane0", 0)
    out = tmp_path / "imported"
    assert main(["-q", "import", str(tmp_path / "rec" / "suite2p"), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    K = len(src["stat"])
    accepted = int((src["iscell"][:, 0] > 0.5).sum())
    assert f"{K} ROIs ({accepted} accepted) x 120 frames of 40x56" in said
    result = SourceResult.load(out)
    assert result.K == K
    assert main(["-q", "export", str(out), "--format", "labels", "--out",
                 str(tmp_path / "rois.tif")]) == 0
    labels = tifffile.imread(tmp_path / "rois.tif")
    assert len(np.unique(labels)) - 1 == accepted
    assert main(["-q", "export", str(out), "--format", "labels", "--all", "--out",
                 str(tmp_path / "all.tif")]) == 0
    assert len(np.unique(tifffile.imread(tmp_path / "all.tif"))) - 1 == K
    assert main(["-q", "export", str(out), "--format", "imagej", "--out",
                 str(tmp_path / "rois.zip")]) == 0
    assert main(["-q", "export", str(out), "--format", "csv", "--out",
                 str(tmp_path / "tables")]) == 0
    assert (tmp_path / "tables" / "components.csv").is_file()
    assert main(["-q", "export", str(out), "--format", "suite2p", "--fs", "15", "--out",
                 str(tmp_path / "again")]) == 0
    F = np.load(tmp_path / "again" / "plane0" / "F.npy")
    np.testing.assert_allclose(F, src["F"], rtol=1e-4, atol=1e-3)
    assert "exported as suite2p" in capsys.readouterr().out


def test_import_caiman_with_its_movie(tmp_path, capsys):
    src = write_caiman_file(tmp_path / "cnm.hdf5", 1)
    K, Y, X = src["dense"].shape
    T = src["C"].shape[1]
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.zeros((T, Y, X), np.uint16))
    out = tmp_path / "imported"
    assert main(["-q", "import", str(tmp_path / "cnm.hdf5"), "--out", str(out), "--movie",
                 str(movie)]) == 0
    assert f"caiman {tmp_path / 'cnm.hdf5'}: {K} ROIs ({len(src['idx'])} accepted)" in \
        capsys.readouterr().out
    result = SourceResult.load(out)
    assert result.provenance["movie"]["path"] == str(movie)
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, np.zeros((T, Y + 2, X), np.uint16))
    assert main(["-q", "import", str(tmp_path / "cnm.hdf5"), "--out",
                 str(tmp_path / "x"), "--movie", str(other)]) == 1
    assert "not of the same recording" in _one_error(capsys)


def test_bad_sources_get_one_line(tmp_path, capsys):
    write_suite2p_plane(tmp_path / "plane0", 0)
    (tmp_path / "plane0" / "spks.npy").unlink()
    assert main(["-q", "import", str(tmp_path / "plane0"), "--out", str(tmp_path / "a")]) == 1
    assert "spks.npy is missing" in _one_error(capsys)
    (tmp_path / "notes.hdf5").write_text("hello")
    assert main(["-q", "import", str(tmp_path / "notes.hdf5"), "--out",
                 str(tmp_path / "a")]) == 1
    assert "not an HDF5 file" in _one_error(capsys)
    assert main(["-q", "import", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a")]) == 1
    assert "does not exist" in _one_error(capsys)
    assert main(["-q", "export", str(tmp_path / "plane0"), "--format", "csv", "--out",
                 str(tmp_path / "b")]) == 1
    assert "holds no CNMF result" in _one_error(capsys)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_existing_outputs_need_overwrite(tmp_path, capsys):
    write_suite2p_plane(tmp_path / "plane0", 2)
    out = tmp_path / "imported"
    assert main(["-q", "import", str(tmp_path / "plane0"), "--out", str(out)]) == 0
    assert main(["-q", "import", str(tmp_path / "plane0"), "--out", str(out)]) == 1
    assert "--overwrite" in _one_error(capsys)
    assert main(["-q", "import", str(tmp_path / "plane0"), "--out", str(out),
                 "--overwrite"]) == 0
    assert main(["-q", "export", str(out), "--format", "suite2p", "--out",
                 str(tmp_path / "plane0"), "--overwrite"]) == 1
    assert "not written by napari-amnesia" in _one_error(capsys)


def test_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--format", "csv", "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2 and "RESULTS" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(tmp_path), "--format", "csv", "--out", str(tmp_path / "x"),
              "--metadata", "m.yaml"])
    assert exit_.value.code == 2 and "only go with --format nwb" in capsys.readouterr().err
    assert main(["-q", "export", str(tmp_path), "--format", "nwb", "--out",
                 str(tmp_path / "x.nwb")]) == 1
    assert "--metadata-template" in _one_error(capsys)


def test_metadata_template(tmp_path, capsys):
    pytest.importorskip("napari_amnesia.core.formats.nwb_metadata")
    import yaml

    assert main(["-q", "export", "--metadata-template"]) == 0
    printed = capsys.readouterr().out
    assert isinstance(yaml.safe_load(printed), dict)
    out = tmp_path / "session.yaml"
    assert main(["-q", "export", "--metadata-template", "--out", str(out)]) == 0
    assert out.read_text() == printed
    assert main(["-q", "export", "--metadata-template", "--out", str(out)]) == 1
    assert "--overwrite" in _one_error(capsys)


METADATA = """\
session: {description: imported suite2p plane, start_time: "2026-01-31T14:05:00+01:00"}
subject: {subject_id: m1, species: Mus musculus, sex: U, age: P90D}
device: {name: Microscope}
imaging: {technique: two-photon, rate: 15.0, indicator: GCaMP6f, location: VISp,
          excitation_lambda: 920, emission_lambda: 510}
"""


def test_imported_suite2p_exports_to_nwb(tmp_path, capsys):
    pytest.importorskip("pynwb")
    pytest.importorskip("napari_amnesia.core.formats.nwb")
    from pynwb import NWBHDF5IO

    src = write_suite2p_plane(tmp_path / "plane0", 1)
    out = tmp_path / "imported"
    assert main(["-q", "import", str(tmp_path / "plane0"), "--out", str(out)]) == 0
    (tmp_path / "session.yaml").write_text(METADATA)
    assert main(["-q", "export", str(out), "--format", "nwb", "--metadata",
                 str(tmp_path / "session.yaml"), "--out", str(tmp_path / "rec.nwb")]) == 0
    result = SourceResult.load(out)
    with NWBHDF5IO(str(tmp_path / "rec.nwb"), "r") as io:
        ophys = io.read().processing["ophys"]
        rois = ophys["ImageSegmentation"]["PlaneSegmentation"]
        assert len(rois.id) == len(src["stat"])
        np.testing.assert_array_equal(rois["accepted"].data[:], src["iscell"][:, 0] > 0.5)
        raw = ophys["Fluorescence"]["RoiResponseSeries"].data[:]
        np.testing.assert_allclose(raw.T, result.raw_traces, rtol=1e-6)
