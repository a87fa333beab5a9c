"""``GET /api/v1/endpoints/{org}/{project}/{deployment}/{version}/{endpoint}/metrics``:
an endpoint's last hour of traffic (``control.history``), for the console and scripts.

``since`` (Unix seconds) cuts the series; each point is one bucket (``bucket_seconds``)
with requests, errors, latency p50/p99 (ms), in-flight requests and ready replicas.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from waypost.control.context import ERROR_RESPONSES, ControlContext, VersionNumber, principal
from waypost.model.prefix import UnitKey

__all__ = ["metrics_routes"]


def metrics_routes(ctx: ControlContext) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1", dependencies=[Depends(principal)], responses=ERROR_RESPONSES
    )
    service = ctx.service

    @router.get(
        "/endpoints/{org}/{project}/{deployment}/{version}/{endpoint}/metrics", tags=["endpoints"]
    )
    async def endpoint_metrics(
        org: str,
        project: str,
        deployment: str,
        version: VersionNumber,
        endpoint: str,
        since: Annotated[float | None, Query(ge=0, le=1e11)] = None,
    ) -> dict[str, Any]:
        key = UnitKey(org, project, deployment, version, endpoint)
        await service.db(service.store.get_endpoint, key)  # 404 for no such endpoint
        history = service.history
        points = history.series(key.id, time.time(), since)
        return {
            "key": key.id,
            "bucket_seconds": history.bucket,
            "points": [p.to_json() for p in points],
        }

    return router
