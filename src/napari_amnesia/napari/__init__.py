"""The napari face of napari-amnesia: a thin adapter over :mod:`napari_amnesia.core`.

- ``_reader`` / ``_writer`` / ``_sample``: the npe2 contributions (lazy movies in,
  labels and result folders out, synthetic sample data with ground truth).
- ``layers``: result → layer converters with deterministic names.
- ``_workers``: the only place threads start (progress bar, cancel, errors).
- ``session``: per-viewer state (results per layer and stage, the result_changed event).
- ``widgets``: the dock widgets (one per stage) and the trace dock.
"""
