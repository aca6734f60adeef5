"""The result of CNMF source extraction, and its folder on disk.

Names and their CaImAn equivalents (``cnm.estimates``):

======================  ==========  ====================================================
:class:`SourceResult`   CaImAn      content
======================  ==========  ====================================================
``footprints``          ``A``       ``scipy.sparse.csc_matrix`` (Y·X, K), pixels in C
                                    order (``p = row * X + column``), unit L2 norm
``traces``              ``C``       (K, T) calcium, baseline removed
``spikes``              ``S``       (K, T) deconvolved activity
``residual_traces``     ``YrA``     (K, T): ``traces + residual_traces`` = raw trace
``baseline``            ``bl``      (K,) constant of each raw trace
``g``                   ``g``       (K, p) AR coefficients
``lam``                 ``lam``     (K,) sparsity penalty of the deconvolution
``background``          ``b, f``    ``(b (Y·X, gnb), f (gnb, T))``
``sn``                  ``sn``      (Y, X) noise level of each pixel
``dff``                 ``F_dff``   (K, T) ΔF/F (None until computed)
``snr``                 ``SNR_comp`` (K,) event SNR (None until evaluated)
``r_values``            ``r_values`` (K,) spatial correlation (None until evaluated)
``accepted``            ``idx_components`` as a boolean mask (K,)
``label_values``        (none)      (K,) label of each component in label images
``anatomical``          (none)      (K,) bool: proposed from the mean image (a silent
                                    cell, :mod:`.anatomical`), not found by CNMF
======================  ==========  ====================================================

Folder layout written by :meth:`SourceResult.save` (atomically; an existing
non-empty folder only with ``overwrite``)::

    arrays.npz     every array above (footprints as CSC data/indices/indptr),
                   uncompressed: loading gives back the same bits
    params.json    CNMFParams
    result.json    shape, n_frames, format version, ``provenance`` (package version,
                   creation time, elapsed time, input shape and dtype) and ``info``
                   (diagnostics: timings, patches, merges, evaluation thresholds...)

The result's layers (:meth:`SourceResult.to_layers`, :mod:`.layers`) and its lazy
movies (:meth:`SourceResult.reconstruction`, :meth:`SourceResult.residual`,
:mod:`.lazy`) are built without napari.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ..files import atomic_folder, jsonable, read_arrays
from .lazy import lazy_reconstruction, lazy_residual
from .params import CNMFParams

__all__ = ["SourceResult"]

logger = logging.getLogger(__name__)

_FORMAT = "napari-amnesia/cnmf/1"
_OPTIONAL = ("dff", "snr", "r_values")


@dataclass(eq=False)
class SourceResult:
    """Footprints, traces, spikes, background and quality of a CNMF fit.

    Attributes
    ----------
    footprints : scipy.sparse.csc_matrix, shape (Y * X, K), float32
        Spatial footprints, unit L2 norm, pixels in C order.
    traces : ndarray, shape (K, T), float32
        Denoised calcium traces (baseline removed).
    spikes : ndarray, shape (K, T), float32
        Deconvolved activity.
    residual_traces : ndarray, shape (K, T), float32
        Raw trace minus ``traces`` (holds the baseline and the noise).
    background_footprints : ndarray, shape (Y * X, gnb), float32
    background_traces : ndarray, shape (gnb, T), float32
    baseline : ndarray, shape (K,)
    g : ndarray, shape (K, p)
    lam : ndarray, shape (K,)
    sn : ndarray, shape (Y, X), float32
        Noise level of every pixel.
    shape : tuple of int
        Frame shape ``(Y, X)``.
    params : CNMFParams
    accepted : ndarray of bool, shape (K,)
        Components passing the quality tests (all True before evaluation).
    snr, r_values : ndarray, shape (K,), or None
        Quality metrics (see :func:`~napari_amnesia.core.cnmf.evaluate`).
    dff : ndarray, shape (K, T), or None
        ΔF/F.
    label_values : ndarray of int, shape (K,)
        Label of each component in :meth:`labels` (``k + 1`` unless the fit was
        seeded from a label image: then the seed's label).
    mean_image : ndarray, shape (Y, X), float32, or None
    info : dict
        Diagnostics: ``timings``, numbers of patches, duplicates and merges,
        ``k_capped``, evaluation thresholds...
    provenance : dict
        ``version`` (of napari-amnesia), ``created`` (ISO time), ``elapsed_s``,
        ``input_shape``, ``input_dtype`` (and ``refit_of``: the version that made
        the result a refit started from).
    ring : RingModel or None
        One-photon fits (CNMF-E, ``method_init="corr_pnr"``, ``gnb=0``): the ring
        background model (:class:`~napari_amnesia.core.cnmf.ring.RingModel`); then
        ``background_footprints`` is its constant baseline ``b0`` (one column,
        ``background_traces`` ones) and the fluctuating background of a movie is
        :func:`~napari_amnesia.core.cnmf.onephoton.ring_background`. None otherwise.
    anatomical : ndarray of bool, shape (K,)
        Components proposed from the mean image (silent cells,
        :func:`~napari_amnesia.core.cnmf.anatomical.add_silent_cells`) rather than
        found by CNMF (all False unless such components were added; also for
        folders written before the field existed).
    """

    footprints: sparse.csc_matrix
    traces: np.ndarray
    spikes: np.ndarray
    residual_traces: np.ndarray
    background_footprints: np.ndarray
    background_traces: np.ndarray
    baseline: np.ndarray
    g: np.ndarray
    lam: np.ndarray
    sn: np.ndarray
    shape: tuple[int, int]
    params: CNMFParams
    accepted: np.ndarray | None = None
    snr: np.ndarray | None = None
    r_values: np.ndarray | None = None
    dff: np.ndarray | None = None
    label_values: np.ndarray | None = None
    mean_image: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    anatomical: np.ndarray | None = None
    ring: Any = None

    def __post_init__(self) -> None:
        """Check the shapes and cast every array to its documented dtype."""
        self.footprints = sparse.csc_matrix(self.footprints, dtype=np.float32)
        self.shape = tuple(int(v) for v in self.shape)
        K = self.footprints.shape[1]
        if self.footprints.shape[0] != self.shape[0] * self.shape[1]:
            raise ValueError(f"footprints have {self.footprints.shape[0]} pixels, the frame "
                             f"shape {self.shape} has {self.shape[0] * self.shape[1]}.")
        for name in ("traces", "spikes", "residual_traces"):
            arr = np.asarray(getattr(self, name), np.float32)
            if arr.ndim != 2 or arr.shape[0] != K:
                raise ValueError(f"{name} should have shape (K={K}, T), got {arr.shape}.")
            setattr(self, name, arr)
        if self.accepted is None:
            self.accepted = np.ones(K, bool)
        self.accepted = np.asarray(self.accepted, bool).reshape(K)
        if self.label_values is None:
            self.label_values = np.arange(1, K + 1, dtype=np.int64)
        self.label_values = np.asarray(self.label_values, np.int64).reshape(K)
        anatomical = np.zeros(K, bool) if self.anatomical is None else np.asarray(
            self.anatomical, bool).ravel()
        if anatomical.size != K:
            if anatomical.any():  # a copy with other components: the flags are lost
                raise ValueError(f"anatomical should have K={K} values, got "
                                 f"{anatomical.size}.")
            anatomical = np.zeros(K, bool)  # made by code that does not know the field
        self.anatomical = anatomical
        self.baseline = np.asarray(self.baseline, np.float64).reshape(K)
        self.lam = np.asarray(self.lam, np.float64).reshape(K)
        g = np.asarray(self.g, np.float64)
        self.g = g.reshape(K, -1) if K else g.reshape(0, self.params.p)
        self.sn = np.asarray(self.sn, np.float32).reshape(self.shape)
        self.background_footprints = np.asarray(self.background_footprints,
                                                np.float32).reshape(self.n_pixels, -1)
        self.background_traces = np.asarray(self.background_traces,
                                             np.float32).reshape(-1, self.n_frames)

    # -- sizes ----------------------------------------------------------------------
    @property
    def K(self) -> int:  # noqa: N802 - the CNMF symbol
        """Number of components."""
        return int(self.footprints.shape[1])

    @property
    def n_frames(self) -> int:
        """Number of frames ``T``."""
        return int(self.traces.shape[1])

    @property
    def n_pixels(self) -> int:
        """Pixels of a frame."""
        return self.shape[0] * self.shape[1]

    @property
    def background(self) -> tuple[np.ndarray, np.ndarray]:
        """``(b, f)``: background footprints ``(Y * X, gnb)`` and traces ``(gnb, T)``."""
        return self.background_footprints, self.background_traces

    @property
    def raw_traces(self) -> np.ndarray:
        """``traces + residual_traces``: each footprint's demixed projection of the movie."""
        return self.traces + self.residual_traces

    @property
    def evaluated(self) -> bool:
        """Whether quality metrics were computed."""
        return self.snr is not None and self.r_values is not None

    def __repr__(self) -> str:
        """Return a one-line summary: components, accepted, frames and frame shape."""
        acc = f", {int(self.accepted.sum())} accepted" if self.evaluated else ""
        if self.anatomical.any():
            acc += f", {int(self.anatomical.sum())} anatomical"
        return (f"SourceResult({self.K} components{acc}, {self.n_frames} frames of "
                f"{self.shape[0]}x{self.shape[1]})")

    # -- views ----------------------------------------------------------------------
    def footprint_images(self, indices: Any = None) -> np.ndarray:
        """Dense footprints ``(K, Y, X)`` float32 (of ``indices`` when given)."""
        A = self.footprints if indices is None else self.footprints[:, np.asarray(indices)]
        return np.ascontiguousarray(A.toarray().T).reshape(A.shape[1], *self.shape)

    def centers(self) -> np.ndarray:
        """Footprint-weighted centroid ``(row, column)`` of each component, ``(K, 2)``."""
        A = self.footprints
        rows, cols = np.divmod(np.arange(self.n_pixels), self.shape[1])
        w = np.asarray(A.sum(axis=0)).ravel()
        with np.errstate(invalid="ignore", divide="ignore"):
            cy = np.asarray(A.T @ rows).ravel() / w
            cx = np.asarray(A.T @ cols).ravel() / w
        return np.stack([cy, cx], axis=1)

    def sizes(self, threshold: float = 0.2) -> np.ndarray:
        """Pixels of each footprint at or above ``threshold`` times its maximum."""
        A = self.footprints
        out = np.zeros(self.K, np.int64)
        for k in range(self.K):
            v = A.data[A.indptr[k]:A.indptr[k + 1]]
            if v.size:
                out[k] = int(np.count_nonzero(v >= threshold * v.max()))
        return out

    def labels(self, threshold: float = 0.2, *, accepted_only: bool = True) -> np.ndarray:
        """Return a ``(Y, X)`` label image of the components (0 = none).

        A pixel belongs to the components whose footprint there is at least
        ``threshold`` times the footprint's maximum; where several do (footprints
        overlap), it goes to the one for which it is relatively strongest (largest
        value / maximum). Component ``k`` is drawn with ``label_values[k]``.

        Parameters
        ----------
        threshold : float
            Fraction of each footprint's maximum, in [0, 1].
        accepted_only : bool
            Draw only accepted components (all of them before evaluation).

        Returns
        -------
        ndarray of int32, shape (Y, X)
        """
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold should be in [0, 1], got {threshold}.")
        A = self.footprints
        best = np.zeros(self.n_pixels, np.float32)
        out = np.zeros(self.n_pixels, np.int32)
        chosen = np.flatnonzero(self.accepted) if accepted_only else np.arange(self.K)
        for k in chosen:
            lo, hi = A.indptr[k], A.indptr[k + 1]
            v, idx = A.data[lo:hi], A.indices[lo:hi]
            if v.size == 0 or v.max() <= 0:
                continue
            rel = v / v.max()
            sel = (rel >= threshold) & (rel > best[idx])
            best[idx[sel]] = rel[sel]
            out[idx[sel]] = self.label_values[k]
        return out.reshape(self.shape)

    def contours(self, threshold: float = 0.2, *, accepted_only: bool = True
                 ) -> list[np.ndarray]:
        """Outline ``(n, 2)`` (row, column) of each component at ``threshold`` of its max.

        One closed polygon per component (its longest contour), in the order of
        the components drawn (``accepted_only`` as in :meth:`labels`).
        """
        from skimage import measure

        chosen = np.flatnonzero(self.accepted) if accepted_only else np.arange(self.K)
        out = []
        for k in chosen:
            img = self.footprint_images([k])[0]
            m = img.max()
            if m <= 0:
                out.append(np.zeros((0, 2)))
                continue
            cs = measure.find_contours(np.pad(img / m, 1), threshold)
            out.append(max(cs, key=len) - 1 if cs else np.zeros((0, 2)))
        return out

    def select(self, indices: Any) -> SourceResult:
        """Return a new result with only the components ``indices`` (ints or a boolean mask)."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)

        def pick(a: Any) -> Any:
            return None if a is None else np.asarray(a)[idx]

        return replace(self, footprints=self.footprints[:, idx], traces=self.traces[idx],
                       spikes=self.spikes[idx], residual_traces=self.residual_traces[idx],
                       baseline=self.baseline[idx], g=self.g[idx], lam=self.lam[idx],
                       accepted=self.accepted[idx], snr=pick(self.snr),
                       r_values=pick(self.r_values), dff=pick(self.dff),
                       label_values=self.label_values[idx],
                       anatomical=self.anatomical[idx], info=dict(self.info),
                       provenance=dict(self.provenance))

    # -- lazy movies and layers -----------------------------------------------------
    def reconstruction(self):
        """Return the denoised movie ``A·C + b·f`` as a lazy dask array ``(T, Y, X)``.

        float32, computed a time chunk (up to 64 frames of about 8 MB) at a time.

        Examples
        --------
        >>> from napari_amnesia.core.cnmf import SourceResult, CNMFParams
        >>> A = sparse.csc_matrix(np.eye(16, 1, -5, np.float32))
        >>> C = np.arange(20, dtype=np.float32)[None]
        >>> z = np.zeros((1, 20), np.float32)
        >>> r = SourceResult(A, C, z, z, np.zeros((16, 0)), np.zeros((0, 20)), [0.0],
        ...                  np.zeros((1, 1)), [0.0], np.ones((4, 4)), (4, 4), CNMFParams())
        >>> movie = r.reconstruction()
        >>> movie.shape, float(movie[7].compute()[1, 1])
        ((20, 4, 4), 7.0)
        """
        return lazy_reconstruction(self)

    def residual(self, movie: Any):
        """Return ``movie - reconstruction()`` as a lazy dask array ``(T, Y, X)`` float32.

        Parameters
        ----------
        movie : array_like, shape (T, Y, X)
            The movie the result was fitted on (numpy or dask; read chunk by chunk).

        Raises
        ------
        ValueError
            When the movie's shape is not the fitted one.
        """
        return lazy_residual(self, movie)

    def to_layers(self, source: str, *, movie: Any = None, contours: bool = False,
                  show_rejected: bool = True) -> list[tuple]:
        """Return napari LayerData tuples of the result (see :func:`.layers.cnmf_layers`).

        Parameters
        ----------
        source : str
            Name of the movie layer (layers are named ``"<source> · <what>"``).
        movie : array_like, optional
            The fitted movie: adds the lazy ``residual`` layer.
        contours : bool
            Also the outlines as a Shapes layer.
        show_rejected : bool
            Draw rejected components in grey (else transparent).
        """
        from .layers import cnmf_layers

        return cnmf_layers(self, source, movie=movie, contours=contours,
                           show_rejected=show_rejected)

    # -- saving ---------------------------------------------------------------------
    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the result folder (see the module documentation); returns its path."""
        folder = Path(os.path.expanduser(os.fspath(folder)))
        A = self.footprints
        arrays: dict[str, np.ndarray] = {
            "footprints_data": A.data, "footprints_indices": A.indices,
            "footprints_indptr": A.indptr, "traces": self.traces, "spikes": self.spikes,
            "residual_traces": self.residual_traces,
            "background_footprints": self.background_footprints,
            "background_traces": self.background_traces, "baseline": self.baseline,
            "g": self.g, "lam": self.lam, "sn": self.sn, "accepted": self.accepted,
            "label_values": self.label_values,
        }
        if self.anatomical.any():  # folders without it load as all False
            arrays["anatomical"] = self.anatomical
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                arrays[name] = np.asarray(value)
        if self.mean_image is not None:
            arrays["mean_image"] = np.asarray(self.mean_image)
        if self.ring is not None:
            arrays.update(self.ring.to_arrays())
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            with open(tmp / "arrays.npz", "wb") as fh:
                np.savez(fh, **arrays)
            (tmp / "params.json").write_text(json.dumps(self.params.to_dict(), indent=2))
            (tmp / "result.json").write_text(json.dumps(jsonable({
                "format": _FORMAT, "shape": list(self.shape), "n_frames": self.n_frames,
                "n_components": self.K, "provenance": self.provenance,
                "info": self.info}), indent=2))
        logger.info("CNMF result saved to %s", folder)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> SourceResult:
        """Read a folder written by :meth:`save`."""
        folder = Path(os.path.expanduser(os.fspath(folder)))
        a = read_arrays(folder, "CNMF result")
        meta = json.loads((folder / "result.json").read_text())
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{folder}: unknown result format {meta.get('format')!r} "
                             f"(expected {_FORMAT!r}).")
        params = CNMFParams.from_dict(json.loads((folder / "params.json").read_text()))
        shape = tuple(meta["shape"])
        K = int(meta["n_components"])
        A = sparse.csc_matrix((a.pop("footprints_data"), a.pop("footprints_indices"),
                               a.pop("footprints_indptr")), shape=(shape[0] * shape[1], K))
        info = dict(meta.get("info", {}))
        if "provenance" in meta:
            prov = dict(meta["provenance"])
        else:  # written before provenance had its own key: it was mixed into info
            prov = {k: info.pop(k) for k in ("version", "input_shape", "input_dtype",
                                             "refit_of") if k in info}
        ring = None
        if "ring_meta" in a:
            from .ring import RingModel

            ring = RingModel.from_arrays({k: a.pop(k) for k in list(a) if k.startswith("ring_")})
        return cls(footprints=A, shape=shape, params=params, info=info, provenance=prov,
                   ring=ring, **a)
