"""The result of motion correction, and its folder on disk.

Folder layout written by :meth:`MotionResult.save` (atomically: a hidden temporary
folder renamed into place; an existing non-empty folder only with ``overwrite``)::

    shifts.csv          frame, dy, dx, correlation_before, correlation_after
    shifts_pw.csv       (piecewise rigid) frame, patch_row, patch_col, center_row,
                        center_col, dy, dx  — total displacement at each patch centre
    template.tif        float32 template
    metrics_images.tif  float32 pages: mean/max/corr before, then after (order in
                        metrics.json "images")
    metrics.json        scalar metrics (crispness, mean correlations)
    params.json         MotionParams
    result.json         provenance: version, input shape/dtype, scan phase, frames
                        without any finite pixel ("nonfinite_frames"), frames whose
                        shift was rejected ("rejected_frames"), "messages", timings
    corrected.tif       (optional) the corrected movie, written chunk by chunk

Sign convention everywhere: ``(dy, dx)`` is the displacement of the *content* of a
frame relative to the template (an object at ``(r, c)`` in the template appears at
``(r + dy, c + dx)`` in the frame); correcting shifts the frame by ``-(dy, dx)``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..files import atomic_folder, jsonable
from ..layers import layer_name, movie_layer
from ..layers import provenance as layer_metadata
from ..progress import Progress, ProgressGenerator, drive
from ._warp import interpolation_matrix
from .apply import apply_shifts
from .params import MotionParams

__all__ = ["MotionResult"]

logger = logging.getLogger(__name__)

_IMAGES = ("mean_before", "max_before", "corr_before", "mean_after", "max_after", "corr_after")
_SERIES = ("correlation_before", "correlation_after")


@dataclass(eq=False)
class MotionResult:
    """Shifts, template, metrics and the lazily corrected movie.

    Attributes
    ----------
    corrected : dask.array.Array or None
        ``(T, Y, X)`` float32, computed chunk by chunk on demand (None after
        :meth:`load` without a movie).
    shifts : ndarray, shape (T, 2)
        Rigid ``(dy, dx)`` of each frame's content relative to the template.
    template : ndarray, shape (Y, X), float32
    params : MotionParams
    shifts_pw : ndarray, shape (T, ny, nx, 2) or None
        Piecewise rigid: total displacement at each patch centre.
    patch_centers : ndarray, shape (ny, nx, 2) or None
        Patch centres (row, column).
    scan_phase : float
        Bidirectional scan offset that was undone (0 when off).
    metrics : dict
        See :func:`~.metrics.iter_motion_metrics` (empty when not computed).
    provenance : dict
        ``version``, ``input_shape``, ``input_dtype``, ``timings`` (seconds), ...
    """

    corrected: Any
    shifts: np.ndarray
    template: np.ndarray
    params: MotionParams
    shifts_pw: np.ndarray | None = None
    patch_centers: np.ndarray | None = None
    scan_phase: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        """Summarise the kind of correction, the frames and the largest shift."""
        kind = "piecewise rigid" if self.shifts_pw is not None else "rigid"
        T = len(self.shifts)
        return (f"MotionResult({kind}, {T} frames, template {self.template.shape}, "
                f"max |shift| {float(np.abs(self.shifts).max()) if T else 0:.2f} px)")

    @property
    def rejected_frames(self) -> np.ndarray:
        """Frames whose shift the data did not support (``min_shift_support``).

        Their shifts were interpolated from the neighbouring frames'. Empty for a
        result saved before this was recorded.
        """
        return np.asarray(self.provenance.get("rejected_frames", []), np.int64)

    @property
    def messages(self) -> list[str]:
        """What the correction changed on its own, in words.

        An adapted patch grid, rejected shifts: also logged, shown by the dock and
        ``amnesia motion``.
        """
        return list(self.provenance.get("messages", []))

    @property
    def pw_rigid(self) -> bool:
        """Whether piecewise-rigid shifts are present."""
        return self.shifts_pw is not None

    def displacement_field(self, t: int) -> np.ndarray:
        """Per-pixel displacement ``(2, Y, X)`` of frame ``t`` (rigid: constant)."""
        Y, X = self.template.shape
        if self.shifts_pw is None:
            return np.broadcast_to(
                np.asarray(self.shifts[t], np.float32)[:, None, None], (2, Y, X)
            ).copy()
        my = interpolation_matrix(Y, self.patch_centers[:, 0, 0])
        mx = interpolation_matrix(X, self.patch_centers[0, :, 1])
        g = self.shifts_pw[t]
        return np.stack([my @ g[..., c] @ mx.T for c in range(2)]).astype(np.float32)

    def apply(self, movie: Any, **overrides: Any):
        """Apply these shifts to another movie (lazy; see :func:`~.apply.apply_shifts`)."""
        return apply_shifts(movie, self, **overrides)

    # -- layers -------------------------------------------------------------------------

    def to_layers(self, source: str, *, corrected: bool = True) -> list[tuple]:
        """Return napari LayerData tuples of the result (no napari import).

        ``"<source> · corrected"`` (the lazy corrected movie, when there is one),
        ``"<source> · template"`` and, when the metrics were computed,
        ``"<source> · correlation before"`` / ``"· correlation after"`` and the mean
        images before/after; all but the corrected movie hidden at first. Every
        layer's metadata holds the parameters.

        Parameters
        ----------
        source : str
            The name of the movie layer that was corrected.
        corrected : bool
            Include the corrected movie.

        Returns
        -------
        list of tuple
            ``(data, kwargs, layer_type)`` tuples.

        Examples
        --------
        >>> movie = np.random.default_rng(0).normal(100, 5, (6, 32, 32))
        >>> result = MotionResult(corrected=None, shifts=np.zeros((6, 2)),
        ...                       template=movie.mean(0), params=MotionParams())
        >>> [kwargs["name"] for _, kwargs, _ in result.to_layers("day1")]
        ['day1 · template']
        """
        meta = layer_metadata("motion", source, self.params.to_dict())
        out = []
        if corrected and self.corrected is not None:
            out.append(movie_layer(self.corrected, layer_name(source, "corrected"),
                                   metadata=meta))
        template = np.asarray(self.template, np.float32)
        out.append((template, {"name": layer_name(source, "template"), "colormap": "gray",
                               "visible": False, "metadata": meta}, "image"))
        metrics = self.metrics or {}
        for key, word, cmap in (("corr_before", "correlation before", "viridis"),
                                ("corr_after", "correlation after", "viridis"),
                                ("mean_before", "mean before", "gray"),
                                ("mean_after", "mean after", "gray")):
            image = metrics.get(key)
            if image is None:
                continue
            image = np.asarray(image, np.float32)
            lo, hi = np.nanpercentile(image, [0.5, 99.8]) if image.size else (0, 1)
            out.append((image, {"name": layer_name(source, word), "colormap": cmap,
                                "contrast_limits": [float(lo), float(max(hi, lo + 1e-6))],
                                "visible": False, "metadata": meta}, "image"))
        return out

    # -- saving -------------------------------------------------------------------------

    def iter_save(
        self,
        folder: str | os.PathLike,
        *,
        overwrite: bool = False,
        corrected: bool = False,
        compression: str | None = None,
    ) -> ProgressGenerator[Path]:
        """Write the result folder (see the module doc), yielding progress.

        Parameters
        ----------
        folder : path
            Destination folder (created; an existing non-empty one only replaced with
            ``overwrite=True``, and only once the new one is complete).
        overwrite : bool
        corrected : bool
            Also write ``corrected.tif`` (float32), chunk by chunk.
        compression : str, optional
            TIFF compression of ``corrected.tif``.
        """
        from ..io import iter_save_movie

        folder = Path(os.path.expanduser(os.fspath(folder)))
        if corrected and self.corrected is None:
            raise ValueError("this result has no corrected movie (loaded without one); "
                             "use MotionResult.load(folder, movie=...) first.")
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            self._write_tables(tmp)
            yield Progress(0, 1, "saving motion correction")
            if corrected:
                # a few chunks per write, computed in parallel by dask's scheduler
                # (memory: that many chunks, whatever the movie length)
                per_write = int(self.corrected.chunks[0][0]) * max(1, os.cpu_count() or 1)
                yield from iter_save_movie(self.corrected, tmp / "corrected.tif",
                                           chunk_frames=per_write, compression=compression)
        yield Progress(1, 1, "saving motion correction")
        logger.info("motion correction saved to %s", folder)
        return folder

    def save(self, folder: str | os.PathLike, *, overwrite: bool = False,
             corrected: bool = False, compression: str | None = None) -> Path:
        """Write the result folder; see :meth:`iter_save`."""
        return drive(self.iter_save(folder, overwrite=overwrite, corrected=corrected,
                                    compression=compression))

    def _write_tables(self, tmp: Path) -> None:
        T = len(self.shifts)
        series = {k: np.asarray(self.metrics[k]) for k in _SERIES if k in self.metrics}
        with open(tmp / "shifts.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["frame", "dy", "dx", *series])
            for t in range(T):
                w.writerow([t, repr(float(self.shifts[t, 0])), repr(float(self.shifts[t, 1])),
                            *(repr(float(v[t])) for v in series.values())])
        if self.shifts_pw is not None:
            ny, nx = self.shifts_pw.shape[1:3]
            with open(tmp / "shifts_pw.csv", "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["frame", "patch_row", "patch_col", "center_row", "center_col",
                            "dy", "dx"])
                c = self.patch_centers
                for t in range(T):
                    for i in range(ny):
                        for j in range(nx):
                            d = self.shifts_pw[t, i, j]
                            w.writerow([t, i, j, repr(float(c[i, j, 0])), repr(float(c[i, j, 1])),
                                        repr(float(d[0])), repr(float(d[1]))])
        tifffile.imwrite(tmp / "template.tif", np.asarray(self.template, np.float32))
        images = [k for k in _IMAGES if k in self.metrics]
        if images:
            tifffile.imwrite(tmp / "metrics_images.tif",
                             np.stack([np.asarray(self.metrics[k], np.float32) for k in images]))
        scalars = {k: v for k, v in self.metrics.items()
                   if k not in _IMAGES and k not in _SERIES}
        (tmp / "metrics.json").write_text(
            json.dumps(jsonable({**scalars, "images": images}), indent=2))
        (tmp / "params.json").write_text(self.params.to_json())
        (tmp / "result.json").write_text(json.dumps(jsonable({
            **self.provenance,
            "scan_phase": float(self.scan_phase),
            "n_frames": T,
            "frame_shape": list(self.template.shape),
            "pw_rigid": self.shifts_pw is not None,
        }), indent=2))

    @classmethod
    def load(cls, folder: str | os.PathLike, *, movie: Any = None) -> MotionResult:
        """Read a folder written by :meth:`save`.

        Parameters
        ----------
        folder : path
        movie : array_like, optional
            The movie the shifts apply to; when given, :attr:`corrected` is rebuilt
            lazily (any other movie of the same size works too: re-applying saved
            shifts). Without it ``corrected`` is None.
        """
        folder = Path(folder)
        if not (folder / "shifts.csv").is_file():
            raise FileNotFoundError(f"{folder}: not a motion-correction folder (no shifts.csv).")
        with open(folder / "shifts.csv", newline="") as fh:
            rows = list(csv.reader(fh))
        header, body = rows[0], rows[1:]
        data = np.asarray(body, np.float64).reshape(len(body), len(header))
        shifts = data[:, 1:3].copy()
        metrics: dict[str, Any] = {}
        for k in _SERIES:
            if k in header:
                metrics[k] = data[:, header.index(k)].astype(np.float32)
        shifts_pw = centers = None
        if (folder / "shifts_pw.csv").is_file():
            pw = np.loadtxt(folder / "shifts_pw.csv", delimiter=",", skiprows=1, ndmin=2)
            T = len(shifts)
            ny = int(pw[:, 1].max()) + 1
            nx = int(pw[:, 2].max()) + 1
            if len(pw) != T * ny * nx:
                raise ValueError(f"{folder / 'shifts_pw.csv'}: expected {T * ny * nx} rows, "
                                 f"got {len(pw)}.")
            order = np.lexsort((pw[:, 2], pw[:, 1], pw[:, 0]))
            pw = pw[order]
            shifts_pw = pw[:, 5:7].reshape(T, ny, nx, 2)
            centers = pw[: ny * nx, 3:5].reshape(ny, nx, 2)
        template = tifffile.imread(folder / "template.tif").astype(np.float32)
        meta = json.loads((folder / "metrics.json").read_text()) if (
            folder / "metrics.json").is_file() else {}
        images = meta.pop("images", [])
        metrics.update(meta)
        if images and (folder / "metrics_images.tif").is_file():
            stack = tifffile.imread(folder / "metrics_images.tif")
            stack = stack.reshape(len(images), *template.shape)
            for k, img in zip(images, stack, strict=True):
                metrics[k] = img.astype(np.float32)
        params = MotionParams.from_json((folder / "params.json").read_text())
        prov = json.loads((folder / "result.json").read_text()) if (
            folder / "result.json").is_file() else {}
        result = cls(corrected=None, shifts=shifts, template=template, params=params,
                     shifts_pw=shifts_pw, patch_centers=centers,
                     scan_phase=float(prov.get("scan_phase", 0.0)), metrics=metrics,
                     provenance=prov)
        if movie is not None:
            result.corrected = result.apply(movie)
        return result
