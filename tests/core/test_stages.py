"""The stage registry drives everything: every stage has its command, config, results.

For each registered stage: a subcommand of ``amnesia`` named after it whose options
cover every parameter; a dock in napari's manifest (the docks themselves are checked
in tests/napari/test_stage_docks.py); a configuration section that survives
load → dump → load; a run on a small simulated movie whose result saves into the
stage's sub-folder and loads back the same, with napari layers from ``to_layers``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import yaml

from napari_amnesia._fields import describe
from napari_amnesia.cli import build_parser
from napari_amnesia.core import stages
from napari_amnesia.core.pipeline import dump_config, load_config, python_script
from napari_amnesia.core.progress import drive
from napari_amnesia.core.simulate import simulate

ROOT = Path(__file__).resolve().parents[2]
NAMES = stages.names()

#: small settings that make each stage quick on a 64×64 movie
SMALL = {
    "motion": {"max_shifts": (4, 4)},
    "summary": {},
    "cnmf": {"gSig": (3, 3), "K": 6, "rf": None},
    "skeleton": {},
    "clustering": {"projection": {"substructure": "active", "method": "pixel"},
                   "clustering": {"embedding": "none", "min_cluster_size": 3}},
    "factorization": {"factorization": {"method": "pca", "n_components": 3,
                                        "min_skewness": None}},
}


@pytest.fixture(scope="module")
def movie():
    movie, _ = simulate(n_frames=200, shape=(64, 64), n_cells=6, n_neurite_groups=2,
                        motion=False, rng=0)
    return movie


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_names_are_one_word_and_unique():
    assert NAMES == ("motion", "summary", "cnmf", "skeleton", "clustering", "factorization")
    for name in NAMES:
        stage = stages.get(name)
        assert name.isalpha() and name.islower() and stage.sub_folder == name
    with pytest.raises(stages.StageError, match="known stages"):
        stages.get("nope")
    with pytest.raises(stages.StageError, match="already registered"):
        stages.register(stages.get("motion"))
    with pytest.raises(stages.StageError, match="one lower-case word"):
        stages.Stage(name="motion correction", title="", help="", params=None, result=None,
                     run=None)


@pytest.mark.parametrize("name", NAMES)
def test_every_stage_has_its_command_with_every_parameter(name):
    stage = stages.get(name)
    commands = _subcommands()
    assert name in commands
    options = set(commands[name]._option_string_actions)  # one option per field
    for field in describe(stage.options_class):
        assert field.option in options or field.name == "nan_policy", (name, field.name)


@pytest.mark.parametrize("name", NAMES)
def test_every_stage_has_a_dock_in_the_manifest(name):
    manifest = yaml.safe_load((ROOT / "src" / "napari_amnesia" / "napari.yaml").read_text())
    commands = {c["python_name"]: c["id"] for c in manifest["contributions"]["commands"]}
    widgets = {w["command"] for w in manifest["contributions"]["widgets"]}
    dock = stages.get(name).dock
    assert dock in commands, f"{name}: {dock} is not a command of napari.yaml"
    assert commands[dock] in widgets


@pytest.mark.parametrize("name", NAMES)
def test_every_stage_configuration_round_trips(name):
    config = {"input": "movie.tif", name: None}
    stage = stages.get(name)
    config.update({section: values for section, values in SMALL[name].items()}
                  if len(stage.sections) > 1 else {name: SMALL[name]})
    loaded = load_config(config)
    assert list(loaded["stages"]) == [name]
    again = load_config(yaml.safe_load(dump_config(loaded)))
    assert again["stages"] == loaded["stages"]
    script = python_script(loaded)
    compile(script, "script", "exec")
    assert "from napari_amnesia.core" in script


@pytest.mark.parametrize("name", NAMES)
def test_every_stage_runs_saves_and_loads(name, movie, tmp_path):
    stage = stages.get(name)
    context = stages.Context(folder=tmp_path)
    result = drive(stage.iter_run(movie, SMALL[name], context))
    assert isinstance(result, stage.result_class)
    assert "elapsed_s" in result.provenance
    folder = tmp_path / stage.sub_folder
    result.save(folder)
    loaded = stage.result_class.load(folder)

    def params(r):
        p = r.params
        return p.to_dict() if hasattr(p, "to_dict") else p

    assert params(loaded) == params(result)
    layers = result.to_layers("movie")
    assert layers, name
    # what a loaded result shows is what it had (a motion result loaded without its
    # movie has no corrected movie to show, the rest is the same)
    names = [kw["name"] for _, kw, _ in layers]
    assert set(kw["name"] for _, kw, _ in loaded.to_layers("movie")) <= set(names)
    for data, kwargs, kind in layers:
        assert kind in {"image", "labels", "shapes", "points", "tracks"}
        assert kwargs["name"].startswith("movie")
        assert kwargs["metadata"]["napari_amnesia"]["stage"] == name
        assert kind in {"shapes", "points"} or np.asarray(data).size  # those may be empty
