"""The npe2 manifest is valid and every python_name imports as napari will import it."""

import importlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_npe2_validate_with_imports():
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-amnesia", "--imports"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in (result.stdout + result.stderr).lower()


def test_every_python_name_imports():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution("napari-amnesia")
    names = [c.python_name for c in manifest.contributions.commands]
    assert len(names) >= 7
    for python_name in names:
        module, attr = python_name.split(":")
        assert callable(getattr(importlib.import_module(module), attr)), python_name


def test_manifest_is_shipped_in_the_wheel(tmp_path):
    """A regular (non-editable) install finds napari.yaml inside the package."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        pytest.fail(result.stdout + result.stderr)
    wheel = next(tmp_path.glob("napari_amnesia-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "napari_amnesia/napari.yaml" in names
        shipped = zf.read("napari_amnesia/napari.yaml").decode()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "napari_amnesia:napari.yaml" in zf.read(entry_points).decode()
    assert shipped == (ROOT / "napari.yaml").read_text()

    # install the wheel (regular install, no editable finder) first on the path and validate
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(target), str(wheel)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import napari_amnesia; print(napari_amnesia.__file__)"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout
    assert where.startswith(str(target)), where
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-amnesia", "--imports"],
        capture_output=True, text=True, env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
