"""Tests of core.skeleton.somata: somata found in the mask, each one node of the graph."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_amnesia.core.skeleton import (
    find_somata,
    skeletonize,
)


def soma_with_neurites(arms, *, centre=(40, 40), radius=9, shape=(80, 80)):
    """Draw a bright disk of ``radius`` with 3-px-wide neurites from its centre to ``arms``."""
    from skimage.draw import disk, line

    img = np.zeros(shape, np.float32)
    for end in arms:
        rr, cc = line(*centre, *end)
        img[rr, cc] = 1
    img = ndi.binary_dilation(img).astype(np.float32)
    rr, cc = disk(centre, radius, shape=shape)
    img[rr, cc] = 1
    return ndi.gaussian_filter(img, 0.7)


@pytest.mark.parametrize("arms, n_branches", [
    (((40, 5), (5, 40), (75, 70)), 3),  # three neurites leave the soma
    (((40, 3), (40, 77)), 1),  # one neurite passes through it
    (((5, 40),), 1),  # one neurite ends at it
])
def test_a_soma_is_one_node(arms, n_branches):
    """Make a soma one node that its neurites start from."""
    img = soma_with_neurites(arms)
    r = skeletonize(img)
    assert r.totals["n_somata"] == 1 and r.somata.max() == 1 and r.somata[40, 40] == 1
    assert not r.somata[40, 40 + 15] and not r.somata[40 - 15, 40]  # the neurites are not
    assert r.totals["n_branches"] == n_branches, r.totals
    # the soma is not a junction of neurites, and leaves no loop or spur
    assert r.totals["n_junctions"] == 0 and r.totals["n_cycles"] == 0
    assert len(r.junctions) == 0
    ends = np.array([end for p in r.paths for end in (p[0], p[-1])], float)
    at_soma = np.hypot(*(ends - [40, 40]).T) <= 2
    assert at_soma.sum() == (len(arms) if len(arms) != 2 else 0)  # one passes through
    # without soma handling the disk's own skeleton adds junctions and branches
    off = skeletonize(img, soma_radius=0)
    assert off.totals["n_somata"] == 0 and not off.somata.any()
    if len(arms) > 1:
        assert off.totals["n_branches"] > n_branches and off.totals["n_junctions"] > 0


def test_find_somata_keeps_neurites_out_and_fills_hollow_blobs():
    """Find somata, not neurites; fill hollow bright blobs, not dark loops."""
    mask = np.zeros((60, 100), bool)
    mask[28:33, 5:95] = True  # a 5 px wide neurite
    mask[10:28, 50:54] = True  # a 4 px wide branch: a T junction
    labels, n = find_somata(mask, 4.0)
    assert n == 0 and not labels.any()
    yy, xx = np.mgrid[:60, :100]
    blob = np.hypot(yy - 45, xx - 20) <= 8
    labels, n = find_somata(mask | blob, 4.0)
    assert n == 1 and labels[45, 20] == 1 and labels[blob].mean() > 0.9
    assert not labels[30, 60:].any()
    # a local threshold hollows a bright blob: its bright hole is filled...
    ring = blob & (np.hypot(yy - 45, xx - 20) > 5)
    image = (blob | mask).astype(float)
    labels, n = find_somata(ring, 4.0, image)
    assert n == 1 and labels[45, 20] == 1
    assert find_somata(ring, 4.0)[1] == 0  # (a 3 px ring holds no disk of radius 4)
    # ... but the dark background inside a loop of neurites is not
    loop = (np.hypot(yy - 30, xx - 50) <= 20) & (np.hypot(yy - 30, xx - 50) > 17)
    assert find_somata(loop, 4.0, loop.astype(float))[1] == 0
    assert find_somata(mask | blob, 0)[1] == 0
