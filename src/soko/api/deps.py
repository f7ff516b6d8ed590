"""What routes receive through `Depends`: the services, and the API-key check for writes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader

from soko.api.metrics import Metrics
from soko.catalog import Catalog
from soko.config import Settings
from soko.embedding import Embedder
from soko.errors import AccessDenied, MissingCredentials
from soko.search import SearchService
from soko.sync import SyncStatus
from soko.vectorstore import VectorStore


@dataclass
class Services:
    """Everything a request may need, built once per process by the app's lifespan."""

    settings: Settings
    catalog: Catalog
    store: VectorStore
    embedder: Embedder
    search: SearchService
    metrics: Metrics
    sync: SyncStatus | None = None

    def close(self) -> None:
        self.store.close()
        self.catalog.close()


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def require_api_key(
    services: ServicesDep,
    key: Annotated[str | None, Depends(_api_key_header)],
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """Writes need `X-API-Key: <SOKO_API_KEY>` (or `Authorization: Bearer <key>`)."""
    expected = services.settings.api_key
    if expected is None or not expected.get_secret_value():
        raise AccessDenied(
            "product writes are disabled: set SOKO_API_KEY on the server and send it in the "
            "X-API-Key header"
        )
    if key is None and authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    if not key:
        raise MissingCredentials("missing API key: send it in the X-API-Key header")
    if not secrets.compare_digest(key.encode(), expected.get_secret_value().encode()):
        raise AccessDenied("wrong API key")


WriteAccess = Depends(require_api_key)
