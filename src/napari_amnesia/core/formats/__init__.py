"""Exchange formats: results written for other tools, and other tools' results read in.

:func:`export` writes a CNMF result (:class:`~napari_amnesia.core.cnmf.SourceResult`)
in one of the ecosystem's formats; :func:`import_results` turns another tool's
results into the package's own CNMF result folder.

======================  ==============================================================
format                  what is written
======================  ==============================================================
``nwb``                 one NWB file (:mod:`.nwb`; needs ``pip install
                        napari-amnesia[nwb]``)
``suite2p``             a ``suite2p/plane0/`` folder suite2p's GUI opens (:mod:`.suite2p`)
``imagej``              an ImageJ/Fiji ROI set, ``rois.zip``
``csv``                 ``components.csv`` and one CSV per kind of trace
``labels``              a ``(Y, X)`` labels TIFF that reopens as a napari Labels layer
======================  ==============================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "export", "import_results"]

#: The formats :func:`export` writes.
FORMATS = ("nwb", "suite2p", "imagej", "csv", "labels")


def export(results: Any, format: str, out: str | os.PathLike, *,  # noqa: A002
           overwrite: bool = False, **options: Any) -> Path:
    """Write ``results`` in ``format`` to ``out`` (skeleton; formats come next)."""
    raise NotImplementedError(f"export to {format!r} is not written yet.")


def import_results(src: str | os.PathLike, out: str | os.PathLike, *,
                   overwrite: bool = False) -> Path:
    """Read another tool's results at ``src`` into a CNMF result folder ``out`` (skeleton)."""
    raise NotImplementedError("import is not written yet.")
