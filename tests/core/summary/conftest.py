"""Shared fixtures of the summary tests: a small movie and its summary images."""

from __future__ import annotations

import numpy as np
import pytest
from summary_reference import make_movie

from napari_amnesia.core.summary import SummaryImages, summary_images


@pytest.fixture(scope="module")
def movie() -> np.ndarray:
    return make_movie()


@pytest.fixture(scope="module")
def images(movie) -> SummaryImages:
    # noise_frames >= T: every image has an exact in-memory reference
    return summary_images(movie, gsig=2, noise_frames=512, bin_size=100)
