from __future__ import annotations

import pytest

from soko.config import IndexType, Settings, load_settings, normalize_milvus_address
from soko.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MILVUS_ADDRESS", "MILVUS_URI", "SOKO_NLIST", "MILVUS_TIMEOUT", "SOKO_INDEX_TYPE"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_match_the_design() -> None:
    settings = load_settings()
    assert settings.milvus_is_lite
    assert settings.milvus_uri.endswith("/data/milvus.db")
    assert settings.collection_name == "product_embeddings"
    assert settings.index_type is IndexType.IVF_FLAT
    assert (settings.nlist, settings.milvus_timeout_ms) == (1024, 30_000)
    assert (settings.image_weight, settings.text_weight) == (0.6, 0.4)


@pytest.mark.parametrize(
    ("address", "uri"),
    [
        ("milvus:19530", "http://milvus:19530"),
        ("127.0.0.1:19530", "http://127.0.0.1:19530"),
        ("https://in01.example.com:443", "https://in01.example.com:443"),
        ("tcp://10.0.0.5:19530", "http://10.0.0.5:19530"),
    ],
)
def test_server_addresses_become_uris(address: str, uri: str) -> None:
    assert normalize_milvus_address(address) == uri


def test_milvus_uri_is_accepted_as_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILVUS_URI", "http://db.internal:19530")
    settings = load_settings()
    assert not settings.milvus_is_lite
    assert settings.milvus_uri == "http://db.internal:19530"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SOKO_NLIST", "many", "SOKO_NLIST: "),
        ("SOKO_NLIST", "0", "SOKO_NLIST: "),
        ("MILVUS_TIMEOUT", "-5", "MILVUS_TIMEOUT: "),
        ("SOKO_INDEX_TYPE", "DISKANN", "SOKO_INDEX_TYPE: "),
        ("MILVUS_ADDRESS", "ftp://x", "MILVUS_ADDRESS: "),
        ("MILVUS_ADDRESS", "just-a-host", "MILVUS_ADDRESS: "),
        ("SOKO_COLLECTION", "drop table;", "SOKO_COLLECTION: "),
    ],
)
def test_a_bad_value_names_its_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_weights_must_not_both_be_zero() -> None:
    with pytest.raises(ConfigError, match="SOKO_IMAGE_WEIGHT"):
        load_settings(image_weight=0.0, text_weight=0.0)


def test_secrets_are_not_echoed() -> None:
    settings = Settings(milvus_password="hunter2", api_key="k3y")  # type: ignore[arg-type]
    assert "hunter2" not in repr(settings)
    assert "k3y" not in repr(settings)


def test_every_setting_is_documented_in_the_readme() -> None:
    from pathlib import Path

    from pydantic import AliasChoices

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices), name
        variable = alias.choices[0]
        assert f"`{variable}`" in readme, f"{variable} ({name}) is not in the README"
