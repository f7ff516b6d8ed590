"""Schemathesis against the real `soko serve`: generated requests from the OpenAPI document,
valid and invalid, never a server error and never a response outside the document."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apiserver import API_KEY, DEMO_ROWS, ApiServer

#: Examples per operation: bounded so the suite stays well under a minute.
EXAMPLES = 20
#: Changes and deletes go to ids far above the demo catalog's, so the session's other
#: tests (which run on the same server) still find the demo products as they were.
SPARE_IDS = 900_000


@pytest.fixture(scope="module")
def api_schema(api_server: ApiServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api_server.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_generated_requests_never_break_the_server(case: schemathesis.Case[Any]) -> None:
    product_id = (case.path_parameters or {}).get("product_id")
    if case.method in {"PATCH", "DELETE"} and product_id in DEMO_ROWS:
        case.path_parameters = {
            **(case.path_parameters or {}),
            "product_id": SPARE_IDS + product_id,
        }
    case.call_and_validate(
        headers={"X-API-Key": API_KEY},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
        timeout=30,
    )


def test_the_document_is_served(api_server: ApiServer) -> None:
    assert httpx.get(f"{api_server.base_url}/openapi.json").json()["paths"]
