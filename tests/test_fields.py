"""Parameter dataclasses → CLI options (and widget controls) by one mechanism."""

import argparse
from dataclasses import dataclass, field

import pytest

from napari_amnesia._fields import add_options, describe, overrides


@dataclass(frozen=True)
class Example:
    """Parameters of an example stage.

    Attributes
    ----------
    max_shifts : (int, int)
        Largest shift searched, in pixels (rows, columns).
    border : {"nan", "copy"}
        What fills the border.
    template : str or None
        Path of a template image.
    """

    max_shifts: tuple = (6, 6)
    border: str = "copy"
    template: object = None
    upsample: int = 10
    sigma: float = field(default=1.5, metadata={"help": "Gaussian width in pixels."})
    pw_rigid: bool = False


def parse(argv):
    parser = argparse.ArgumentParser()
    add_options(parser, Example, title="example")
    return overrides(parser.parse_args(argv), Example), parser


def test_describe_reads_metadata_and_docstring():
    fields = {f.name: f for f in describe(Example)}
    assert fields["max_shifts"].kind == "pair"
    assert "Largest shift" in fields["max_shifts"].help
    assert fields["border"].kind == "choice" and fields["border"].choices == ("nan", "copy")
    assert fields["sigma"].help == "Gaussian width in pixels."
    assert fields["pw_rigid"].kind == "bool" and fields["upsample"].kind == "int"
    assert fields["template"].kind == "optional"


def test_only_typed_options_override_defaults():
    values, parser = parse([])
    assert values == {}
    values, _ = parse(["--max-shifts", "8,10", "--pw-rigid", "true", "--sigma", "2",
                       "--template", "none", "--upsample", "20", "--border", "nan"])
    assert values == {"max_shifts": (8, 10), "pw_rigid": True, "sigma": 2.0,
                      "template": None, "upsample": 20, "border": "nan"}
    assert Example(**values).max_shifts == (8, 10)
    assert "Largest shift searched" in parser.format_help()


@pytest.mark.parametrize("argv", [["--upsample", "2.5"], ["--pw-rigid", "maybe"],
                                  ["--max-shifts", "1,2,3"], ["--sigma", "abc"]])
def test_bad_values_are_usage_errors(argv):
    with pytest.raises(SystemExit):
        parse(argv)


def test_bad_choice_names_the_option():
    with pytest.raises(ValueError, match="--border must be one of nan, copy"):
        parse(["--border", "wrap"])


@dataclass(frozen=True)
class Nullable:
    threshold: float | None = 1.5
    count: "int | None" = 3
    plain: int = 2


def test_numbers_that_may_be_none_accept_none_and_empty():
    fields = {f.name: f for f in describe(Nullable)}
    assert fields["threshold"].kind == "optional" and fields["count"].kind == "optional"
    assert fields["plain"].kind == "int"
    parser = argparse.ArgumentParser()
    add_options(parser, Nullable)
    assert overrides(parser.parse_args(["--threshold", "none", "--count", "7"]), Nullable) == {
        "threshold": None, "count": 7}
    from napari_amnesia._fields import parse_value

    assert parse_value("", fields["threshold"]) is None
    assert parse_value("0.25", fields["threshold"]) == 0.25
    with pytest.raises(argparse.ArgumentTypeError):
        parse_value("x", fields["plain"])


@dataclass(frozen=True)
class NumberChoices:
    p: int = field(default=1, metadata={"help": "AR order.", "choices": (0, 1, 2)})


def test_number_choices_come_back_as_numbers():
    parser = argparse.ArgumentParser()
    add_options(parser, NumberChoices)
    assert overrides(parser.parse_args(["--p", "2"]), NumberChoices) == {"p": 2}
    with pytest.raises(ValueError, match="must be one of 0, 1, 2"):
        overrides(parser.parse_args(["--p", "3"]), NumberChoices)


@dataclass(frozen=True)
class WithEssentials:
    """Parameters with a main section.

    Attributes
    ----------
    gSig : (float, float)
        Half-size of a cell.
    nIter : int
        Refinement iterations.
    """

    ESSENTIALS = {"gSig": ("neuron radius", "px"), "fr": ("frame rate", "Hz")}

    fr: float = 30.0
    gSig: tuple = (4.0, 4.0)
    nIter: int = 5
    lag: int = field(default=5, metadata={"label": "lags", "units": "frames"})


def test_essentials_give_plain_labels_units_and_an_advanced_rest():
    fields = {f.name: f for f in describe(WithEssentials)}
    assert fields["gSig"].essential and fields["fr"].essential
    assert not fields["nIter"].essential and not fields["lag"].essential
    assert fields["gSig"].display == "neuron radius (px)"
    assert fields["nIter"].display == "nIter"  # no plain label: the name
    assert fields["lag"].display == "lags (frames)"  # from the field's metadata
    # a class without ESSENTIALS: every field is essential
    assert all(f.essential for f in describe(Example))
    parser = argparse.ArgumentParser()
    add_options(parser, WithEssentials)
    text = " ".join(parser.format_help().split())
    assert "neuron radius (px): Half-size of a cell." in text
    assert "frame rate (Hz)" in text and "--nIter" in text.replace("--niter", "--nIter")


def test_essentials_must_name_fields():
    @dataclass(frozen=True)
    class Typo:
        ESSENTIALS = {"gsig": ("neuron radius", "px")}
        gSig: float = 4.0

    with pytest.raises(TypeError, match="'gsig'"):
        describe(Typo)


def test_every_stage_declares_a_short_main_section():
    from napari_amnesia.core.clustering import ClusteringParams
    from napari_amnesia.core.cnmf.params import CNMFParams
    from napari_amnesia.core.factorization import FactorizationParams
    from napari_amnesia.core.motion.params import MotionParams
    from napari_amnesia.core.skeleton import SkeletonParams

    for cls in (CNMFParams, MotionParams, SkeletonParams, ClusteringParams,
                FactorizationParams):
        fields = describe(cls)
        essential = [f for f in fields if f.essential]
        assert 3 <= len(essential) <= 15 and len(essential) < len(fields), cls.__name__
        assert all(f.label for f in essential), cls.__name__
    cnmf = {f.name: f for f in describe(CNMFParams)}
    assert cnmf["gSig"].display == "neuron radius (px)"
    assert cnmf["fr"].units == "Hz" and cnmf["decay_time"].units == "s"
    for name in ("K", "rf", "stride", "merge_thr", "min_SNR", "rval_thr"):
        assert cnmf[name].essential
