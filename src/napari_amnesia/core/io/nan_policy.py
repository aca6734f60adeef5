"""NaN and infinite pixels of float movies: find them, refuse them or fill them.

:func:`open_movie <napari_amnesia.core.io.open_movie>` looks at a few sampled frames
and warns; :func:`iter_apply_nan_policy` checks every frame, chunk by chunk, then
raises (``"raise"``) or replaces them lazily by each pixel's mean over its finite
frames (``"fill"``).
"""

from __future__ import annotations

import warnings
from typing import Any

import dask.array as da
import numpy as np

from ..progress import Progress, ProgressGenerator, drive
from .chunks import (
    _N_SAMPLE_FRAMES,
    _default_chunk_frames,
    _sample_frames,
    _sample_indices,
)
from .errors import MovieError, MovieWarning

__all__ = [
    "NAN_POLICIES",
    "apply_nan_policy",
    "find_nan_frames",
    "iter_apply_nan_policy",
    "iter_find_nan_frames",
]


#: What :func:`apply_nan_policy` can do with NaN or infinite pixels.
NAN_POLICIES = ("raise", "fill")


def _report_nans(movie: da.Array, label: object) -> None:
    idx = _sample_indices(movie.shape[0], _N_SAMPLE_FRAMES)
    frames = _sample_frames(movie, idx)
    bad = [int(i) for i, f in zip(idx, frames, strict=True) if np.isnan(f).any()]
    if bad:
        message = (
            f"{label}: {len(bad)} of {len(idx)} sampled frames contain NaN values "
            f"(frames {bad[:8]}{'...' if len(bad) > 8 else ''}); NaNs propagate through "
            "most computations: open the movie with nan_policy='fill' to replace them, "
            "or nan_policy='raise' to check every frame."
        )
        # one warning (napari shows it as a notification, the command line as one line)
        warnings.warn(message, MovieWarning, stacklevel=3)


def iter_find_nan_frames(movie: Any, *, chunk_frames: int | None = None
                         ) -> ProgressGenerator[dict[str, Any]]:
    """Find the frames of ``movie`` that hold NaN or infinite pixels, chunk by chunk.

    Integer movies cannot hold NaN and are not read.

    Yields
    ------
    Progress
        After each chunk.

    Returns
    -------
    dict
        ``frames``: indices of the frames with NaN or infinite pixels (int64 array);
        ``pixels``: how many such values in all; ``fill``: ``(Y, X)`` image, each
        pixel's mean over its finite frames (the mean of the whole movie for a pixel
        without any), or None when nothing is missing.
    """
    n = int(movie.shape[0])
    if np.dtype(movie.dtype).kind != "f":
        yield Progress(n, n, "checking for NaN")
        return {"frames": np.empty(0, np.int64), "pixels": 0, "fill": None}
    per_chunk = int(chunk_frames) if chunk_frames else _default_chunk_frames(
        tuple(movie.shape[1:]), np.dtype(movie.dtype))
    bad_per_frame = np.zeros(n, np.int64)
    total = np.zeros(movie.shape[1:], np.float64)
    count = np.zeros(movie.shape[1:], np.int64)
    for t0 in range(0, n, per_chunk):
        block = movie[t0:t0 + per_chunk]
        block = np.asarray(block.compute() if hasattr(block, "compute") else block)
        finite = np.isfinite(block)
        bad_per_frame[t0:t0 + len(block)] = (~finite).reshape(len(block), -1).sum(axis=1)
        total += np.where(finite, block, 0).sum(axis=0, dtype=np.float64)
        count += finite.sum(axis=0)
        del block, finite
        yield Progress(min(n, t0 + per_chunk), n, "checking for NaN")
    bad = np.flatnonzero(bad_per_frame).astype(np.int64)
    fill = None
    if len(bad):
        overall = total.sum() / count.sum() if count.sum() else 0.0
        fill = np.where(count > 0, total / np.maximum(count, 1), overall)
    return {"frames": bad, "pixels": int(bad_per_frame.sum()), "fill": fill}


def find_nan_frames(movie: Any, *, chunk_frames: int | None = None) -> np.ndarray:
    """Return the indices of the frames holding NaN or infinite pixels (every frame is read).

    Examples
    --------
    >>> import numpy as np
    >>> movie = np.ones((4, 2, 2), np.float32)
    >>> movie[2, 0, 1] = np.nan
    >>> find_nan_frames(movie)
    array([2])
    """
    return drive(iter_find_nan_frames(movie, chunk_frames=chunk_frames))["frames"]


def _listed_frames(frames: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(t)) for t in frames[:limit])
    return shown + (", ..." if len(frames) > limit else "")


def _fill_block(block: np.ndarray, image: np.ndarray) -> np.ndarray:
    finite = np.isfinite(block)
    if finite.all():
        return block
    return np.where(finite, block, image.astype(block.dtype))


def iter_apply_nan_policy(movie: Any, nan_policy: str = "raise", *, label: object = "the movie",
                          chunk_frames: int | None = None) -> ProgressGenerator[Any]:
    """Check every frame of a float movie for NaN or infinite pixels, then act.

    Parameters
    ----------
    movie : array-like, shape (T, Y, X)
        numpy or dask array (read chunk by chunk; integer movies are not read).
    nan_policy : {"raise", "fill"}
        ``"raise"``: refuse a movie with any NaN or infinite pixel, naming the frames.
        ``"fill"``: replace them, lazily, by each pixel's mean over its finite
        frames (as CNMF does; the mean of the whole movie for a pixel that is never
        finite), with one warning naming the frames.
    label : object, optional
        How the movie is named in the messages (its path).

    Yields
    ------
    Progress

    Returns
    -------
    array-like
        ``movie`` itself when it has no NaN, else (``"fill"``) a filled dask array.
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy should be one of {', '.join(map(repr, NAN_POLICIES))}, "
                         f"got {nan_policy!r}.")
    found = yield from iter_find_nan_frames(movie, chunk_frames=chunk_frames)
    bad = found["frames"]
    if not len(bad):
        return movie
    what = (f"{label}: {len(bad)} of {len(movie)} frames hold NaN or infinite values "
            f"(frames {_listed_frames(bad)}; {found['pixels']} pixels)")
    if nan_policy == "raise":
        raise MovieError(f"{what}; replace them first, or pass nan_policy='fill' to replace "
                         "them by each pixel's mean over its other frames.")
    warnings.warn(f"{what}; they are replaced by each pixel's mean over its other frames "
                  "(a pixel never finite: the mean of the whole movie, 0 if nothing is) "
                  "(nan_policy='fill').", MovieWarning, stacklevel=2)
    lazy = movie if isinstance(movie, da.Array) else da.from_array(movie, chunks=(
        chunk_frames or _default_chunk_frames(tuple(movie.shape[1:]), np.dtype(movie.dtype)),
        -1, -1))
    image = found["fill"].astype(lazy.dtype)
    return lazy.map_blocks(_fill_block, image=image, dtype=lazy.dtype)


def apply_nan_policy(movie: Any, nan_policy: str = "raise", *, label: object = "the movie",
                     chunk_frames: int | None = None) -> Any:
    """Apply ``nan_policy`` to a movie; see :func:`iter_apply_nan_policy`.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> movie = np.array([[[1.0]], [[np.nan]], [[3.0]]], np.float32)
    >>> with warnings.catch_warnings():  # "fill" warns, naming the frames
    ...     warnings.simplefilter("ignore")
    ...     filled = apply_nan_policy(movie, "fill")
    >>> filled[:, 0, 0].compute().tolist()  # the pixel's mean over its finite frames
    [1.0, 2.0, 3.0]
    """
    return drive(iter_apply_nan_policy(movie, nan_policy, label=label,
                                       chunk_frames=chunk_frames))
