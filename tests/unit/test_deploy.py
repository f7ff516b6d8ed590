"""The deployment files stay valid and in step with the CLI they call."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker-compose.yml"


def compose_config() -> dict[str, object]:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip(
            "compose file not checked: docker-compose is not installed (apt docker-compose)"
        )
    result = subprocess.run(
        [tool, "-f", str(COMPOSE), "config"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, object] = yaml.safe_load(result.stdout)
    return config


def test_compose_file_is_valid_and_wires_soko_to_milvus() -> None:
    services = compose_config()["services"]
    assert isinstance(services, dict)
    assert {"etcd", "minio", "milvus", "postgres", "api", "worker"} <= services.keys()
    assert services["milvus"]["image"] == "milvusdb/milvus:v2.3.5"
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["MILVUS_ADDRESS"] == "milvus:19530"
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")


@pytest.mark.parametrize(("command", "flag"), [("serve", "--no-worker"), ("sync", "--follow")])
def test_commands_the_compose_file_runs_exist(command: str, flag: str) -> None:
    assert f'"{command}", "{flag}"' in COMPOSE.read_text()
    result = subprocess.run(
        [sys.executable, "-m", "soko", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert flag in result.stdout
