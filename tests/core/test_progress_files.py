import pytest

from napari_amnesia.core.files import OutputExistsError, atomic_file, atomic_folder
from napari_amnesia.core.progress import Cancelled, Progress, drive


def _count(n, log):
    try:
        for i in range(n):
            yield Progress(i + 1, n, "counting")
        return n
    finally:
        log.append("closed")


def test_drive_returns_result_and_reports_progress():
    log, seen = [], []
    assert drive(_count(3, log), seen.append) == 3
    assert [s.done for s in seen] == [1, 2, 3] and seen[-1].fraction == 1.0


def test_drive_cancel_closes_the_generator():
    log = []
    with pytest.raises(Cancelled):
        drive(_count(10, log), cancel=lambda: True)
    assert log == ["closed"]


def test_atomic_file_never_clobbers(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("precious")
    with pytest.raises(OutputExistsError, match="already exists"):
        with atomic_file(target):
            pass
    with pytest.raises(RuntimeError):
        with atomic_file(tmp_path / "b.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert not (tmp_path / "b.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert target.read_text() == "precious"


def test_atomic_folder_replaces_only_when_complete(tmp_path):
    out = tmp_path / "results"
    with atomic_folder(out) as tmp:
        (tmp / "x").write_text("1")
    with pytest.raises(OutputExistsError):
        with atomic_folder(out):
            pass
    with pytest.raises(RuntimeError):
        with atomic_folder(out, overwrite=True) as tmp:
            (tmp / "x").write_text("2")
            raise RuntimeError("cancelled")
    assert (out / "x").read_text() == "1"
    with atomic_folder(out, overwrite=True) as tmp:
        (tmp / "x").write_text("3")
    assert (out / "x").read_text() == "3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_drive_closes_the_generator_when_the_callback_raises():
    log = []

    def interrupt(step):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        drive(_count(10, log), interrupt)
    assert log == ["closed"]


@pytest.mark.parametrize("load, what", [
    ("napari_amnesia.core.clustering:ClusterResult", "clustering"),
    ("napari_amnesia.core.factorization:FactorizationResult", "factorization"),
    ("napari_amnesia.core.skeleton:SkeletonResult", "skeleton"),
    ("napari_amnesia.core.cnmf.result:SourceResult", "CNMF result"),
])
def test_loading_a_folder_that_is_not_a_result_names_what_was_expected(tmp_path, load, what):
    import importlib

    module, name = load.split(":")
    cls = getattr(importlib.import_module(module), name)
    (tmp_path / "notes.txt").write_text("not a result")
    with pytest.raises(FileNotFoundError, match=f"is not a saved {what} \\(no arrays.npz\\)"):
        cls.load(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "not a result"  # nothing touched
