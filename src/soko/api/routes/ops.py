"""Operations: /health for load balancers and people, /metrics for Prometheus."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from soko.api.deps import StateDep
from soko.api.strict import StrictRoute
from soko.errors import SokoError

router = APIRouter(route_class=StrictRoute, tags=["operations"])


@router.get("/health")
def health(state: StateDep) -> JSONResponse:
    """Milvus row count, collection, status, catalog counts, embedder, sync and failing
    products; 503 when degraded (a part unavailable, or the sync loop failing)."""
    report = state.soko.health(sync=state.sync)
    body: dict[str, Any] = {
        "status": "ok" if report.ok else "degraded",
        "collection": report.collection,
        "embedder": state.soko.embedder.identity,
    }
    if isinstance(report.milvus, SokoError):
        body["milvus"] = {"status": "unavailable", "error": str(report.milvus)}
    else:
        body["vectors"] = report.milvus.row_count
        body["milvus"] = asdict(report.milvus)
    if isinstance(report.catalog, SokoError):
        body["catalog"] = {"status": "unavailable", "error": str(report.catalog)}
    else:
        body["catalog"] = asdict(report.catalog)
    if report.failures is not None:
        body["failing_products"] = jsonable_encoder(asdict(report.failures))
    if report.sync is not None:
        body["sync"] = jsonable_encoder({**asdict(report.sync), "failing": report.sync.failing})
    return JSONResponse(body, status_code=200 if report.ok else 503)


@router.get("/metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
