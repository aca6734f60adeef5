r"""The stage registry: one object per stage drives the CLI, the docks, configs and scripts.

A :class:`Stage` is registered once with :func:`register`. Its ``name`` — one word —
is at the same time the ``amnesia`` subcommand, the section of a configuration, the
sub-folder of a results folder, the ``stage`` of its layers' metadata and the key of
its results in the napari session. It names

- its parameter dataclass (a frozen :class:`~napari_amnesia.core.params.StageParams`
  whose fields carry help, units and whether they are essential; ``amnesia NAME
  --help`` and the dock's controls are generated from it);
- ``run(movie, params, context)``: a generator that yields
  :class:`~napari_amnesia.core.progress.Progress` and returns the stage's result;
- its result type, with ``save``/``load`` and ``to_layers(source)`` (napari
  LayerData tuples, built without importing napari);
- how the result is written into a results folder and summarised in
  ``summary.json``, the Python call that reproduces it ("Copy as Python",
  ``amnesia run --script``) and the napari dock that runs it.

:mod:`napari_amnesia.core.pipeline` runs registered stages in order on a movie,
:mod:`napari_amnesia.cli` makes one subcommand per stage, and the docks take their
stage name and controls from here. Classes and functions are named by
``"module:attribute"`` strings and imported on first use, so importing the registry
(the CLI does, to build its ``--help``) imports no numerical code.

Adding a stage
--------------
One core module with a parameter dataclass, a generator and a result class, then::

    from napari_amnesia.core.stages import Stage, register

    register(Stage(
        name="denoise",
        title="denoising",
        help="denoise a movie frame by frame",
        params="my_package.denoise:DenoiseParams",
        result="my_package.denoise:DenoiseResult",
        run="my_package.denoise:iter_run",          # (movie, params, context)
        python="from my_package import denoise\n"
               "denoised = denoise.denoise(movie{params})",
    ))

``amnesia denoise MOVIE --out DIR``, the ``denoise:`` section of a configuration and
its line in "Copy as Python" follow; a dock is a
:class:`~napari_amnesia.napari.widgets._stage.StageWidget` with ``stage = "denoise"``.

Examples
--------
>>> from napari_amnesia.core.stages import get, names
>>> names()
('motion', 'summary', 'cnmf', 'skeleton', 'clustering', 'factorization')
>>> get("motion").sub_folder, get("motion").params_class.__name__
('motion', 'MotionParams')
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import jsonable

__all__ = ["Context", "Stage", "StageError", "register", "get", "names", "STAGES",
           "resolve"]


class StageError(ValueError):
    """A stage name or a stage's section of a configuration is not valid."""


def resolve(target: Any) -> Any:
    """Import the object a ``"package.module:attribute"`` string names (others: as is).

    Examples
    --------
    >>> resolve("napari_amnesia.core.files:jsonable").__name__
    'jsonable'
    """
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module)
    for part in attribute.split(".") if attribute else ():
        value = getattr(value, part)
    return value


@dataclass
class Context:
    """What a stage sees besides its movie and parameters.

    Attributes
    ----------
    folder : Path or None
        The results folder being written (its temporary name), or None in memory.
    results : dict
        Results of the stages run before, by stage name.
    truth : GroundTruth or None
        The simulation's ground truth when the input is synthetic (stages score
        themselves against it in ``summary.json``).
    truth_labels : ndarray or None
        Ground-truth ROI labels, moved with the motion template when there is one.
    movie : array or None
        The movie the next stage reads (the motion stage hands on its corrected movie).
    inputs : dict
        ``{stage: {name: value}}``: what a stage takes besides its parameters (the
        motion stage's ``template`` image, CNMF's ``seeds``).
    """

    folder: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)
    truth: Any = None
    truth_labels: Any = None
    movie: Any = None
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def stage_folder(self, name: str) -> Path:
        """Make and return the sub-folder of stage ``name`` in the results folder."""
        if self.folder is None:
            raise ValueError("this run writes no results folder.")
        path = Path(self.folder) / name
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass(frozen=True)
class Stage:
    """One analysis stage, as the CLI, the docks, configs and scripts see it.

    Attributes
    ----------
    name : str
        One word: subcommand, configuration section, results sub-folder, layer
        metadata ``stage`` and session key.
    title : str
        The stage in plain words (progress bars, messages, the dock's title).
    help : str
        One line for ``amnesia --help``.
    params : str or type
        The parameter dataclass (``"module:Class"``).
    result : str or type
        The result class, with ``save(folder)``, ``load(folder)`` and
        ``to_layers(source)``.
    run : str or callable
        ``run(movie, params, context)``: generator yielding Progress, returning the
        result.
    write : str or callable, optional
        ``write(result, folder, context)``: a generator writing the result into its
        sub-folder of a results folder (default: ``result.save(folder)``).
    record : str or callable, optional
        ``record(result, context) -> dict``: what ``summary.json`` says of the result
        besides parameters, time and files (counts, scores against ground truth).
    python : str
        The Python that reproduces the stage: ``{params}`` stands for its keyword
        arguments (with their leading comma), ``{uses}`` for the earlier results it
        takes (:attr:`uses`).
    sections : tuple of str
        Sections of a configuration that belong to the stage (default: its name). A
        stage reading several sections has a checker as ``params`` (``values ->
        values``) and the dataclass of its own section as ``section_params``.
    section_params : str or type, optional
        The parameter dataclass of the stage's own section, for a stage reading several
        sections (its fields are the command's options and the dock's controls).
    dock : str
        The dock widget class (``"module:Class"``), for napari's manifest.
    description : str
        The longer text of ``amnesia NAME --help``.
    gives_movie : bool
        Later stages read the movie this stage hands on (``context.movie``).
    uses : tuple of str
        Earlier stages whose result this one takes when they ran (``skeleton``).
    """

    name: str
    title: str
    help: str
    params: Any
    result: Any
    run: Any
    write: Any = None
    record: Any = None
    python: str = ""
    sections: tuple[str, ...] = ()
    dock: str = ""
    description: str = ""
    gives_movie: bool = False
    uses: tuple[str, ...] = ()
    section_params: Any = None

    def __post_init__(self) -> None:
        """Check the name: one lower-case word."""
        if not (self.name.isidentifier() and self.name.islower() and "_" not in self.name):
            raise StageError(f"a stage name is one lower-case word, got {self.name!r}.")
        if not self.sections:
            object.__setattr__(self, "sections", (self.name,))

    # -- the parts, imported on first use ---------------------------------------------------
    @property
    def params_class(self) -> type:
        """The parameter dataclass."""
        return resolve(self.params)

    @property
    def options_class(self) -> type:
        """The dataclass whose fields are the stage's options and controls."""
        if len(self.sections) > 1:
            return resolve(self.section_params)
        return self.params_class

    @property
    def result_class(self) -> type:
        """The result class."""
        return resolve(self.result)

    @property
    def sub_folder(self) -> str:
        """The stage's sub-folder of a results folder: its name."""
        return self.name

    def make_params(self, values: Any = None) -> Any:
        """Make the stage's parameters from None, a dict or an instance (checked).

        A stage with several configuration sections takes ``{section: values}``
        and checks each through its own ``check`` (see :meth:`check`).
        """
        if len(self.sections) > 1:
            return self.check(values)
        cls = self.params_class
        return cls.resolve(values, {})

    def check(self, values: Any) -> Any:
        """Check a configuration's values for this stage and return them, normalised.

        Raises ValueError (wrong value) or TypeError (unknown name) naming the problem.
        """
        if len(self.sections) > 1:
            checker = resolve(self.params)
            return checker(dict(values or {}))
        return self.make_params(values).to_dict()

    def iter_run(self, movie: Any, params: Any = None,
                 context: Context | None = None) -> Generator[Any, None, Any]:
        """Run the stage on ``movie``: yields Progress, returns the result."""
        context = Context(movie=movie) if context is None else context
        result = yield from resolve(self.run)(movie, self.make_params(params), context)
        return result

    def iter_write(self, result: Any, folder: Path, context: Context) -> Generator:
        """Write ``result`` into ``folder``, its sub-folder of a results folder (not yet made)."""
        if self.write is None:
            result.save(folder)
            return None
        return (yield from resolve(self.write)(result, folder, context))

    def describe(self, result: Any, context: Context) -> dict[str, Any]:
        """Return the stage's own entries in ``summary.json`` (none without ``record``)."""
        return {} if self.record is None else dict(resolve(self.record)(result, context))

    def script(self, params: Mapping[str, Any], before: tuple[str, ...] | list = ()) -> str:
        """Write the Python of this stage with ``params`` as keyword arguments.

        ``before`` names the stages whose results the script already made: a stage
        that uses one of them (:attr:`uses`) is passed it (``skeleton=skeleton``).

        Examples
        --------
        >>> print(get("skeleton").script({"threshold": 0.5}))
        from napari_amnesia.core.skeleton import skeletonize
        skeleton = skeletonize(movie, threshold=0.5)
        """
        uses = "".join(f", {name}={name}" for name in self.uses if name in before)
        return self.python.replace("{uses}", uses).replace("{params}", _keywords(params))


def _keywords(params: Mapping[str, Any]) -> str:
    """``", a=1, b=2"``, or one keyword per line when that is long."""
    args = [f"{k}={v!r}" for k, v in params.items()]
    if not args:
        return ""
    text = ", " + ", ".join(args)
    if len(text) <= 60:
        return text
    return ",\n    " + ",\n    ".join(args) + ",\n"


#: Registered stages by name, in the order a pipeline runs them.
STAGES: dict[str, Stage] = {}


def register(stage: Stage, *, replace: bool = False) -> Stage:
    """Add ``stage`` to the registry (after the stages registered before it)."""
    if stage.name in STAGES and not replace:
        raise StageError(f"a stage named {stage.name!r} is already registered.")
    STAGES[stage.name] = stage
    return stage


def get(name: str) -> Stage:
    """Return the registered stage ``name`` (StageError naming the known ones otherwise)."""
    try:
        return STAGES[name]
    except KeyError:
        raise StageError(f"unknown stage {name!r}; known stages are "
                         f"{', '.join(STAGES)}.") from None


def names() -> tuple[str, ...]:
    """Return the registered stage names, in pipeline order."""
    return tuple(STAGES)


# ---------------------------------------------------------------------------- the stages
def _elapsed(function: Callable) -> Callable:
    """Wrap a stage generator so that its result's provenance gets the time it took."""

    def run(movie: Any, params: Any, context: Context):
        start = time.perf_counter()
        result = yield from function(movie, params, context)
        provenance = getattr(result, "provenance", None)
        if isinstance(provenance, dict):
            provenance.setdefault("elapsed_s", round(time.perf_counter() - start, 3))
        return result

    return run


def _run_motion(movie: Any, params: Any, context: Context):
    from .motion import iter_correct

    return (yield from iter_correct(movie, params, **context.inputs.get("motion", {})))


def _run_summary(movie: Any, params: Any, context: Context):
    from .summary import iter_summary_images

    return (yield from iter_summary_images(movie, params))


def _run_cnmf(movie: Any, params: Any, context: Context):
    from .cnmf import iter_fit

    return (yield from iter_fit(movie, params, **context.inputs.get("cnmf", {})))


def _run_skeleton(movie: Any, params: Any, context: Context):
    from .skeleton import iter_skeletonize

    return (yield from iter_skeletonize(movie, params))


def _run_activity(movie: Any, params: Any, context: Context):
    from .activity import iter_activity

    return (yield from iter_activity(movie, params, skeleton=context.results.get("skeleton")))


register(Stage(
    name="motion",
    title="motion correction",
    help="motion correction into a results folder",
    description="Rigid or piecewise-rigid motion correction (NoRMCorre's method, CaImAn's "
                "parameter names), then the summary images of the corrected movie. Writes "
                "motion/corrected.tif, motion/shifts.csv, the template and metrics, "
                "summary/*.tif, summary.json, report.png and motion.png.",
    params="napari_amnesia.core.motion:MotionParams",
    result="napari_amnesia.core.motion:MotionResult",
    run=_elapsed(_run_motion),
    write="napari_amnesia.core.scoring:write_motion",
    record="napari_amnesia.core.scoring:record_motion",
    python="from napari_amnesia.core import motion\n"
           "motion_result = motion.correct(movie{params})\n"
           "movie = motion_result.corrected  # lazy: later stages read it chunk by chunk",
    dock="napari_amnesia.napari.widgets.motion:MotionWidget",
    gives_movie=True,
))

register(Stage(
    name="summary",
    title="summary images",
    help="summary images of a movie into a results folder",
    description="Compute mean, max, std, local correlation, PNR, correlation-PNR and "
                "max-correlation images in one streaming pass and write them as TIFFs with "
                "summary.json and report.png.",
    params="napari_amnesia.core.summary:SummaryParams",
    result="napari_amnesia.core.summary:SummaryImages",
    run=_elapsed(_run_summary),
    record="napari_amnesia.core.scoring:record_summary",
    python="from napari_amnesia.core.summary import summary_images\n"
           "summary = summary_images(movie{params})",
    dock="napari_amnesia.napari.widgets.summary:SummaryWidget",
))

register(Stage(
    name="cnmf",
    title="source extraction",
    help="CNMF source extraction into a results folder",
    description="Source extraction by CNMF with patches (CaImAn's method and parameter "
                "names), component evaluation, OASIS deconvolution and ΔF/F. Writes "
                "summary/*.tif, cnmf/result/ (reloadable), cnmf/exports/ (labels.tif, "
                "components.csv, traces/raw_traces/spikes/dff CSV, ImageJ rois.zip), "
                "summary.json and report pictures.",
    params="napari_amnesia.core.cnmf:CNMFParams",
    result="napari_amnesia.core.cnmf:SourceResult",
    run=_elapsed(_run_cnmf),
    write="napari_amnesia.core.scoring:write_cnmf",
    record="napari_amnesia.core.scoring:record_cnmf",
    python="from napari_amnesia.core import cnmf\n"
           "sources = cnmf.fit(movie{params})\n"
           "accepted = sources.select(sources.accepted)",
    dock="napari_amnesia.napari.widgets.cnmf:SourceWidget",
))

register(Stage(
    name="skeleton",
    title="skeleton",
    help="skeleton and branch statistics of movies",
    description="pyAMNESIA's morphology: the skeleton of the neurites of each movie, its "
                "branch table and totals. Writes one row per movie to "
                "DIR/skeleton_statistics.csv (to follow the morphology across days) and "
                "each movie's result to DIR/<name>.skeleton/.",
    params="napari_amnesia.core.skeleton:SkeletonParams",
    result="napari_amnesia.core.skeleton:SkeletonResult",
    run=_elapsed(_run_skeleton),
    record="napari_amnesia.core.scoring:record_skeleton",
    python="from napari_amnesia.core.skeleton import skeletonize\n"
           "skeleton = skeletonize(movie{params})",
    dock="napari_amnesia.napari.widgets.skeleton:SkeletonWidget",
))

register(Stage(
    name="clustering",
    title="coactive clustering",
    help="coactive clustering of pixels or branches (YAML configuration)",
    description="pyAMNESIA's clusters of coactive pixels or branches from a configuration "
                "(sections input, skeleton, projection, clustering, consecutive): one "
                "clustering per level, saved as clustering_level<l>/.",
    params="napari_amnesia.core.clustering.config:check_clustering",
    result="napari_amnesia.core.activity:ActivityResult",
    run=_elapsed(_run_activity),
    record="napari_amnesia.core.activity:record",
    python="from napari_amnesia.core.activity import activity\n"
           "clustering = activity(movie{uses}{params})",
    sections=("projection", "clustering", "consecutive"),
    section_params="napari_amnesia.core.clustering:ClusteringParams",
    uses=("skeleton",),
    dock="napari_amnesia.napari.widgets.clustering:ClusteringWidget",
))

register(Stage(
    name="factorization",
    title="factorization",
    help="NMF, PCA or ICA of a movie or its projection (YAML configuration)",
    description="pyAMNESIA's matrix factorization of the movie or of its projection on the "
                "skeleton (sections input, projection, factorization), saved as "
                "factorization/.",
    params="napari_amnesia.core.clustering.config:check_factorization",
    result="napari_amnesia.core.activity:ActivityResult",
    run=_elapsed(_run_activity),
    record="napari_amnesia.core.activity:record",
    python="from napari_amnesia.core.activity import activity\n"
           "factorization = activity(movie{uses}{params})",
    sections=("projection", "factorization"),
    section_params="napari_amnesia.core.factorization:FactorizationParams",
    uses=("skeleton",),
    dock="napari_amnesia.napari.widgets.factorization:FactorizationWidget",
))


def as_jsonable(params: Any) -> Any:
    """``params`` (a dataclass with ``to_dict``, a dict...) as JSON-ready values."""
    return jsonable(params.to_dict() if hasattr(params, "to_dict") else params)
