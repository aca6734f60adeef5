"""Registration of sessions imported from suite2p and CaImAn (issue 17 with issue 18's importers).

Three planted sessions of one field (:func:`simulate_sessions`): days 1 and 2 written as
suite2p plane folders, day 3 as a CaImAn HDF5 file, by hand from the tools' documented
layouts (as ``tests/core/formats/exchange_fixtures.py`` does, with these sessions'
footprints instead of its own planted scene), imported with
:func:`~napari_amnesia.core.formats.import_results`, then registered from the imported
folders, in Python and with ``amnesia register``.
"""

import csv

import numpy as np
import pytest
from scipy import sparse

from napari_amnesia.cli import main
from napari_amnesia.core.cnmf import SourceResult
from napari_amnesia.core.formats import import_results
from napari_amnesia.core.multisession import pair_scores, register
from napari_amnesia.core.multisession.inputs import load_session
from napari_amnesia.core.simulate.sessions import simulate_sessions

N_FRAMES = 30


def _write_suite2p_plane(folder, footprints, template, accepted, rng):
    """A suite2p plane folder (suite2p's docs/outputs.md) of these footprints."""
    Y, X = template.shape
    K = footprints.shape[1]
    a = sparse.csc_matrix(footprints)
    stat = []
    for k in range(K):
        pixels = a.indices[a.indptr[k]:a.indptr[k + 1]]
        lam = a.data[a.indptr[k]:a.indptr[k + 1]].astype(np.float32)
        ypix, xpix = np.divmod(pixels, X)
        stat.append({"ypix": ypix.astype(np.int32), "xpix": xpix.astype(np.int32),
                     "lam": lam, "med": [int(np.median(ypix)), int(np.median(xpix))],
                     "npix": int(ypix.size), "radius": 4.0, "compact": 1.1,
                     "footprint": 1, "overlap": np.zeros(ypix.size, bool)})
    F = rng.uniform(50, 60, (K, N_FRAMES)).astype(np.float32)
    Fneu = rng.uniform(5, 10, (K, N_FRAMES)).astype(np.float32)
    spks = np.maximum(rng.normal(0, 1, (K, N_FRAMES)), 0).astype(np.float32)
    iscell = np.column_stack([accepted.astype(np.float64), rng.uniform(0, 1, K)])
    ops = {"Ly": Y, "Lx": X, "fs": 10.0, "tau": 1.0, "neucoeff": 0.7,
           "meanImg": np.asarray(template, np.float32), "max_proj": template,
           "nframes": N_FRAMES, "diameter": [10, 10], "suite2p_version": "0.14.4"}
    folder.mkdir(parents=True)
    np.save(folder / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    for name, value in (("F", F), ("Fneu", Fneu), ("spks", spks), ("iscell", iscell)):
        np.save(folder / f"{name}.npy", value)
    np.save(folder / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    return folder


def _write_caiman_file(path, footprints, shape, accepted, rng):
    """A CaImAn HDF5 file (``cnm.save``'s layout): A in Fortran pixel order."""
    import h5py

    Y, X = shape
    K = footprints.shape[1]
    a = sparse.csc_matrix(footprints)
    norms = rng.uniform(0.5, 3.0, K)
    rows, cols = a.nonzero()
    y, x = np.divmod(rows, X)
    A = sparse.csc_matrix((np.asarray(a[rows, cols]).ravel() * norms[cols],
                           (x * Y + y, cols)), shape=(Y * X, K))
    A.sort_indices()
    with h5py.File(path, "w") as fh:
        est = fh.create_group("estimates")
        for part in ("data", "indptr", "indices"):
            est[f"A/{part}"] = getattr(A, part)
        est["A/shape"] = np.array(A.shape)
        est["C"] = rng.uniform(0, 1, (K, N_FRAMES))
        est["S"] = np.maximum(rng.normal(0, 1, (K, N_FRAMES)), 0)
        est["YrA"] = rng.normal(0, 0.1, (K, N_FRAMES))
        est["b"] = rng.uniform(1, 2, (Y * X, 1))
        est["f"] = rng.uniform(90, 110, (1, N_FRAMES))
        est["idx_components"] = np.flatnonzero(accepted)
        est["dims"] = np.array([Y, X])
        for name in ("W", "b0", "Cn"):
            est[name] = "NoneType"
        fh.create_group("params/data")
        fh["params/data/fr"] = 10.0
        fh["params/data/decay_time"] = 0.4
        fh["dims"] = np.array([Y, X])
    return path


@pytest.fixture(scope="module", params=[3, 6])
def imported(request, tmp_path_factory):
    """Three planted sessions: days 1-2 through suite2p, day 3 through CaImAn, imported."""
    seed = request.param
    root = tmp_path_factory.mktemp(f"imported{seed}")
    data = simulate_sessions(3, preset="standard", shape=(80, 80), n_cells=20, rng=seed,
                             junk_fraction=0.15)
    rng = np.random.default_rng(seed)
    folders = []
    # each tool's classifier rejects the junk components (identity -1)
    for s in range(2):
        plane = _write_suite2p_plane(root / f"s2p_day{s + 1}" / "plane0", data.footprints[s],
                                     data.templates[s], data.identity[s] >= 0, rng)
        folders.append(import_results(plane, root / f"day{s + 1}"))
    h5 = _write_caiman_file(root / "day3.hdf5", data.footprints[2], data.shape,
                            data.identity[2] >= 0, rng)
    folders.append(import_results(h5, root / "day3"))
    return data, folders, root


def test_imported_sessions_give_their_footprints_and_templates(imported, caplog):
    data, folders, _ = imported
    assert all((ids < 0).any() for ids in data.identity)  # junk to reject in each
    templates = []
    for s, folder in enumerate(folders):
        footprints, template, name = load_session(folder)
        assert name == f"day{s + 1}" and template.shape == data.shape
        # the same footprints, same order, same pixels (unit norm); the rejected emptied
        planted = sparse.csc_matrix(data.footprints[s]).toarray()
        planted[:, data.identity[s] < 0] = 0
        assert np.allclose(footprints.toarray(), planted, atol=1e-5)
        templates.append(template)
    for s in range(2):  # suite2p: the template is ops["meanImg"]
        assert np.array_equal(templates[s], data.templates[s])
    # CaImAn's file holds no mean image (nor does the import make one): the registration
    # aligns day 3 on its footprints, each scaled to its peak, and says so
    assert SourceResult.load(folders[2]).mean_image is None
    every = sparse.csc_matrix(data.footprints[2]).toarray()
    expected = (every / every.max(axis=0)).sum(axis=1).reshape(data.shape)
    assert np.allclose(templates[2], expected, atol=1e-4)
    assert "day3: no mean image; aligned on its footprints" in caplog.text


def test_register_imported_sessions_recovers_the_planted_tracks(imported):
    data, folders, _ = imported
    result = register([str(f) for f in folders])
    assert result.session_names == ["day1", "day2", "day3"]
    score = pair_scores(result.assignments, data.identity)
    assert score["f1"] >= 0.95, score
    for s in range(3):  # no track holds a component the tool rejected
        held = result.assignments[:, s]
        assert not np.isin(held[held >= 0], np.flatnonzero(data.identity[s] < 0)).any()
    # the suite2p days' mean images, aligned into the common space, agree
    a, b = result.aligned_templates[0], result.aligned_templates[1]
    inside = (a != 0) & (b != 0)
    assert np.corrcoef(a[inside], b[inside])[0, 1] > 0.8
    # as good as registering the planted footprints with every mean image, CaImAn's day
    # aligned on its footprints notwithstanding
    direct = register([f.toarray() * (ids >= 0) for f, ids in zip(
        data.footprints, data.identity, strict=True)], data.templates)
    assert score["f1"] >= pair_scores(direct.assignments, data.identity)["f1"] - 0.02


def test_amnesia_register_on_imported_folders(imported, capsys):
    data, folders, root = imported
    out = root / "tracked"
    assert main(["register", *map(str, folders), "--out", str(out), "-q"]) == 0
    said = capsys.readouterr()
    assert "tracks over 3 sessions" in said.out
    assert "day3: no mean image" in said.err
    with open(out / "tracks.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assignments = np.array([[int(r[n]) for n in ("day1", "day2", "day3")] for r in rows])
    assert pair_scores(assignments, data.identity)["f1"] >= 0.95


def test_the_movie_an_import_names_is_found_for_re_extraction(tmp_path):
    """amnesia import SRC --movie M records M; register finds it to re-extract silent cells."""
    import tifffile

    from napari_amnesia.core.multisession.opening import find_movie

    data = simulate_sessions(1, preset="standard", shape=(48, 48), n_cells=8, rng=1)
    rng = np.random.default_rng(1)
    plane = _write_suite2p_plane(tmp_path / "s2p" / "plane0", data.footprints[0],
                                 data.templates[0], data.identity[0] >= 0, rng)
    movie = tmp_path / "recording.tif"
    tifffile.imwrite(movie, rng.random((N_FRAMES, 48, 48)).astype(np.float32))
    with_movie = import_results(plane, tmp_path / "with", movie=movie)
    without = import_results(plane, tmp_path / "without")
    assert find_movie(with_movie) == movie.resolve()
    assert find_movie(without) is None
