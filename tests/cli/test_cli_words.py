"""Messages of ``amnesia`` in option words: one clear error line, warnings as lines,
--help without reST markup."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from cli_data import _one_error

from napari_amnesia.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["info", "{tmp}/nope.tif"], "nope.tif"),
        (["summary", "{tmp}/nope.tif", "--out", "{tmp}/o"], "nope.tif"),
        (["summary", "{tmp}/image.tif", "--out", "{tmp}/o"], "image.tif"),
        (["demo", "--out", "{tmp}/d", "--frames", "3"], "--frames"),
        (["demo", "--out", "{tmp}/d", "--gsig", "-1"], "--gsig"),
        (["demo", "--out", "{tmp}/missing/d"], "does not exist"),
    ],
)
def test_bad_input_gives_one_clear_line(tmp_path, capsys, argv, message):
    tifffile.imwrite(tmp_path / "image.tif", np.zeros((10, 10), np.uint16))
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(["-q", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("amnesia: error:")
    assert message in err[0]
    assert not (tmp_path / "o").exists() and not (tmp_path / "d").exists()


@pytest.mark.parametrize("argv, option, library", [
    (["cnmf", "{movie}", "--out", "{tmp}/o", "--gsig", "0"], "--gsig", "CNMFParams"),
    (["summary", "{movie}", "--out", "{tmp}/o", "--channel", "3"], "--channel 3", "channel="),
    (["summary", "{movie}", "--out", "{tmp}/exists"], "--overwrite", "overwrite=True"),
])
def test_errors_name_the_command_line_option(tmp_path, capsys, argv, option, library):
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.ones((30, 32, 32), np.uint16), photometric="minisblack")
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "x").write_text("x")
    assert main(["-q", *[a.format(tmp=tmp_path, movie=movie) for a in argv]]) == 1
    err = _one_error(capsys)
    assert option in err and library not in err, err


def test_library_messages_in_the_command_line_words():
    from napari_amnesia.cli import in_cli_words

    names = {"gSig": "--gsig", "min_SNR": "--min-snr", "channel": "--channel",
             "nan_policy": "--nan-policy", "overwrite": "--overwrite", "K": "--k"}
    assert in_cli_words("CNMFParams.gSig should be positive, got 0.", names) == \
        "--gsig should be positive, got 0."
    assert in_cli_words("min_SNR should be > 0", names) == "--min-snr should be > 0"
    assert in_cli_words("has no channel axis; got channel=3.", names) == \
        "has no channel axis; got --channel 3."
    assert in_cli_words("pass nan_policy='fill' or overwrite=True.", names) == \
        "pass --nan-policy fill or --overwrite."
    assert in_cli_words("K components; raise K", names) == "K components; raise K"


def test_help_has_no_rest_markup():
    import re

    from napari_amnesia.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    texts = {"amnesia": parser.format_help()}
    texts.update({name: sub.format_help() for name, sub in subparsers.choices.items()})
    markup = re.compile(r"\[\w+\]_|``|:(?:func|class|meth|mod|attr|data):|`_")
    found = {name: markup.findall(text) for name, text in texts.items() if markup.search(text)}
    assert not found, found


def test_tifffile_lines_are_not_printed_before_the_message(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"not a tiff at all" * 8)
    script = Path(sys.executable).parent / "amnesia"
    result = subprocess.run([str(script), "info", str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"amnesia: error: {bad}: TIFF file has no image series."], result.stderr


def test_nan_policy_fill_warns_once(nan_movie, tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["-q", "summary", str(nan_movie), "--out", str(out), "--no-report",
                 "--nan-policy", "fill"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("amnesia: warning: "), captured.err
    assert "4 of 30 frames" in lines[0] and "--nan-policy fill" in lines[0]
    assert np.isfinite(tifffile.imread(out / "summary" / "mean.tif")).all()


def test_library_warnings_are_plain_lines_in_option_words(tmp_path, capsys):
    """A warning the library logs (a patch grid that does not fit, shifts the data do
    not support) reaches the terminal as one ``amnesia: warning:`` line that names the
    option (``--min-shift-support``), not as ``WARNING napari_amnesia.core...`` with a
    parameter name."""
    from napari_amnesia.core.io import save_movie
    from napari_amnesia.core.simulate import simulate

    movie, _ = simulate(n_frames=60, shape=(100, 100), n_cells=8, rng=2)
    movie = movie.astype(np.float32)
    rng = np.random.default_rng(0)
    movie[[10, 30]] = rng.normal(float(movie.mean()), float(movie.std()),
                                 (2, 100, 100))  # frames without the tissue
    save_movie(movie, tmp_path / "m.tif")
    assert main(["motion", str(tmp_path / "m.tif"), "--out", str(tmp_path / "res"),
                 "--pw-rigid", "true"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("amnesia: warning: ") for line in err), err
    assert any("patch grid" in line for line in err), err
    support = [line for line in err if "not support" in line]
    assert support and "--min-shift-support" in support[0], err
    assert not any("napari_amnesia" in line or "min_shift_support" in line for line in err)


def test_paths_named_like_a_parameter_are_not_rewritten(tmp_path, capsys):
    """Errors speak in option words, but a file path that contains a parameter's name
    (a folder called max_shifts/) is printed as it is."""
    folder = tmp_path / "max_shifts"
    folder.mkdir()
    (folder / "fake.tif").write_text("not a movie")
    assert main(["motion", str(folder / "fake.tif"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert str(folder / "fake.tif") in err and "--max-shifts" not in err, err
