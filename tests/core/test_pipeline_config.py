"""Pipeline configurations: checked early, replayed headless, written back, as Python."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from napari_amnesia import cli
from napari_amnesia.core.clustering import ClusterResult
from napari_amnesia.core.io import save_movie
from napari_amnesia.core.pipeline import (
    load_config,
    python_script,
    run_config,
    write_config,
)
from napari_amnesia.core.simulate import simulate
from napari_amnesia.core.skeleton import SkeletonResult

CONFIG = {
    "name": "small",
    "input": "movie.tif",
    "summary": {},
    "skeleton": {"min_component_length": 10},
    "projection": {"substructure": "skeleton", "method": "branch"},
    "clustering": {"min_cluster_size": 2, "embedding": "none"},
}


@pytest.fixture(scope="module")
def movie_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("config")
    movie, _ = simulate(n_frames=150, shape=(72, 72), n_cells=2, n_neurite_groups=2,
                        motion=False, rng=5)
    save_movie(movie, folder / "movie.tif")
    (folder / "pipeline.yaml").write_text(yaml.safe_dump(CONFIG))
    return folder


def test_bad_configurations_are_refused_before_any_work(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="unknown section.*'motoin'"):
        load_config({"input": "m.tif", "motoin": {}})
    with pytest.raises(ValueError, match="section 'skeleton'.*threshold_ofset"):
        load_config({"skeleton": {"threshold_ofset": 0.1}})
    with pytest.raises(ValueError, match="section 'motion'.*max_shifts"):
        load_config({"motion": {"max_shifts": -3}})
    with pytest.raises(ValueError, match="exactly one of"):
        load_config({"clustering": {}, "factorization": {}})
    with pytest.raises(ValueError, match="no stage to run"):
        load_config({"input": "m.tif"})
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="mapping of sections"):
        load_config(tmp_path / "list.yaml")
    loaded = load_config({"input": "m.tif", "skeleton": {}, "motion": None})
    assert list(loaded["stages"]) == ["motion", "skeleton"]  # pipeline order, not file order


def _same_results(a, b):
    ska, skb = SkeletonResult.load(a / "skeleton"), SkeletonResult.load(b / "skeleton")
    assert ska.totals == skb.totals
    np.testing.assert_array_equal(ska.branch_labels, skb.branch_labels)
    ca = ClusterResult.load(a / "clustering" / "clustering_level1")
    cb = ClusterResult.load(b / "clustering" / "clustering_level1")
    np.testing.assert_array_equal(ca.labels, cb.labels)
    return ska, ca


def test_a_run_replays_from_its_own_config_and_as_python(movie_folder, tmp_path):
    first = tmp_path / "first"
    record = run_config(movie_folder / "pipeline.yaml", out=first)
    assert list(record["stages"]) == ["summary", "skeleton", "clustering"]
    assert (first / "config.yaml").is_file()
    # the results folder's own config replays to the same result from anywhere
    second = tmp_path / "second"
    run_config(first / "config.yaml", out=second)
    skeleton, clusters = _same_results(first, second)
    assert skeleton.totals["n_branches"] > 0
    # the Python calls give the same skeleton and clusters
    scope: dict = {}
    exec(compile(python_script(first / "config.yaml"), "script", "exec"), scope)  # noqa: S102
    assert scope["skeleton"].totals == skeleton.totals
    np.testing.assert_array_equal(scope["clustering"].clusterings[0].labels, clusters.labels)
    # and nothing is overwritten
    with pytest.raises(FileExistsError):
        run_config(first / "config.yaml", out=first)


def test_write_config_round_trips_and_the_cli_replays_it(movie_folder, tmp_path, capsys):
    path = write_config(tmp_path / "saved.yaml", movie=movie_folder / "movie.tif",
                        stages={"skeleton": {"min_component_length": 10},
                                "clustering": {"projection": CONFIG["projection"],
                                               "clustering": CONFIG["clustering"]}})
    loaded = load_config(path)
    assert loaded["stages"]["skeleton"]["min_component_length"] == 10
    clustering = loaded["stages"]["clustering"]["clustering"]
    assert {k: clustering[k] for k in CONFIG["clustering"]} == CONFIG["clustering"]
    with pytest.raises(FileExistsError):
        write_config(path, movie="m.tif", stages={"skeleton": {}})
    with pytest.raises(ValueError, match="threshold_ofset"):
        write_config(tmp_path / "bad.yaml", movie="m.tif",
                     stages={"skeleton": {"threshold_ofset": 1}})
    assert not (tmp_path / "bad.yaml").exists()
    assert cli.main(["-q", "run", str(path), "--out", str(tmp_path / "res")]) == 0
    assert "skeleton" in capsys.readouterr().out
    assert (tmp_path / "res" / "clustering" / "clustering_level1").is_dir()
    assert cli.main(["run", str(path), "--script"]) == 0
    assert "skeletonize(" in capsys.readouterr().out
    assert cli.main(["run", str(tmp_path / "nothing.yaml"), "--out", str(tmp_path / "x")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_run_mode_one_photon_switches_cnmf_to_cnmf_e_and_is_saved(tmp_path, capsys):
    """amnesia run CONFIG --mode one_photon: the cnmf section runs CNMF-E (its preset fills
    what the file leaves at the defaults, what it sets stays), the motion stage high-passes
    at the cells' scale, and the results' config.yaml replays the same."""
    from napari_amnesia.core.simulate import one_photon_params

    movie, _ = simulate(one_photon_params("standard", n_frames=150, shape=(96, 96),
                                          n_cells=20, rng=0))
    save_movie(movie, tmp_path / "m.tif")
    path = write_config(tmp_path / "c.yaml", movie=tmp_path / "m.tif",
                        stages={"motion": {"max_shifts": [4, 4]}, "summary": {},
                                "cnmf": {"gSig": [4, 4], "fr": 20.0, "merge_thr": 0.8}})
    out = tmp_path / "res"
    assert cli.main(["-q", "run", str(path), "--mode", "one_photon", "--out", str(out)]) == 0
    saved = load_config(out / "config.yaml")["stages"]
    cnmf = saved["cnmf"]
    assert cnmf["mode"] == "one_photon" and cnmf["method_init"] == "corr_pnr"
    assert cnmf["gnb"] == 0
    assert cnmf["merge_thr"] == 0.8  # the file's own value wins over the preset's 0.7
    assert saved["motion"]["gSig_filt"] == 4.0
    # the saved configuration replays as it is, without --mode
    assert cli.main(["-q", "run", str(out / "config.yaml"), "--out", str(tmp_path / "again")]) == 0
    again = load_config(tmp_path / "again" / "config.yaml")["stages"]["cnmf"]
    assert again["mode"] == "one_photon"
    # a configuration without a cnmf section: one clear line
    plain = write_config(tmp_path / "p.yaml", movie=tmp_path / "m.tif", stages={"summary": {}})
    capsys.readouterr()
    assert cli.main(["-q", "run", str(plain), "--mode", "one_photon", "--out",
                     str(tmp_path / "x")]) == 1
    assert "--mode" in capsys.readouterr().err


def test_a_one_photon_cnmf_section_high_passes_the_motion_stage(tmp_path):
    """mode: one_photon written in the file does what --mode one_photon does."""
    config = load_config({"motion": {}, "cnmf": {"mode": "one_photon", "gSig": [5, 3]}})
    assert config["stages"]["motion"]["gSig_filt"] == 5.0
    kept = load_config({"motion": {"gSig_filt": 2}, "cnmf": {"mode": "one_photon"}})
    assert kept["stages"]["motion"]["gSig_filt"] == 2
    two = load_config({"motion": {}, "cnmf": {"gSig": 5}})
    assert two["stages"]["motion"]["gSig_filt"] is None
    path = tmp_path / "one_photon.yaml"
    path.write_text("motion: {}\ncnmf: {mode: one_photon, gSig: 4}\n")
    assert load_config(path)["stages"]["motion"]["gSig_filt"] == 4.0
