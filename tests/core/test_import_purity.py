"""The core never imports a GUI toolkit (DESIGN.md, review checklist item 1)."""

import subprocess
import sys

FORBIDDEN = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "matplotlib")


def test_core_imports_no_gui():
    modules = ["napari_amnesia.core"] + [
        f"napari_amnesia.core.{m}"
        for m in ("io", "simulate", "summary", "traces", "pipeline", "metrics", "_progress",
                  "_files")
    ]
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
