"""Skeleton statistics across movies: one row of totals per movie, and its CSV file."""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..files import atomic_file, jsonable
from ..progress import Progress, drive
from .params import SkeletonParams
from .run import iter_skeletonize

__all__ = ["STATISTICS_COLUMNS", "iter_skeleton_statistics", "skeleton_statistics",
           "write_statistics_csv"]

logger = logging.getLogger(__name__)

#: Columns of the statistics table, in order (then any extra columns).
STATISTICS_COLUMNS = (
    "path", "n_frames", "height", "width", "n_branches", "n_junctions", "n_endpoints",
    "n_components", "n_cycles", "total_length", "mean_branch_length", "skeleton_pixels",
    "mask_area", "n_somata", "n_endpoint_endpoint", "n_junction_endpoint", "n_junction_junction",
    "error", "folder",
)


def _describe_input(item: Any, index: int) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    return f"<array {index}>"


def _folder_name(stem: str, used: set[str]) -> str:
    """Return ``<stem>.skeleton``, or ``<stem>-2.skeleton``... if an earlier movie took it.

    Names are compared without case, for file systems that ignore it.
    """
    name, k = f"{stem}.skeleton", 1
    while name.casefold() in used:
        k += 1
        name = f"{stem}-{k}.skeleton"
    used.add(name.casefold())
    return name


def iter_skeleton_statistics(
    inputs: Iterable[Any],
    params: SkeletonParams | Mapping[str, Any] | None = None,
    *,
    errors: str = "raise",
    save_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    names: Sequence[str] | None = None,
    **overrides: Any,
) -> Iterator[Progress | dict[str, Any]]:
    """Skeletonize several movies; yields :class:`Progress` and returns the rows.

    Parameters
    ----------
    inputs : iterable of path or array
        Movie files/folders (opened lazily with
        :func:`~napari_amnesia.core.io.open_movie`) or (T, Y, X) arrays.
    params : SkeletonParams or dict, optional
    errors : {"raise", "record"}, optional
        On a movie that fails: raise (the message names the movie), or record
        the error in the row's ``error`` column and go on.
    save_dir : path, optional
        Also save each :class:`SkeletonResult` to ``save_dir/<stem>.skeleton``,
        where ``<stem>`` is the file name without its extension (``array_<i>``
        for an unnamed array). Movies whose stems are the same
        (``day1/movie.tif``, ``day2/movie.tif``) get ``movie.skeleton``,
        ``movie-2.skeleton``...; each row's ``folder`` says which is its own.
    overwrite : bool, optional
        Replace existing saved results.
    names : sequence of str, optional
        The name of each input, for the ``path`` column, the messages and the
        folder stem (default: the path, or ``<array i>``): an array read from a
        file keeps that file's name.
    **overrides
        Parameter overrides.

    Returns
    -------
    list of dict
        One row per movie: ``path``, ``n_frames``, ``height``, ``width``, the
        totals (:data:`STATISTICS_COLUMNS`), ``error`` and, with ``save_dir``,
        ``folder`` (the result's folder name in ``save_dir``; empty when the
        movie failed).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from napari_amnesia.core.progress import drive
    >>> movies = [np.zeros((4, 32, 32), np.uint16)] * 2
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     rows = drive(iter_skeleton_statistics(
    ...         movies, save_dir=folder, names=["day1/movie.tif", "day2/movie.tif"]))
    >>> [(row["path"], row["folder"]) for row in rows]
    [('day1/movie.tif', 'movie.skeleton'), ('day2/movie.tif', 'movie-2.skeleton')]
    """
    p = SkeletonParams.resolve(params, overrides)
    if errors not in ("raise", "record"):
        raise ValueError(f'errors should be "raise" or "record", got {errors!r}.')
    items = list(inputs)
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != len(items):
            raise ValueError(f"names should give one name per input ({len(items)}), "
                             f"got {len(names)}.")
    rows: list[dict[str, Any]] = []
    used_names: set[str] = set()
    for i, item in enumerate(items):
        label = names[i] if names is not None else _describe_input(item, i)
        yield Progress(i, len(items), f"skeleton statistics: {Path(label).name}")
        try:
            if isinstance(item, (str, os.PathLike)):
                from ..io import open_movie

                movie = open_movie(item)
            else:
                movie = item
            result = drive(iter_skeletonize(movie, p))
        except Exception as exc:
            if errors == "raise":
                raise type(exc)(f"{label}: {exc}") from exc
            logger.warning("skeleton statistics: %s failed: %s", label, exc)
            rows.append({"path": label, "error": f"{type(exc).__name__}: {exc}",
                         **({"folder": ""} if save_dir is not None else {})})
            continue
        shape = result.provenance["input_shape"]
        row = {"path": label, "n_frames": result.provenance["n_frames"],
               "height": shape[-2], "width": shape[-1], **result.totals, "error": ""}
        if save_dir is not None:
            named = names is not None or isinstance(item, (str, os.PathLike))
            row["folder"] = _folder_name(Path(label).stem if named else f"array_{i}",
                                         used_names)
            result.save(Path(save_dir) / row["folder"], overwrite=overwrite)
        rows.append(row)
    yield Progress(len(items), len(items), "skeleton statistics")
    return rows


def skeleton_statistics(
    inputs: Iterable[Any],
    params: SkeletonParams | Mapping[str, Any] | None = None,
    *,
    errors: str = "raise",
    save_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    names: Sequence[str] | None = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Return the per-skeleton totals of several movies, one row each.

    See :func:`iter_skeleton_statistics`. Write them with :func:`write_statistics_csv`.

    Examples
    --------
    >>> import numpy as np
    >>> rows = skeleton_statistics([np.zeros((4, 32, 32), np.uint16)])
    >>> rows[0]["n_branches"], rows[0]["path"]
    (0, '<array 0>')
    """
    return drive(iter_skeleton_statistics(inputs, params, errors=errors, save_dir=save_dir,
                                          overwrite=overwrite, names=names, **overrides))


def write_statistics_csv(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike, *,
                         overwrite: bool = False) -> Path:
    """Write statistics rows to a CSV file, atomically.

    Columns: :data:`STATISTICS_COLUMNS` first (those present in some row), then
    any other key in order of first appearance. Missing values are empty.
    """
    rows = [dict(r) for r in rows]
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    columns = [c for c in STATISTICS_COLUMNS if c in keys] + [
        k for k in keys if k not in STATISTICS_COLUMNS
    ]
    if not columns:
        columns = list(STATISTICS_COLUMNS)
    path = Path(path)
    with atomic_file(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for r in rows:
                writer.writerow({k: jsonable(v) for k, v in r.items()})
    return path
