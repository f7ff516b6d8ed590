"""Operations: /health for load balancers and people, /metrics for Prometheus."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from soko.api.deps import ServicesDep
from soko.api.strict import StrictQueryRoute
from soko.errors import SokoError

router = APIRouter(route_class=StrictQueryRoute, tags=["operations"])


@router.get("/health")
def health(services: ServicesDep) -> JSONResponse:
    """Milvus row count, collection, status, catalog counts and embedder; 503 when degraded."""
    body: dict[str, Any] = {
        "status": "ok",
        "collection": services.store.name,
        "embedder": services.embedder.identity,
    }
    try:
        stats = services.store.stats()
        body["vectors"] = stats.row_count
        body["milvus"] = asdict(stats)
    except SokoError as exc:
        body["status"] = "degraded"
        body["milvus"] = {"status": "unavailable", "error": str(exc)}
    try:
        body["catalog"] = asdict(services.catalog.counts())
    except SokoError as exc:
        body["status"] = "degraded"
        body["catalog"] = {"status": "unavailable", "error": str(exc)}
    if services.sync is not None:
        body["sync"] = jsonable_encoder(asdict(services.sync))
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


@router.get("/metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
