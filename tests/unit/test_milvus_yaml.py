"""The milvus.yaml that `LocalMilvusServer` writes: our etcd, and garbage collection on demand."""

from __future__ import annotations

from pathlib import Path

from soko.vectorstore.server import configure_milvus_yaml

PACKAGE_YAML = """\
etcd:
  endpoints: localhost:2379
dataCoord:
  compaction:
    interval: 7
  gc:
    interval: 3600 # gc interval in seconds
    missingTolerance: 3600 # file meta missing tolerance
    dropTolerance: 10800 # dropped entity tolerance
queryNode:
  gc:
    interval: 3600
"""


def test_etcd_points_at_our_port_and_config() -> None:
    text = configure_milvus_yaml(PACKAGE_YAML, 41234, Path("/x/embedEtcd.yaml"), None)
    assert "  endpoints: 127.0.0.1:41234" in text
    assert "etcd:\n  config:\n    path: /x/embedEtcd.yaml\n" in text
    assert "    dropTolerance: 10800" in text  # untouched without gc_after_s


def test_gc_after_changes_only_datacoord_gc_interval_and_drop_tolerance() -> None:
    text = configure_milvus_yaml(PACKAGE_YAML, 1, Path("/e.yaml"), 20)
    lines = text.splitlines()
    gc = lines.index("  gc:")
    assert lines[gc + 1 : gc + 4] == [
        "    interval: 20",
        "    missingTolerance: 3600 # file meta missing tolerance",
        "    dropTolerance: 20",
    ]
    # Another section's gc block and a nested `interval` keep their values.
    assert lines[-1] == "    interval: 3600"
    assert "    interval: 7" in lines
