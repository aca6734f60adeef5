"""``amnesia`` itself: the console script, its exit status and its parser's help."""

import subprocess
import sys
from pathlib import Path


def test_help_documents_every_option():
    # the console script installed next to this Python
    script = Path(sys.executable).parent / "amnesia"
    assert script.is_file(), f"console script {script} is not installed"
    result = subprocess.run([str(script), "demo", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for option in ("--out", "--overwrite", "--view", "--mode", "--frames", "--size", "--seed",
                   "--four-neighbours", "--gsig", "--bin-size"):
        assert option in result.stdout
    top = subprocess.run([sys.executable, "-m", "napari_amnesia.cli", "--help"],
                         capture_output=True, text=True)
    for command in ("info", "summary", "demo"):
        assert command in top.stdout


def test_console_script_exit_status(tmp_path):
    result = subprocess.run([sys.executable, "-m", "napari_amnesia.cli", "info",
                             str(tmp_path / "missing.tif")], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "missing.tif" in result.stderr
