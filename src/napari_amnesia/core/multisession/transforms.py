"""Each session's map into the common space: rigid + rotation + smooth non-rigid.

A :class:`SessionTransform` maps a point ``p = (row, column)`` of a session's images to
the common space in two steps::

    r = R(angle) (p - center) + center + translation        (rigid, with rotation)
    q = r + field(r)                                          (smooth, non-rigid)

``field`` is a displacement sampled on a regular grid of nodes of the common space
(``grid_origin + grid_spacing * (i, j)``) and interpolated between them by cubic
splines, so it is smooth and cheap to store. The inverse (common space → session) is
found by fixed-point iteration (``r = q - field(r)``), exact to a thousandth of a pixel
for the gentle fields of real sessions (``|grad field| << 1``).

Points, images and footprints are carried both ways: ``apply_*`` goes from the session
into the common space, ``inverse_*`` back. Footprints (pixels × n, C-order pixels, as
everywhere in the package) go through a sparse bilinear resampling matrix.

Examples
--------
>>> import numpy as np
>>> t = SessionTransform(shape=(64, 64), common_shape=(64, 64), angle=0.0,
...                      translation=(2.0, -1.0))
>>> t.apply_points([[10.0, 10.0]])
array([[12.,  9.]])
>>> t.inverse_points(t.apply_points([[10.0, 20.0]]))
array([[10., 20.]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import numpy as np
from scipy import ndimage, sparse

__all__ = ["SessionTransform", "bilinear_matrix"]


def bilinear_matrix(coordinates: np.ndarray, shape: tuple[int, int]) -> sparse.csr_matrix:
    """Return the sparse matrix that samples an image of ``shape`` at ``coordinates``.

    Parameters
    ----------
    coordinates : ndarray, shape (2, N)
        Row and column of each sample, in pixels of the image.
    shape : tuple of int
        The sampled image's shape (its pixels in C order are the matrix's columns).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (N, shape[0] * shape[1])
        Bilinear weights; a sample outside the image gets no weight.
    """
    coordinates = np.asarray(coordinates, np.float64).reshape(2, -1)
    n = coordinates.shape[1]
    Y, X = int(shape[0]), int(shape[1])
    r0 = np.floor(coordinates[0])
    c0 = np.floor(coordinates[1])
    fr = coordinates[0] - r0
    fc = coordinates[1] - c0
    rows, cols, weights = [], [], []
    sample = np.arange(n)
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc),
                      (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        rr = r0 + dr
        cc = c0 + dc
        ok = (rr >= 0) & (rr < Y) & (cc >= 0) & (cc < X) & (w > 0)
        rows.append(sample[ok])
        cols.append((rr[ok] * X + cc[ok]).astype(np.int64))
        weights.append(w[ok])
    return sparse.csr_matrix(
        (np.concatenate(weights).astype(np.float32),
         (np.concatenate(rows), np.concatenate(cols))), shape=(n, Y * X))


def _linear_weights(size: int, n: int) -> sparse.csr_matrix:
    """Sparse ``(size, n)`` weights of linear interpolation from ``n`` evenly spaced nodes."""
    position = np.arange(size) * (n - 1) / max(size - 1, 1)
    low = np.minimum(np.floor(position).astype(int), n - 2)
    frac = position - low
    rows = np.arange(size)
    return sparse.csr_matrix((np.concatenate([1 - frac, frac]),
                              (np.concatenate([rows, rows]), np.concatenate([low, low + 1]))),
                             shape=(size, n))


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


@dataclass(eq=False)
class SessionTransform:
    """One session's map into the common space (see the module documentation).

    Attributes
    ----------
    shape : tuple of int
        The session's image shape ``(Y, X)``.
    common_shape : tuple of int
        The common space's image shape.
    angle : float
        Rotation in radians (of the session's content into the common space).
    translation : tuple of float
        ``(rows, columns)`` offset after the rotation.
    center : tuple of float or None
        Centre of the rotation (default: the common space's centre).
    field : ndarray, shape (2, gy, gx), or None
        Non-rigid displacement (rows, columns) at the grid nodes, in pixels.
    grid_origin : tuple of float
        Common-space position of node ``(0, 0)``.
    grid_spacing : float
        Distance between nodes, in pixels.
    """

    shape: tuple[int, int]
    common_shape: tuple[int, int]
    angle: float = 0.0
    translation: tuple[float, float] = (0.0, 0.0)
    center: tuple[float, float] | None = None
    field: np.ndarray | None = None
    grid_origin: tuple[float, float] = (0.0, 0.0)
    grid_spacing: float = 64.0
    _cache: dict = dataclass_field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        """Normalise the types (tuples of floats, a float64 field)."""
        self.shape = tuple(int(v) for v in self.shape)
        self.common_shape = tuple(int(v) for v in self.common_shape)
        self.angle = float(self.angle)
        self.translation = tuple(float(v) for v in self.translation)
        if self.center is None:
            self.center = tuple((np.asarray(self.common_shape, float) - 1) / 2)
        self.center = tuple(float(v) for v in self.center)
        if self.field is not None:
            self.field = np.asarray(self.field, np.float64)
        self.grid_origin = tuple(float(v) for v in self.grid_origin)
        self.grid_spacing = float(self.grid_spacing)

    # -- the parts ------------------------------------------------------------------------
    def rigid(self, points: Any) -> np.ndarray:
        """Return the rigid part (rotation, then translation) of the map, ``(N, 2)``."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        c = np.asarray(self.center)
        return (p - c) @ _rotation(self.angle).T + c + np.asarray(self.translation)

    def rigid_inverse(self, points: Any) -> np.ndarray:
        """Return the inverse of :meth:`rigid`."""
        r = np.asarray(points, np.float64).reshape(-1, 2)
        c = np.asarray(self.center)
        return (r - c - np.asarray(self.translation)) @ _rotation(-self.angle).T + c

    def displacement(self, points: Any) -> np.ndarray:
        """Return the non-rigid displacement at common-space ``points``, ``(N, 2)``."""
        r = np.asarray(points, np.float64).reshape(-1, 2)
        if self.field is None:
            return np.zeros_like(r)
        grid = ((r - np.asarray(self.grid_origin)) / self.grid_spacing).T
        order = 3 if min(self.field.shape[1:]) >= 4 else 1
        return np.stack([ndimage.map_coordinates(f, grid, order=order, mode="nearest")
                         for f in self.field], axis=1)

    # -- points ---------------------------------------------------------------------------
    def apply_points(self, points: Any) -> np.ndarray:
        """Map session ``points`` ``(N, 2)`` (row, column) into the common space."""
        r = self.rigid(points)
        return r + self.displacement(r)

    def inverse_points(self, points: Any, *, iterations: int = 8) -> np.ndarray:
        """Map common-space ``points`` ``(N, 2)`` back into the session."""
        q = np.asarray(points, np.float64).reshape(-1, 2)
        r = q.copy()
        if self.field is not None:
            for _ in range(iterations):
                r = q - self.displacement(r)
        return self.rigid_inverse(r)

    # -- dense maps -----------------------------------------------------------------------
    def _dense(self, shape: tuple[int, int], mapping: Any) -> np.ndarray:
        """Return ``mapping`` of every pixel of ``shape``, as ``(2, Y, X)``.

        The map is evaluated on a grid of every ~6th pixel and interpolated bilinearly in
        between: exact for the rigid part (affine), within a hundredth of a pixel for a
        field smooth on the scale of its grid.
        """
        n = [max(2, int(math.ceil((s - 1) / 6)) + 1) for s in shape]
        ys = np.linspace(0, shape[0] - 1, n[0])
        xs = np.linspace(0, shape[1] - 1, n[1])
        rr, cc = np.meshgrid(ys, xs, indexing="ij")
        coarse = mapping(np.column_stack([rr.ravel(), cc.ravel()])).T.reshape(2, *n)
        wy = _linear_weights(shape[0], n[0])
        wx = _linear_weights(shape[1], n[1])
        return np.stack([wy @ (wx @ c.T).T for c in coarse])

    def session_coordinates(self) -> np.ndarray:
        """Return, for every common-space pixel, where it lies in the session: ``(2, Yc, Xc)``."""
        if "session" not in self._cache:
            self._cache["session"] = self._dense(self.common_shape, self.inverse_points)
        return self._cache["session"]

    def common_coordinates(self) -> np.ndarray:
        """Return, for every session pixel, where it lies in the common space: ``(2, Y, X)``."""
        if "common" not in self._cache:
            self._cache["common"] = self._dense(self.shape, self.apply_points)
        return self._cache["common"]

    def overlap(self) -> np.ndarray:
        """Return the common-space pixels that the session's field of view covers (bool)."""
        p = self.session_coordinates()
        return ((p[0] >= 0) & (p[0] <= self.shape[0] - 1)
                & (p[1] >= 0) & (p[1] <= self.shape[1] - 1))

    # -- images ---------------------------------------------------------------------------
    def apply_image(self, image: Any, *, order: int = 1, fill: float = 0.0) -> np.ndarray:
        """Resample a session image ``(Y, X)`` into the common space (float32)."""
        image = self._check_image(image, self.shape, "session")
        return ndimage.map_coordinates(image, self.session_coordinates(), order=order,
                                       mode="constant", cval=fill).astype(np.float32)

    def inverse_image(self, image: Any, *, order: int = 1, fill: float = 0.0) -> np.ndarray:
        """Resample a common-space image ``(Yc, Xc)`` into the session (float32)."""
        image = self._check_image(image, self.common_shape, "common-space")
        return ndimage.map_coordinates(image, self.common_coordinates(), order=order,
                                       mode="constant", cval=fill).astype(np.float32)

    @staticmethod
    def _check_image(image: Any, shape: tuple[int, int], what: str) -> np.ndarray:
        image = np.asarray(image, np.float32)
        if image.shape != tuple(shape):
            raise ValueError(f"the {what} image should have shape {tuple(shape)}, got "
                             f"{image.shape}.")
        return image

    # -- footprints -----------------------------------------------------------------------
    def to_common_matrix(self) -> sparse.csr_matrix:
        """Return the resampling matrix session pixels → common pixels ``(Pc, Ps)``."""
        if "to_common" not in self._cache:
            self._cache["to_common"] = bilinear_matrix(
                self.session_coordinates().reshape(2, -1), self.shape)
        return self._cache["to_common"]

    def to_session_matrix(self) -> sparse.csr_matrix:
        """Return the resampling matrix common pixels → session pixels ``(Ps, Pc)``."""
        if "to_session" not in self._cache:
            self._cache["to_session"] = bilinear_matrix(
                self.common_coordinates().reshape(2, -1), self.common_shape)
        return self._cache["to_session"]

    def apply_footprints(self, footprints: Any) -> sparse.csc_matrix:
        """Carry session footprints ``(Y*X, n)`` into the common space ``(Yc*Xc, n)``."""
        return sparse.csc_matrix(self.to_common_matrix() @ _as_sparse(
            footprints, self.shape[0] * self.shape[1], "session"))

    def inverse_footprints(self, footprints: Any) -> sparse.csc_matrix:
        """Carry common-space footprints ``(Yc*Xc, n)`` into the session ``(Y*X, n)``."""
        return sparse.csc_matrix(self.to_session_matrix() @ _as_sparse(
            footprints, self.common_shape[0] * self.common_shape[1], "common-space"))

    # -- storage --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return the transform as JSON-ready values (:meth:`from_dict` reads them)."""
        return {"shape": list(self.shape), "common_shape": list(self.common_shape),
                "angle_degrees": math.degrees(self.angle),
                "translation": list(self.translation), "center": list(self.center),
                "field": None if self.field is None else self.field.tolist(),
                "grid_origin": list(self.grid_origin), "grid_spacing": self.grid_spacing}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SessionTransform:
        """Build a transform from :meth:`to_dict`'s values."""
        values = dict(values)
        angle = math.radians(float(values.pop("angle_degrees", 0.0)))
        fld = values.pop("field", None)
        return cls(angle=angle, field=None if fld is None else np.asarray(fld, float),
                   **values)

    def __repr__(self) -> str:
        """Summarise the rigid part and the size of the non-rigid one."""
        nonrigid = 0.0 if self.field is None else float(np.abs(self.field).max())
        return (f"SessionTransform(shape={self.shape}, angle={math.degrees(self.angle):.2f}°, "
                f"translation=({self.translation[0]:.2f}, {self.translation[1]:.2f}), "
                f"non-rigid up to {nonrigid:.2f} px)")


def _as_sparse(footprints: Any, n_pixels: int, what: str) -> sparse.csc_matrix:
    if sparse.issparse(footprints):
        a = sparse.csc_matrix(footprints, dtype=np.float32)
    else:
        a = np.asarray(footprints, np.float32)
        if a.ndim == 1:
            a = a[:, None]
        a = sparse.csc_matrix(a)
    if a.shape[0] != n_pixels:
        raise ValueError(f"{what} footprints should have {n_pixels} pixels (rows), got "
                         f"{a.shape[0]}.")
    return a
