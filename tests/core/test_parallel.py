"""Thread counts of the parallel helpers follow dask's ``num_workers`` (a batch's worker)."""

from __future__ import annotations

import dask
import numba

from napari_amnesia.core.parallel import n_workers, numba_threads


def test_numba_threads_follow_dask_num_workers_and_are_restored():
    before = numba.get_num_threads()
    with dask.config.set(num_workers=1):
        assert n_workers() == 1
        with numba_threads():
            assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with numba_threads(limit=10**6):  # never more than numba started
        assert numba.get_num_threads() == min(n_workers(), numba.config.NUMBA_NUM_THREADS)
    assert numba.get_num_threads() == before
