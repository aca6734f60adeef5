"""The summary images of a movie, and their folder on disk.

Folder layout written by :meth:`SummaryImages.save` (atomically: a hidden
temporary folder renamed into place)::

    mean.tif  max.tif  std.tif  correlation.tif  pnr.tif  correlation_pnr.tif
    max_correlation.tif  noise.tif     float32 (Y, X) images
    params.json                        SummaryParams
    result.json                        n_frames, provenance (version, created,
                                       elapsed_s) and info (diagnostics)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_folder, jsonable
from .params import SummaryParams

__all__ = ["SummaryImages", "FILE_NAMES"]

#: Image attribute → file name (without ``.tif``) in a saved folder; the names the
#: results folders of ``amnesia`` have always used.
FILE_NAMES = {
    "mean": "mean",
    "max": "max",
    "std": "std",
    "corr": "correlation",
    "pnr": "pnr",
    "corr_pnr": "correlation_pnr",
    "max_corr": "max_correlation",
    "noise": "noise",
}


@dataclass
class SummaryImages:
    """Summary images of a movie, all ``(Y, X)`` float32.

    Attributes
    ----------
    mean, max, std : ndarray
        Temporal mean, maximum and standard deviation (``ddof=0``) of each pixel.
    corr : ndarray
        Local correlation image: for each pixel, the mean over its 4 or 8
        neighbours of the Pearson correlation over time (CaImAn's
        ``local_correlations``).
    pnr : ndarray
        Peak-to-noise ratio of the movie (spatially filtered when ``gsig`` is
        given; CaImAn's ``correlation_pnr``); negative values set to 0.
    corr_pnr : ndarray
        Local correlation image of the (filtered) movie minus its mean divided by
        its noise, with values below the threshold (3) set to 0.
    max_corr : ndarray
        Maximum over time bins of the per-bin local correlation image (CaImAn's
        ``max_correlation_image``).
    noise : ndarray
        Noise level of the (filtered) movie used by ``pnr`` (CaImAn's ``sn`` from
        ``get_noise_fft``, estimated by Welch averaging).
    n_frames : int
        Number of frames read.
    params : SummaryParams
        The parameters used (chunk and segment lengths resolved); a dict is
        turned into one.
    info : dict
        Diagnostics: ``corr_pnr_exact`` (the ``corr_pnr`` threshold used the whole
        movie), ``noise_mean_frame`` (the mean of ``noise``).
    provenance : dict
        ``version`` of the package, ``created`` (ISO time), ``elapsed_s`` (wall
        time of the computation).
    """

    mean: np.ndarray
    max: np.ndarray
    std: np.ndarray
    corr: np.ndarray
    pnr: np.ndarray
    corr_pnr: np.ndarray
    max_corr: np.ndarray
    noise: np.ndarray
    n_frames: int
    params: SummaryParams = field(default_factory=SummaryParams)
    info: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    _IMAGES = ("mean", "max", "std", "corr", "pnr", "corr_pnr", "max_corr", "noise")

    def __post_init__(self) -> None:
        """Turn a dict of parameters into :class:`SummaryParams`."""
        if isinstance(self.params, Mapping):
            self.params = SummaryParams.from_dict(self.params)

    @property
    def elapsed(self) -> float:
        """Wall time of the computation in seconds (``provenance["elapsed_s"]``)."""
        return float(self.provenance.get("elapsed_s", 0.0) or 0.0)

    def as_dict(self) -> dict[str, np.ndarray]:
        """Return the images as a ``{name: (Y, X) float32 array}`` dict."""
        return {name: getattr(self, name) for name in self._IMAGES}

    def to_layers(self, source: str) -> list[tuple]:
        """Return napari LayerData tuples of the images (no napari import).

        Layers are named ``"<source> · mean"``, ``"<source> · correlation"``...
        (:func:`napari_amnesia.core.layers.summary_layers`); only the mean is visible.

        Parameters
        ----------
        source : str
            The name of the movie layer the images describe.

        Returns
        -------
        list of tuple
            ``(data, kwargs, "image")`` for each image.
        """
        from ..layers import summary_layers

        return summary_layers(self, source)

    # -- saving -------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the images (float32 TIFFs) and the parameters to a folder, atomically.

        Parameters
        ----------
        folder : path
            Destination folder (created; an existing non-empty one only replaced with
            ``overwrite=True``, and only once the new one is complete).
        overwrite : bool
            Replace an earlier results folder.

        Returns
        -------
        Path
            The folder.
        """
        import tifffile

        folder = Path(os.path.expanduser(os.fspath(folder)))
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            for attr, stem in FILE_NAMES.items():
                tifffile.imwrite(tmp / f"{stem}.tif", np.asarray(getattr(self, attr), np.float32))
            (tmp / "params.json").write_text(json.dumps(self.params.to_dict(), indent=2))
            (tmp / "result.json").write_text(json.dumps(jsonable({
                "n_frames": int(self.n_frames),
                "provenance": self.provenance,
                "info": self.info,
            }), indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> SummaryImages:
        """Read a folder written by :meth:`save`.

        Parameters
        ----------
        folder : path
            The folder.

        Returns
        -------
        SummaryImages
        """
        import tifffile

        folder = Path(os.path.expanduser(os.fspath(folder)))
        if not (folder / "params.json").is_file():
            raise FileNotFoundError(f"{folder} is not a saved SummaryImages folder "
                                    "(no params.json).")
        images = {attr: tifffile.imread(folder / f"{stem}.tif").astype(np.float32)
                  for attr, stem in FILE_NAMES.items()}
        params = SummaryParams.from_dict(json.loads((folder / "params.json").read_text()))
        meta = json.loads((folder / "result.json").read_text())
        return cls(**images, n_frames=int(meta["n_frames"]), params=params,
                   info=dict(meta.get("info", {})), provenance=dict(meta.get("provenance", {})))

