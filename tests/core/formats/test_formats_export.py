"""core.formats: one export() for every format, import_results() for suite2p and CaImAn."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from exchange_fixtures import iou, masks, planted_result, write_caiman_file, write_suite2p_plane

from napari_amnesia.core import curation
from napari_amnesia.core.cnmf import SourceResult
from napari_amnesia.core.cnmf.export import read_imagej_rois
from napari_amnesia.core.files import NotOwnedError, OutputExistsError
from napari_amnesia.core.formats import (
    FORMATS,
    detect,
    export,
    import_results,
    read_results,
)
from napari_amnesia.core.formats.results import load_result, results_folder, summary_images


def test_every_format_from_one_result(tmp_path):
    result, _ = planted_result(0)
    chosen = np.flatnonzero(result.accepted)
    steps = []
    out = export(result, "labels", tmp_path / "rois.tif", progress=steps.append)
    assert steps and steps[-1].done == steps[-1].total
    labels = tifffile.imread(out)
    np.testing.assert_array_equal(labels, result.labels(0.2))
    with tifffile.TiffFile(out) as tif:  # napari-amnesia's reader opens it as Labels
        assert tif.shaped_metadata[0]["napari_amnesia"]["layer_type"] == "labels"
    # ImageJ outlines land on the same pixels (up to the outline's rasterisation)
    zipped = export(result, "imagej", tmp_path / "rois.zip")
    drawn, names = read_imagej_rois(zipped, result.shape)
    assert names == [f"roi_{v}" for v in result.label_values[chosen]]
    mine = np.stack([labels == v for v in result.label_values[chosen]])
    theirs = np.stack([drawn == i + 1 for i in range(len(chosen))])
    assert iou(mine, theirs).min() >= 0.7
    folder = export(result, "csv", tmp_path / "csv", accepted_only=False)
    rows = (folder / "components.csv").read_text().splitlines()
    assert len(rows) == result.K + 1 and (folder / "spikes.csv").is_file()
    plane = export(result, "suite2p", tmp_path / "suite2p")
    assert (plane / "stat.npy").is_file() and plane.name == "plane0"
    assert set(FORMATS) == {"nwb", "suite2p", "imagej", "csv", "labels"}


def test_bad_format_option_and_names(tmp_path):
    result, _ = planted_result(0)
    with pytest.raises(ValueError, match="format should be one of nwb, suite2p"):
        export(result, "matlab", tmp_path / "x")
    with pytest.raises(ValueError, match="the suite2p export takes no option threshold"):
        export(result, "suite2p", tmp_path / "x", threshold=0.3)
    with pytest.raises(ValueError, match="a labels image is a .tif file"):
        export(result, "labels", tmp_path / "labels.png")
    with pytest.raises(ValueError, match="is a .zip file"):
        export(result, "imagej", tmp_path / "rois.roi")
    with pytest.raises(FileNotFoundError, match="holds no CNMF result"):
        export(tmp_path, "csv", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_outputs_that_exist(tmp_path):
    result, _ = planted_result(1)
    export(result, "labels", tmp_path / "a.tif")
    with pytest.raises(OutputExistsError):
        export(result, "labels", tmp_path / "a.tif")
    export(result.select([0]), "labels", tmp_path / "a.tif", overwrite=True,
           accepted_only=False)
    assert set(np.unique(tifffile.imread(tmp_path / "a.tif"))) == {0, 3}
    tifffile.imwrite(tmp_path / "user.tif", np.zeros((2, 2), np.uint8))
    with pytest.raises(NotOwnedError):
        export(result, "labels", tmp_path / "user.tif", overwrite=True)


def test_results_folders_of_every_kind(tmp_path):
    result, _ = planted_result(2)
    (tmp_path / "run" / "cnmf").mkdir(parents=True)
    result.save(tmp_path / "run" / "cnmf" / "result")
    (tmp_path / "run" / "summary").mkdir()
    tifffile.imwrite(tmp_path / "run" / "summary" / "correlation.tif",
                     np.full(result.shape, 0.5, np.float32))
    assert results_folder(tmp_path / "run") == (tmp_path / "run/cnmf/result", "pipeline")
    assert load_result(tmp_path / "run").K == result.K
    assert set(summary_images(tmp_path / "run")) == {"corr"}
    plane = export(tmp_path / "run", "suite2p", tmp_path / "s2p")
    ops = np.load(plane / "ops.npy", allow_pickle=True).item()
    assert np.all(ops["Vcorr"] == 0.5)  # the summary's correlation image
    # a saved curation exports its curated decisions
    labels = result.labels(0.2, accepted_only=False)
    table = curation.table_from_result(result, labels, original=labels)
    first = int(result.label_values[0])
    table = curation.set_decision(table, [first], False)
    table = curation.set_decision(table, [int(v) for v in result.label_values[1:]], True)
    curation.save_curation(tmp_path / "cur", labels, table, result=result, original=labels,
                           extracted=labels)
    assert results_folder(tmp_path / "cur")[1] == "curation"
    curated = load_result(tmp_path / "cur")
    assert not curated.accepted[0] and curated.accepted[1:].all()
    exported = tifffile.imread(export(tmp_path / "cur", "labels", tmp_path / "cur.tif"))
    assert first not in exported and set(np.unique(exported)) - {0} == set(
        result.label_values[1:].tolist())
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_result(tmp_path / "nowhere")


@pytest.mark.parametrize("kind", ["suite2p", "caiman"])
def test_import_results_saves_a_cnmf_result(tmp_path, kind):
    if kind == "suite2p":
        write_suite2p_plane(tmp_path / "suite2p" / "plane0", 4)
        src = tmp_path / "suite2p" / "plane0"
    else:
        src = tmp_path / "results.hdf5"
        write_caiman_file(src, 4)
    assert detect(src) == kind and detect(tmp_path / "nowhere") is None
    direct = read_results(src)
    out = import_results(src, tmp_path / "imported")
    back = SourceResult.load(out)
    assert back.K == direct.K
    assert iou(masks(back.footprint_images()), masks(direct.footprint_images())).min() == 1
    np.testing.assert_array_equal(back.traces, direct.traces)
    np.testing.assert_array_equal(back.spikes, direct.spikes)
    np.testing.assert_array_equal(back.accepted, direct.accepted)
    meta = json.loads((out / "result.json").read_text())
    assert meta["provenance"]["imported_from"]["format"] == kind
    # and it exports like a fitted result
    assert export(out, "labels", tmp_path / "labels.tif").is_file()
    with pytest.raises(OutputExistsError):
        import_results(src, tmp_path / "imported")
    import_results(src, tmp_path / "imported", overwrite=True)


def test_import_never_writes_over_its_source(tmp_path):
    write_suite2p_plane(tmp_path / "plane0", 0)
    before = sorted(p.name for p in (tmp_path / "plane0").iterdir())
    with pytest.raises(NotOwnedError):
        import_results(tmp_path / "plane0", tmp_path / "plane0", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "plane0").iterdir()) == before
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="neither a suite2p plane folder nor a CaImAn"):
        read_results(tmp_path / "notes.txt")
