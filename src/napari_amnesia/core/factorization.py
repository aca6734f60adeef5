"""pyAMNESIA's matrix factorization: NMF, PCA and PCA-ICA with skewness selection.

pyAMNESIA's third module [1]_ factorizes the ``(T, N)`` matrix of a sequence —
``T`` frames, ``N`` pixels or elements — into ``K`` temporal components and
``K`` spatial components, and keeps the components whose time course is
skewed (calcium transients are rare, large and positive: a skewed trace; noise
and slow background are not). Re-implemented from its documentation, not its
code. Methods (``method``):

``"nmf"``
    Non-negative matrix factorization (scikit-learn, ``init="nndsvda"``) of the
    data as it is (``normalization="none"``), which must be non-negative: the
    per-element baseline (``baseline_percentile``) is subtracted and negative
    residues clipped to 0 when ``subtract_baseline`` is on, so components
    describe activity rather than the resting image.
``"pca"``
    Principal components of the centred data (randomized truncated SVD).
``"ica"``
    PCA to ``n_components``, then FastICA [2]_ on the spatial principal
    components (spatial ICA, as CellSort [3]_ mostly does): independent,
    sparse spatial maps; each time course is the least-squares fit of the
    data on the maps.

Component selection: components are sorted by the skewness of their time
course (PCA: by explained variance) and those with skewness below
``min_skewness`` are dropped; signs of PCA/ICA components are chosen so that the
spatial map's largest weight is positive.

Memory, for a raw movie
-----------------------
A whole movie is never loaded: it is read one time chunk at a time
(``chunk_frames``), each chunk is binned in space by ``spatial_bin`` (``None``:
the smallest factor that keeps at most ``max_pixels`` pixels) and in time by
``time_bin``, and only the binned ``(T / time_bin, N / spatial_bin²)`` float32
matrix is kept. Spatial components are computed on the binned grid and
expanded back to ``(Y, X)`` by repeating each value over its bin. For a
projection (skeleton or active pixels, branches) the matrix is the
projection's traces, already small; spatial components are painted back on
the elements' pixels.

References
----------
.. [1] pyAMNESIA documentation, "Factorization",
   https://pyamnesia.readthedocs.io/en/latest/overview_factorization.html
.. [2] A. Hyvärinen, E. Oja, "Independent component analysis: algorithms and
   applications", Neural Networks 13 (2000).
.. [3] E. A. Mukamel, A. Nimmerjahn, M. J. Schnitzer, "Automated analysis of
   cellular signals from large-scale calcium imaging data", Neuron 63 (2009).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .files import atomic_folder, jsonable, read_arrays
from .layers import layer_name, provenance
from .params import StageParams
from .progress import Progress, ProgressGenerator, drive
from .traces import detrend_traces, normalize_traces

__all__ = ["FactorizationParams", "FactorizationResult", "factorize", "iter_factorize", "mosaic"]

logger = logging.getLogger(__name__)


def _p(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class FactorizationParams(StageParams):
    """Parameters of a factorization (frozen, validated; ``metadata["help"]`` on each)."""

    #: what a user sets for their data (the dock's main section): plain label, units
    ESSENTIALS = {
        "method": ("method", ""), "n_components": ("components", ""),
        "min_skewness": ("smallest skewness", ""), "normalization": ("normalization", ""),
    }

    method: str = _p(
        "nmf", "Factorization: 'nmf' (non-negative parts), 'pca' (principal components) or "
        "'ica' (PCA then FastICA: independent, sparse spatial maps).",
        choices=("nmf", "pca", "ica"), pyamnesia="factorization_method",
    )
    n_components: int = _p(
        10, "Number of components computed (before the skewness selection).",
        pyamnesia="nb_comp_intermed",
    )
    min_skewness: float | None = _p(
        0.5, "Components whose time course has a lower skewness are dropped (calcium "
        "activity is positively skewed; noise and background are not). Empty = keep all.",
        pyamnesia="skewness threshold",
    )
    normalization: str = _p(
        "none", "Normalization of each pixel's/element's trace: 'none' (required by NMF, "
        "which needs non-negative data), 'zscore' or 'dff'.",
        choices=("none", "zscore", "dff"), pyamnesia="element_normalization_method",
    )
    subtract_baseline: bool = _p(
        True, "NMF: subtract each trace's low percentile (its resting level) and clip at 0, "
        "so components describe activity rather than the resting image.",
    )
    baseline_percentile: float = _p(
        10.0, "Percentile of each trace used as its baseline (NMF baseline, ΔF/F F0).",
    )
    detrend_degree: int = _p(
        2, "Degree of the polynomial trend (photobleaching) removed from each trace for "
        "PCA/ICA (0 = none; NMF data is not detrended, to stay non-negative).",
    )
    spatial_bin: int | None = _p(
        None, "Raw movie: pixels are averaged in bins of this many pixels per side "
        "(empty = the smallest factor giving at most max_pixels pixels).",
    )
    max_pixels: int = _p(
        65536, "Raw movie with automatic spatial_bin: at most this many (binned) pixels.",
    )
    time_bin: int = _p(
        1, "Raw movie or traces: frames are averaged in bins of this many (1 = none).",
    )
    max_iter: int = _p(
        400, "Iterations of NMF / FastICA.",
    )
    chunk_frames: int = _p(
        256, "Raw movie: frames read at a time (memory only).",
    )
    random_state: int = _p(
        0, "Seed of the randomized SVD, NMF initialization and FastICA.",
    )

    def __post_init__(self) -> None:
        """Check the choices and the ranges of the fields."""
        self._check_choices()
        for name, minimum, optional in (("n_components", 1, False), ("spatial_bin", 1, True),
                                        ("max_pixels", 1, False), ("time_bin", 1, False),
                                        ("max_iter", 1, False), ("chunk_frames", 1, False),
                                        ("random_state", 0, False),
                                        ("detrend_degree", 0, False)):
            self._check_integer(name, minimum, optional=optional)
        self._check_number("min_skewness", optional=True)
        self._check_number("baseline_percentile", 0.0, 100.0)
        self._check_bool("subtract_baseline")
        if self.method == "nmf" and self.normalization != "none":
            raise ValueError(
                f"FactorizationParams.normalization should be 'none' with method='nmf' (NMF "
                f"needs non-negative data), got {self.normalization!r}."
            )



@dataclass
class FactorizationResult:
    """Spatial and temporal components of a factorization.

    Attributes
    ----------
    spatial : ndarray of float32, shape (K, Y, X)
        Spatial components (0 outside the elements for a projection).
    temporal : ndarray of float32, shape (K, T')
        Time courses (``T' = T // time_bin``).
    explained_variance : ndarray, shape (K,)
        Fraction of the (centred) data's variance that each component alone
        reproduces.
    skewness : ndarray, shape (K,)
        Skewness of each time course.
    weights : ndarray of float32, shape (K, N)
        Spatial components on the factorized elements (binned pixels or
        projection elements).
    params : FactorizationParams
    info : dict
        Diagnostics: ``source`` ("movie" or the projection's kind),
        ``spatial_bin``, ``n_fitted``, ``all_skewness`` (before the selection).
    provenance : dict
        ``version`` (of the package), ``created`` (ISO time, UTC), ``elapsed_s``
        (seconds the factorization took) and ``seed`` (``params.random_state``).
    """

    spatial: np.ndarray
    temporal: np.ndarray
    explained_variance: np.ndarray
    skewness: np.ndarray
    weights: np.ndarray
    params: FactorizationParams
    info: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def n_components(self) -> int:
        """Number of kept components ``K``."""
        return int(self.temporal.shape[0])

    def __repr__(self) -> str:
        """Summarize the method, components and frame shape."""
        return (f"FactorizationResult(method={self.params.method!r}, "
                f"n_components={self.n_components}, shape={self.spatial.shape[1:]})")

    def save(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the result to a folder, atomically.

        ``arrays.npz`` (spatial, temporal, explained_variance, skewness, weights),
        ``params.json``, ``info.json`` and ``provenance.json``.
        """
        folder = Path(folder)
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            np.savez_compressed(tmp / "arrays.npz", spatial=self.spatial, temporal=self.temporal,
                                explained_variance=self.explained_variance,
                                skewness=self.skewness, weights=self.weights)
            (tmp / "params.json").write_text(json.dumps(self.params.to_dict(), indent=2))
            (tmp / "info.json").write_text(json.dumps(jsonable(self.info), indent=2))
            (tmp / "provenance.json").write_text(json.dumps(jsonable(self.provenance),
                                                            indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> FactorizationResult:
        """Read a folder written by :meth:`save`."""
        folder = Path(folder)
        arrays = read_arrays(folder, "factorization")
        made = folder / "provenance.json"   # absent in folders of earlier versions
        return cls(
            params=FactorizationParams.from_dict(
                json.loads((folder / "params.json").read_text())),
            info=json.loads((folder / "info.json").read_text()),
            provenance=json.loads(made.read_text()) if made.exists() else {}, **arrays,
        )

    def to_layers(self, source: str, **options: Any) -> list[tuple]:
        """Return the napari layer data of the spatial components (no napari import).

        One 2-D Image ``"<source> · components"``: the ``(K, Y, X)`` spatial
        components tiled row by row (:func:`mosaic`), translated to the right of
        the movie so that it shows at every frame (a ``(K, Y, X)`` stack would
        share its first axis with the movie's time). Its
        ``metadata["napari_amnesia"]["components"]`` lists each component's
        ``explained_variance``, ``skewness`` and ``tile`` (top-left row, column).

        Parameters
        ----------
        source : str
            Name of the movie layer the factorization was computed on.
        **options
            None yet (accepted for the common ``to_layers`` signature).

        Returns
        -------
        list of (data, kwargs, layer_type) tuples

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> movie = rng.random((30, 8, 8)).astype(np.float32)
        >>> result = factorize(movie, method="pca", n_components=2, min_skewness=None)
        >>> [(data.shape, kwargs["name"]) for data, kwargs, _ in result.to_layers("movie")]
        [((8, 18), 'movie · components')]
        """
        if options:
            raise TypeError(f"unknown option(s) {', '.join(map(repr, options))}.")
        spatial = np.asarray(self.spatial, np.float32)
        image, corners = mosaic(spatial)
        gap = max(2, min(spatial.shape[1:]) // 20)
        meta = provenance("factorization", source, self.params.to_dict())
        meta["napari_amnesia"].update({
            "input": self.info.get("source"),
            "spatial_bin": self.info.get("spatial_bin"),
            "layout": "mosaic",
            "components": [
                {"component": i + 1, "explained_variance": float(ev), "skewness": float(sk),
                 "tile": [int(r), int(c)]}
                for i, (ev, sk, (r, c)) in enumerate(zip(
                    self.explained_variance, self.skewness, corners, strict=True))],
        })
        # signs are chosen so that each map's largest weight is positive: show 0..high
        finite = spatial[np.isfinite(spatial)]
        hi = float(np.percentile(finite, 99.8)) if finite.size else 1.0
        return [(image, {"name": layer_name(source, "components"), "colormap": "magma",
                         "contrast_limits": [0.0, hi if hi > 0 else 1.0],
                         "translate": (0.0, float(spatial.shape[2] + 4 * gap)),
                         "metadata": meta}, "image")]


def mosaic(maps: np.ndarray, *, gap: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Tile ``(K, Y, X)`` maps row by row in one 2-D image.

    Parameters
    ----------
    maps : ndarray, shape (K, Y, X)
        The maps to tile.
    gap : int, optional
        Pixels of zeros between tiles (default: 1/20 of the frame, at least 2).

    Returns
    -------
    image : ndarray of float32, shape (rows * (Y + gap) - gap, columns * (X + gap) - gap)
        ``columns = ceil(sqrt(K))``.
    corners : ndarray of int, shape (K, 2)
        Top-left row, column of each map's tile.

    Examples
    --------
    >>> image, corners = mosaic(np.ones((3, 4, 4)), gap=1)
    >>> image.shape, corners.tolist()
    ((9, 9), [[0, 0], [0, 5], [5, 0]])
    """
    maps = np.asarray(maps, np.float32)
    k, height, width = maps.shape
    gap = max(2, min(height, width) // 20) if gap is None else int(gap)
    columns = max(1, int(np.ceil(np.sqrt(k))))
    rows = max(1, int(np.ceil(k / columns)))
    image = np.zeros((rows * (height + gap) - gap, columns * (width + gap) - gap), np.float32)
    corners = np.array([((i // columns) * (height + gap), (i % columns) * (width + gap))
                        for i in range(k)], np.int64).reshape(k, 2)
    for tile, (r, c) in zip(maps, corners, strict=True):
        image[r:r + height, c:c + width] = tile
    return image, corners


def _time_binned(x: np.ndarray, b: int) -> np.ndarray:
    """(T, ...) → (T // b, ...) means."""
    if b == 1:
        return x
    t = (len(x) // b) * b
    return x[:t].reshape(t // b, b, *x.shape[1:]).mean(axis=1)


def _iter_movie_matrix(movie: Any, p: FactorizationParams
                       ) -> ProgressGenerator[tuple[np.ndarray, int, tuple[int, int]]]:
    shape = tuple(int(s) for s in movie.shape)
    t_total, ny, nx = shape
    b = p.spatial_bin or max(1, int(np.ceil(np.sqrt(ny * nx / p.max_pixels))))
    by, bx = -(-ny // b), -(-nx // b)
    tb = p.time_bin
    n_out = t_total // tb
    if n_out < 3:
        raise ValueError(f"factorize needs at least 3 frames (after time_bin={tb}), got "
                         f"{n_out}.")
    out = np.empty((n_out, by * bx), np.float32)
    chunk = max(tb, (p.chunk_frames // tb) * tb)
    for t0 in range(0, n_out * tb, chunk):
        t1 = min(t0 + chunk, n_out * tb)
        block = np.asarray(movie[t0:t1], np.float32)   # one chunk in memory
        if not np.isfinite(block).all():
            raise ValueError(f"the movie has NaN or infinite values (frames {t0}-{t1 - 1}).")
        pad = np.zeros((len(block), by * b, bx * b), np.float32)
        pad[:, :ny, :nx] = block
        counts = np.zeros((by * b, bx * b), np.float32)
        counts[:ny, :nx] = 1
        binned = pad.reshape(len(block), by, b, bx, b).sum(axis=(2, 4))
        binned /= counts.reshape(by, b, bx, b).sum(axis=(1, 3))
        binned = _time_binned(binned, tb)
        out[t0 // tb:t0 // tb + len(binned)] = binned.reshape(len(binned), -1)
        yield Progress(t1, n_out * tb, "factorization: reading the movie")
    return out, b, (ny, nx)


def _skew(x: np.ndarray) -> np.ndarray:
    from scipy.stats import skew

    return np.nan_to_num(skew(np.asarray(x, np.float64), axis=1))


def iter_factorize(movie_or_projection: Any,
                   params: FactorizationParams | Mapping[str, Any] | None = None,
                   **overrides: Any) -> ProgressGenerator[FactorizationResult]:
    """Factorize as :func:`factorize` does, as a generator."""
    p = FactorizationParams.resolve(params, overrides)
    start = time.perf_counter()
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    source = movie_or_projection
    info: dict[str, Any] = {}
    pixels = None
    if hasattr(source, "traces") and hasattr(source, "pixels"):
        traces = np.asarray(source.traces, np.float32)
        if not np.isfinite(traces).all():
            raise ValueError("the projection's traces have NaN or infinite values.")
        data = np.ascontiguousarray(_time_binned(traces.T, p.time_bin))   # (T, N)
        pixels, frame = list(source.pixels), tuple(source.shape)
        info["source"] = f"{source.substructure} {source.method}s"
        b = 1
    else:
        shape = getattr(source, "shape", None)
        if shape is None or len(shape) != 3:
            raise ValueError(
                "factorize needs a (T, Y, X) movie or a Projection, got "
                + (f"an array of shape {tuple(shape)}" if shape is not None
                   else f"a {type(source).__name__}") + "."
            )
        dtype = np.dtype(getattr(source, "dtype", np.float32))
        if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
            raise ValueError(f"factorize needs a movie of real numbers, got dtype {dtype}.")
        data, b, frame = yield from _iter_movie_matrix(source, p)
        info["source"] = "movie"
    info["spatial_bin"] = b
    t, n = data.shape
    if t < 3:
        raise ValueError(f"factorize needs at least 3 frames, got {t}.")
    k = p.n_components
    if k > min(t, n):
        raise ValueError(
            f"n_components={k} is more than the data allows (min(frames, elements) = "
            f"{min(t, n)})."
        )
    yield Progress(0, 2, f"factorization: {p.method}")
    x = normalize_traces(data.T, p.normalization, percentile=p.baseline_percentile).T
    if p.method == "nmf":
        if (x < 0).any() and not p.subtract_baseline:
            raise ValueError("method='nmf' needs non-negative data, but the data has negative "
                             "values; use subtract_baseline=True or method='pca'/'ica'.")
        if p.subtract_baseline:
            x = np.maximum(x - np.percentile(x, p.baseline_percentile, axis=0), 0)
        from sklearn.decomposition import NMF

        model = NMF(n_components=k, init="nndsvda", max_iter=p.max_iter,
                    random_state=p.random_state)
        temporal = model.fit_transform(x).T.astype(np.float32)      # (K, T)
        weights = model.components_.astype(np.float32)               # (K, N)
        # put the scale in the time courses: unit-norm spatial maps
        norm = np.linalg.norm(weights, axis=1)
        norm[norm == 0] = 1
        weights /= norm[:, None]
        temporal *= norm[:, None]
        centred = x - x.mean(axis=0)
    else:
        x = detrend_traces(x.T, p.detrend_degree).T
        centred = x - x.mean(axis=0)
        from sklearn.utils.extmath import randomized_svd

        u, s, vt = randomized_svd(centred, k, n_iter=5, random_state=p.random_state)
        if p.method == "pca":
            temporal = (u * s).T.astype(np.float32)
            weights = vt.astype(np.float32)
        else:
            from sklearn.decomposition import FastICA

            # the principal maps are already white (orthonormal rows): FastICA without
            # its own centring and whitening finds an orthogonal rotation W of them. The
            # maps stay in the principal subspace (FastICA's centring adds a constant
            # offset outside it, and whitening that centred data amplifies a near-constant
            # background map: both made the time courses ill-conditioned, all alike)
            white = vt.T * np.sqrt(n)                                   # (N, K)
            ica = FastICA(n_components=k, whiten=False, max_iter=p.max_iter,
                          random_state=p.random_state, tol=1e-4)
            ica.fit(white)
            rotation = ica.components_                                  # (K, K)
            maps = rotation @ vt                                        # (K, N)
            maps /= np.linalg.norm(maps, axis=1, keepdims=True)
            weights = maps.astype(np.float32)
            # time courses: coordinates of the principal time courses in the basis of
            # the maps (data ~ (u s) vt = (u s) W^-1 maps)
            temporal = np.linalg.solve((maps @ vt.T).T,
                                       (u * s).T).astype(np.float32)   # (K, T)
        sign = np.sign(weights[np.arange(k), np.argmax(np.abs(weights), axis=1)])
        sign[sign == 0] = 1
        weights *= sign[:, None]
        temporal *= sign[:, None]
    yield Progress(1, 2, "factorization: selecting components")
    total = float(np.sum(centred.astype(np.float64) ** 2)) or 1.0
    tc = temporal - temporal.mean(axis=1, keepdims=True)
    explained = (np.sum(tc.astype(np.float64) ** 2, axis=1)
                 * np.sum(weights.astype(np.float64) ** 2, axis=1)) / total
    skewness = _skew(temporal)
    info["all_skewness"] = skewness.tolist()
    info["n_fitted"] = k
    order = np.argsort(-explained) if p.method == "pca" else np.argsort(-skewness)
    if p.min_skewness is not None:
        order = order[skewness[order] >= p.min_skewness]
    temporal, weights = temporal[order], weights[order]
    explained, skewness = explained[order], skewness[order]
    if pixels is not None:
        spatial = np.zeros((len(order), *frame), np.float32)
        for i, pix in enumerate(pixels):
            if len(pix):
                spatial[:, pix[:, 0], pix[:, 1]] = weights[:, i:i + 1]
    else:
        by, bx = -(-frame[0] // b), -(-frame[1] // b)
        grid = weights.reshape(len(order), by, bx)
        spatial = np.repeat(np.repeat(grid, b, axis=1), b, axis=2)[:, :frame[0], :frame[1]]
        spatial = np.ascontiguousarray(spatial, np.float32)
    made = {"version": __version__, "created": created,
            "elapsed_s": time.perf_counter() - start, "seed": p.random_state}
    yield Progress(2, 2, "factorization: done")
    return FactorizationResult(spatial=spatial, temporal=temporal,
                               explained_variance=explained.astype(np.float32),
                               skewness=skewness.astype(np.float32), weights=weights,
                               params=p, info=info, provenance=made)


def factorize(movie_or_projection: Any,
              params: FactorizationParams | Mapping[str, Any] | None = None,
              **overrides: Any) -> FactorizationResult:
    """Factorize a movie or a projection into spatial and temporal components.

    Parameters
    ----------
    movie_or_projection : array_like (T, Y, X) or Projection
        A numpy/dask movie (read in time chunks and binned, see the module
        notes on memory) or a :class:`~napari_amnesia.core.projection.Projection`
        (skeleton pixels, active pixels, branches).
    params : FactorizationParams or dict, optional
    **overrides
        Parameters to change, e.g. ``factorize(movie, method="ica", n_components=8)``.

    Returns
    -------
    FactorizationResult
        ``spatial`` (K, Y, X), ``temporal`` (K, T), ``explained_variance``,
        ``skewness``, ``params``.

    Raises
    ------
    ValueError
        Not a movie or projection, NaN values, ``n_components`` larger than the
        data, NMF on negative data, a bad parameter (named with its value).

    Examples
    --------
    >>> from napari_amnesia.core.simulate import simulate
    >>> movie, truth = simulate(n_frames=200, shape=(48, 48), n_cells=3,
    ...                         n_neurite_groups=0, motion=False, rng=0)
    >>> result = factorize(movie, method="pca", n_components=4, min_skewness=None)
    >>> result.spatial.shape, result.temporal.shape
    ((4, 48, 48), (4, 200))
    """
    return drive(iter_factorize(movie_or_projection, params, **overrides))
