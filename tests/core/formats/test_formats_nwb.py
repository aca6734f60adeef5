"""NWB export: read back with pynwb and compared with the result, nwbinspector-clean.

One small planted recording (non-square frames, so that a swapped axis shows) goes
through motion correction, summary images, CNMF, the skeleton and the clustering;
its results folder is exported and every array read back from the NWB file is
compared with the package's own result (bit for bit: the export adds no rounding).
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import sys

import numpy as np
import pytest
import yaml

pynwb = pytest.importorskip("pynwb")

from napari_amnesia.core.activity import ActivityResult  # noqa: E402
from napari_amnesia.core.cnmf import CNMFParams, SourceResult  # noqa: E402
from napari_amnesia.core.files import NotOwnedError, OutputExistsError  # noqa: E402
from napari_amnesia.core.formats.nwb import (  # noqa: E402
    MetadataError,
    iter_write_nwb,
    metadata_template,
    read_metadata,
    write_nwb,
)
from napari_amnesia.core.io import open_movie, save_movie  # noqa: E402
from napari_amnesia.core.motion import MotionResult  # noqa: E402
from napari_amnesia.core.pipeline import run  # noqa: E402
from napari_amnesia.core.progress import Cancelled, drive  # noqa: E402
from napari_amnesia.core.simulate import simulate  # noqa: E402
from napari_amnesia.core.skeleton import SkeletonResult  # noqa: E402
from napari_amnesia.core.summary import SummaryImages  # noqa: E402

SHAPE = (64, 88)
T = 240
METADATA = {
    "session": {"description": "simulated two-photon recording of somata and neurites",
                "start_time": "2026-01-31T14:05:00+01:00",
                "experimenter": ["Curie, Marie"], "lab": "Imaging lab",
                "institution": "Somewhere institute", "session_id": "sim_day1",
                "experiment_description": "test of the NWB export",
                "keywords": ["calcium imaging", "simulation"]},
    "subject": {"subject_id": "sim01", "species": "Mus musculus", "sex": "F",
                "age": "P90D", "description": "a simulated mouse", "strain": "C57BL/6J"},
    "device": {"name": "Microscope", "description": "simulated two-photon microscope",
               "manufacturer": "Nobody", "model": "Sim 1"},
    "imaging": {"technique": "two-photon", "rate": 15.0, "indicator": "GCaMP6f",
                "location": "VISp", "excitation_lambda": 920, "emission_lambda": 510,
                "channel": "green", "description": "layer 2/3, 150 um deep",
                "grid_spacing": [1.1, 1.2]},
}


def _yaml(tmp_path, values, name="metadata.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A results folder of every stage on a planted movie, and the raw movie beside it."""
    folder = tmp_path_factory.mktemp("nwb")
    movie, truth = simulate(n_frames=T, shape=SHAPE, n_cells=8, n_neurite_groups=2,
                            motion=True, rng=5)
    save_movie(movie, folder / "movie.tif")
    params = {"cnmf": dict(rf=None, K=20, gSig=3, p=1, gnb=1),
              "skeleton": {"min_component_length": 10},
              "clustering": {"projection": {"substructure": "skeleton", "method": "branch"},
                             "clustering": {"min_cluster_size": 2, "embedding": "none"}}}
    run(movie, folder / "results", stages=("motion", "summary", "cnmf", "skeleton",
                                           "clustering"),
        params=params, input_info={"path": str(folder / "movie.tif")})
    return folder


@pytest.fixture(scope="module")
def exported(recording, tmp_path_factory):
    """The results folder exported with the movie linked."""
    out = tmp_path_factory.mktemp("export") / "session.nwb"
    metadata = _yaml(out.parent, METADATA)
    steps = []
    path = write_nwb(recording / "results", out, metadata=metadata, movie="link",
                     progress=steps.append)
    return path, steps


def _critical(path):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    # DANDI's configuration: what the archive requires counts as critical
    messages = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
    bad = [m for m in messages if m.importance.value >= Importance.CRITICAL.value]
    return bad, messages


def test_the_results_come_back_from_the_nwb_file(recording, exported):
    path, steps = exported
    results = recording / "results"
    cnmf = SourceResult.load(results / "cnmf" / "result")
    summary = SummaryImages.load(results / "summary")
    motion = MotionResult.load(results / "motion")
    assert cnmf.K > 0 and cnmf.background_footprints.shape[1] == 1
    assert cnmf.evaluated and cnmf.dff is not None
    assert steps[-1].done == steps[-1].total > cnmf.K  # progress up to the end
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        ophys = nwb.processing["ophys"]
        table = ophys["ImageSegmentation"]["PlaneSegmentation"]
        # only the real components are ROIs (the background component is not)
        assert len(table) == cnmf.K
        np.testing.assert_array_equal(table.id[:], cnmf.label_values)
        masks = table["image_mask"].data[:]
        assert masks.shape == (cnmf.K, *SHAPE)
        np.testing.assert_array_equal(masks, cnmf.footprint_images())
        np.testing.assert_array_equal(table["accepted"].data[:], cnmf.accepted)
        np.testing.assert_array_equal(table["snr"].data[:], cnmf.snr)
        np.testing.assert_array_equal(table["r_value"].data[:], cnmf.r_values)
        np.testing.assert_array_equal(table["anatomical"].data[:], cnmf.anatomical)
        series = {
            ("Fluorescence", "RoiResponseSeries"): cnmf.raw_traces,
            ("Fluorescence", "Denoised"): cnmf.traces,
            ("Fluorescence", "Deconvolved"): cnmf.spikes,
            ("DfOverF", "RoiResponseSeries"): cnmf.dff,
        }
        for (container, name), expected in series.items():
            rrs = ophys[container][name]
            assert rrs.data.shape == (T, cnmf.K)  # (time, ROIs)
            np.testing.assert_array_equal(rrs.data[:], np.asarray(expected, np.float32).T)
            assert rrs.rois.table is table
            np.testing.assert_array_equal(rrs.rois.data[:], np.arange(cnmf.K))
            assert rrs.rate == METADATA["imaging"]["rate"]
        images = ophys["SummaryImages"]
        for name, attr in (("mean", "mean"), ("max", "max"), ("correlation", "corr"),
                           ("pnr", "pnr")):
            np.testing.assert_array_equal(images[name].data[:], getattr(summary, attr))
        np.testing.assert_array_equal(images["motion_template"].data[:], motion.template)
        shifts = ophys["MotionShifts"]
        np.testing.assert_allclose(shifts.data[:], motion.shifts, rtol=1e-6, atol=1e-6)
        assert shifts.unit == "pixels"


def test_skeleton_and_clusters_are_segmentations_with_pixel_masks(recording, exported):
    path, _ = exported
    skeleton = SkeletonResult.load(recording / "results" / "skeleton")
    [level] = ActivityResult.load(recording / "results" / "clustering").clusterings
    assert len(skeleton.branches) > 1 and level.n_clusters >= 1
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        ophys = io.read().processing["ophys"]
        branches = ophys["ImageSegmentation"]["SkeletonBranches"]
        np.testing.assert_array_equal(branches.id[:], skeleton.branches["branch_id"])
        painted = np.zeros(SHAPE, np.int32)
        for ident, mask in zip(branches.id[:], branches["pixel_mask"][:], strict=True):
            rows, cols = mask["x"], mask["y"]  # x is the row, as suite2p writes it
            assert not painted[rows, cols].any()  # the branches partition the skeleton
            painted[rows, cols] = ident
        np.testing.assert_array_equal(painted, skeleton.branch_labels)
        np.testing.assert_allclose(branches["length"].data[:], skeleton.branches["length"])
        clusters = ophys["ImageSegmentation"]["ClustersLevel1"]
        assert len(clusters) == level.n_clusters
        for k, mask in enumerate(clusters["pixel_mask"][:], start=1):
            got = set(zip(mask["x"].tolist(), mask["y"].tolist(), strict=True))
            want = set(map(tuple, level.expand(k).tolist()))
            assert got == want
        traces = ophys["ClusterMeanTraces"]["ClustersLevel1"]
        np.testing.assert_array_equal(traces.data[:], level.mean_traces.T)
        assert traces.rois.table is clusters


def test_metadata_lands_in_the_file(exported):
    path, _ = exported
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.session_description == METADATA["session"]["description"]
        assert nwb.session_start_time == dt.datetime(
            2026, 1, 31, 14, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        assert list(nwb.experimenter) == ["Curie, Marie"]
        assert nwb.session_id == "sim_day1" and nwb.lab == "Imaging lab"
        subject = nwb.subject
        assert (subject.subject_id, subject.species, subject.sex, subject.age) == (
            "sim01", "Mus musculus", "F", "P90D")
        plane = nwb.imaging_planes["ImagingPlane"]
        assert plane.imaging_rate == 15.0 and plane.indicator == "GCaMP6f"
        assert plane.location == "VISp" and plane.excitation_lambda == 920.0
        assert plane.optical_channel[0].emission_lambda == 510.0
        np.testing.assert_array_equal(plane.grid_spacing[:], [1.1, 1.2])
        assert plane.device.name == "Microscope"
        assert "napari-amnesia" in nwb.source_script
        assert '"cnmf"' in nwb.notes  # the parameters of each stage


def test_nwbinspector_finds_no_critical_issue(exported):
    pytest.importorskip("nwbinspector")
    path, _ = exported
    bad, messages = _critical(path)
    assert not bad, [(m.check_function_name, m.location, m.message) for m in bad]
    # the link to the movie was checked too (it resolves from the file's folder)
    assert not [m for m in messages if "external_file" in m.check_function_name]


def test_link_is_relative_and_copy_holds_the_movie(recording, exported, tmp_path):
    path, _ = exported
    corrected = recording / "results" / "motion" / "corrected.tif"
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        # motion ran: the ROIs lie on the corrected movie, which is derived data
        assert "TwoPhotonSeries" not in nwb.acquisition
        series = nwb.processing["ophys"]["TwoPhotonSeriesCorrected"]
        [target] = series.external_file[:]
        assert not os.path.isabs(target)
        assert (path.parent / target).resolve() == corrected.resolve()
        assert series.data.shape[0] == 0 and series.num_samples == T
        assert list(series.dimension[:]) == list(SHAPE)
    # the raw movie chosen instead, copied into the file
    out = tmp_path / "copy.nwb"
    write_nwb(recording / "results", out, metadata=METADATA, movie="copy",
              movie_file=recording / "movie.tif")
    raw = open_movie(recording / "movie.tif")
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        series = nwb.acquisition["TwoPhotonSeries"]
        assert series.external_file is None
        data = series.data
        assert data.dtype == raw.dtype and data.compression == "gzip"
        assert data.chunks[1:] == SHAPE
        np.testing.assert_array_equal(data[:], raw.compute())
        table = nwb.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        assert table.reference_images[0] is series
    assert not _critical(out)[0]


def test_an_in_memory_result_one_photon_accepted_only(tmp_path):
    movie, truth = simulate(n_frames=40, shape=(24, 30), n_cells=4, n_neurite_groups=0,
                            motion=False, rng=2)
    K = truth.footprints.shape[0]
    from scipy import sparse

    result = SourceResult(
        footprints=sparse.csc_matrix(truth.footprints.reshape(K, -1).T),
        traces=truth.traces, spikes=truth.spikes, residual_traces=np.zeros((K, 40)),
        background_footprints=np.zeros((24 * 30, 0)), background_traces=np.zeros((0, 40)),
        baseline=np.zeros(K), g=np.full((K, 1), 0.9), lam=np.zeros(K), sn=np.ones((24, 30)),
        shape=(24, 30), params=CNMFParams(), accepted=np.arange(K) % 2 == 0,
        label_values=np.arange(K) + 7, mean_image=movie.mean(0))
    metadata = {**METADATA, "imaging": {**METADATA["imaging"], "technique": "one-photon",
                                        "excitation_lambda": 470}}
    with pytest.raises(ValueError, match="movie='link' needs the movie.*movie_file"):
        write_nwb(result, tmp_path / "a.nwb", metadata=metadata, movie="link")
    save_movie(movie, tmp_path / "movie.tif")
    out = write_nwb(result, tmp_path / "a.nwb", metadata=metadata, movie="link",
                    movie_file=tmp_path / "movie.tif", accepted_only=True)
    chosen = np.flatnonzero(result.accepted)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert isinstance(nwb.acquisition["OnePhotonSeries"], pynwb.ophys.OnePhotonSeries)
        table = nwb.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        np.testing.assert_array_equal(table.id[:], result.label_values[chosen])
        assert table["accepted"].data[:].all()
        np.testing.assert_array_equal(table["image_mask"].data[:],
                                      result.footprint_images(chosen))
        assert "DfOverF" not in nwb.processing["ophys"].data_interfaces  # none computed
        np.testing.assert_array_equal(nwb.processing["ophys"]["SummaryImages"]["mean"].data,
                                      result.mean_image.astype(np.float32))
    assert not _critical(out)[0]


def test_a_saved_curation_exports_its_decisions(recording, tmp_path):
    from napari_amnesia.core import curation

    result = SourceResult.load(recording / "results" / "cnmf" / "result")
    labels = result.labels(accepted_only=False)
    table = curation.table_from_result(result, labels)
    kept = [int(v) for v in table["index"]]
    rejected, accepted = kept[0], kept[1]
    table = curation.set_decision(table, [rejected], False)
    table = curation.set_decision(table, [accepted], True)
    folder = curation.save_curation(tmp_path / "curation", labels, table, result=result,
                                    original=labels, extracted=labels)
    out = write_nwb(folder, tmp_path / "curated.nwb", metadata=METADATA)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        rois = io.read().processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        ids = rois.id[:].tolist()
        assert ids == kept  # the curated ROIs, in the table's order
        flags = dict(zip(ids, rois["accepted"].data[:].tolist(), strict=True))
        assert flags[rejected] is False and flags[accepted] is True


def test_results_without_components_give_a_valid_file(tmp_path):
    from scipy import sparse

    movie, _ = simulate(n_frames=50, shape=(32, 40), n_cells=2, n_neurite_groups=0,
                        motion=False, rng=1)
    run(movie, tmp_path / "summary_only", stages=("summary",))
    out = write_nwb(tmp_path / "summary_only", tmp_path / "summary.nwb", metadata=METADATA)
    empty = SourceResult(
        footprints=sparse.csc_matrix((32 * 40, 0)), traces=np.zeros((0, 50)),
        spikes=np.zeros((0, 50)), residual_traces=np.zeros((0, 50)),
        background_footprints=np.zeros((32 * 40, 1)), background_traces=np.zeros((1, 50)),
        baseline=np.zeros(0), g=np.zeros((0, 1)), lam=np.zeros(0), sn=np.ones((32, 40)),
        shape=(32, 40), params=CNMFParams())
    none = write_nwb(empty, tmp_path / "none.nwb", metadata=METADATA)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        assert list(io.read().processing["ophys"].data_interfaces) == ["SummaryImages"]
    with pynwb.NWBHDF5IO(str(none), "r") as io:
        assert not io.read().processing["ophys"].data_interfaces
    # an ImageSegmentation without a table would fail NWB's validation
    assert not _critical(out)[0] and not _critical(none)[0]


def test_a_dict_of_stage_results_as_the_pipeline_returns_it(recording, tmp_path):
    results = recording / "results"
    cnmf = SourceResult.load(results / "cnmf" / "result")
    summary = SummaryImages.load(results / "summary")
    motion = MotionResult.load(results / "motion")
    out = write_nwb({"cnmf": cnmf, "summary": summary, "motion": motion},
                    tmp_path / "dict.nwb", metadata=METADATA)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        ophys = io.read().processing["ophys"]
        np.testing.assert_array_equal(ophys["Fluorescence"]["Deconvolved"].data[:],
                                      cnmf.spikes.T)
        np.testing.assert_array_equal(ophys["SummaryImages"]["correlation"].data[:],
                                      summary.corr)
        assert "SkeletonBranches" not in ophys["ImageSegmentation"].plane_segmentations
    with pytest.raises(ValueError, match=r"unknown result\(s\) sumary"):
        write_nwb({"cnmf": cnmf, "sumary": summary}, tmp_path / "x.nwb", metadata=METADATA)
    motion.shifts = motion.shifts[:-5]
    with pytest.raises(ValueError, match=r"disagree on their frames \(CNMF 240, motion 235\)"):
        write_nwb({"cnmf": cnmf, "motion": motion}, tmp_path / "x.nwb", metadata=METADATA)
    with pytest.raises(ValueError, match="movie_file names the movie to link or copy"):
        write_nwb(cnmf, tmp_path / "x.nwb", metadata=METADATA,
                  movie_file=recording / "movie.tif")


def test_bad_metadata_is_named_before_any_work(recording, tmp_path):
    out = tmp_path / "x.nwb"
    results = recording / "results"
    with pytest.raises(MetadataError, match="metadata_template"):
        write_nwb(results, out)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        write_nwb(results, out, metadata=tmp_path / "missing.yaml")
    # the template itself: every required field is named, with the file
    template = tmp_path / "template.yaml"
    template.write_text(metadata_template())
    with pytest.raises(MetadataError) as info:
        read_metadata(template)
    text = str(info.value)
    assert str(template) in text
    for name in ("session.description", "session.start_time", "subject.subject_id",
                 "subject.species", "subject.sex", "imaging.rate", "imaging.indicator",
                 "imaging.location", "imaging.excitation_lambda", "imaging.emission_lambda"):
        assert f"{name} is required" in text
    bad = {**METADATA,
           "session": {**METADATA["session"], "start_time": "2026-01-31T14:05:00"},
           "subject": {**METADATA["subject"], "sex": "female", "age": "90 days"},
           "imaging": {**METADATA["imaging"], "excitation_lambda": 0.92, "rate": "fast",
                       "technique": "confocal", "wavelenght": 3}}
    with pytest.raises(MetadataError) as info:
        write_nwb(results, out, metadata=_yaml(tmp_path, bad, "bad.yaml"))
    text = str(info.value)
    for expected in ("session.start_time has no time zone", "subject.sex should be one of "
                     "M, F, U, O, got 'female'", "subject.age should be an ISO 8601 duration",
                     "imaging.excitation_lambda should be in nanometres",
                     "imaging.rate should be a number, got 'fast'",
                     "imaging.technique should be two-photon or one-photon",
                     "unknown field(s) imaging.wavelenght"):
        assert expected in text
    (tmp_path / "broken.yaml").write_text("session: [unclosed\n")
    with pytest.raises(MetadataError, match="broken.yaml is not valid YAML"):
        write_nwb(results, out, metadata=tmp_path / "broken.yaml")
    assert not out.exists()
    # what the checks accept comes back typed
    meta = read_metadata(_yaml(tmp_path, METADATA))
    assert meta["session"]["start_time"].utcoffset() == dt.timedelta(hours=1)
    assert meta["imaging"]["excitation_lambda"] == 920.0
    assert meta["subject"]["date_of_birth"] is None


def test_bad_results_and_movies_are_refused(recording, tmp_path):
    with pytest.raises(ValueError, match="not a napari-amnesia results folder"):
        write_nwb(tmp_path, tmp_path / "x.nwb", metadata=METADATA)
    with pytest.raises(ValueError, match="ends with .nwb"):
        write_nwb(recording / "results", tmp_path / "x.h5", metadata=METADATA)
    with pytest.raises(ValueError, match="movie should be one of none, link, copy"):
        write_nwb(recording / "results", tmp_path / "x.nwb", metadata=METADATA,
                  movie="embed")
    other, _ = simulate(n_frames=T - 10, shape=SHAPE, n_cells=2, n_neurite_groups=0,
                        motion=False, rng=1)
    save_movie(other, tmp_path / "other.tif")
    with pytest.raises(ValueError, match=r"other.tif has shape \(230, 64, 88\).*\(240, 64, 88"):
        write_nwb(recording / "results", tmp_path / "x.nwb", metadata=METADATA,
                  movie="copy", movie_file=tmp_path / "other.tif")
    assert not (tmp_path / "x.nwb").exists()


def test_existing_files_are_refused_and_a_cancel_leaves_nothing(recording, tmp_path):
    results = recording / "results"
    mine = tmp_path / "mine.nwb"
    mine.write_text("the user's file")
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError):
            write_nwb(results, mine, metadata=METADATA, overwrite=overwrite)
    with pytest.raises(NotOwnedError):
        write_nwb(results, mine, metadata=METADATA, overwrite=True)
    assert mine.read_text() == "the user's file"
    out = write_nwb(results, tmp_path / "ours.nwb", metadata=METADATA)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # not tempfile's 0600
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_nwb(results, out, metadata=METADATA)
    before = out.read_bytes()
    # a cancel halfway: the earlier file is intact and no temporary is left
    calls = iter(range(10_000))
    with pytest.raises(Cancelled):
        drive(iter_write_nwb(results, out, metadata=METADATA, overwrite=True),
              cancel=lambda: next(calls) >= 3)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".napari-amnesia.json", "mine.nwb",
                                                          "ours.nwb"]
    # replaced when asked: the package wrote it
    write_nwb(results, out, metadata=METADATA, overwrite=True, accepted_only=True)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        table = io.read().processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        assert table["accepted"].data[:].all()


def test_without_pynwb_the_message_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pynwb", None)
    with pytest.raises(ImportError, match=r"pip install 'napari-amnesia\[nwb\]'"):
        write_nwb(tmp_path, tmp_path / "x.nwb", metadata=METADATA)


def test_chunks_compressed_in_parallel_read_back_the_same_whatever_the_threads(tmp_path):
    # large datasets are written chunk by chunk, compressed on several threads: the file
    # must read back as h5py wrote it, edge chunks included, with the same bytes
    import dask
    import h5py

    from napari_amnesia.core.formats.nwb_build import _write_block

    data = np.random.default_rng(0).normal(size=(37, 13)).astype(np.float32)
    stored = {}
    for workers in (1, 3):
        with h5py.File(tmp_path / f"{workers}.h5", "w") as fh, \
                dask.config.set(num_workers=workers):
            dataset = fh.create_dataset("x", shape=data.shape, dtype=np.float32,
                                        chunks=(8, 4), compression="gzip",
                                        compression_opts=4, shuffle=True)
            _write_block(dataset, (0, 0), data[:32])
            _write_block(dataset, (32, 0), data[32:])
        with h5py.File(tmp_path / f"{workers}.h5") as fh:
            dataset = fh["x"]
            np.testing.assert_array_equal(dataset[:], data)
            chunks = [dataset.id.get_chunk_info(i).chunk_offset
                      for i in range(dataset.id.get_num_chunks())]
            assert len(chunks) == 5 * 4
            stored[workers] = [dataset.id.read_direct_chunk(c)[1] for c in chunks]
    assert stored[1] == stored[3]
