"""What routes receive through `Depends`: the application, and the API-key check for writes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from soko.api.metrics import Metrics
from soko.app import Soko
from soko.app.sync import SyncStatus
from soko.errors import AccessDenied, MissingCredentials


@dataclass
class AppState:
    """Built once per process by the app's lifespan."""

    soko: Soko
    metrics: Metrics
    sync: SyncStatus | None = None


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.soko
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_soko(request: Request) -> Soko:
    return get_state(request).soko


SokoDep = Annotated[Soko, Depends(get_soko)]


_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The server's SOKO_API_KEY."
)
_bearer = HTTPBearer(
    auto_error=False, description="`Authorization: Bearer <SOKO_API_KEY>`, the same key."
)


def require_api_key(
    soko: SokoDep,
    key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> None:
    """Writes need `X-API-Key: <SOKO_API_KEY>` or `Authorization: Bearer <SOKO_API_KEY>`
    (both are security schemes in the OpenAPI document)."""
    expected = soko.settings.api_key
    if expected is None or not expected.get_secret_value():
        raise AccessDenied(
            "product writes are disabled: set SOKO_API_KEY on the server and send it in the "
            "X-API-Key header"
        )
    if key is None and bearer is not None:
        key = bearer.credentials.strip()
    if not key:
        raise MissingCredentials(
            "missing API key: send it in the X-API-Key header (or as Authorization: Bearer)"
        )
    if not secrets.compare_digest(key.encode(), expected.get_secret_value().encode()):
        raise AccessDenied("wrong API key")


WriteAccess = Depends(require_api_key)
