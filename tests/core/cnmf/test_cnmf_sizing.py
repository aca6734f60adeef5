"""Defaults that scale (napari_amnesia.core.cnmf.sizing): rf, stride, K and gnb chosen
from the frame and the cell size, recorded with their reasons; K grown where a patch's
greedy search reaches it; explicit settings kept exactly.

Accuracy on planted somata (``core.simulate``) more numerous than the old whole-field
default ``K=30``: the fit with only ``gSig`` given finds them (F1 >= 0.9 of the accepted
components, several seeds and frame sizes).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from napari_amnesia.core import cnmf
from napari_amnesia.core.cnmf import CNMFParams
from napari_amnesia.core.cnmf.patches import fit_patch, patch_grid
from napari_amnesia.core.cnmf.sizing import (
    AUTO,
    GROW_ROUNDS,
    PACKING,
    choose_sizes,
    describe_sizes,
    grow_initialization,
)
from napari_amnesia.core.metrics import match_components
from napari_amnesia.core.simulate import simulate

SIZED = ("rf", "stride", "K", "gnb")


# --------------------------------------------------------------------------- the rule
@pytest.mark.parametrize("shape", [(128, 128), (256, 256), (512, 512), (200, 700)])
@pytest.mark.parametrize("gsig", [2.0, 4.0, (5.0, 3.0), 8.0])
def test_sizes_follow_the_frame_and_the_cell(shape, gsig):
    sizes = choose_sizes(shape, gsig)
    g = max(gsig) if isinstance(gsig, tuple) else gsig
    box = 2 * math.ceil(g) + 1
    for name in SIZED:
        assert sizes[name]["auto"] and len(sizes[name]["why"]) > 20, (name, sizes[name])
    rf, stride, K, gnb = (sizes[n]["value"] for n in SIZED)
    if rf is None:  # one patch only when the frame holds at most 1.5 patches
        assert max(shape) <= 1.5 * 2 * max(6, math.ceil(4 * g))
        area = shape[0] * shape[1]
    else:
        assert rf == max(6, math.ceil(4 * g)) and 0 < stride == min(box, 2 * rf - 1) < 2 * rf
        area = min(shape[0], 2 * rf) * min(shape[1], 2 * rf)
        grid = patch_grid(shape, rf, stride)
        assert len(grid) > 1
        # every cell lies whole in some patch: neighbours overlap by a cell box
        assert stride >= min(box, 2 * rf - 1)
    gy, gx = gsig if isinstance(gsig, tuple) else (gsig, gsig)
    cells = area / (math.pi * gy * gx)
    assert K >= 4 and (K == 4 or PACKING * cells <= K < PACKING * cells + 1)
    assert 2 <= gnb <= 4
    assert sizes["grow_K"] is True


def test_sizes_grow_with_the_field_and_shrink_with_the_cell():
    side = [choose_sizes((n, n), 4)["gnb"]["value"] for n in (64, 256, 512, 1024, 4096)]
    assert side == sorted(side) and side[0] == 2 and side[-1] == 4
    rf = [choose_sizes((1024, 1024), g)["rf"]["value"] for g in (2, 4, 8)]
    assert rf == sorted(rf) and rf[0] < rf[-1]
    K = [choose_sizes((1024, 1024), g, rf=20)["K"]["value"] for g in (2, 4, 8)]
    assert K == sorted(K, reverse=True)  # a fixed patch holds fewer large cells


def test_explicit_settings_are_kept_exactly():
    sizes = choose_sizes((512, 512), 4, rf=15, stride=10, K=6, gnb=1)
    assert [sizes[n]["value"] for n in SIZED] == [15, 10, 6, 1]
    assert not any(sizes[n]["auto"] for n in SIZED) and not sizes["grow_K"]
    assert describe_sizes(sizes) == ""
    # rf=None stays the whole frame; an explicit K without rf counts the whole frame
    assert choose_sizes((512, 512), 4, rf=None)["rf"]["value"] is None
    whole = choose_sizes((512, 512), 4, K=8)
    assert whole["rf"]["value"] is None and "K=8" in whole["rf"]["why"]
    assert not whole["grow_K"]
    # an explicit overlap gets patches wide enough for it
    wide = choose_sizes((512, 512), 2, stride=30)["rf"]["value"]
    assert wide is not None and 30 < 2 * wide


def test_params_take_auto_numbers_and_the_text_of_the_interfaces():
    p = CNMFParams()
    assert (p.rf, p.stride, p.K, p.gnb) == (AUTO,) * 4 and p.auto_sized == SIZED
    typed = CNMFParams(rf="15", stride="10", K="Auto", gnb="2")  # CLI and dock text
    assert (typed.rf, typed.stride, typed.K, typed.gnb) == (15, 10, AUTO, 2)
    assert CNMFParams(rf="none").rf is None and CNMFParams(rf=None).rf is None
    assert CNMFParams.from_dict(p.to_dict()) == p
    for bad in (dict(rf="big"), dict(K=0), dict(K="0"), dict(gnb=-1), dict(stride="x")):
        with pytest.raises(ValueError, match=next(iter(bad))):
            CNMFParams(**bad)
    with pytest.raises(ValueError, match="stride"):
        CNMFParams(rf=4, stride=10)
    sized, sizes = CNMFParams(gSig=4).sized((256, 256))
    assert [getattr(sized, n) for n in SIZED] == [sizes[n]["value"] for n in SIZED]
    assert sized.auto_sized == ()
    explicit = CNMFParams(rf=15, stride=10, K=6, gnb=2)
    assert explicit.sized((256, 256))[0] == explicit


def test_grow_initialization_doubles_K_while_the_search_reaches_it():
    calls = []

    class Found:
        def __init__(self, K):
            calls.append(K)
            self.K = min(K, 11)

    init, k = grow_initialization(Found, 3)
    assert (init.K, k, calls) == (11, 12, [3, 6, 12])
    calls.clear()
    init, k = grow_initialization(Found, 3, rounds=1)
    assert (init.K, k, calls) == (6, 6, [3, 6])
    calls.clear()
    assert grow_initialization(Found, 20)[1] == 20 and calls == [20]


# --------------------------------------------------------------------------- fits
@pytest.fixture(scope="module")
def crowded_patch():
    movie, truth = simulate(n_frames=400, shape=(40, 40), n_cells=8, n_neurite_groups=0,
                            motion=False, rng=3)
    return movie, truth


def test_a_patch_that_reaches_K_searches_again(crowded_patch):
    movie, truth = crowded_patch
    params = CNMFParams(gSig=4, K=2, gnb=1)
    capped = fit_patch(movie, params, K=2, gnb=1)
    grown = fit_patch(movie, params, K=2, gnb=1, grow=GROW_ROUNDS)
    assert capped.info["K_init"] == 2 and capped.info["K_max"] == 2
    assert grown.info["K_max"] == 2 * 2 ** GROW_ROUNDS
    assert grown.info["K_init"] > 2 and grown.K > capped.K
    again = fit_patch(movie, params, K=2, gnb=1, grow=GROW_ROUNDS)  # deterministic
    np.testing.assert_array_equal(again.A.toarray(), grown.A.toarray())


def _default_fit(movie, gsig):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = cnmf.fit(movie, gSig=gsig, fr=30, decay_time=0.4)
    return result, [str(w.message) for w in said]


@pytest.mark.parametrize(("size", "n_cells", "seed"), [
    (112, 40, 0), (112, 40, 1), (160, 75, 0), (160, 75, 2)])
def test_default_fit_finds_more_cells_than_the_old_whole_frame_K(size, n_cells, seed):
    gsig = 4.0
    assert n_cells > 30  # the former default: one patch, K=30, would cap the count
    movie, truth = simulate(n_frames=500, shape=(size, size), n_cells=n_cells,
                            n_neurite_groups=0, motion=False, rng=seed)
    result, said = _default_fit(movie, gsig)
    sizes = result.info["sizes"]
    assert all(sizes[n]["auto"] for n in SIZED)
    assert result.params.rf == sizes["rf"]["value"] == math.ceil(4 * gsig)
    assert result.info["n_patches"] == len(patch_grid((size, size), result.params.rf,
                                                       result.params.stride))
    assert "k_capped" not in result.info and not any("capped" in s for s in said)
    acc = np.flatnonzero(result.accepted)
    m = match_components(result.footprint_images(acc), truth.footprints)
    assert m["recall"] >= 0.9 and m["f1"] >= 0.9, m


def test_default_fit_records_the_sizes_and_keeps_a_small_frame_whole():
    movie, truth = simulate(n_frames=300, shape=(44, 44), n_cells=4, n_neurite_groups=0,
                            motion=False, rng=1)
    result, _ = _default_fit(movie, 4.0)
    sizes = result.info["sizes"]
    assert sizes["rf"]["value"] is None and result.info["n_patches"] == 1
    assert result.params.K == sizes["K"]["value"] >= 4
    assert "one patch" in sizes["rf"]["why"]
    m = match_components(result.footprint_images(np.flatnonzero(result.accepted)),
                         truth.footprints)
    assert m["f1"] >= 0.85, m
