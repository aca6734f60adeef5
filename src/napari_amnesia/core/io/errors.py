"""What makes an input not a usable movie: the errors, warnings and pixel types.

:class:`MovieError` is raised for input that is not a usable movie (the message names
the file and the bad value); :class:`MovieWarning` for a movie that opened but needs
the user's attention. Every reader checks pixel types with the same rule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["MovieError", "MovieWarning", "SUPPORTED_DTYPES"]


#: Pixel types a movie may have (others are refused with a :class:`MovieError`).
SUPPORTED_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(name)
    for name in ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64")
)


class MovieError(ValueError):
    """A file, folder or array is not a usable movie; the message says which and why."""


class MovieWarning(UserWarning):
    """A movie opened but something in it needs the user's attention (NaN frames...)."""


def _check_dtype(dtype: np.dtype, path: Path | str) -> np.dtype:
    """Return the native-byte-order dtype, or raise if it is not a movie pixel type."""
    dtype = np.dtype(dtype)
    native = dtype.newbyteorder("=")
    if native not in SUPPORTED_DTYPES:
        names = ", ".join(d.name for d in SUPPORTED_DTYPES)
        raise MovieError(
            f"{path}: pixel type {dtype} is not supported for a movie; supported: {names}. "
            "Convert it first (e.g. array.astype('float32'))."
        )
    return native
