"""Every registered stage has its dock; a stage without one gets a generated dock."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from magicgui.widgets import Container

from napari_amnesia._fields import describe
from napari_amnesia.core import stages
from napari_amnesia.core.layers import layer_name, provenance
from napari_amnesia.core.params import StageParams
from napari_amnesia.core.progress import Progress
from napari_amnesia.napari.session import session_for


def _names(widget) -> set[str]:
    found = {getattr(widget, "name", "")}
    if isinstance(widget, Container):
        for child in widget:
            found |= _names(child)
    return found


@pytest.mark.parametrize("name", stages.names())
def test_every_stage_dock_is_the_stage_with_its_parameters(name, make_napari_viewer):
    stage = stages.get(name)
    viewer = make_napari_viewer()
    dock = stages.resolve(stage.dock)(viewer)
    assert dock.stage == name and dock.title == stage.title
    names = _names(dock)  # one control per parameter (advanced ones too), by its name
    missing = [f.name for f in describe(stage.options_class)
               if f.name not in names and f.name != "nan_policy"]
    assert not missing, (name, missing)


@dataclass(frozen=True)
class ScaleParams(StageParams):
    """Parameters of the scaled mean image.

    Attributes
    ----------
    factor : float
        What the mean image is multiplied by.
    """

    factor: float = 2.0


@dataclass
class ScaleResult:
    """The scaled mean image."""

    image: np.ndarray
    params: ScaleParams
    provenance: dict = field(default_factory=dict)

    def save(self, folder, *, overwrite: bool = False) -> Path:
        """Write ``image.npy``."""
        Path(folder).mkdir(parents=True, exist_ok=overwrite)
        np.save(Path(folder) / "image.npy", self.image)
        (Path(folder) / "params.json").write_text(json.dumps(self.params.to_dict()))
        return Path(folder)

    def to_layers(self, source: str) -> list[tuple]:
        """One Image layer."""
        return [(self.image, {"name": layer_name(source, "scaled mean"),
                              "metadata": provenance("scale", source)}, "image")]


def iter_scale(movie, params, context=None):
    """Scaled mean image: one Progress, then the result."""
    yield Progress(1, 1, "scale")
    return ScaleResult(np.asarray(movie, np.float32).mean(axis=0) * params.factor, params)


def test_a_stage_without_a_dock_gets_a_generated_one(make_napari_viewer, qtbot, monkeypatch):
    from napari_amnesia.napari.widgets import generic

    stage = stages.Stage(name="scale", title="scaled mean", help="a toy stage",
                         params=ScaleParams, result=ScaleResult, run=iter_scale)
    monkeypatch.setitem(stages.STAGES, "scale", stage)
    viewer = make_napari_viewer()
    movie = np.arange(5 * 8 * 8, dtype=np.float32).reshape(5, 8, 8)
    viewer.add_image(movie, name="rec")
    dock = generic.dock_scale(viewer)  # what napari's manifest would name
    assert dock.stage == "scale" and dock.factor.value == 2.0
    dock.movie.value = viewer.layers["rec"]
    dock.factor.value = 3.0
    dock.run()
    qtbot.waitUntil(lambda: "rec · scaled mean" in viewer.layers, timeout=60_000)
    layer = viewer.layers["rec · scaled mean"]
    np.testing.assert_allclose(layer.data, movie.mean(axis=0) * 3)
    assert session_for(viewer).result("rec", "scale").params.factor == 3.0
    with pytest.raises(AttributeError):
        generic.dock_nonexistent  # noqa: B018 - an unknown stage has no dock
