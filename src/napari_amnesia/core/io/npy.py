"""NumPy ``.npy`` files: header parsing; the data are memory-mapped (:mod:`.memmap`).

See [1]_ for the format.

References
----------
.. [1] NumPy ``.npy`` format, :mod:`numpy.lib.format`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import MovieError, _check_dtype
from .layout import _FileInfo, _resolve_layout, _stat_token

NPY_SUFFIXES = (".npy",)


_NPY_MAGIC = b"\x93NUMPY"


def _describe_npy(path: Path, *, channel: int | None, plane: int | None) -> _FileInfo:
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            offset = fh.tell()
    except Exception as exc:
        raise MovieError(f"{path}: not a readable .npy file ({exc}).") from exc
    if dtype.hasobject or dtype.fields is not None:
        raise MovieError(f"{path}: pixel type {dtype} is not supported for a movie.")
    native = _check_dtype(dtype, path)
    end = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if end > size:
        raise MovieError(
            f"{path}: truncated .npy file (data end at byte {end}, the file has {size} bytes)."
        )
    if len(shape) != 3:
        what = "a single 2-D image" if len(shape) == 2 else f"a {len(shape)}-D array"
        raise MovieError(
            f"{path}: is {what} of shape {tuple(shape)}, not a movie; expected (T, Y, X)."
        )
    layout = _resolve_layout(path, "TYX", shape, channel=channel, plane=plane)
    return _FileInfo(
        path=path,
        kind="memmap",
        fmt="npy",
        layout=layout,
        dtype=native,
        file_dtype=np.dtype(dtype),
        compression=None,
        contiguous=True,
        size_bytes=size,
        token=_stat_token(path),
        offset=offset,
        order="F" if fortran else "C",
    )
