"""Routes that refuse query parameters and form fields they do not declare (a typo like
`limt=5` is a 422, not a silently ignored filter) and form fields given twice (which one
would count?), and a body-size cap that holds before anything is parsed."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soko.api.errors import error_response


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _form_names(dependant: Dependant) -> set[str]:
    """Declared `Form`/`File` fields (a JSON body model is not a form: empty set)."""
    names = {
        param.alias
        for param in dependant.body_params
        if isinstance(param.field_info, params.Form)  # File is a Form
    }
    for sub in dependant.dependencies:
        names |= _form_names(sub)
    return names


def _known(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "none"


class StrictRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        allowed = _query_names(self.dependant)
        form_fields = _form_names(self.dependant)

        async def strict_handler(request: Request) -> Response:
            unknown = sorted(set(request.query_params) - allowed)
            if unknown:
                return error_response(
                    422,
                    f"{unknown[0]}: unknown query parameter (this route takes: {_known(allowed)})",
                )
            if form_fields and request.headers.get("content-type", "").startswith(
                ("multipart/form-data", "application/x-www-form-urlencoded")
            ):
                # Parsed once here; FastAPI reuses the parsed form (Request caches it).
                form = await request.form()
                unknown = sorted(set(form.keys()) - form_fields)
                if unknown:
                    return error_response(
                        422,
                        f"{unknown[0]}: unknown form field "
                        f"(this route takes: {_known(form_fields)})",
                    )
                repeated = sorted(name for name in form_fields if len(form.getlist(name)) > 1)
                if repeated:
                    times = len(form.getlist(repeated[0]))
                    return error_response(422, f"{repeated[0]}: given {times} times; send one")
            return await handler(request)

        return strict_handler


class BodyLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` with 413, before parsing.

    Checks Content-Length up front and counts streamed (chunked) bodies as they arrive.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        too_large = error_response(
            413, f"request body larger than {self.max_bytes} bytes (SOKO_MAX_IMAGE_BYTES)"
        )
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        received = 0
        responded = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal responded
            if message["type"] == "http.response.start":
                responded = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not responded:
                await too_large(scope, receive, send)


class _BodyTooLarge(HTTPException):
    """Raised from `receive`; an HTTPException so FastAPI's body parsing lets it through."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body larger than {max_bytes} bytes (SOKO_MAX_IMAGE_BYTES)")
