"""The shipped cell classifier (napari_amnesia.core.cnmf.classifier): its weights
load from the package, and on fresh simulated scenes — seeds neither its training
nor its benchmark's held-out set used — it ranks planted cells above the spurious
components of a generous fit (neurite fragments, out-of-focus cells, neuropil,
partial copies) better than CaImAn's SNR / r-value rule."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from napari_amnesia.core.cnmf.classifier import (
    cell_probability,
    load_model,
    training_scene,
)
from napari_amnesia.core.cnmf.evaluation import decide
from napari_amnesia.core.cnmf.features import FEATURE_NAMES

#: fresh seeds, one scene of each kind of benchmarks/train_classifier.py's SCENES
#: (96² at 15 Hz, gSig 4; 128² at 7 Hz, gSig 5, more neurites)
SCENES = {
    3000: dict(shape=(96, 96), n_frames=600, frame_rate=15.0, n_neurite_groups=4, gSig=4.0),
    3001: dict(shape=(128, 128), n_frames=600, frame_rate=7.0, n_neurite_groups=6, gSig=5.0),
    3002: dict(shape=(96, 96), n_frames=600, frame_rate=15.0, n_neurite_groups=4, gSig=4.0),
}
#: On benchmarks/train_classifier.py's held-out seeds the classifier's ROC AUC is 0.98
#: (SNR alone 0.52, r value alone 0.80) and at the rule's recall its precision is 0.99
#: against the rule's 0.72; on these three seeds 1.00 and 1.00 against 0.75. The
#: thresholds leave room for a retrained model, but not for one that is merely as good
#: as the r value or the rule.
AUC_MIN = 0.9
PRECISION_GAIN = 0.1


def test_shipped_weights_load_and_match_the_features():
    model = load_model()
    used = model["features"]
    assert set(used) <= set(FEATURE_NAMES) and len(set(used)) == len(used) >= 10
    assert "log_snr" not in used  # CaImAn's rule judges the SNR (train_classifier.USED)
    for key in ("mean", "scale", "coef"):
        assert len(model[key]) == len(used) and np.all(np.isfinite(model[key]))
    assert np.all(np.asarray(model["scale"]) > 0)
    assert model["held_out"]["auc"] > 0.9  # what the training run measured
    assert 0.0 < model["cut"] < 0.5 and model["held_out"]["cut_recall"] > 0.97


def test_cell_probability_picks_the_model_columns_by_name():
    rng = np.random.default_rng(1)
    F = rng.normal(size=(20, len(FEATURE_NAMES)))
    model = load_model()
    own = F[:, [FEATURE_NAMES.index(n) for n in model["features"]]]
    np.testing.assert_array_equal(cell_probability(F), cell_probability(own))
    # a very clean cell is not penalised for its SNR
    F2 = F.copy()
    F2[:, FEATURE_NAMES.index("log_snr")] = 6.0
    np.testing.assert_array_equal(cell_probability(F2), cell_probability(F))


def test_cell_probability_range_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    p = cell_probability(rng.normal(size=(50, len(FEATURE_NAMES))) * 100)
    assert p.shape == (50,) and np.all((p >= 0) & (p <= 1))
    with pytest.raises(ValueError, match="columns"):
        cell_probability(np.zeros((2, 3)))
    # a weights file of one's own
    model = dict(load_model(), features=list(FEATURE_NAMES), mean=[0.0] * len(FEATURE_NAMES),
                 scale=[1.0] * len(FEATURE_NAMES), coef=[0.0] * len(FEATURE_NAMES),
                 intercept=0.0)
    path = tmp_path / "w.json"
    path.write_text(json.dumps(model))
    np.testing.assert_array_equal(cell_probability(np.zeros((3, len(FEATURE_NAMES))),
                                                   load_model(path)), 0.5)
    path.write_text("{}")
    with pytest.raises(ValueError, match="lack"):
        load_model(path)


@pytest.fixture(scope="module")
def fresh():
    F, y, snr, r = [], [], [], []
    for seed, kw in SCENES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = training_scene(seed, **kw)
        F.append(s["features"])
        y.append(s["is_cell"])
        snr.append(s["result"].snr)
        r.append(s["result"].r_values)
    return (np.concatenate(F), np.concatenate(y), np.concatenate(snr), np.concatenate(r))


def _auc(score, y):
    """Probability that a random cell scores above a random non-cell (ties count half)."""
    pos, neg = score[y], score[~y]
    return float(((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum())
                 / (pos.size * neg.size))


def test_classifier_beats_snr_and_r_value_on_fresh_scenes(fresh):
    F, y, snr, r = fresh
    assert y.sum() >= 30 and (~y).sum() >= 10  # both classes are there in numbers
    p = cell_probability(F)
    auc = _auc(p, y)
    assert auc >= AUC_MIN, auc
    assert auc > max(_auc(snr, y), _auc(r, y)), (auc, _auc(snr, y), _auc(r, y))
    # CaImAn's rule with the package's defaults, and the classifier at the same recall
    rule = decide(snr, r, min_SNR=2.0, rval_thr=0.85)
    recall = (rule & y).sum() / y.sum()
    t = np.sort(p[y])[::-1][int(np.ceil(recall * y.sum())) - 1]
    ours = (p >= t)
    precision_rule = (rule & y).sum() / rule.sum()
    precision_ours = (ours & y).sum() / ours.sum()
    assert precision_ours >= precision_rule + PRECISION_GAIN, (precision_ours, precision_rule)


def test_fit_and_evaluate_take_the_classifier_threshold():
    """min_cell_probability: the rule and the classifier; re-filtering needs no movie."""
    from napari_amnesia.core import cnmf
    from napari_amnesia.core.simulate import simulate

    movie, _ = simulate(n_frames=300, shape=(64, 64), n_cells=8, n_neurite_groups=2,
                        motion=False, rng=2)
    plain = cnmf.fit(movie, gSig=4, K=12, rf=None, p=1, min_cell_probability=None)
    both = cnmf.fit(movie, gSig=4, K=12, rf=None, p=1, min_cell_probability=0.5)
    probability = np.asarray(both.info["cell_probability"])
    assert probability.shape == (both.K,)
    np.testing.assert_array_equal(both.accepted, plain.accepted & (probability >= 0.5))
    loose = cnmf.evaluate(both, min_cell_probability=0.0)  # recorded probabilities reused
    np.testing.assert_array_equal(loose.accepted, plain.accepted)
    assert "cell probability ≥ 0" in cnmf.evaluation.describe_rule(min_cell_probability=0.0)
    # the default: the classifier's own cut, on two-photon results
    auto = cnmf.fit(movie, gSig=4, K=12, rf=None, p=1)
    assert auto.params.min_cell_probability == "auto"
    cut = cnmf.evaluation.classifier_cut()
    np.testing.assert_array_equal(auto.accepted, plain.accepted & (probability >= cut))
    assert f"≥ {cut:.2f} (auto)" in cnmf.evaluation.describe_rule(min_cell_probability="auto")
    # typed in a box: text is read as None, "auto" or a number
    assert cnmf.evaluate(both, min_cell_probability="none").info["cell_probability"]
    np.testing.assert_array_equal(
        cnmf.evaluate(both, min_cell_probability="0.0").accepted, plain.accepted)
