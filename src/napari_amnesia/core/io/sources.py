"""Which files a movie reads from, so that saving never replaces its own input.

The readers of this package and numpy memory maps can tell their files; a movie
computed from them (a dask graph) is searched for those sources without being
computed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from .array import _MovieArray


def _input_paths(movie: Any) -> set[Path]:
    """Files a movie reads from, where that can be told (our readers, numpy memmaps)."""
    found: set[Path] = set()
    if isinstance(movie, da.Array):
        graph = movie.__dask_graph__()
        layers = getattr(graph, "layers", None)
        if layers is not None:
            # from_array keeps its source in an "original-<name>" layer: look there only,
            # without materializing the pipeline's layers
            values = [
                v
                for name, layer in layers.items()
                if name.startswith("original-")
                for v in dict(layer).values()
            ]
        else:
            values = list(dict(graph).values())
        for value in values:
            obj = getattr(value, "value", value)
            if isinstance(obj, _MovieArray):
                found.update(obj.paths)
            elif isinstance(obj, np.ndarray):
                found.update(_memmap_files(obj))
    elif isinstance(movie, np.ndarray):
        found.update(_memmap_files(movie))
    return found


def _memmap_files(array: np.ndarray) -> set[Path]:
    """Files behind a numpy array (a memmap, or a view of one: dask's are filename-less)."""
    found = set()
    base: Any = array
    while base is not None:
        if isinstance(base, np.memmap) and getattr(base, "filename", None):
            found.add(Path(base.filename))
        base = getattr(base, "base", None)
    return found


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()
