"""Session transforms: points, images and footprints both ways."""

import math

import numpy as np
from scipy import sparse

from napari_amnesia.core.multisession import SessionTransform


def _transform():
    yy, xx = np.mgrid[:5, :5] / 4.0
    field = np.stack([1.5 * np.sin(2 * yy + xx), -1.2 * np.cos(yy - 1.5 * xx)])
    return SessionTransform(shape=(64, 64), common_shape=(64, 64), angle=math.radians(1.5),
                            translation=(3.0, -2.0), field=field, grid_origin=(0, 0),
                            grid_spacing=16)


def test_points_round_trip():
    t = _transform()
    points = np.random.default_rng(0).uniform(5, 58, (50, 2))
    assert np.abs(t.inverse_points(t.apply_points(points)) - points).max() < 1e-3


def test_image_round_trip_and_dense_maps_agree_with_points():
    t = _transform()
    common = t.common_coordinates()
    rows, cols = np.array([10, 40]), np.array([20, 33])
    exact = t.apply_points(np.column_stack([rows, cols]))
    assert np.abs(common[:, rows, cols].T - exact).max() < 0.01
    yy, xx = np.mgrid[:64, :64]
    image = np.sin(yy / 5.0) + np.cos(xx / 7.0)
    back = t.inverse_image(t.apply_image(image, order=3), order=3)
    inside = t.overlap()
    inner = np.zeros_like(inside)
    inner[10:-10, 10:-10] = True
    assert np.abs(back - image)[inner].max() < 0.05
    assert inside.mean() > 0.8


def test_footprints_follow_the_points():
    t = _transform()
    image = np.zeros((64, 64), np.float32)
    image[30:33, 20:23] = 1
    moved = t.apply_footprints(sparse.csc_matrix(image.reshape(-1, 1))).toarray()
    moved = moved.reshape(64, 64)
    yy, xx = np.mgrid[:64, :64]
    center = np.array([(moved * yy).sum(), (moved * xx).sum()]) / moved.sum()
    assert np.hypot(*(center - t.apply_points([[31.0, 21.0]])[0])) < 0.2
    back = t.inverse_footprints(sparse.csc_matrix(moved.reshape(-1, 1))).toarray()
    assert back.reshape(64, 64)[31, 21] > 0.5


def test_dict_round_trip():
    t = _transform()
    u = SessionTransform.from_dict(t.to_dict())
    points = np.array([[10.0, 12.0], [50.0, 3.0]])
    assert np.allclose(u.apply_points(points), t.apply_points(points))
