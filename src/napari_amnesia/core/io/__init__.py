"""Reading and writing calcium-imaging movies, lazily and with bounded memory.

A movie is a :class:`dask.array.Array` of shape ``(T, Y, X)`` in the file's own
dtype. :func:`open_movie` builds it without reading pixels: every dask task reads only
the frames of its chunk, so a 10 GB file opens in about a second, ``movie[k]`` reads
frame ``k`` and nothing else (what napari does while scrolling), and reductions over
time stream chunk by chunk.

How each format is read
-----------------------
* Uncompressed TIFF, BigTIFF, ImageJ and OME-TIFF whose image data are contiguous in
  the file, and ``.npy`` files, are memory-mapped *per call*: each task maps only
  the frames it needs (a few MB at a time), copies them out and unmaps them. Mapping
  the whole file once and handing the map to :func:`dask.array.from_array` looks
  equivalent but reads the whole file into memory: ``from_array`` calls the array's
  ``copy()`` (measured in ``benchmarks/bench_io.py``).
* Compressed or tiled TIFF are read through tifffile's zarr store
  (:meth:`tifffile.TiffFile.aszarr`), whose chunks are single pages, so a frame
  costs one page decode. Open stores are kept in a small per-process cache.
* A folder, a glob or a list of files is concatenated in time, files in natural
  order (``image2`` before ``image10``); single-frame files are grouped so that one
  task reads the files of its chunk only.

Errors name the file and the bad value: :class:`MovieError` for input that is not a
usable movie, :class:`FileNotFoundError` for missing paths.

Modules
-------
``open``
    :func:`open_movie` and :func:`movie_info`: dispatch to the readers, concatenate.
``tiff``, ``npy``, ``sequence``
    One reader per format: the TIFF family (axes, channel and plane selection,
    compressed pages), ``.npy`` files, and folders, globs or lists of files.
``layout``, ``memmap``, ``array``
    How a file's axes map to frames, memory-mapped reads of contiguous data, and
    the array-like that concatenates the files in time.
``nan_policy``
    :func:`iter_apply_nan_policy`: check every frame for NaN, refuse or fill them.
``contrast``, ``chunks``
    :func:`contrast_limits` from sampled frames; time chunks and frame sampling.
``save``
    :func:`iter_save_movie`: atomic, owned outputs, never over the movie's own files.
``errors``
    :class:`MovieError`, :class:`MovieWarning` and the supported pixel types.

Examples
--------
>>> import numpy as np
>>> from napari_amnesia.core.io import contrast_limits, open_movie, save_movie
>>> folder = getfixture("tmp_path")  # any folder
>>> path = save_movie(np.arange(64, dtype=np.uint16).reshape(4, 4, 4), folder / "m.tif")
>>> movie = open_movie(path)
>>> movie.shape, movie.dtype
((4, 4, 4), dtype('uint16'))
>>> contrast_limits(movie, percentiles=(0, 100))
(0.0, 63.0)
"""

from __future__ import annotations

from .chunks import DEFAULT_CHUNK_BYTES as DEFAULT_CHUNK_BYTES
from .contrast import contrast_limits
from .errors import SUPPORTED_DTYPES, MovieError, MovieWarning
from .nan_policy import (
    NAN_POLICIES,
    apply_nan_policy,
    find_nan_frames,
    iter_apply_nan_policy,
    iter_find_nan_frames,
)
from .npy import NPY_SUFFIXES as NPY_SUFFIXES
from .open import movie_info, open_movie
from .save import iter_save_movie, save_movie
from .sequence import PathInput as PathInput
from .sequence import natural_sort_key
from .tiff import TIFF_SUFFIXES as TIFF_SUFFIXES

__all__ = [
    "MovieError",
    "MovieWarning",
    "NAN_POLICIES",
    "SUPPORTED_DTYPES",
    "apply_nan_policy",
    "find_nan_frames",
    "iter_apply_nan_policy",
    "iter_find_nan_frames",
    "open_movie",
    "movie_info",
    "contrast_limits",
    "iter_save_movie",
    "save_movie",
    "natural_sort_key",
]
