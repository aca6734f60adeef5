"""npe2 sample data: synthetic movies with their ground truth, generated, never downloaded.

File ▸ Open Sample ▸ napari-amnesia gives the movie of
:func:`napari_amnesia.core.simulate.simulate` and its ground-truth ROIs (soma
footprints and neurite branches) as Labels layers, so every stage can be tried,
and checked, without data of one's own.
"""

from __future__ import annotations

__all__ = ["two_photon_sample", "one_photon_sample", "sample_layers", "SAMPLE_SETTINGS"]

#: Size of the sample movies: big enough to look real, small enough to make in seconds.
SAMPLE_SETTINGS = {"n_frames": 500, "shape": (256, 256), "rng": 0}


def sample_layers(mode: str, name: str) -> list[tuple]:
    """Simulate a movie in ``mode`` and return it with its ground truth as LayerData."""
    from ..core.simulate import simulate
    from .layers import ground_truth_layers, movie_layer

    movie, truth = simulate(mode=mode, **SAMPLE_SETTINGS)
    layers = [movie_layer(movie, name, metadata={"frame_rate": truth.frame_rate})]
    layers.extend(ground_truth_layers(truth, name))
    return layers


def two_photon_sample() -> list[tuple]:
    """Return a synthetic two-photon movie (somata, coactive neurites, motion) with ground truth."""
    return sample_layers("two_photon", "synthetic 2p")


def one_photon_sample() -> list[tuple]:
    """Return a synthetic one-photon movie (large blurry background, low SNR) with ground truth."""
    return sample_layers("one_photon", "synthetic 1p")
