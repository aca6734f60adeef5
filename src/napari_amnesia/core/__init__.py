"""The numerical core of napari-amnesia: its public API.

Pure numpy/dask functions, one module (or package) per stage. Nothing here imports
napari, Qt, magicgui or matplotlib (``tests/core/test_import_purity.py`` checks it),
so the same calls work in scripts, on a cluster and inside napari.

What a script needs is importable from here (loaded on first use, so ``import
napari_amnesia.core`` stays fast):

- movies: :func:`open_movie`, :func:`movie_info`, :func:`save_movie`;
  synthetic ones with ground truth: ``simulate.simulate`` (:class:`SimulationParams`);
- the stages, each a module with a parameter dataclass, a function, its generator
  twin (``iter_...``) and a result class: :mod:`.motion` (``motion.correct``,
  :class:`MotionParams`, :class:`MotionResult`), :mod:`.summary`
  (:func:`summary_images`, :class:`SummaryParams`, :class:`SummaryImages`),
  :mod:`.cnmf` (``cnmf.fit``, :class:`CNMFParams`, :class:`SourceResult`),
  :mod:`.skeleton` (:func:`skeletonize`, :class:`SkeletonParams`,
  :class:`SkeletonResult`), :mod:`.clustering` (:func:`cluster`,
  :class:`ClusteringParams`, :class:`ClusterResult`), :mod:`.factorization`
  (:func:`factorize`, :class:`FactorizationParams`, :class:`FactorizationResult`),
  :mod:`.activity` (both, from a configuration: :class:`ActivityResult`);
  curation: :class:`Curation`;
- the stage registry (:mod:`.stages`: :class:`Stage`, :func:`register`) and the
  pipeline over it (:mod:`.pipeline`: :func:`run`, :func:`run_config`), and over many
  recordings, locally or on dask.distributed (:mod:`.batch`: :func:`run_batch`);
- the ecosystem's formats (:mod:`.formats`: ``formats.export`` to NWB, suite2p,
  ImageJ, CSV or labels; ``formats.import_results`` of suite2p and CaImAn results);
- the progress protocol (:mod:`.progress`: :class:`Progress`, :func:`drive`,
  :class:`Cancelled`) and owned, atomic outputs (:mod:`.files`:
  :func:`atomic_folder`, :func:`atomic_file`, :func:`check_destination`).

Examples
--------
>>> from napari_amnesia import core
>>> movie, truth = core.simulate.simulate(n_frames=50, shape=(32, 32), n_cells=3, rng=0)
>>> core.summary_images(movie).mean.shape
(32, 32)
>>> core.stages.names()
('motion', 'summary', 'cnmf', 'skeleton', 'clustering', 'factorization')
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name → the module of napari_amnesia.core that defines it
_EXPORTS = {
    "open_movie": "io", "movie_info": "io", "save_movie": "io", "MovieError": "io",
    "SimulationParams": "simulate", "GroundTruth": "simulate",
    "MotionParams": "motion", "MotionResult": "motion",
    "summary_images": "summary", "SummaryParams": "summary", "SummaryImages": "summary",
    "CNMFParams": "cnmf", "SourceResult": "cnmf",
    "skeletonize": "skeleton", "SkeletonParams": "skeleton", "SkeletonResult": "skeleton",
    "cluster": "clustering", "ClusteringParams": "clustering", "ClusterResult": "clustering",
    "factorize": "factorization", "FactorizationParams": "factorization",
    "FactorizationResult": "factorization",
    "ActivityResult": "activity",
    "Curation": "curation",
    "Stage": "stages", "register": "stages",
    "run": "pipeline", "run_config": "pipeline",
    "run_batch": "batch", "BatchResult": "batch",
    "Progress": "progress", "drive": "progress", "Cancelled": "progress",
    "atomic_folder": "files", "atomic_file": "files", "check_destination": "files",
}
_MODULES = ("io", "simulate", "motion", "summary", "cnmf", "skeleton", "projection",
            "clustering", "factorization", "activity", "curation", "traces", "metrics",
            "stages", "pipeline", "batch", "progress", "files", "parallel", "layers", "params",
            "formats", "multisession")

__all__ = sorted([*_EXPORTS, *_MODULES])


def __getattr__(name: str) -> Any:
    """Import a public name or module of the core on first use."""
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = module if name == _EXPORTS[name] else getattr(module, name)
    elif name in _MODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the public names (for tab completion in the console)."""
    return sorted(set(globals()) | set(__all__))
