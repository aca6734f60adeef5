"""The pynwb objects of an NWB export (:mod:`.nwb`), large datasets left to fill.

:func:`build_nwbfile` makes the ``NWBFile`` from the metadata and the results. Small
datasets are given whole. Large ones (image masks, traces, a copied movie) are
created empty, chunked and compressed (``H5DataIO(shape=..., dtype=...)``); each
comes with a :class:`Fill` that writes it block by block once the file's structure
is on disk, so that the export yields progress, can be cancelled between blocks and
never holds more than one block besides the results.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Fill", "build_nwbfile"]

_GZIP = 4
_TRACE_CHUNK = (4096, 64)  # frames x ROIs: 1 MB of float32
_MASK_TILE = 128  # image masks: chunks of one ROI x 128 x 128 pixels (64 kB)
_MOVIE_CHUNK_BYTES = 4 << 20
_OPHYS = "processing/ophys"

_BRANCH_COLUMNS = {
    "skeleton_id": "connected piece of the skeleton the branch belongs to (1..C)",
    "length": "length along the branch's path, pixels (diagonal steps count sqrt 2)",
    "type": "endpoint-endpoint, junction-endpoint, junction-junction or cycle",
    "euclidean_length": "distance between the branch's two ends, pixels",
    "tortuosity": "length / euclidean_length (NaN for a cycle)",
    "mean_intensity": "mean of the skeleton's summary image along the branch",
    "n_pixels": "pixels of the branch's path",
    "src_row": "row of the branch's first end", "src_col": "column of the first end",
    "dst_row": "row of the branch's second end", "dst_col": "column of the second end",
}
_CLUSTER_COLUMNS = {
    "n_elements": "elements (pixels or branches, or clusters of the level below) in it",
    "n_original_elements": "level-1 elements in the cluster",
    "area": "pixels of the cluster",
    "snr": "signal-to-noise ratio of the cluster's mean trace",
    "level": "level of the consecutive clustering",
}
_IMAGES = (("mean", "mean", "temporal mean of each pixel"),
           ("max", "max", "temporal maximum of each pixel"),
           ("std", "std", "temporal standard deviation of each pixel"),
           ("corr", "correlation", "local correlation image: mean correlation over time "
                                   "of each pixel with its neighbours"),
           ("pnr", "pnr", "peak-to-noise ratio of each pixel"),
           ("corr_pnr", "correlation_pnr", "local correlation of the movie minus its mean "
                                           "divided by its noise, below 3 set to 0"),
           ("max_corr", "max_correlation", "maximum over time bins of the local "
                                           "correlation image"),
           ("noise", "noise", "noise level of each pixel"))


@dataclass
class Fill:
    """One large dataset of the file, created empty, and how to fill it."""

    where: str
    what: str
    units: int
    fill: Callable[[Any], Iterator[int]]


def _deferred(shape: tuple[int, ...], dtype: Any, chunks: tuple[int, ...]) -> Any:
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    chunks = tuple(max(1, min(c, s)) for c, s in zip(chunks, shape, strict=True))
    return H5DataIO(shape=tuple(int(s) for s in shape), dtype=np.dtype(dtype),
                    chunks=chunks, compression="gzip", compression_opts=_GZIP, shuffle=True)


def _chunk_bytes(block: np.ndarray, chunk: tuple[int, ...]) -> bytes:
    """Return one chunk as HDF5 stores it with the shuffle and deflate filters.

    An edge chunk is padded with zeros to the full chunk shape, as HDF5 stores it.
    """
    import zlib

    if block.shape != chunk:
        full = np.zeros(chunk, block.dtype)
        full[tuple(slice(0, n) for n in block.shape)] = block
        block = full
    size = block.dtype.itemsize
    shuffled = np.ascontiguousarray(block).view(np.uint8).reshape(-1, size).T.tobytes()
    return zlib.compress(shuffled, _GZIP)


def _write_block(dataset: Any, origin: tuple[int, ...], block: np.ndarray) -> None:
    """Write ``block`` at ``origin`` (on chunk boundaries), its chunks compressed in parallel.

    h5py compresses on one thread, under its lock; zlib releases the GIL, so the
    chunks are compressed as dask tasks (:func:`~napari_amnesia.core.parallel.thread_map`)
    and written as they are (``write_direct_chunk``). The bytes do not depend on the
    number of threads.
    """
    from itertools import product

    from ..parallel import n_workers, thread_map

    chunk = tuple(int(c) for c in dataset.chunks)
    block = np.asarray(block, dtype=dataset.dtype)
    starts = list(product(*(range(0, n, c) for n, c in zip(block.shape, chunk, strict=True))))

    def one(start: tuple[int, ...]) -> bytes:
        part = block[tuple(slice(a, a + c) for a, c in zip(start, chunk, strict=True))]
        return _chunk_bytes(part, chunk)

    for start, data in zip(starts, thread_map(one, starts, n_workers()), strict=True):
        dataset.id.write_direct_chunk(tuple(o + a for o, a in zip(origin, start, strict=True)),
                                      data)


def _trace_fill(where: str, what: str, rows: Callable[[int, int], np.ndarray],
                n_frames: int) -> Fill:
    """Fill a (T, K) dataset from ``rows(t0, t1)`` giving (K, t1 - t0) blocks."""
    step = _TRACE_CHUNK[0]
    blocks = range(0, n_frames, step)

    def fill(dataset: Any) -> Iterator[int]:
        for t0 in blocks:
            t1 = min(t0 + step, n_frames)
            _write_block(dataset, (t0, 0), np.asarray(rows(t0, t1), np.float32).T)
            yield 1

    return Fill(where, what, len(blocks), fill)


def build_nwbfile(sources: Any, meta: dict, *, movie: str, movie_data: Any,
                  nwb_folder: Any) -> tuple[Any, list[Fill]]:
    """Return the ``NWBFile`` of an export and the large datasets left to fill.

    Parameters
    ----------
    sources : napari_amnesia.core.formats.nwb._Sources
        The results read by :func:`napari_amnesia.core.formats.nwb.write_nwb`.
    meta : dict
        Checked metadata (:func:`napari_amnesia.core.formats.nwb.check_metadata`).
    movie : {"none", "link", "copy"}
        How the movie goes in.
    movie_data : dask array or dict
        The lazy movie (copy) or its description (link).
    nwb_folder : path
        The folder of the NWB file (external links are relative to it).

    Returns
    -------
    nwbfile : pynwb.NWBFile
    fills : list of Fill
    """
    from pynwb import NWBFile

    from ... import __version__

    session, imaging = meta["session"], meta["imaging"]
    nwbfile = NWBFile(
        session_description=session["description"],
        identifier=session["identifier"] or str(uuid.uuid4()),
        session_start_time=session["start_time"],
        experimenter=session["experimenter"] or None,
        lab=session["lab"], institution=session["institution"],
        experiment_description=session["experiment_description"],
        session_id=session["session_id"], keywords=session["keywords"] or None,
        subject=_subject(meta["subject"]),
        source_script=f"napari_amnesia.core.formats.nwb.write_nwb (napari-amnesia "
                      f"{__version__})",
        source_script_file_name="napari_amnesia/core/formats/nwb.py",
        notes=_provenance(sources),
    )
    plane = _imaging_plane(nwbfile, meta)
    ophys = nwbfile.create_processing_module(
        name="ophys", description="optical physiology processed by napari-amnesia: motion "
                                  "correction, summary images, CNMF source extraction, "
                                  "skeleton and coactive clusters")
    fills: list[Fill] = []
    series = None
    if movie != "none":
        series, fill = _movie_series(nwbfile, ophys, plane, sources, imaging, movie,
                                     movie_data, nwb_folder)
        if fill is not None:
            fills.append(fill)
    if sources.cnmf is not None and sources.cnmf.K:
        # masks are checked against the shape of their reference movie: only a copied
        # movie has one in the file (a linked one has an empty dataset)
        reference = series if movie == "copy" else None
        fills += _components(ophys, plane, sources.cnmf, imaging["rate"],
                             reference)
    _summary_images(ophys, sources)
    if sources.motion is not None:
        _motion(ophys, sources.motion, imaging["rate"])
    if sources.skeleton is not None:
        _skeleton(ophys, plane, sources.skeleton)
    for level in sources.clusterings:
        _clusters(ophys, plane, level, imaging["rate"])
    return nwbfile, fills


def _provenance(sources: Any) -> str:
    import json

    from ... import __version__
    from ..files import jsonable

    return json.dumps(jsonable({"software": "napari-amnesia", "version": __version__,
                                "source": sources.name, "parameters": sources.notes}))


def _subject(subject: dict) -> Any:
    from pynwb.file import Subject

    return Subject(subject_id=subject["subject_id"], species=subject["species"],
                   sex=subject["sex"], age=subject["age"],
                   date_of_birth=subject["date_of_birth"], genotype=subject["genotype"],
                   strain=subject["strain"], description=subject["description"])


def _imaging_plane(nwbfile: Any, meta: dict) -> Any:
    from pynwb.ophys import OpticalChannel

    device_meta, imaging = meta["device"], meta["imaging"]
    kwargs: dict[str, Any] = {"name": device_meta["name"],
                              "description": device_meta["description"]}
    if device_meta["manufacturer"] or device_meta["model"]:
        try:
            from pynwb.device import DeviceModel
        except ImportError:  # pynwb < 3.1: the device holds the manufacturer
            kwargs["manufacturer"] = device_meta["manufacturer"]
        else:
            model = DeviceModel(name=device_meta["model"] or f"{device_meta['name']} model",
                                manufacturer=device_meta["manufacturer"] or "unknown",
                                description=" ".join(filter(None, (
                                    device_meta["manufacturer"], device_meta["model"],
                                    device_meta["description"]))) or device_meta["name"])
            nwbfile.add_device_model(model)
            kwargs["model"] = model
    device = nwbfile.create_device(**kwargs)
    channel = OpticalChannel(name="OpticalChannel",
                             description=imaging["channel"] or f"{imaging['indicator']} "
                                                               "fluorescence",
                             emission_lambda=imaging["emission_lambda"])
    extra = {}
    if imaging["grid_spacing"]:
        extra = {"grid_spacing": [v for v in imaging["grid_spacing"]],
                 "grid_spacing_unit": "micrometers"}
    return nwbfile.create_imaging_plane(
        name="ImagingPlane", optical_channel=channel, device=device,
        description=imaging["description"] or f"{imaging['technique']} imaging plane",
        excitation_lambda=imaging["excitation_lambda"], imaging_rate=imaging["rate"],
        indicator=imaging["indicator"], location=imaging["location"], **extra)


def _movie_series(nwbfile: Any, ophys: Any, plane: Any, sources: Any, imaging: dict,
                  movie: str, movie_data: Any, nwb_folder: Any) -> tuple[Any, Fill | None]:
    import os

    from pynwb.ophys import OnePhotonSeries, TwoPhotonSeries

    cls = TwoPhotonSeries if imaging["technique"] == "two-photon" else OnePhotonSeries
    kind = "TwoPhoton" if cls is TwoPhotonSeries else "OnePhoton"
    name = f"{kind}SeriesCorrected" if sources.movie_corrected else f"{kind}Series"
    what = ("motion-corrected movie (the ROIs lie on it)" if sources.movie_corrected
            else "the recorded movie")
    common = {"name": name, "imaging_plane": plane, "rate": imaging["rate"],
              "starting_time": 0.0, "unit": "n.a."}
    fill = None
    if movie == "link":
        try:
            target = os.path.relpath(sources.movie_path.resolve(), os.fspath(nwb_folder)
                                     if os.fspath(nwb_folder) else ".")
        except ValueError:  # another drive (Windows): only an absolute path reaches it
            target = os.fspath(sources.movie_path.resolve())
        T, Y, X = (int(n) for n in movie_data["shape"])
        series = cls(**common, external_file=[target], format="external", starting_frame=[0],
                     num_samples=T, dimension=[Y, X],
                     description=f"{what}, linked as an external file (frames, rows, "
                                 "columns), path relative to this NWB file")
    else:
        T, Y, X = (int(n) for n in movie_data.shape)
        dtype = np.dtype(movie_data.dtype)
        frames = max(1, min(T, _MOVIE_CHUNK_BYTES // max(1, Y * X * dtype.itemsize)))
        series = cls(**common, data=_deferred((T, Y, X), dtype, (frames, Y, X)),
                     dimension=[Y, X],
                     description=f"{what}, copied (frames, rows, columns)")
        where = (f"{_OPHYS}/{name}/data" if sources.movie_corrected
                 else f"acquisition/{name}/data")
        block = frames * max(1, 64 // frames)  # whole chunks, ~64 frames at a time
        starts = range(0, T, block)

        def fill_movie(dataset: Any) -> Iterator[int]:
            for t0 in starts:
                t1 = min(t0 + block, T)
                _write_block(dataset, (t0, 0, 0), np.asarray(movie_data[t0:t1]))
                yield 1

        fill = Fill(where, "movie", len(starts), fill_movie)
    if sources.movie_corrected:
        ophys.add(series)
    else:
        nwbfile.add_acquisition(series)
    return series, fill


def _segmentation(ophys: Any) -> Any:
    """Return the ImageSegmentation of the ophys module, made with its first table.

    NWB refuses an ImageSegmentation without a PlaneSegmentation (a result without
    components, a skeleton without branches), so it is made only when one comes.
    """
    from pynwb.ophys import ImageSegmentation

    if "ImageSegmentation" not in ophys.data_interfaces:
        ophys.add(ImageSegmentation(name="ImageSegmentation"))
    return ophys["ImageSegmentation"]


def _components(ophys: Any, plane: Any, result: Any, rate: float,
                series: Any) -> list[Fill]:
    from hdmf.common import VectorData
    from pynwb.ophys import DfOverF, Fluorescence, RoiResponseSeries

    K, T = result.K, result.n_frames
    Y, X = result.shape
    # chunks of one ROI by a tile of the frame: a footprint touches one to four tiles,
    # only those are written (the others stay unallocated and read as 0)
    tile = (1, min(Y, _MASK_TILE), min(X, _MASK_TILE))
    masks = VectorData(name="image_mask", description="CNMF footprint of each component "
                       "(rows, columns): its weights, unit L2 norm; 0 outside it",
                       data=_deferred((K, Y, X), np.float32, tile))
    table = _segmentation(ophys).create_plane_segmentation(
        name="PlaneSegmentation", imaging_plane=plane, columns=[masks],
        id=[int(v) for v in result.label_values], reference_images=series,
        description="components found by CNMF (napari-amnesia); id = label value in the "
                    "label images and CSV exports; CNMF's background components are not "
                    "ROIs and are left out")
    table.add_column(name="accepted", description="the component passed the quality "
                     "tests (or the user's curation)", data=np.asarray(result.accepted, bool))
    table.add_column(name="anatomical", description="proposed from the mean image (a "
                     "silent cell) rather than found by CNMF",
                     data=np.asarray(result.anatomical, bool))
    if result.snr is not None:
        table.add_column(name="snr", description="event signal-to-noise ratio of the "
                         "trace (CaImAn's SNR_comp)", data=np.asarray(result.snr, np.float64))
    if result.r_values is not None:
        table.add_column(name="r_value", description="spatial correlation of the footprint "
                         "with the movie during its events (CaImAn's r_values)",
                         data=np.asarray(result.r_values, np.float64))
    region = table.create_roi_table_region(region=list(range(K)),
                                           description="every component of PlaneSegmentation")
    footprints = result.footprints
    where = f"{_OPHYS}/ImageSegmentation/PlaneSegmentation/image_mask"

    def fill_masks(dataset: Any) -> Iterator[int]:
        image = np.zeros((Y, X), np.float32)
        flat = image.reshape(-1)
        for k in range(K):
            lo, hi = footprints.indptr[k], footprints.indptr[k + 1]
            idx = footprints.indices[lo:hi]
            if idx.size:
                flat[idx] = footprints.data[lo:hi]
                rows, cols = np.divmod(idx, X)
                # the whole tiles the footprint touches (no read-modify-write of a chunk)
                r0, c0 = rows.min() // tile[1] * tile[1], cols.min() // tile[2] * tile[2]
                r1 = min(Y, (rows.max() // tile[1] + 1) * tile[1])
                c1 = min(X, (cols.max() // tile[2] + 1) * tile[2])
                dataset[k, r0:r1, c0:c1] = image[r0:r1, c0:c1]
                flat[idx] = 0
            yield 1

    fills = [Fill(where, "ROI masks", K, fill_masks)]
    fluorescence = Fluorescence(name="Fluorescence")
    ophys.add(fluorescence)
    chunk = _TRACE_CHUNK
    rows = {
        "RoiResponseSeries": (lambda a, b: result.traces[:, a:b] + result.residual_traces[:, a:b],
                              "raw fluorescence of each component: its demixed projection "
                              "of the movie (CNMF's C + YrA, baseline included)"),
        "Denoised": (lambda a, b: result.traces[:, a:b],
                     "denoised calcium trace (CNMF's C, baseline removed)"),
        "Deconvolved": (lambda a, b: result.spikes[:, a:b],
                        "deconvolved activity (OASIS; CNMF's S)"),
    }
    for name, (get, description) in rows.items():
        fluorescence.add_roi_response_series(RoiResponseSeries(
            name=name, rois=region, unit="a.u.", rate=rate, starting_time=0.0,
            description=description, data=_deferred((T, K), np.float32, chunk)))
        fills.append(_trace_fill(f"{_OPHYS}/Fluorescence/{name}/data", "traces", get, T))
    if result.dff is not None:
        dff = DfOverF(name="DfOverF")
        ophys.add(dff)
        dff.add_roi_response_series(RoiResponseSeries(
            name="RoiResponseSeries", rois=region, unit="n.a.", rate=rate,
            starting_time=0.0, description="ΔF/F of each component (CaImAn's "
                                           "detrend_df_f: over a running percentile baseline)",
            data=_deferred((T, K), np.float32, chunk)))
        fills.append(_trace_fill(f"{_OPHYS}/DfOverF/RoiResponseSeries/data", "traces",
                                 lambda a, b: result.dff[:, a:b], T))
    return fills


def _summary_images(ophys: Any, sources: Any) -> None:
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage

    images = []
    if sources.summary is not None:
        for attr, name, description in _IMAGES:
            image = getattr(sources.summary, attr, None)
            if image is not None:
                images.append(GrayscaleImage(name=name, description=description,
                                             data=np.asarray(image, np.float32)))
    elif sources.cnmf is not None and sources.cnmf.mean_image is not None:
        images.append(GrayscaleImage(name="mean", description="temporal mean of each pixel",
                                     data=np.asarray(sources.cnmf.mean_image, np.float32)))
    if sources.motion is not None:
        images.append(GrayscaleImage(name="motion_template",
                                     description="the template frames were registered to",
                                     data=np.asarray(sources.motion.template, np.float32)))
    if images:
        ophys.add(Images(name="SummaryImages", images=images,
                         description="summary images of the movie the ROIs were found on "
                                     "(rows, columns)"))


def _motion(ophys: Any, motion: Any, rate: float) -> None:
    from pynwb import TimeSeries

    sign = ("(dy, dx) in pixels is the displacement of each frame's content relative to "
            "the template: an object at (r, c) in the template appears at (r + dy, c + dx) "
            "in the frame; correcting shifted the frame by -(dy, dx)")
    rejected = motion.rejected_frames
    comments = (f"shifts of frames {rejected.tolist()} were interpolated from their "
                "neighbours" if rejected.size else "no comments")
    ophys.add(TimeSeries(name="MotionShifts", data=np.asarray(motion.shifts, np.float32),
                         unit="pixels", rate=rate, starting_time=0.0, comments=comments,
                         description=f"rigid motion shifts (frames, [dy, dx]); {sign}"))
    if motion.shifts_pw is not None:
        centers = np.asarray(motion.patch_centers, float)
        ophys.add(TimeSeries(
            name="MotionShiftsPiecewise", data=np.asarray(motion.shifts_pw, np.float32),
            unit="pixels", rate=rate, starting_time=0.0,
            comments=f"patch centre rows {centers[:, 0, 0].tolist()}, columns "
                     f"{centers[0, :, 1].tolist()}",
            description=f"piecewise-rigid shifts (frames, patch rows, patch columns, "
                        f"[dy, dx]) at each patch centre; {sign}"))


def _pixel_groups(labels: np.ndarray, ids: np.ndarray) -> list[np.ndarray]:
    """(row, column) pixels of each id of a label image, in ``ids`` order."""
    flat = labels.ravel()
    where = np.flatnonzero(flat)
    order = np.argsort(flat[where], kind="stable")
    where = where[order]
    values = flat[where]
    out = []
    for value in ids:
        lo, hi = np.searchsorted(values, value), np.searchsorted(values, value, "right")
        out.append(np.stack(np.unravel_index(where[lo:hi], labels.shape), axis=1))
    return out


def _pixel_table(segmentation: Any, plane: Any, name: str, description: str, ids: Any,
                 pixels: list[np.ndarray], table: Any, columns: dict[str, str]) -> Any:
    table_nwb = segmentation.create_plane_segmentation(name=name, imaging_plane=plane,
                                                       description=description)
    for ident, pix in zip(ids, pixels, strict=True):
        pix = np.asarray(pix, np.int64).reshape(-1, 2)
        mask = [(int(r), int(c), 1.0) for r, c in pix]
        table_nwb.add_roi(id=int(ident), pixel_mask=mask)
    for column, text in columns.items():
        if table is None or column not in table:
            continue
        values = table[column].to_numpy()
        if values.dtype == object:
            values = values.astype(str)
        table_nwb.add_column(name=column, description=text, data=values)
    return table_nwb


def _skeleton(ophys: Any, plane: Any, skeleton: Any) -> None:
    ids = np.asarray(skeleton.branches["branch_id"], np.int64) if len(skeleton.branches) \
        else np.zeros(0, np.int64)
    if not ids.size:
        return
    pixels = _pixel_groups(np.asarray(skeleton.branch_labels), ids)
    _pixel_table(_segmentation(ophys), plane, "SkeletonBranches",
                 "branches of the skeleton of the neurites (pyAMNESIA's morphology): one "
                 "pixel mask per branch, (row, column, weight 1); id = branch_id",
                 ids, pixels, skeleton.branches, _BRANCH_COLUMNS)


def _clusters(ophys: Any, plane: Any, level: Any, rate: float) -> None:
    from pynwb.ophys import Fluorescence, RoiResponseSeries

    if level.element_pixels is None or level.n_clusters == 0:
        return
    ids = np.arange(1, level.n_clusters + 1)
    pixels = [level.expand(int(k)) for k in ids]
    name = f"ClustersLevel{level.level}"
    table = _pixel_table(_segmentation(ophys), plane, name,
                         f"clusters of coactive elements, level {level.level} (pyAMNESIA): "
                         "one pixel mask per cluster, (row, column, weight 1); id = cluster "
                         "label", ids, pixels, level.table, _CLUSTER_COLUMNS)
    traces = np.asarray(level.mean_traces, np.float32)
    if "ClusterMeanTraces" not in ophys.data_interfaces:
        ophys.add(Fluorescence(name="ClusterMeanTraces"))
    region = table.create_roi_table_region(region=list(range(len(ids))),
                                           description=f"every cluster of {name}")
    ophys["ClusterMeanTraces"].add_roi_response_series(RoiResponseSeries(
        name=name, rois=region, unit="a.u.", rate=rate, starting_time=0.0,
        data=np.ascontiguousarray(traces.T),
        description=f"mean trace of each cluster of level {level.level} over its elements"))
