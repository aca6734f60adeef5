"""Adding a stage is one registration: the command, configs and scripts follow.

docs/architecture.md shows this example; a toy stage (the blurred mean image of a
movie) is registered here and used through the command line, a configuration and
``amnesia run --script`` without any other code (its dock: tests/napari/
test_stage_docks.py).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from napari_amnesia.cli import main
from napari_amnesia.core import stages
from napari_amnesia.core.io import save_movie
from napari_amnesia.core.layers import layer_name, provenance
from napari_amnesia.core.params import StageParams
from napari_amnesia.core.pipeline import load_config, python_script
from napari_amnesia.core.progress import Progress


# ------------------------------------------------------------ the stage, as a user writes it
@dataclass(frozen=True)
class BlurParams(StageParams):
    """Parameters of the blurred mean image.

    Attributes
    ----------
    sigma : float
        Gaussian width in pixels.
    """

    ESSENTIALS = {"sigma": ("blur width", "px")}
    sigma: float = 1.0


@dataclass
class BlurResult:
    """The blurred mean image, its parameters and provenance."""

    image: np.ndarray
    params: BlurParams
    provenance: dict = field(default_factory=dict)

    def save(self, folder, *, overwrite: bool = False) -> Path:
        """Write ``image.npy`` and ``params.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=overwrite)
        np.save(folder / "image.npy", self.image)
        (folder / "params.json").write_text(json.dumps(self.params.to_dict()))
        return folder

    @classmethod
    def load(cls, folder) -> BlurResult:
        """Read a folder written by :meth:`save`."""
        folder = Path(folder)
        return cls(np.load(folder / "image.npy"),
                   BlurParams.from_dict(json.loads((folder / "params.json").read_text())))

    def to_layers(self, source: str) -> list[tuple]:
        """One Image layer."""
        return [(self.image, {"name": layer_name(source, "blurred mean"),
                              "metadata": provenance("blur", source, self.params.to_dict())},
                 "image")]


def iter_blur(movie, params: BlurParams, context=None):
    """Blurred mean image of ``movie``: yields Progress, returns a BlurResult."""
    from scipy import ndimage

    yield Progress(0, 1, "blur")
    mean = np.asarray(movie, np.float32).mean(axis=0)
    yield Progress(1, 1, "blur")
    return BlurResult(ndimage.gaussian_filter(mean, params.sigma), params)


BLUR = stages.Stage(name="blur", title="blurred mean", help="blurred mean image of a movie",
                    params=BlurParams, result=BlurResult, run=iter_blur,
                    python="from my_lab import blur\nblurred = blur(movie{params})")


# ----------------------------------------------------------------------------- the tests
@pytest.fixture()
def blur_registered(monkeypatch):
    monkeypatch.setitem(stages.STAGES, "blur", BLUR)
    return BLUR


def test_a_registered_stage_gets_its_command(blur_registered, tmp_path, capsys):
    movie = np.random.default_rng(0).poisson(20, size=(30, 16, 16)).astype(np.uint16)
    save_movie(movie, tmp_path / "m.tif")
    with pytest.raises(SystemExit):
        main(["blur", "--help"])
    assert "--sigma" in capsys.readouterr().out
    out = tmp_path / "res"
    assert main(["-q", "blur", str(tmp_path / "m.tif"), "--out", str(out), "--sigma", "2",
                 "--no-report"]) == 0
    assert "blurred mean of" in capsys.readouterr().out
    saved = BlurResult.load(out / "blur")
    assert saved.params.sigma == 2
    record = json.loads((out / "summary.json").read_text())
    assert record["stages"]["blur"]["params"] == {"sigma": 2.0}
    # a bad value is one line in the command's words
    with pytest.raises(SystemExit):
        main(["-q", "blur", str(tmp_path / "m.tif"), "--out", str(tmp_path / "x"),
              "--sigma", "abc"])
    assert "--sigma" in capsys.readouterr().err


def test_a_registered_stage_gets_its_config_section_and_script(blur_registered):
    config = load_config({"input": "m.tif", "blur": {"sigma": 3}})
    assert config["stages"] == {"blur": {"sigma": 3.0}}
    script = python_script(config)
    assert "blurred = blur(movie, sigma=3)" in script
    with pytest.raises(ValueError, match="section 'blur'"):
        load_config({"blur": {"sigmaa": 3}})


def test_a_stage_registered_twice_is_refused(blur_registered):
    with pytest.raises(stages.StageError):
        stages.register(dataclasses.replace(BLUR))
