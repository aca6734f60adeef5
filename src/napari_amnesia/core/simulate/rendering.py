"""Rendering: the single code path that turns a ground truth into frames.

The scene (bleached sources and background) is laid on a canvas padded around the
frame, sampled at the displaced coordinates of each frame (rigid: four shifted
slices; non-rigid: a bilinear gather), then gets its noise and the camera offset.
:func:`~napari_amnesia.core.simulate.simulate`, the TIFF writer and the renderings of
:class:`~napari_amnesia.core.simulate.GroundTruth` all go through :class:`_Renderer`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import sparse

from .motion import _field, _mode_fields
from .noise import add_noise

_BLOCK = 32  # frames rendered at once (bounded memory: ~32 canvas frames of float32)


class _Renderer:
    """Renders frames of a GroundTruth on a padded canvas (so motion never shows edges)."""

    def __init__(
        self,
        truth: Any,
        *,
        pad: int,
        background_canvas: np.ndarray,
        photon_noise: str,
        motion: bool,
        nonrigid: bool,
    ) -> None:
        Y, X = truth.shape
        self.truth = truth
        self.pad = pad
        self.canvas_shape = (Y + 2 * pad, X + 2 * pad)
        self.photon_noise = photon_noise
        self.motion = motion
        self.nonrigid = nonrigid
        Yp, Xp = self.canvas_shape
        # sparse (K + B, P) matrix of all source footprints placed on the canvas
        stacked = [truth.footprints, truth.branch_footprints, truth.out_of_focus_footprints]
        rows, cols, vals = [], [], []
        offset = 0
        for block in stacked:
            for i, fp in enumerate(block):
                r, c = np.nonzero(fp)
                rows.append(np.full(r.size, offset + i, np.int64))
                cols.append((r + pad) * Xp + (c + pad))
                vals.append(fp[r, c])
            offset += block.shape[0]
        n_src = offset
        if n_src:
            # (Pu, K + B) over the Pu canvas pixels that some source covers
            all_cols = np.concatenate(cols)
            self.support, inverse = np.unique(all_cols, return_inverse=True)
            self.sources = sparse.csr_matrix(
                (np.concatenate(vals), (inverse.ravel(), np.concatenate(rows))),
                shape=(self.support.size, n_src),
                dtype=np.float32,
            )
        else:
            self.sources = None
        self.background = background_canvas.reshape(len(background_canvas), -1).astype(np.float32)
        if nonrigid:
            self.mode_fields = _mode_fields(truth.nonrigid_modes, truth.shape)
            grid = np.mgrid[0:Y, 0:X].astype(np.float32)
            self.grid = grid + np.float32(pad)

    def scene(self, start: int, stop: int, *, cells: bool = True) -> np.ndarray:
        """Bleached, unmoved, noise-free scene on the canvas, (n, Yp, Xp) float32.

        ``cells=False`` leaves the in-focus somata out (the planted background).
        """
        tr = self.truth
        n = stop - start
        bleach = tr.bleaching[start:stop].astype(np.float32)
        # bleaching folded into the (small) time courses rather than the frames
        temporal = (tr.background_temporal[:, start:stop] * bleach).T.astype(np.float32)
        scene = temporal @ self.background
        if self.sources is not None:
            blocks = [
                tr.baseline[:, None] + tr.traces[:, start:stop],
                tr.branch_baseline[:, None] + tr.branch_traces[:, start:stop],
            ]
            if len(tr.out_of_focus_traces):  # cells of another plane (an option)
                blocks.append(tr.out_of_focus_traces[:, start:stop])
            act = np.concatenate(blocks).astype(np.float32)
            if not cells:
                act[: tr.footprints.shape[0]] = 0
            act *= bleach
            scene[:, self.support] += (self.sources @ act).T
        return scene.reshape(n, *self.canvas_shape)

    def warp(self, canvas: np.ndarray, t: int, out: np.ndarray, *, motion: bool = True) -> None:
        """Sample one canvas frame at the displaced coordinates of frame ``t``."""
        Y, X = self.truth.shape
        p = self.pad
        if not (self.motion and motion):
            out[...] = canvas[p : p + Y, p : p + X]
            return
        if self.nonrigid:
            field_ = _field(
                self.truth.nonrigid_coefficients[t], self.truth.shifts[t], self.mode_fields
            )
            # bilinear gather (5x faster than ndimage.map_coordinates, same values);
            # the canvas padding exceeds any displacement, the clip is only a guard
            Yp, Xp = self.canvas_shape
            coords = self.grid - field_
            base = np.floor(coords)
            coords -= base  # now the fractional parts
            iy = np.clip(base[0].astype(np.intp), 0, Yp - 2)
            ix = np.clip(base[1].astype(np.intp), 0, Xp - 2)
            idx = iy * Xp + ix
            flat = canvas.reshape(-1)
            a, b = flat.take(idx), flat.take(idx + 1)
            top = b - a
            top *= coords[1]
            top += a
            a, b = flat.take(idx + Xp), flat.take(idx + Xp + 1)
            b -= a
            b *= coords[1]
            b += a  # bottom row
            b -= top
            b *= coords[0]
            np.add(top, b, out=out)
            return
        # rigid: bilinear interpolation by four shifted slices (fast)
        sy = p - float(self.truth.shifts[t, 0])
        sx = p - float(self.truth.shifts[t, 1])
        iy, ix = math.floor(sy), math.floor(sx)
        fy, fx = np.float32(sy - iy), np.float32(sx - ix)
        one = np.float32(1)
        np.multiply(canvas[iy : iy + Y, ix : ix + X], (one - fy) * (one - fx), out=out)
        out += canvas[iy : iy + Y, ix + 1 : ix + 1 + X] * ((one - fy) * fx)
        out += canvas[iy + 1 : iy + 1 + Y, ix : ix + X] * (fy * (one - fx))
        out += canvas[iy + 1 : iy + 1 + Y, ix + 1 : ix + 1 + X] * (fy * fx)

    def add_noise(self, frame: np.ndarray, t: int) -> None:
        """Add shot and read noise to one frame in place (per-frame seeded stream)."""
        tr = self.truth
        add_noise(frame, t, seed=tr.seed, photon_noise=self.photon_noise, gain=tr.gain,
                  read_noise=tr.read_noise)

    def render(self, start: int, stop: int, *, motion: bool = True, noise: bool = True,
               cells: bool = True):
        """Frames ``start:stop`` as float32 ``(n, Y, X)`` (offset included)."""
        scene = self.scene(start, stop, cells=cells)
        out = np.empty((stop - start, *self.truth.shape), np.float32)
        for i in range(stop - start):
            self.warp(scene[i], start + i, out[i], motion=motion)
            if noise:
                self.add_noise(out[i], start + i)
        out += np.float32(self.truth.offset)
        return out

    def movie_block(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` of the movie, noisy, in the movie dtype.

        Thread-safe: blocks share only read-only arrays, and each frame's noise comes
        from its own seeded stream.
        """
        top = ONE_PHOTON_MAX if self.truth.mode == "one_photon" else np.iinfo(np.uint16).max
        return _convert(self.render(start, stop), self.truth.params["dtype"], top)


#: Largest count of a one-photon movie: a 12-bit camera (miniscopes' CMOS sensors).
ONE_PHOTON_MAX = 4095


def _convert(frames: np.ndarray, dtype: str, top: int = 65535) -> np.ndarray:
    if dtype == "float32":
        return frames
    np.rint(frames, out=frames)
    np.clip(frames, 0, top, out=frames)
    return frames.astype(np.uint16)
