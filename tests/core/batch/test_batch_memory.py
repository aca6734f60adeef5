"""A batch streams long recordings through CNMF unless its configuration says otherwise."""

from __future__ import annotations

from napari_amnesia.core.batch.recording import BATCH_MAX_IN_MEMORY_MB, _sections
from napari_amnesia.core.cnmf import CNMFParams


def test_batch_caps_the_movie_cnmf_reads_into_memory(tmp_path):
    assert BATCH_MAX_IN_MEMORY_MB < CNMFParams().max_in_memory_mb
    sections, _ = _sections({"cnmf": {"gSig": [4, 4]}})
    assert sections["cnmf"]["max_in_memory_mb"] == BATCH_MAX_IN_MEMORY_MB
    # the user's own value stays, from a dict or a YAML file
    sections, _ = _sections({"cnmf": {"gSig": [4, 4], "max_in_memory_mb": 4096}})
    assert sections["cnmf"]["max_in_memory_mb"] == 4096
    path = tmp_path / "config.yaml"
    path.write_text("cnmf:\n  gSig: [4, 4]\n  max_in_memory_mb: 0\n")
    assert _sections(path)[0]["cnmf"]["max_in_memory_mb"] == 0
    path.write_text("cnmf:\n  gSig: [4, 4]\n")
    assert _sections(path)[0]["cnmf"]["max_in_memory_mb"] == BATCH_MAX_IN_MEMORY_MB
    # no cnmf section: nothing added
    assert "cnmf" not in _sections({"motion": {"max_shifts": [4, 4]}})[0]
