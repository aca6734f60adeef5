"""Exchange formats: results written for other tools, and other tools' results read in.

:func:`export` writes a CNMF result (a
:class:`~napari_amnesia.core.cnmf.SourceResult`, or a results folder: see
:func:`~.results.load_result`) in one of the ecosystem's formats:

======================  ==============================================================
format                  ``out`` is
======================  ==============================================================
``nwb``                 an ``.nwb`` file (:mod:`.nwb`; needs ``pip install
                        'napari-amnesia[nwb]'`` and the session's metadata)
``suite2p``             a suite2p folder: ``out/plane0/`` holds stat.npy, F.npy,
                        Fneu.npy, spks.npy, iscell.npy, ops.npy (:mod:`.suite2p`)
``imagej``              an ImageJ/Fiji ROI set (``.zip``), one polygon per ROI
``csv``                 a folder: components.csv, traces/raw_traces/spikes/dff CSV
                        (with labels.tif and rois.zip, as ``cnmf/exports/``)
``labels``              a ``(Y, X)`` labels TIFF that reopens as a napari Labels layer
======================  ==============================================================

:func:`import_results` turns a suite2p plane folder (:mod:`.suite2p`) or a CaImAn
HDF5 results file (:mod:`.caiman`) into the package's own CNMF result folder, which
then opens in napari, is curated, re-extracted and exported like a fitted one;
:func:`read_results` gives the result without saving it.

Every output is written atomically, and an existing one is replaced only with
``overwrite`` and only if napari-amnesia wrote it (:mod:`napari_amnesia.core.files`).

Examples
--------
>>> from napari_amnesia.core import formats
>>> formats.FORMATS
('nwb', 'suite2p', 'imagej', 'csv', 'labels')
>>> formats.import_results("suite2p/plane0", "imported")  # doctest: +SKIP
>>> formats.export("imported", "imagej", "rois.zip")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..progress import Progress, ProgressGenerator, drive

__all__ = ["FORMATS", "OPTIONS", "export", "iter_export", "import_results", "read_results",
           "detect"]

#: The formats :func:`export` writes.
FORMATS = ("nwb", "suite2p", "imagej", "csv", "labels")

#: The keyword options each format accepts.
OPTIONS = {
    "nwb": ("metadata", "movie", "movie_file", "accepted_only"),
    "suite2p": ("fs", "images", "neucoeff"),
    "imagej": ("accepted_only", "threshold"),
    "csv": ("accepted_only", "threshold"),
    "labels": ("accepted_only", "threshold"),
}


def _check(format: str, options: dict) -> None:  # noqa: A002 - the user's word
    if format not in FORMATS:
        raise ValueError(f"format should be one of {', '.join(FORMATS)}, got {format!r}.")
    unknown = sorted(set(options) - set(OPTIONS[format]))
    if unknown:
        allowed = ", ".join(OPTIONS[format])
        raise ValueError(f"the {format} export takes no option {', '.join(unknown)} "
                         f"(it takes: {allowed}).")


def _labels_tiff(result: Any, out: Path, *, accepted_only: bool, threshold: float,
                 overwrite: bool) -> Path:
    import numpy as np
    import tifffile

    from ..files import atomic_file

    if out.suffix.lower() not in (".tif", ".tiff"):
        raise ValueError(f"{out}: a labels image is a .tif file.")
    labels = result.labels(threshold, accepted_only=accepted_only)
    dtype = np.uint16 if labels.max(initial=0) < 2**16 else np.int32
    # the metadata that napari-amnesia's reader recognises as a Labels layer
    meta = {"napari_amnesia": {"layer_type": "labels", "name": out.stem}}
    with atomic_file(out, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, labels.astype(dtype), metadata=meta, compression="zlib")
    return out


def iter_export(results: Any, format: str, out: str | os.PathLike, *,  # noqa: A002
                overwrite: bool = False, **options: Any) -> ProgressGenerator[Path]:
    """Yield the progress of :func:`export` (its generator twin); return the path written."""
    _check(format, options)
    out = Path(os.path.expanduser(os.fspath(out)))
    if format == "nwb":
        from .results import load_result, results_folder

        try:
            from .nwb import iter_write_nwb
        except ImportError as exc:  # pynwb missing
            raise ImportError("the NWB export needs pynwb: pip install "
                              "'napari-amnesia[nwb]'.") from exc
        if isinstance(results, (str, os.PathLike)) and \
                results_folder(results)[1] == "curation":
            results = load_result(results)  # the curated ROIs and decisions
        return (yield from iter_write_nwb(results, out, overwrite=overwrite, **options))
    yield Progress(0, 1, f"{format} export")
    from .results import load_result

    if format == "suite2p":
        from .suite2p import write_suite2p

        written = write_suite2p(results, out, overwrite=overwrite, **options)
    else:
        from ..cnmf.export import export as export_folder
        from ..cnmf.export import write_imagej_rois

        result = load_result(results)
        accepted_only = bool(options.get("accepted_only", True))
        threshold = float(options.get("threshold", 0.2))
        if format == "csv":
            written = export_folder(result, out, accepted_only=accepted_only,
                                         threshold=threshold, overwrite=overwrite)
        elif format == "labels":
            written = _labels_tiff(result, out, accepted_only=accepted_only,
                                   threshold=threshold, overwrite=overwrite)
        else:
            chosen = result.accepted if accepted_only else slice(None)
            names = [f"roi_{int(v)}" for v in result.label_values[chosen]]
            outlines = result.contours(threshold, accepted_only=accepted_only)
            written = write_imagej_rois(out, outlines, names, overwrite=overwrite)
    yield Progress(1, 1, f"{format} export")
    return Path(written)


def export(results: Any, format: str, out: str | os.PathLike, *,  # noqa: A002
           overwrite: bool = False, progress: Callable[[Progress], Any] | None = None,
           cancel: Callable[[], bool] | None = None, **options: Any) -> Path:
    """Write ``results`` in ``format`` to ``out``.

    Parameters
    ----------
    results : SourceResult or path
        A CNMF result, or a results folder: a saved result, the folder of ``amnesia
        cnmf`` / ``amnesia run`` / ``amnesia import``, a saved curation (its curated
        ROIs and decisions). NWB also takes the other stages of a results folder.
    format : {"nwb", "suite2p", "imagej", "csv", "labels"}
        See the module documentation for what ``out`` is.
    out : path
        The file or folder to create.
    overwrite : bool
        Replace an existing ``out``, only if napari-amnesia wrote it.
    progress : callable, optional
        Called with each :class:`~napari_amnesia.core.progress.Progress`.
    cancel : callable, optional
        Polled after each step; True stops (nothing is left behind).
    **options
        Of the format (:data:`OPTIONS`): ``nwb``: ``metadata`` (YAML file or dict,
        required), ``movie`` (``"none"``, ``"link"``, ``"copy"``), ``movie_file``,
        ``accepted_only``; ``suite2p``: ``fs``, ``images``, ``neucoeff``;
        ``imagej``/``csv``/``labels``: ``accepted_only`` (default True),
        ``threshold`` (fraction of each footprint's maximum that outlines it, 0.2).

    Returns
    -------
    Path
        What was written (for suite2p: the plane folder).

    Raises
    ------
    ValueError
        An unknown format or option, a bad output name (``.zip``, ``.tif``, ``.nwb``).
    FileNotFoundError
        When ``results`` holds no CNMF result.
    ImportError
        NWB without pynwb.
    OutputExistsError
        When ``out`` exists (without ``overwrite``, or not written by the package).
    """
    return drive(iter_export(results, format, out, overwrite=overwrite, **options),
                 progress, cancel=cancel)


def detect(src: Any) -> str | None:
    """Return ``"suite2p"`` or ``"caiman"`` for what ``src`` holds, else None; never raises."""
    from .caiman import is_caiman_file
    from .suite2p import is_suite2p_plane

    if is_suite2p_plane(src):
        return "suite2p"
    if is_caiman_file(src):
        return "caiman"
    return None


def read_results(src: str | os.PathLike, *, movie: Any = None) -> Any:
    """Read a suite2p plane folder or a CaImAn HDF5 file as a CNMF result.

    Parameters
    ----------
    src : path
        A suite2p plane folder (or its ``stat.npy``, or a ``suite2p`` folder of one
        plane), or a CaImAn ``.hdf5`` file.
    movie : path or array_like, optional
        The recording: checked against the results' frame size and length and
        recorded in the provenance.

    Returns
    -------
    SourceResult

    Raises
    ------
    FileNotFoundError
        ``src`` is missing, or a folder that is not a suite2p plane (naming the
        missing file).
    ValueError
        A file that is not a CaImAn result, files that disagree, or a movie of another
        size.
    """
    from .caiman import CAIMAN_SUFFIXES, read_caiman
    from .suite2p import read_suite2p

    path = Path(os.path.expanduser(os.fspath(src)))
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")
    if path.is_dir() or path.name == "stat.npy":
        return read_suite2p(path, movie=movie)
    if path.suffix.lower() in CAIMAN_SUFFIXES:
        return read_caiman(path, movie=movie)
    raise ValueError(f"{path} is neither a suite2p plane folder nor a CaImAn HDF5 "
                     "results file (.hdf5).")


def import_results(src: str | os.PathLike, out: str | os.PathLike, *,
                   overwrite: bool = False, movie: Any = None) -> Path:
    """Read another tool's results (:func:`read_results`) into a CNMF result folder.

    Parameters
    ----------
    src : path
        A suite2p plane folder or a CaImAn HDF5 file (never written to).
    out : path
        The result folder to create (:meth:`SourceResult.save
        <napari_amnesia.core.cnmf.SourceResult.save>`: it loads with
        ``SourceResult.load``, opens in napari and exports with :func:`export`).
    overwrite : bool
        Replace an existing ``out``, only if napari-amnesia wrote it.
    movie : path or array_like, optional
        The recording, checked and recorded (:func:`read_results`).

    Returns
    -------
    Path
        ``out``.
    """
    from ..files import check_destination

    out = Path(os.path.expanduser(os.fspath(out)))
    inputs = [src] + ([movie] if isinstance(movie, (str, os.PathLike)) else [])
    check_destination(out, overwrite, folder=True, inputs=inputs)
    result = read_results(src, movie=movie)
    return result.save(out, overwrite=overwrite)
