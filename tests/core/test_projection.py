"""Tests of core.projection: traces of skeleton/active pixels and branches."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from napari_amnesia.core.progress import Progress, drive
from napari_amnesia.core.projection import (
    Projection,
    element_labels,
    iter_current_projection,
    iter_project,
    project,
    projection_is_current,
    reusable_projection,
)
from napari_amnesia.core.simulate import simulate
from napari_amnesia.core.skeleton import skeletonize

COMBOS = [(s, m) for s in ("skeleton", "active") for m in ("pixel", "branch")]


@pytest.fixture(scope="module")
def scene():
    # two coactive groups (trees) of three branches; seed with well separated trees
    """Return the simulated scene of this module's tests."""
    movie, truth = simulate(n_frames=300, shape=(128, 128), n_cells=0, n_neurite_groups=2,
                            branches_per_group=3, motion=False, rng=11)
    return movie, truth, skeletonize(movie)


@pytest.mark.parametrize("substructure, method", COMBOS)
def test_traces_equal_direct_means(scene, substructure, method):
    """Check that traces equal direct means."""
    movie, _, result = scene
    proj = project(movie, result, substructure=substructure, method=method, chunk_frames=37)
    assert isinstance(proj, Projection)
    assert proj.traces.dtype == np.float32
    assert proj.traces.shape == (proj.n_elements, movie.shape[0])
    assert len(proj.pixels) == len(proj.element_ids) == proj.n_elements > 0
    assert proj.substructure == substructure and proj.method == method
    assert proj.shape == result.shape
    support = result.skeleton if substructure == "skeleton" else result.mask
    # pixels partition (a subset of) the support, and labels agree with pixels
    allpix = np.concatenate(proj.pixels)
    assert len(np.unique(allpix, axis=0)) == len(allpix)
    assert support[allpix[:, 0], allpix[:, 1]].all()
    if method == "pixel" or substructure == "skeleton":
        assert len(allpix) == support.sum()
    for i in (0, proj.n_elements // 2, proj.n_elements - 1):
        pix = proj.pixels[i]
        direct = movie[:, pix[:, 0], pix[:, 1]].astype(np.float64).mean(axis=1)
        np.testing.assert_allclose(proj.traces[i], direct, rtol=1e-5)
        assert (proj.labels[pix[:, 0], pix[:, 1]] == i + 1).all()
    if method == "branch":
        assert set(proj.element_ids) <= set(result.branches["branch_id"])
        if substructure == "skeleton":
            assert list(proj.element_ids) == list(result.branches["branch_id"])
            for i, bid in enumerate(proj.element_ids):
                assert (result.branch_labels[proj.pixels[i][:, 0], proj.pixels[i][:, 1]]
                        == bid).all()
    else:
        assert list(proj.element_ids) == list(range(proj.n_elements))


def test_dask_movie_gives_the_same_traces(scene):
    """Check that dask movie gives the same traces."""
    import dask.array as da

    movie, _, result = scene
    a = project(movie, result, method="branch")
    b = project(da.from_array(movie, chunks=(64, -1, -1)), result, method="branch")
    np.testing.assert_allclose(a.traces, b.traces, rtol=1e-6)


def test_branch_traces_follow_the_planted_groups(scene):
    """Check that branch traces follow the planted groups."""
    movie, truth, result = scene
    owner = truth.branch_labels()
    for substructure in ("skeleton", "active"):
        proj = project(movie, result, substructure=substructure, method="branch")
        groups = []
        for pix in proj.pixels:
            lab = owner[pix[:, 0], pix[:, 1]]
            lab = lab[lab > 0]
            groups.append(truth.branch_groups[np.bincount(lab).argmax() - 1] if len(lab)
                          else -1)
        groups = np.array(groups)
        keep = groups >= 0
        assert keep.mean() > 0.8
        traces, groups = proj.traces[keep], groups[keep]
        # each branch follows its group's activity
        for trace, g in zip(traces, groups, strict=True):
            assert np.corrcoef(trace, truth.group_traces[g])[0, 1] > 0.7
        # branches of the same group correlate more than branches of different groups
        c = np.corrcoef(traces)
        same = groups[:, None] == groups[None, :]
        off = ~np.eye(len(groups), dtype=bool)
        assert c[same & off].mean() > c[~same].mean() + 0.3


def test_active_branch_assignment_is_nearest_branch_in_same_piece(scene):
    """Check that active branch assignment is nearest branch in same piece."""
    from scipy import ndimage as ndi

    _, _, result = scene
    labels, ids = element_labels(result, substructure="active", method="branch")
    branch_of = np.concatenate([[0], ids])[labels]
    on = result.branch_labels > 0
    dist, (ri, ci) = ndi.distance_transform_edt(~on, return_indices=True)
    assigned = labels > 0
    assert (assigned <= result.mask).all()
    # the assigned branch is at the nearest skeleton distance
    d_assigned = np.full(result.shape, np.inf)
    for bid in ids:
        d = ndi.distance_transform_edt(result.branch_labels != bid)
        sel = branch_of == bid
        d_assigned[sel] = d[sel]
    np.testing.assert_allclose(d_assigned[assigned], dist[assigned], atol=1e-6)


def test_to_image_and_element_at(scene):
    """Check Projection.to_image and Projection.element_at."""
    movie, _, result = scene
    proj = project(movie, result, method="branch")
    image = proj.to_image(np.arange(proj.n_elements) * 2.0)
    assert image.shape == proj.shape and image.dtype == np.float32
    assert np.isnan(image[proj.labels == 0]).all()
    r, c = proj.pixels[1][0]
    assert image[r, c] == 2.0 and proj.element_at(r, c) == 1
    assert proj.element_at(-1, 0) is None
    with pytest.raises(ValueError, match="one entry per element"):
        proj.to_image(np.zeros(proj.n_elements + 1))


def test_errors_name_the_problem(scene):
    """Check that errors name the problem."""
    movie, _, result = scene
    with pytest.raises(ValueError, match="2-D image"):
        project(movie.mean(0), result)
    with pytest.raises(ValueError, match="does not match"):
        project(movie[:, :64], result)
    with pytest.raises(ValueError, match="substructure.*'branches'|'branches'"):
        project(movie, result, substructure="branches")
    with pytest.raises(ValueError, match="method should be one of"):
        project(movie, result, method="cluster")


def test_empty_skeleton_gives_no_elements():
    """Check that empty skeleton gives no elements."""
    movie = np.zeros((12, 24, 24), np.uint16)
    result = skeletonize(movie)
    for substructure, method in COMBOS:
        proj = project(movie, result, substructure=substructure, method=method)
        assert proj.traces.shape == (0, 12) and proj.pixels == []
        assert proj.to_image(np.zeros(0)).shape == (24, 24)


def test_progress_protocol(scene):
    """Check the progress protocol of the generator twin."""
    movie, _, result = scene
    steps = []
    proj = drive(iter_project(movie, result, chunk_frames=100), steps.append)
    assert isinstance(proj, Projection)
    assert all(isinstance(s, Progress) for s in steps)
    assert [s.done for s in steps] == [100, 200, 300]


def test_a_projection_is_reused_while_current(scene):
    """Check that a projection is reused while it is current."""
    movie, truth, skeleton = scene
    proj = project(movie, skeleton, substructure="skeleton", method="branch")
    again, n = reusable_projection(proj, movie, skeleton, substructure="skeleton",
                                   method="branch")
    assert again is proj and n == proj.n_elements
    assert projection_is_current(proj, movie, skeleton, substructure="skeleton",
                                 method="branch")
    # other choices, another length of movie: computed anew
    assert reusable_projection(proj, movie, skeleton, substructure="skeleton",
                               method="pixel")[0] is None
    assert not projection_is_current(proj, movie[:10], skeleton, substructure="skeleton",
                                     method="branch")
    assert drive(iter_current_projection(movie, skeleton, method="branch",
                                         previous=proj)) is proj
    steps = list(iter_current_projection(movie[:20], skeleton, method="branch", previous=proj))
    assert steps and all(isinstance(s, Progress) for s in steps)
    with pytest.raises(ValueError, match="The skeleton of 'm' .* does not match its frames"):
        reusable_projection(None, movie[:, :50], skeleton, name="m")
    nothing = np.zeros(movie.shape[1:], bool)
    empty = SimpleNamespace(skeleton=nothing, mask=nothing, branch_labels=nothing.astype(int))
    with pytest.raises(ValueError, match="has no skeleton branch: lower the Skeleton"):
        reusable_projection(None, movie, empty)
