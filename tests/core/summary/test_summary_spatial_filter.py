"""Tests of napari_amnesia.core.summary.spatial_filter: CaImAn's one-photon kernel."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from summary_reference import (
    make_movie,
    ref_kernel,
)


@pytest.mark.parametrize("gsig", [1.0, 3.0, 4.2, (2.0, 3.0)])
@pytest.mark.parametrize("center", [True, False])
def test_spatial_filter_matches_ndimage(gsig, center):
    # the ring-buffer filter against a direct 2-D correlation with CaImAn's kernel;
    # float32 arithmetic on values ~100: errors ~1e-5 (measured <= 2.2e-5)
    from napari_amnesia.core.summary.spatial_filter import _filter_frames, _filter_taps

    movie = make_movie(n=3, ny=40, nx=37, seed=9)
    sig = (gsig, gsig) if np.isscalar(gsig) else gsig
    taps = _filter_taps(sig, center)
    got = np.empty(movie.shape, np.float32)
    _filter_frames(movie, got, taps.gy, taps.gx, taps.widths, taps.wi, np.float32(taps.m),
                   taps.use_box)
    kern = taps.kernel.astype(np.float64)
    ref = np.stack([ndimage.correlate(f.astype(np.float64), kern, mode="nearest") for f in movie])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
    if np.isscalar(gsig):
        np.testing.assert_allclose(kern, ref_kernel(gsig, center), rtol=1e-6, atol=1e-9)
