"""The management REST API: thin FastAPI routes over ``ControlService``.

Errors are JSON ``{"error", "message", "problems"?}`` with the status their class
carries; input FastAPI cannot parse is a 422 in the same shape; nothing a client
sends becomes a 500.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Path, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from waypost import __version__
from waypost.console import mount_console
from waypost.control import views
from waypost.control.api_aliases import alias_routes
from waypost.control.api_csghub import csghub_routes
from waypost.control.api_endpoints import endpoint_routes
from waypost.control.api_models import model_routes
from waypost.control.api_secrets import secret_routes
from waypost.control.api_tokens import token_routes
from waypost.control.context import (
    ERROR_RESPONSES,
    MAX_ID,
    Caller,
    ControlContext,
    VersionNumber,
    principal,
)
from waypost.control.routing import EndpointInput, latest_versions
from waypost.control.service import parse_project
from waypost.errors import InvalidSpec, NotFound, Problem, TooLarge, WaypostError
from waypost.model.report import GatewayReport

__all__ = ["ControlContext", "create_app"]

log = logging.getLogger("waypost.api")


def create_app(ctx: ControlContext) -> FastAPI:
    app = FastAPI(
        title="waypost",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    _install_error_handlers(app)

    @app.get("/api/v1/health", tags=["meta"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.state.ctx = ctx
    router = APIRouter(
        prefix="/api/v1", dependencies=[Depends(principal)], responses=ERROR_RESPONSES
    )
    _meta_routes(router, ctx)
    _version_routes(router, ctx)
    endpoint_routes(router, ctx)
    token_routes(router, ctx)
    alias_routes(router, ctx)
    secret_routes(router, ctx)
    model_routes(router, ctx)
    csghub_routes(router, ctx)
    app.include_router(router)
    mount_console(app, ctx)
    return app


def _meta_routes(router: APIRouter, ctx: ControlContext) -> None:
    service = ctx.service

    @router.get("/info", tags=["meta"])
    async def info() -> dict[str, Any]:
        s = service.settings
        return {
            "version": __version__,
            "api_url": s.api_url,
            "gateway_url": s.gateway_url,
            "runtime": ctx.runtime.name,
        }

    @router.get("/internal/routes", tags=["gateway"], response_model=None)
    async def routes(
        after: Annotated[int, Query(ge=-1, le=MAX_ID)] = -1,
        wait: Annotated[float, Query(ge=0, le=60)] = 0,
        gateway: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response | dict[str, Any]:
        if gateway:
            service.gateways.record(gateway, after, time.monotonic())
        snapshot = await service.wait_for_routes(after, wait)
        if snapshot is None:
            return Response(status_code=204)
        return snapshot.to_json()

    @router.post("/internal/report", tags=["gateway"], status_code=204, response_model=None)
    async def report(body: GatewayReport) -> Response:
        """A gateway's traffic for the last interval (see waypost.model.report)."""
        service.record_traffic(body, time.time())
        return Response(status_code=204)

    @router.get(
        "/internal/bundles/{digest}",
        tags=["gateway"],
        response_class=FileResponse,
        responses={200: {"content": {"application/gzip": {}}}},
    )
    async def bundle(
        digest: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    ) -> FileResponse:
        """A version's bundle by its sha256, for replicas that fetch it (Kubernetes pods)."""
        path = service.bundles.path(digest)
        if not path.is_file():
            raise NotFound(f"no bundle with sha256 {digest}")
        return FileResponse(path, media_type="application/gzip", filename=f"{digest}.tar.gz")

    @router.get("/internal/gateways", tags=["gateway"])
    async def gateways() -> dict[str, Any]:
        """The route revision now, and the one each live gateway serves."""
        now = time.monotonic()
        revision = await service.db(service.store.route_revision)
        return {
            "revision": revision,
            "gateways": [
                {"id": g.gateway_id, "revision": g.revision, "seen_ago": round(now - g.seen_at, 3)}
                for g in service.gateways.live(now)
            ],
        }

    @router.get("/projects", tags=["projects"])
    async def projects() -> list[dict[str, Any]]:
        return [views.project_json(p) for p in await service.db(service.store.list_projects)]

    @router.get("/events", tags=["events"])
    async def events(
        project: str | None = None,
        after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[dict[str, Any]]:
        org, name = parse_project(project) if project else (None, None)
        found = await service.db(
            service.store.list_events, org=org, project=name, after_id=after, limit=limit
        )
        return [views.event_json(e) for e in found]


def _version_routes(router: APIRouter, ctx: ControlContext) -> None:
    service = ctx.service
    base = "/projects/{org}/{project}/deployments"

    @router.get(base, tags=["deployments"])
    async def deployments(org: str, project: str) -> list[dict[str, Any]]:
        found = await service.db(service.store.list_deployments, org, project)
        endpoints = await service.db(service.store.list_endpoints, org=org, project=project)
        latest = latest_versions(
            EndpointInput(
                e.key.org,
                e.key.project,
                e.key.deployment,
                e.key.version,
                e.key.endpoint,
                e.state,
                e.ever_ready,
                "public",
                False,
                (),
            )
            for e in endpoints
        )
        return [views.deployment_json(d, latest.get((org, project, d.name))) for d in found]

    @router.post(base + "/{deployment}/versions", status_code=201, tags=["deployments"])
    async def create_version(
        org: str,
        project: str,
        deployment: str,
        request: Request,
        bundle: Annotated[UploadFile, File(description="the folder as a gzip tar")],
        who: Caller,
        branch: Annotated[str | None, Form()] = None,
    ) -> dict[str, Any]:
        limit = service.settings.limits.bundle_bytes
        data = await bundle.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(f"the bundle is over the limit of {limit} bytes")
        record = await service.create_version(
            org, project, deployment, data, branch=branch, actor=who.name
        )
        return views.version_json(record, ctx.gateway_url)

    @router.get(base + "/{deployment}/versions", tags=["deployments"])
    async def versions(org: str, project: str, deployment: str) -> list[dict[str, Any]]:
        found = await service.db(service.store.list_versions, org, project, deployment)
        return [views.version_json(v, ctx.gateway_url) for v in found]

    @router.get(base + "/{deployment}/versions/{number}", tags=["deployments"])
    async def version(
        org: str, project: str, deployment: str, number: VersionNumber
    ) -> dict[str, Any]:
        found = await service.db(service.store.get_version, org, project, deployment, number)
        return views.version_json(found, ctx.gateway_url)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WaypostError)
    async def waypost_error(_: Request, exc: WaypostError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            Problem(str(err.get("msg", "invalid")), field=".".join(str(p) for p in err["loc"]))
            for err in exc.errors()
        ]
        return JSONResponse(InvalidSpec.of(problems).to_json(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = NotFound.code if exc.status_code == 404 else "http_error"
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(
            {"error": "internal", "message": f"internal error: {type(exc).__name__}"},
            status_code=500,
        )
