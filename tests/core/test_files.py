"""Owned outputs (issue 12): the package replaces only what it wrote itself.

Every results folder carries a manifest (``.napari-amnesia.json``); ``overwrite``
refuses a folder without it, a file it does not list, a file changed since, and
anything that is or holds a movie being read. Results get the umask's permissions.
"""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_amnesia.core.files import (
    MANIFEST,
    NotOwnedError,
    OutputExistsError,
    atomic_file,
    atomic_folder,
    check_destination,
    read_manifest,
)


def _results(path, text="1"):
    with atomic_folder(path, overwrite=True) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.txt").write_text(text)
        (tmp / "b.txt").write_text(text)
    return path


def test_results_folder_has_a_manifest_of_its_files(tmp_path):
    out = _results(tmp_path / "res")
    manifest = read_manifest(out)
    assert manifest["written_by"] == "napari-amnesia" and manifest["version"]
    assert manifest["kind"] == "results folder" and manifest["created"]
    assert sorted(manifest["files"]) == ["b.txt", "sub/a.txt"]
    assert manifest["files"]["b.txt"]["size"] == 1
    _results(out, "2")  # its own folder: replaced
    assert (out / "b.txt").read_text() == "2"


def test_overwrite_refuses_a_folder_the_package_did_not_write(tmp_path):
    mine = tmp_path / "experiment"
    mine.mkdir()
    (mine / "data.csv").write_text("precious")
    with pytest.raises(NotOwnedError, match=r"experiment was not written by napari-amnesia "
                       r"\(it holds .*data.csv"):
        with atomic_folder(mine, overwrite=True) as tmp:
            (tmp / "x").write_text("new")
    assert (mine / "data.csv").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["experiment"]  # no temporary left


def test_overwrite_refuses_a_file_the_manifest_does_not_list(tmp_path):
    out = _results(tmp_path / "res")
    (out / "sub" / "notes.txt").write_text("my notes")
    with pytest.raises(NotOwnedError, match=r"res holds .*sub/notes.txt, which napari-amnesia "
                       "did not write"):
        _results(out, "2")
    assert (out / "sub" / "notes.txt").read_text() == "my notes"
    assert (out / "b.txt").read_text() == "1"


def test_overwrite_refuses_a_folder_the_package_did_not_make(tmp_path):
    """Even an empty folder of the user's inside a results folder is in the way; an
    empty folder the package made itself is not."""
    out = tmp_path / "res"
    with atomic_folder(out, overwrite=True) as tmp:
        (tmp / "exports").mkdir()  # ours, empty
        (tmp / "b.txt").write_text("1")
    (out / "my analysis").mkdir()
    with pytest.raises(NotOwnedError, match=r"holds the folder .*my analysis, which "
                       "napari-amnesia did not make"):
        _results(out, "2")
    assert (out / "my analysis").is_dir()
    (out / "my analysis").rmdir()
    _results(out, "2")  # its own folders only: replaced
    assert (out / "b.txt").read_text() == "2"


def test_a_failed_rename_puts_the_earlier_results_back(tmp_path, monkeypatch):
    out = _results(tmp_path / "res")
    real = os.replace
    calls = []

    def replace(src, dst):
        calls.append((src, dst))
        if Path(dst) == out and ".old-" not in Path(src).name:  # the new folder into place
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="disk full"):
        with atomic_folder(out, overwrite=True) as tmp:
            (tmp / "b.txt").write_text("2")
    monkeypatch.setattr(os, "replace", real)
    assert any(".old-" in Path(dst).name for _, dst in calls)  # it had been moved aside
    assert (out / "b.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_overwrite_refuses_a_file_changed_since_it_was_written(tmp_path):
    out = _results(tmp_path / "res")
    (out / "b.txt").write_text("edited by hand")
    with pytest.raises(NotOwnedError, match="b.txt, changed since napari-amnesia wrote it"):
        _results(out, "2")
    assert (out / "b.txt").read_text() == "edited by hand"


def test_a_folder_holding_the_input_movie_is_never_replaced(tmp_path):
    from napari_amnesia.core.io import open_movie

    out = _results(tmp_path / "res")
    movie_path = out / "movie.tif"
    tifffile.imwrite(movie_path, np.zeros((5, 8, 8), np.uint16), photometric="minisblack")
    # even if the manifest listed the movie, a movie being read is kept
    manifest = read_manifest(out)
    manifest["files"]["movie.tif"] = {}
    (out / MANIFEST).write_text(json.dumps(manifest))
    movie = open_movie(movie_path)
    with pytest.raises(NotOwnedError, match=r"res contains the input movie .*movie.tif"):
        _results(out, "2")
    with pytest.raises(NotOwnedError, match="is the input movie"):
        check_destination(movie_path, True, folder=False)
    assert movie.shape == (5, 8, 8) and movie_path.exists()
    # named by the caller before the movie is opened
    del movie
    with pytest.raises(NotOwnedError, match="contains the input movie"):
        check_destination(out, True, folder=True, inputs=[movie_path])


def test_the_folder_of_frames_being_read_is_never_written_into(tmp_path):
    from napari_amnesia.core.io import open_movie

    frames = tmp_path / "raw"
    frames.mkdir()
    for t in range(3):
        tifffile.imwrite(frames / f"f{t}.tif", np.full((8, 8), t, np.uint16))
    movie = open_movie(frames)
    with pytest.raises(NotOwnedError, match="folder of frames being read"):
        check_destination(frames, True, folder=True)
    with pytest.raises(NotOwnedError, match="inside the folder of frames being read"):
        check_destination(frames / "corrected.tif", True, folder=False)
    assert len(movie) == 3 and len(list(frames.iterdir())) == 3


def test_single_files_are_replaced_only_if_the_package_wrote_them(tmp_path):
    target = tmp_path / "labels.tif"
    target.write_text("a user's file")
    with pytest.raises(NotOwnedError, match="labels.tif was not written by napari-amnesia"):
        with atomic_file(target, overwrite=True) as tmp:
            tmp.write_text("new")
    assert target.read_text() == "a user's file"
    ours = tmp_path / "traces.csv"
    with atomic_file(ours) as tmp:
        tmp.write_text("1")
    assert read_manifest(tmp_path)["files"]["traces.csv"]["size"] == 1
    assert read_manifest(tmp_path)["kind"] == "files"  # not a results folder for that
    with atomic_file(ours, overwrite=True) as tmp:
        tmp.write_text("2")
    assert ours.read_text() == "2"
    with pytest.raises(OutputExistsError, match="already exists"):
        with atomic_file(ours) as tmp:
            tmp.write_text("3")
    # a folder that only holds single files of the package is still not a results folder
    target.unlink()
    with pytest.raises(NotOwnedError, match="not written by napari-amnesia"):
        check_destination(tmp_path, True, folder=True)


def test_files_re_exported_inside_a_results_folder_keep_it_replaceable(tmp_path):
    out = _results(tmp_path / "res")
    with atomic_file(out / "sub" / "extra.csv") as tmp:
        tmp.write_text("x")
    _results(out, "2")
    assert not (out / "sub" / "extra.csv").exists()


@pytest.mark.parametrize("mask, folder_mode, file_mode", [(0o022, 0o755, 0o644),
                                                           (0o077, 0o700, 0o600),
                                                           (0o002, 0o775, 0o664)])
def test_results_get_the_permissions_of_the_umask(tmp_path, mask, folder_mode, file_mode):
    old = os.umask(mask)
    try:
        with atomic_folder(tmp_path / "res") as tmp:
            (tmp / "a.txt").write_text("1")
        with atomic_file(tmp_path / "single.csv") as tmp:
            tmp.write_text("1")
    finally:
        os.umask(old)

    def mode(p):
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(tmp_path / "res") == folder_mode
    assert mode(tmp_path / "res" / "a.txt") == file_mode
    assert mode(tmp_path / "res" / MANIFEST) == file_mode
    assert mode(tmp_path / "single.csv") == file_mode


def test_result_save_with_overwrite_keeps_what_the_user_added(tmp_path):
    from napari_amnesia.core.factorization import factorize

    rng = np.random.default_rng(0)
    movie = rng.random((30, 12, 12)).astype(np.float32)
    result = factorize(movie, method="pca", n_components=2)
    out = result.save(tmp_path / "fact")
    result.save(out, overwrite=True)  # its own folder: replaced
    (out / "notes.txt").write_text("mine")
    with pytest.raises(NotOwnedError, match="notes.txt, which napari-amnesia did not write"):
        result.save(out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
