"""Export of a results folder (or an in-memory CNMF result) to an NWB file.

Neurodata Without Borders (NWB 2, written with ``pynwb``, the optional extra
``napari-amnesia[nwb]``) is what the DANDI archive requires. :func:`write_nwb` writes
one file that passes ``nwbinspector`` without a critical issue:

==========================================================  ===========================
NWB object (path in the file)                               from
==========================================================  ===========================
``general/subject``, session fields, ``Device``,            the metadata YAML
``ImagingPlane`` (rate, indicator, location, excitation     (:func:`metadata_template`,
and emission in nm) with its ``OpticalChannel``             :func:`read_metadata`)
``acquisition/TwoPhotonSeries`` (or ``OnePhotonSeries``)    the input movie, when
                                                            ``movie`` is ``"link"`` or
                                                            ``"copy"``
``processing/ophys/TwoPhotonSeriesCorrected``               the motion-corrected movie
                                                            (instead, when motion ran)
``processing/ophys/ImageSegmentation/PlaneSegmentation``    CNMF components: ``id`` =
                                                            label value, ``image_mask``
                                                            (K, Y, X) footprints,
                                                            ``accepted``, ``anatomical``,
                                                            ``snr``, ``r_value``
``processing/ophys/Fluorescence/RoiResponseSeries``         raw fluorescence (``C + YrA``)
``processing/ophys/Fluorescence/Denoised``                  denoised calcium ``C``
``processing/ophys/Fluorescence/Deconvolved``               deconvolved activity ``S``
``processing/ophys/DfOverF/RoiResponseSeries``              ΔF/F
``processing/ophys/SummaryImages``                          mean, max, std, correlation,
                                                            PNR... images, the motion
                                                            template
``processing/ophys/MotionShifts`` (and ``MotionShiftsPiecewise``)  rigid (and patch) shifts
``processing/ophys/ImageSegmentation/SkeletonBranches``     one pixel mask per branch
                                                            with the branch table
``processing/ophys/ImageSegmentation/ClustersLevel<l>``     one pixel mask per cluster,
``processing/ophys/ClusterMeanTraces/ClustersLevel<l>``     and its mean trace
==========================================================  ===========================

Traces are ``RoiResponseSeries`` shaped ``(time, ROIs)`` whose ``rois`` region points
at the segmentation's rows. Only real components are ROIs: CNMF's background
components are not exported. Rejected components are (``accepted`` False) unless
``accepted_only``.

Axes: NWB calls the first image axis ``x``. As suite2p's and CaImAn's NWB writers
do, the first image axis is the *row* here: movies are ``(T, Y, X)``, image masks
``(Y, X)`` indexed ``[row, column]`` like napari's layers, and the pixel masks of
the skeleton and clusters hold ``(x, y, weight)`` = ``(row, column, weight)``.

Large data is written as HDF5 chunks filled one block at a time, so memory does not
grow with the recording, all gzip with the shuffle filter (readable by every HDF5
tool): image masks in chunks of one ROI by 128 x 128 pixels, of which only the few a
footprint touches are written (the others read as 0: 1000 ROIs of a 512 x 512 field
take ~1200 small chunks, not 1000 MB); traces in chunks of 4096 frames x 64 ROIs; a
copied movie in chunks of about 4 MB. The chunks of traces and movie are compressed
on every core (zlib releases the GIL) and stored as they are; their bytes do not
depend on the number of threads. The file is written under a temporary name beside
its destination and renamed at the end
(:func:`napari_amnesia.core.files.atomic_file`): a failed or cancelled export leaves
nothing, and an existing file is replaced only with ``overwrite`` and only when the
package wrote it.

Examples
--------
>>> from napari_amnesia.core.formats.nwb import metadata_template
>>> print(metadata_template().splitlines()[0])
# Metadata of an NWB export by napari-amnesia

References
----------
.. [1] Rübel et al. (2022), "The Neurodata Without Borders ecosystem for
   neurophysiological data science", eLife 11:e78362.
.. [2] suite2p, ``suite2p/io/nwb.py`` (``save_nwb``/``read_nwb``): an ``ophys``
   module, pixel masks written as ``(ypix, xpix, lam)`` (NWB's x is the row), the
   movie's ``dimension`` ``[Ly, Lx]`` (its reader wants suite2p's own containers,
   ``Neuropil`` and ``iscell``, which a CNMF result does not have). CaImAn's
   ``Estimates.save_NWB`` shapes image masks ``dims`` = (rows, columns) too, but
   also writes the background components as ROIs and no deconvolved activity,
   which this export does not copy.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_file
from ..progress import Progress, ProgressGenerator, drive
from .nwb_metadata import MetadataError, check_metadata, metadata_template, read_metadata

__all__ = ["write_nwb", "iter_write_nwb", "metadata_template", "read_metadata",
           "check_metadata", "MetadataError", "MOVIE_MODES"]

logger = logging.getLogger(__name__)

#: What ``movie=`` accepts: no movie, an external link (relative path) or a copy.
MOVIE_MODES = ("none", "link", "copy")



@dataclass
class _Sources:
    """What one export reads: results of each stage, the movie, provenance."""

    cnmf: Any = None
    summary: Any = None
    motion: Any = None
    skeleton: Any = None
    clusterings: list = field(default_factory=list)
    movie_path: Path | None = None
    movie_corrected: bool = False
    name: str = "results"
    notes: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int | None:
        if self.cnmf is not None:
            return self.cnmf.n_frames
        if self.motion is not None:
            return len(self.motion.shifts)
        if self.summary is not None:
            return int(self.summary.n_frames)
        return None

    @property
    def shape(self) -> tuple[int, int] | None:
        if self.cnmf is not None:
            return tuple(self.cnmf.shape)
        for image in (getattr(self.summary, "mean", None),
                      getattr(self.motion, "template", None),
                      getattr(self.skeleton, "mask", None)):
            if image is not None:
                return tuple(np.shape(image))
        return None


# ----------------------------------------------------------------------------- public


def write_nwb(results: Any, path: str | os.PathLike, *, metadata: Any = None,
              movie: str = "none", movie_file: str | os.PathLike | None = None,
              accepted_only: bool = False, overwrite: bool = False,
              progress: Callable[[Progress], Any] | None = None,
              cancel: Callable[[], bool] | None = None) -> Path:
    """Write results as an NWB file (see the module description for its content).

    Parameters
    ----------
    results : path-like, SourceResult or dict
        A results folder written by the package (``amnesia run``, ``amnesia cnmf``,
        a batch's recording: its ``cnmf/result``, ``summary``, ``motion``,
        ``skeleton`` and ``clustering`` sub-folders are read when present), a saved
        CNMF result folder, an in-memory
        :class:`~napari_amnesia.core.cnmf.SourceResult`, or ``{stage: result}``
        (``"cnmf"``, ``"summary"``, ``"motion"``, ``"skeleton"``, ``"clustering"``,
        as in the pipeline's ``record["results"]``).
    path : path-like
        The NWB file to write (its name ends with ``.nwb``; its folder exists).
    metadata : path-like or mapping
        The subject, session, device and imaging metadata: a YAML file filled from
        :func:`metadata_template`, or the same as a dict. Required: NWB files carry
        no placeholder metadata.
    movie : {"none", "link", "copy"}
        Leave the movie out, link it as an external file (a path relative to the
        NWB file; only a single movie file can be linked) or copy it into the file
        (chunked, compressed).
    movie_file : path-like, optional
        The movie to link or copy. Default: the results folder's motion-corrected
        movie (``motion/corrected.tif``: the ROIs lie on it) when motion correction
        ran, else its input movie (``summary.json``), else ``movie.tif`` in it.
    accepted_only : bool
        Export only the accepted components (default: all, with ``accepted``).
    overwrite : bool
        Replace an existing file that the package wrote.
    progress : callable, optional
        Called with each :class:`~napari_amnesia.core.progress.Progress`.
    cancel : callable, optional
        Polled after each step; True stops the export (nothing is left behind) and
        raises :class:`~napari_amnesia.core.progress.Cancelled`.

    Returns
    -------
    Path
        The NWB file.

    Raises
    ------
    ImportError
        Without pynwb (``pip install 'napari-amnesia[nwb]'``).
    MetadataError
        Missing or invalid metadata, every problem named.
    OutputExistsError
        ``path`` exists (without ``overwrite``, or not written by the package).
    ValueError, FileNotFoundError
        Results that are not the package's, a movie that is missing or whose shape
        differs from the results', a bad ``movie`` choice.
    """
    return drive(iter_write_nwb(results, path, metadata=metadata, movie=movie,
                                movie_file=movie_file, accepted_only=accepted_only,
                                overwrite=overwrite), progress, cancel=cancel)


def iter_write_nwb(results: Any, path: str | os.PathLike, *, metadata: Any = None,
                   movie: str = "none", movie_file: str | os.PathLike | None = None,
                   accepted_only: bool = False, overwrite: bool = False
                   ) -> ProgressGenerator[Path]:
    """Write the NWB file as :func:`write_nwb` does, yielding Progress; return its path.

    Closing the generator (a cancel) removes the temporary file; an earlier file at
    ``path`` is left as it was.
    """
    _require_pynwb()
    path = Path(os.path.expanduser(os.fspath(path)))
    if movie not in MOVIE_MODES:
        raise ValueError(f"movie should be one of {', '.join(MOVIE_MODES)}, got {movie!r}.")
    if path.is_dir():
        raise ValueError(f"{path} is a folder: give the NWB file's name (ending .nwb).")
    if path.suffix.lower() != ".nwb":
        raise ValueError(f"an NWB file's name ends with .nwb, got {path.name!r}.")
    if movie == "none" and movie_file is not None:
        raise ValueError("movie_file names the movie to link or copy: give movie='link' or "
                         "'copy' with it (amnesia export --movie link|copy).")
    meta = _metadata(metadata)
    yield Progress(0, 0, "NWB: reading results")
    sources = _gather(results, movie=movie, movie_file=movie_file)
    if accepted_only and sources.cnmf is not None:
        sources.cnmf = sources.cnmf.select(sources.cnmf.accepted)
    _check_consistent(sources)
    if sources.cnmf is not None and sources.cnmf.K == 0:
        logger.warning("%s has no CNMF component: the NWB file has no ROIs.", sources.name)
    lazy_movie = None
    if movie != "none":
        lazy_movie = _check_movie(sources, movie)

    from .nwb_build import build_nwbfile

    nwbfile, fills = build_nwbfile(sources, meta, movie=movie, movie_data=lazy_movie,
                                   nwb_folder=path.parent)
    total = sum(f.units for f in fills) + 1
    done = 0
    inputs = [sources.movie_path] if sources.movie_path is not None else []
    with atomic_file(path, overwrite=overwrite, inputs=inputs) as tmp:
        _write_structure(nwbfile, tmp)
        done += 1
        yield Progress(done, total, "NWB: writing")
        import h5py

        with h5py.File(tmp, "r+") as fh:
            for fill in fills:
                dataset = fh[fill.where]
                for step in fill.fill(dataset):
                    done += step
                    yield Progress(done, total, f"NWB: {fill.what}")
    logger.info("NWB file written: %s", path)
    return path


# --------------------------------------------------------------------------- internals


def _require_pynwb() -> None:
    try:
        import pynwb  # noqa: F401
    except ImportError as exc:
        raise ImportError("the NWB export needs pynwb: pip install 'napari-amnesia[nwb]'."
                          ) from exc


def _metadata(metadata: Any) -> dict:
    if metadata is None:
        raise MetadataError(
            "the NWB export needs the session's metadata (subject, session start, device, "
            "indicator, wavelengths, frame rate): write the template with "
            "metadata_template() (amnesia export --metadata-template --out FILE), fill it "
            "and pass it as metadata.")
    if isinstance(metadata, Mapping):
        return check_metadata(metadata)
    return read_metadata(metadata)


def _write_structure(nwbfile: Any, tmp: Path) -> None:
    """Write every object of the file; large datasets are created empty (filled later)."""
    import warnings

    from pynwb import NWBHDF5IO

    with warnings.catch_warnings():
        # empty datasets given by shape and dtype are what is meant here
        warnings.filterwarnings("ignore", message=".*ignored when 'data' is specified.*")
        # the temporary name ends with .part; the file is renamed to its .nwb name
        warnings.filterwarnings("ignore", message=".*does not end in '.nwb'.*")
        with NWBHDF5IO(os.fspath(tmp), "w") as io:
            io.write(nwbfile)


def _gather(results: Any, *, movie: str, movie_file: Any) -> _Sources:
    """Load what the export needs from a results folder, a result or a dict of results."""
    from ..cnmf.result import SourceResult

    if isinstance(results, SourceResult):
        sources = _Sources(cnmf=results, name="CNMF result")
        sources.notes = {"cnmf": results.params.to_dict(), "provenance": results.provenance}
    elif isinstance(results, Mapping):
        sources = _from_mapping(results)
    elif isinstance(results, (str, os.PathLike)):
        sources = _from_folder(Path(os.path.expanduser(os.fspath(results))))
    else:
        raise TypeError("results should be a results folder, a SourceResult or a dict of "
                        f"stage results, got {type(results).__name__}.")
    if sources.cnmf is None and sources.skeleton is None and not sources.clusterings \
            and sources.summary is None:
        raise ValueError(f"{sources.name} has nothing to export to NWB (no CNMF result, "
                         "summary images, skeleton or clusters).")
    if movie_file is not None:
        movie_path = Path(os.path.expanduser(os.fspath(movie_file)))
        if not movie_path.exists():
            raise FileNotFoundError(f"movie file {movie_path} does not exist.")
        corrected = sources.movie_path is not None and sources.movie_corrected and \
            movie_path.resolve() == sources.movie_path.resolve()
        sources.movie_path, sources.movie_corrected = movie_path, corrected
    elif movie != "none" and sources.movie_path is None:
        raise ValueError(f"movie={movie!r} needs the movie, and {sources.name} names none "
                         "that exists: pass movie_file (amnesia export --movie-file PATH).")
    return sources


def _from_mapping(results: Mapping) -> _Sources:
    known = ("cnmf", "summary", "motion", "skeleton", "clustering")
    unknown = [k for k in results if k not in known and k != "truth_labels"
               and k != "template_offset"]
    if unknown:
        raise ValueError(f"unknown result(s) {', '.join(map(str, unknown))} (known: "
                         f"{', '.join(known)}).")
    clustering = results.get("clustering")
    levels = list(getattr(clustering, "clusterings", None) or [])
    if clustering is not None and not levels and hasattr(clustering, "labels"):
        levels = [clustering]  # a ClusterResult
    sources = _Sources(cnmf=results.get("cnmf"), summary=results.get("summary"),
                       motion=results.get("motion"), skeleton=results.get("skeleton"),
                       clusterings=levels, name="results")
    sources.notes = {name: _params(result) for name, result in results.items()
                     if name in known and result is not None}
    return sources


def _params(result: Any) -> Any:
    params = getattr(result, "params", None)
    return params.to_dict() if hasattr(params, "to_dict") else params


def _from_folder(folder: Path) -> _Sources:
    """Read a results folder, a saved CNMF result or a curation, and the stages beside it."""
    if not folder.is_dir():
        raise FileNotFoundError(f"results folder {folder} does not exist.")
    sources = _Sources(name=str(folder))
    sources.cnmf = _cnmf_in(folder)
    # the pipeline's results folder: this one, or the one holding cnmf/ or cnmf/result/
    root = next((p for p in (folder, folder.parent, folder.parent.parent)
                 if (p / "summary.json").is_file()), None)
    if root is None:
        if sources.cnmf is None:
            raise ValueError(f"{folder} is not a napari-amnesia results folder (no "
                             "summary.json), a saved CNMF result (no result.json) or a "
                             "curation (no curation.json).")
        sources.notes = {"cnmf": sources.cnmf.params.to_dict(),
                         "provenance": sources.cnmf.provenance}
        return sources
    summary_json = root / "summary.json"
    try:
        record = json.loads(summary_json.read_text())
    except ValueError as exc:
        raise ValueError(f"{summary_json} is not valid JSON: {exc}") from exc
    sources.notes = {"napari_amnesia": record.get("napari_amnesia"),
                     "created": record.get("created"), "input": record.get("input"),
                     "stages": {name: stage.get("params") for name, stage
                                in (record.get("stages") or {}).items()}}
    if (root / "summary" / "params.json").is_file():
        from ..summary.result import SummaryImages

        sources.summary = SummaryImages.load(root / "summary")
    if (root / "motion" / "shifts.csv").is_file():
        from ..motion.result import MotionResult

        sources.motion = MotionResult.load(root / "motion")
    if (root / "skeleton" / "arrays.npz").is_file():
        from ..skeleton.result import SkeletonResult

        sources.skeleton = SkeletonResult.load(root / "skeleton")
    if (root / "clustering" / "activity.json").is_file():
        from ..activity import ActivityResult

        sources.clusterings = list(ActivityResult.load(root / "clustering").clusterings)
    corrected = root / "motion" / "corrected.tif"
    if corrected.is_file():
        sources.movie_path, sources.movie_corrected = corrected, True
    else:
        sources.movie_path = _input_movie(root, record.get("input") or {})
    return sources


def _cnmf_in(folder: Path) -> Any:
    """Return the CNMF result in ``folder`` (a curation: its curated ROIs), or None."""
    from ..cnmf.result import SourceResult

    if (folder / "curation.json").is_file():
        from ..curation import curated_result, read_curation

        state = read_curation(folder)
        if state["result"] is None:
            raise ValueError(f"{folder} is a curation without extracted traces (no "
                             "result/): re-extract the ROIs and save it again.")
        return curated_result(state["result"], state["table"], labels=state["labels"])
    for sub in (folder, folder / "result", folder / "cnmf" / "result"):
        if (sub / "result.json").is_file() and (sub / "arrays.npz").is_file():
            return SourceResult.load(sub)
    return None


def _input_movie(folder: Path, info: Mapping) -> Path | None:
    """Return the input movie a results folder names, if it is a file that still exists."""
    named = info.get("path")
    candidates = []
    if isinstance(named, str) and named:
        given = Path(os.path.expanduser(named))
        candidates = [given] if given.is_absolute() else [folder / given, Path.cwd() / given,
                                                          folder.parent / given]
    candidates.append(folder / "movie.tif")
    return next((c for c in candidates if c.is_file()), None)


def _check_consistent(sources: _Sources) -> None:
    """Refuse results whose parts disagree on the number of frames or the frame shape."""
    frames = {"CNMF": sources.cnmf.n_frames if sources.cnmf is not None else None,
              "motion": len(sources.motion.shifts) if sources.motion is not None else None}
    shapes = {"CNMF": tuple(sources.cnmf.shape) if sources.cnmf is not None else None,
              "summary": np.shape(sources.summary.mean) if sources.summary is not None
              else None,
              "skeleton": np.shape(sources.skeleton.mask) if sources.skeleton is not None
              else None}
    for what, values in (("frames", frames), ("frame shapes", shapes)):
        seen = {k: v for k, v in values.items() if v is not None}
        if len(set(map(str, seen.values()))) > 1:
            said = ", ".join(f"{k} {v}" for k, v in seen.items())
            raise ValueError(f"{sources.name}: the results disagree on their {what} ({said}); "
                             "they do not come from one recording.")


def _check_movie(sources: _Sources, movie: str) -> Any:
    """Check the movie to link or copy against the results; return it lazily (copy)."""
    from ..io import movie_info, open_movie

    path = sources.movie_path
    if movie == "link" and not path.is_file():
        raise ValueError(f"only a single movie file can be linked from NWB, {path} is not "
                         "one: use movie='copy' (amnesia export --movie copy).")
    try:
        info = movie_info(path)
    except Exception as exc:  # unreadable files: the reader's own message
        raise ValueError(f"cannot read the movie {path}: {exc}") from exc
    shape = tuple(int(n) for n in info["shape"])
    want_frames, want_shape = sources.n_frames, sources.shape
    if (want_frames is not None and shape[0] != want_frames) or \
            (want_shape is not None and shape[1:] != tuple(want_shape)):
        raise ValueError(f"the movie {path} has shape {shape}, the results were computed on "
                         f"({want_frames}, {', '.join(map(str, want_shape or ()))}): "
                         "give the movie they come from.")
    if movie == "copy":
        return open_movie(path)
    return info
