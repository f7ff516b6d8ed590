"""Settings from the environment: one `Settings` object, built by the CLI or the app factory.

Nobody else reads `os.environ`. Every field names its environment variable; `load_settings`
turns a bad value into a `ConfigError` whose one-line message names that variable.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from soko.errors import ConfigError

_SECRET_FIELDS = frozenset({"milvus_password", "api_key"})
_COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


class IndexType(StrEnum):
    IVF_FLAT = "IVF_FLAT"
    IVF_SQ8 = "IVF_SQ8"
    HNSW = "HNSW"


class EmbedderChoice(StrEnum):
    AUTO = "auto"
    SIGLIP = "siglip"
    EFFNET_MINILM = "effnet-minilm"


def _env(*names: str) -> Any:
    """The environment variable(s) a field is read from (first name is the documented one)."""
    return AliasChoices(*names)


PositiveInt = Annotated[int, Field(gt=0)]


class Settings(BaseSettings):
    """Everything configurable, with the environment variable beside each field."""

    model_config = SettingsConfigDict(
        populate_by_name=True, extra="ignore", case_sensitive=False, frozen=True
    )

    # --- Milvus -------------------------------------------------------------------------
    milvus_address: str = Field(
        "./data/milvus.db",
        validation_alias=_env("MILVUS_ADDRESS", "MILVUS_URI"),
        description="host:port or URI of a Milvus server, or a path ending in .db for Lite",
    )
    milvus_username: str | None = Field(None, validation_alias=_env("MILVUS_USERNAME"))
    milvus_password: SecretStr | None = Field(None, validation_alias=_env("MILVUS_PASSWORD"))
    milvus_timeout_ms: PositiveInt = Field(30_000, validation_alias=_env("MILVUS_TIMEOUT"))
    milvus_probe_interval_ms: int = Field(
        1000, ge=50, le=60_000, validation_alias=_env("MILVUS_PROBE_INTERVAL")
    )
    milvus_db_name: str = Field("", validation_alias=_env("MILVUS_DB_NAME"))
    collection_name: str = Field(
        "product_embeddings", validation_alias=_env("SOKO_COLLECTION", "MILVUS_COLLECTION")
    )
    index_type: IndexType = Field(IndexType.IVF_FLAT, validation_alias=_env("SOKO_INDEX_TYPE"))
    nlist: int = Field(1024, ge=1, le=65536, validation_alias=_env("SOKO_NLIST"))
    nprobe: int = Field(16, ge=1, le=65536, validation_alias=_env("SOKO_NPROBE"))
    hnsw_m: int = Field(16, ge=2, le=2048, validation_alias=_env("SOKO_HNSW_M"))
    hnsw_ef_construction: int = Field(
        200, ge=1, le=100_000, validation_alias=_env("SOKO_HNSW_EF_CONSTRUCTION")
    )
    hnsw_ef: int = Field(64, ge=1, le=32_768, validation_alias=_env("SOKO_HNSW_EF"))
    replica_number: int = Field(1, ge=1, le=64, validation_alias=_env("SOKO_REPLICA_NUMBER"))

    # --- Catalog --------------------------------------------------------------------------
    data_dir: Path = Field(Path("./data"), validation_alias=_env("SOKO_DATA_DIR"))
    database_url: str = Field("sqlite:///./data/catalog.db", validation_alias=_env("DATABASE_URL"))

    # --- Embedding ------------------------------------------------------------------------
    embedder: EmbedderChoice = Field(EmbedderChoice.AUTO, validation_alias=_env("SOKO_EMBEDDER"))
    siglip_model: str = Field(
        "google/siglip-base-patch16-224", validation_alias=_env("SOKO_SIGLIP_MODEL")
    )
    model_cache_dir: Path | None = Field(None, validation_alias=_env("SOKO_MODEL_CACHE_DIR"))
    text_int8: bool = Field(False, validation_alias=_env("SOKO_TEXT_INT8"))
    torch_threads: int = Field(0, ge=0, le=512, validation_alias=_env("SOKO_TORCH_THREADS"))
    embed_batch_size: int = Field(32, ge=1, le=4096, validation_alias=_env("SOKO_EMBED_BATCH_SIZE"))
    image_weight: float = Field(0.6, ge=0.0, validation_alias=_env("SOKO_IMAGE_WEIGHT"))
    text_weight: float = Field(0.4, ge=0.0, validation_alias=_env("SOKO_TEXT_WEIGHT"))

    # --- Images ---------------------------------------------------------------------------
    max_image_bytes: PositiveInt = Field(
        10 * 1024 * 1024, validation_alias=_env("SOKO_MAX_IMAGE_BYTES")
    )
    max_image_pixels: PositiveInt = Field(
        40_000_000, validation_alias=_env("SOKO_MAX_IMAGE_PIXELS")
    )
    fetch_timeout_s: float = Field(10.0, gt=0, validation_alias=_env("SOKO_FETCH_TIMEOUT"))
    fetch_concurrency: int = Field(8, ge=1, le=256, validation_alias=_env("SOKO_FETCH_CONCURRENCY"))
    allow_private_urls: bool = Field(False, validation_alias=_env("SOKO_ALLOW_PRIVATE_URLS"))
    #: The folder local product photos (`image_path`, set only by `soko import`) must be in;
    #: unset: each import's catalog folder, recorded in the catalog (soko.catalog.media).
    media_root: Path | None = Field(None, validation_alias=_env("SOKO_MEDIA_ROOT"))

    # --- Hydrate & ingest -----------------------------------------------------------------
    hydrate_max_age_hours: float = Field(
        24.0 * 30, gt=0, validation_alias=_env("SOKO_HYDRATE_MAX_AGE_HOURS")
    )
    ingest_batch_size: int = Field(
        1000, ge=1, le=100_000, validation_alias=_env("SOKO_INGEST_BATCH_SIZE")
    )
    ingest_poll_s: float = Field(2.0, gt=0, le=3600, validation_alias=_env("SOKO_INGEST_POLL"))
    #: Test hook only (crash-safety tests): `point[:batch]` makes the ingest worker SIGKILL
    #: itself at that point of that batch (1-based). Points: see soko.app.ingest.CRASH_POINTS.
    test_crash_at: str | None = Field(None, validation_alias=_env("SOKO_TEST_CRASH_AT"))

    # --- HTTP API -------------------------------------------------------------------------
    api_key: SecretStr | None = Field(None, validation_alias=_env("SOKO_API_KEY"))
    host: str = Field("127.0.0.1", validation_alias=_env("SOKO_HOST"))
    port: int = Field(8000, ge=1, le=65535, validation_alias=_env("SOKO_PORT"))

    # --- Logging --------------------------------------------------------------------------
    log_level: str = Field("WARNING", validation_alias=_env("SOKO_LOG_LEVEL"))
    log_format: str = Field("text", validation_alias=_env("SOKO_LOG_FORMAT"))

    @field_validator("milvus_address")
    @classmethod
    def _address_not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("collection_name")
    @classmethod
    def _collection_identifier(cls, value: str) -> str:
        if not _COLLECTION_NAME.match(value):
            raise ValueError("must be letters, digits and underscores, not starting with a digit")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value.lower() not in {"text", "json"}:
            raise ValueError("must be text or json")
        return value.lower()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.image_weight == 0 and self.text_weight == 0:
            raise ValueError("SOKO_IMAGE_WEIGHT and SOKO_TEXT_WEIGHT must not both be zero")
        if self.index_type is not IndexType.HNSW and self.nprobe > self.nlist:
            raise ValueError(
                f"SOKO_NPROBE ({self.nprobe}) must not exceed SOKO_NLIST ({self.nlist})"
            )
        return self

    # --- derived ---------------------------------------------------------------------------
    @property
    def milvus_is_lite(self) -> bool:
        """True when the address is a local Milvus Lite file rather than a server."""
        return is_lite_address(self.milvus_address)

    @property
    def milvus_uri(self) -> str:
        """The address as pymilvus wants it: an absolute .db path, or an http(s) URI."""
        return normalize_milvus_address(self.milvus_address)

    @property
    def milvus_timeout_s(self) -> float:
        return self.milvus_timeout_ms / 1000.0

    @property
    def milvus_probe_s(self) -> float:
        """While Milvus is down: how often a call may check whether it is back, and that
        check's timeout (never longer than MILVUS_TIMEOUT)."""
        return min(self.milvus_probe_interval_ms, self.milvus_timeout_ms) / 1000.0

    @property
    def model_cache(self) -> Path:
        """Where models compiled on this machine (effnet-minilm's ONNX towers) are kept:
        SOKO_MODEL_CACHE_DIR, else `SOKO_DATA_DIR/models`."""
        return self.model_cache_dir or self.data_dir / "models"


def is_lite_address(address: str) -> bool:
    return "://" not in address and address.endswith(".db")


def normalize_milvus_address(address: str) -> str:
    """`host:port` -> `http://host:port`; a `.db` path -> absolute path; URIs unchanged."""
    if is_lite_address(address):
        return str(Path(address).expanduser().resolve())
    if "://" in address:
        scheme = address.split("://", 1)[0].lower()
        if scheme == "tcp":
            return "http://" + address.split("://", 1)[1]
        if scheme not in {"http", "https"}:
            raise ValueError(f"unsupported scheme {scheme!r} (use http, https or a .db path)")
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port, an http(s) URI, or a path ending in .db")
    return f"http://{address}"


def _variable_for(field_name: str) -> str:
    field = Settings.model_fields.get(field_name)
    alias = field.validation_alias if field is not None else None
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        return first if isinstance(first, str) else field_name
    return field_name.upper()


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (plus explicit overrides), or raise ConfigError."""
    try:
        settings = Settings(**overrides)
        normalize_milvus_address(settings.milvus_address)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc") or ()
        name = _variable_for(str(loc[0])) if loc else "settings"
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        got = first.get("input")
        secret = bool(loc) and loc[0] in _SECRET_FIELDS
        shown = "" if not loc or secret or isinstance(got, dict) else f" (got {got!r})"
        raise ConfigError(f"{name}: {message}{shown}") from None
    except ValueError as exc:
        raise ConfigError(f"MILVUS_ADDRESS: {exc}") from None
    return settings
