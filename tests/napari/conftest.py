"""Viewer tests run under a real (virtual) X server: pytest-xvfb starts Xvfb and Qt uses xcb.

``QT_QPA_PLATFORM=offscreen`` has no OpenGL context for napari's canvas, so it is
refused here rather than giving black screenshots and failing viewer tests.
"""

import os

import pytest

if os.environ.get("QT_QPA_PLATFORM") == "offscreen":  # pragma: no cover
    raise pytest.UsageError("unset QT_QPA_PLATFORM (offscreen cannot create napari's canvas)")


@pytest.fixture
def small_movie_file(tmp_path):
    """A small synthetic movie on disk with its ground truth."""
    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=120, shape=(64, 64), n_cells=6, rng=3)
    path = tmp_path / "small movie.tif"
    save_movie(movie, path)
    return path, movie, truth


#: the CNMF dock settings of the viewer tests: the benchmark's (benchmarks/bench_cnmf.py)
CNMF_SETTINGS = {"rf": "15", "stride": 10, "K": 6, "gSig": (4.0, 4.0), "p": 1, "gnb": 2,
                 "merge_thr": 0.85, "min_SNR": 2.0, "rval_thr": 0.85}


@pytest.fixture(scope="module")
def somata(tmp_path_factory):
    """10 planted somata, no neurites, no motion (CNMF runs on corrected movies), on disk."""
    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.simulate import simulate

    movie, truth = simulate(n_frames=300, shape=(80, 80), n_cells=10, n_neurite_groups=0,
                            motion=False, rng=1)
    path = tmp_path_factory.mktemp("somata") / "somata.tif"
    save_movie(movie, path)
    return path, movie, truth


def extract_sources(viewer, path, *, docks=()):
    """Open ``path`` with the plugin, open the docks named in ``docks`` (in order), then
    the Source extraction dock, and run it with :data:`CNMF_SETTINGS` (synchronously when
    ``NAPARI_AMNESIA_SYNC`` is set). Returns the movie layer, the Source extraction dock
    and ``{name: dock}`` of the others."""
    [layer] = viewer.open(path, plugin="napari-amnesia")
    others = {name: viewer.window.add_plugin_dock_widget("napari-amnesia", name)[1]
              for name in docks}
    _, sources = viewer.window.add_plugin_dock_widget("napari-amnesia", "Source extraction")
    sources.movie.value = layer
    for name, value in CNMF_SETTINGS.items():
        getattr(sources, name).value = value
    sources.run()
    return layer, sources, others
