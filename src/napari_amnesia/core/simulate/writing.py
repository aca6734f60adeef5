"""Writing a simulation: a movie streamed to a TIFF file in bounded memory.

The scene is built once; frames are rendered in blocks by dask's local threads and
written at their place in a contiguous (memory-mappable) TIFF. The file is written
through :func:`napari_amnesia.core.files.atomic_file`: under a temporary name, renamed
when complete, recorded in the folder's ``.napari-amnesia.json`` manifest, and never
replacing a file the package did not write.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any

import numpy as np

from ..files import atomic_file
from ..progress import Progress, drive
from .params import SimulationParams, _check_int
from .simulation import _prepare
from .truth import GroundTruth

__all__ = ["iter_write_simulated_movie", "write_simulated_movie"]

logger = logging.getLogger(__name__)

_BIGTIFF_BYTES = 2**31
#: frame shape of a written movie when neither ``params`` nor ``shape`` give one
_WRITE_SHAPE = (512, 512)


def _write_params(params: SimulationParams | Mapping[str, Any] | None,
                  overrides: dict[str, Any]) -> SimulationParams:
    """Return the parameters of a written movie (n_frames required, 512 x 512 by default)."""
    if params is None:
        if overrides.get("n_frames") is None:
            raise TypeError("write_simulated_movie needs n_frames (or params).")
        params = SimulationParams(shape=_WRITE_SHAPE)
    chosen = SimulationParams.resolve(params, overrides)
    if chosen.dtype != "uint16":
        raise ValueError(
            f'dtype must be "uint16" for write_simulated_movie, got {chosen.dtype!r}.')
    return chosen


def iter_write_simulated_movie(
    path: str | os.PathLike,
    params: SimulationParams | Mapping[str, Any] | None = None,
    *,
    chunk_frames: int = 500,
    overwrite: bool = False,
    **overrides: Any,
) -> Generator[Progress, None, GroundTruth]:
    """Write a simulated movie, yielding progress (generator twin of the writer).

    Same parameters (without ``progress``); yields a
    :class:`~napari_amnesia.core.progress.Progress` after every ``chunk_frames`` frames
    and returns the :class:`GroundTruth`. Closing the generator early removes the
    partial file.
    """
    chunk_frames = _check_int("chunk_frames", chunk_frames, 1)
    chosen = _write_params(params, overrides)
    import dask.array as da
    import tifffile

    t0 = time.perf_counter()
    with atomic_file(path, overwrite=overwrite) as tmp:
        truth = _prepare(chosen, {})
        T = truth.n_frames
        Y, X = truth.shape
        frame_bytes = Y * X * 2
        bigtiff = T * frame_bytes > _BIGTIFF_BYTES
        # 1. the TIFF structure of one contiguous (T, Y, X) series, no pixel data yet
        with tifffile.TiffWriter(tmp, bigtiff=bigtiff) as writer:
            writer.write(
                None,
                shape=(T, Y, X),
                dtype=np.uint16,
                photometric="minisblack",
                metadata={"axes": "TYX", "source": "napari_amnesia.simulate", "seed": truth.seed},
            )
        with tifffile.TiffFile(tmp) as tif:
            data_offset = tif.series[0].dataoffset
        if data_offset is None:  # pragma: no cover - tifffile always writes it contiguous
            raise RuntimeError(f"tifffile did not write {tmp} contiguously")
        # 2. pixel data: blocks of frames rendered by dask's local threads, each written
        #    at its place in the file (memory: a few blocks of frames)
        lazy = truth.to_dask()
        with open(tmp, "r+b") as fh:
            for c0 in range(0, T, chunk_frames):
                c1 = min(T, c0 + chunk_frames)
                target = _FileFrames(fh, data_offset + c0 * frame_bytes, frame_bytes)
                da.store(lazy[c0:c1], target, lock=False, scheduler="threads")
                yield Progress(c1, T, "writing simulated movie")
    truth.provenance["elapsed_s"] = round(time.perf_counter() - t0, 6)
    logger.info("write_simulated_movie: wrote %s (%d frames of %dx%d)", path, T, Y, X)
    return truth


class _FileFrames:
    """``da.store`` target writing whole frames into an open file at ``offset``."""

    def __init__(self, fh: Any, offset: int, frame_bytes: int) -> None:
        self.fh = fh
        self.offset = offset
        self.frame_bytes = frame_bytes
        self.lock = threading.Lock()

    def __setitem__(self, key: tuple[slice, ...], block: np.ndarray) -> None:
        data = np.ascontiguousarray(block, "<u2")
        with self.lock:
            self.fh.seek(self.offset + key[0].start * self.frame_bytes)
            self.fh.write(data.data)


def write_simulated_movie(
    path: str | os.PathLike,
    params: SimulationParams | Mapping[str, Any] | None = None,
    *,
    chunk_frames: int = 500,
    overwrite: bool = False,
    progress: Callable[[Progress], Any] | None = None,
    **overrides: Any,
) -> GroundTruth:
    """Simulate a movie and write it to a contiguous uint16 TIFF in bounded memory.

    The scene, activity and motion are generated once (their size does not grow with
    the pixels × frames product); frames are then rendered in blocks and streamed to
    the file, so memory stays well under 1 GB even for 512 × 512 × 10000 frames (a
    5 GB file). Files over 2 GB are written as BigTIFF. The pixels equal those of
    ``simulate(params, **overrides)`` exactly (with ``shape`` 512 × 512 when neither
    gives one). The file is written under a temporary name, renamed when complete and
    recorded in the manifest of its folder (see :mod:`napari_amnesia.core.files`).

    Parameters
    ----------
    path : str or path-like
        Output TIFF file.
    params : SimulationParams or dict, optional
        The simulation (``dtype`` must be ``"uint16"``). None: the defaults of
        :class:`SimulationParams` with ``shape=(512, 512)``, and ``n_frames`` must
        be given.
    chunk_frames : int
        Frames between two progress reports.
    overwrite : bool
        Replace an existing ``path``; only a file that napari-amnesia wrote (one the
        folder's manifest lists, unchanged since) is ever replaced.
    progress : callable, optional
        Called with a :class:`~napari_amnesia.core.progress.Progress` after every chunk.
    **overrides
        Any parameter of :class:`SimulationParams` (``n_frames``, ``shape``, ``rng``,
        ``n_cells``...), as for :func:`simulate`.

    Returns
    -------
    GroundTruth
        The ground truth of the written movie.

    Raises
    ------
    napari_amnesia.core.files.OutputExistsError
        If ``path`` exists and not ``overwrite``.
    napari_amnesia.core.files.NotOwnedError
        If ``path`` is a file napari-amnesia did not write (or that changed since).

    Examples
    --------
    >>> import tempfile, os, tifffile
    >>> folder = tempfile.mkdtemp()
    >>> truth = write_simulated_movie(os.path.join(folder, "sim.tif"), n_frames=20,
    ...                               shape=(32, 32), n_cells=2, rng=0)
    >>> tifffile.memmap(os.path.join(folder, "sim.tif")).shape
    (20, 32, 32)
    >>> sorted(os.listdir(folder))
    ['.napari-amnesia.json', 'sim.tif']
    """
    return drive(
        iter_write_simulated_movie(
            path, params, chunk_frames=chunk_frames, overwrite=overwrite, **overrides
        ),
        progress,
    )
