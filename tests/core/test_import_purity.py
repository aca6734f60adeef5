"""The core never imports a GUI toolkit (DESIGN.md, review checklist item 1)."""

import subprocess
import sys

FORBIDDEN = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "matplotlib")


def test_core_imports_no_gui():
    # every module of the core, found by walking the package (a new module is checked
    # without anyone remembering to list it)
    code = (
        "import sys, importlib, pkgutil\n"
        "import napari_amnesia.core as core\n"
        "names = [m.name for m in pkgutil.walk_packages(core.__path__, 'napari_amnesia.core.')]\n"
        "for m in names: importlib.import_module(m)\n"
        "assert len(names) > 20, names\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
