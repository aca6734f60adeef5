"""Tests of SimulationParams: validation, mode defaults, JSON round trip, field help."""

from __future__ import annotations

import json

import pytest

from napari_amnesia._fields import describe
from napari_amnesia.core.simulate import MODE_DEFAULTS, SimulationParams, simulate


@pytest.mark.parametrize(
    "name, value",
    [
        ("n_frames", 0),
        ("shape", (8, 64)),
        ("n_cells", -1),
        ("mode", "three_photon"),
        ("ar_order", 3),
        ("frame_rate", 0.0),
        ("decay_time", -0.1),
        ("spike_rate", -1.0),
        ("bleaching", 1.0),
        ("max_shift", -2.0),
        ("nonrigid_amplitude", float("nan")),
        ("overlap_fraction", 1.5),
        ("photon_noise", "shot"),
        ("dtype", "int8"),
        ("cell_radius", (5.0, 2.0)),
        ("rng", "seed"),
    ],
)
def test_out_of_range_parameters_raise_naming_them(name, value):
    """Out of range parameters raise naming them."""
    with pytest.raises(ValueError, match=name):
        simulate(**{**dict(n_frames=5, shape=(32, 32), n_cells=2), name: value})


def test_rise_time_must_be_shorter_than_decay_time():
    """Rise time must be shorter than decay time."""
    with pytest.raises(ValueError, match="rise_time"):
        simulate(n_frames=5, shape=(32, 32), ar_order=2, decay_time=0.1, rise_time=0.2)


def test_the_dataclass_checks_on_construction():
    """The dataclass checks on construction."""
    with pytest.raises(ValueError, match="n_cells"):
        SimulationParams(n_cells=-1)
    with pytest.raises(ValueError, match="rng"):
        SimulationParams(rng=-3)
    with pytest.raises(TypeError, match="n_cell"):
        SimulationParams().replace(n_cell=3)


def test_mode_defaults_are_resolved_late_and_round_trip():
    """Mode defaults are resolved late and round trip."""
    p = SimulationParams(mode="one_photon", shape=[64, 80], cell_radius=[5, 9])
    assert p.shape == (64, 80) and p.cell_radius == (5.0, 9.0)
    assert p.read_noise is None
    resolved = p.resolved()
    for name, value in MODE_DEFAULTS["one_photon"].items():
        if name != "cell_radius":
            assert resolved[name] == value
    assert resolved["cell_radius"] == (5.0, 9.0)
    assert "rng" not in resolved
    again = SimulationParams.from_dict(json.loads(json.dumps(p.to_dict())))
    assert again == p


def test_every_argument_of_simulate_is_a_described_field():
    """Every argument of simulate is a described field."""
    fields = {f.name: f for f in describe(SimulationParams)}
    assert set(fields) == set(SimulationParams().to_dict())
    assert len(fields) == 36  # 33 + soma_irregularity, n_out_of_focus, out_of_focus_brightness
    for f in fields.values():
        assert f.help, f.name
    essential = {name for name, f in fields.items() if f.essential}
    assert {"n_frames", "shape", "n_cells", "mode", "frame_rate", "rng"} <= essential
    assert fields["frame_rate"].units == "Hz" and fields["decay_time"].units == "s"
    assert fields["mode"].choices == ("two_photon", "one_photon")
    assert fields["ar_order"].choices == (1, 2)
    assert fields["rng"].kind == "optional"
    # the truth's params are those of the dataclass, resolved, with the seed
    _, truth = simulate(n_frames=3, shape=(32, 32), n_cells=1, rng=4)
    assert list(truth.params) == list(fields)
    assert truth.to_params() == SimulationParams(**truth.params)
