"""The numerical core of napari-amnesia.

Pure numpy/dask functions, one module per stage. Nothing here imports napari, Qt,
magicgui or matplotlib (``tests/core/test_import_purity.py`` checks it), so the same
calls work in scripts, on a cluster and inside napari.
"""
