"""Tests of writing a simulation: the TIFF file, bounded streaming, owned outputs."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_amnesia.core.files import NotOwnedError, OutputExistsError, read_manifest
from napari_amnesia.core.simulate import SimulationParams, simulate, write_simulated_movie
from napari_amnesia.core.simulate import writing as sim_module


def test_write_simulated_movie_round_trips(tmp_path):
    """Write simulated movie round trips."""
    kw = dict(n_cells=4, n_neurite_groups=1, branches_per_group=2, rng=21)
    path = tmp_path / "sim.tif"
    steps = []
    truth = write_simulated_movie(
        path, n_frames=45, shape=(40, 56), chunk_frames=16, progress=steps.append, **kw
    )
    movie, expected = simulate(n_frames=45, shape=(40, 56), **kw)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.series) == 1 and tif.series[0].shape == (45, 40, 56)
        assert tif.series[0].dataoffset is not None  # contiguous: memory-mappable
        assert not tif.is_bigtiff
    np.testing.assert_array_equal(tifffile.imread(path), movie)
    np.testing.assert_array_equal(truth.traces, expected.traces)
    np.testing.assert_array_equal(truth.shifts, expected.shifts)
    assert [s.done for s in steps] == [16, 32, 45] and steps[-1].total == 45
    # no temporary left behind; the folder's manifest records the file as the package's
    assert sorted(p.name for p in tmp_path.iterdir()) == [".napari-amnesia.json", "sim.tif"]


def test_write_simulated_movie_uses_bigtiff_for_large_files(tmp_path, monkeypatch):
    """Write simulated movie uses bigtiff for large files."""
    monkeypatch.setattr(sim_module, "_BIGTIFF_BYTES", 1000)
    path = tmp_path / "big.tif"
    write_simulated_movie(path, n_frames=3, shape=(32, 32), n_cells=1, rng=0)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff and tif.series[0].shape == (3, 32, 32)
    assert tifffile.memmap(path).dtype == np.uint16


def test_write_simulated_movie_rejects_float(tmp_path):
    """Write simulated movie rejects float."""
    with pytest.raises(ValueError, match="dtype"):
        write_simulated_movie(tmp_path / "x.tif", n_frames=3, shape=(32, 32), dtype="float32")
    assert not list(tmp_path.iterdir())


def test_cancelled_write_leaves_no_file(tmp_path):
    """Cancelled write leaves no file."""
    from napari_amnesia.core.simulate import iter_write_simulated_movie

    gen = iter_write_simulated_movie(
        tmp_path / "c.tif", n_frames=40, shape=(32, 32), chunk_frames=10, n_cells=1
    )
    assert next(gen).done == 10
    gen.close()
    assert not list(tmp_path.iterdir())


def test_write_takes_the_parameter_object(tmp_path):
    """Write takes the parameter object."""
    params = SimulationParams(n_frames=12, shape=(32, 40), n_cells=2, rng=5)
    path = tmp_path / "p.tif"
    truth = write_simulated_movie(path, params, chunk_frames=5)
    movie, _ = simulate(params)
    np.testing.assert_array_equal(tifffile.imread(path), movie)
    assert truth.params["shape"] == (32, 40) and truth.provenance["seed"] == 5
    with pytest.raises(TypeError, match="n_frames"):
        write_simulated_movie(tmp_path / "q.tif", shape=(32, 32))


def test_writing_again_replaces_only_a_file_the_package_wrote(tmp_path):
    """Writing again replaces only a file the package wrote."""
    path = tmp_path / "sim.tif"
    kw = dict(shape=(32, 32), n_cells=1, n_neurite_groups=0)
    write_simulated_movie(path, n_frames=4, rng=0, **kw)
    assert "sim.tif" in read_manifest(tmp_path)["files"]  # recorded as ours
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_simulated_movie(path, n_frames=5, rng=1, **kw)
    assert tifffile.imread(path).shape == (4, 32, 32)
    write_simulated_movie(path, n_frames=5, rng=1, overwrite=True, **kw)
    np.testing.assert_array_equal(tifffile.imread(path), simulate(n_frames=5, rng=1, **kw)[0])
    # a file of the user's with the same name is never replaced, even when asked
    mine = tmp_path / "mine.tif"
    tifffile.imwrite(mine, np.zeros((2, 32, 32), np.uint16))
    before = mine.read_bytes()
    with pytest.raises(NotOwnedError, match="not written by napari-amnesia"):
        write_simulated_movie(mine, n_frames=4, overwrite=True, **kw)
    assert mine.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".napari-amnesia.json", "mine.tif",
                                                          "sim.tif"]
