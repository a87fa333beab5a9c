"""The console's pages and the partial HTML their scripts swap in to stay live.

Pages (``Page``: a session or a redirect to ``/signin``): ``/`` the endpoints and
aliases, ``/endpoints/{key}`` one endpoint (seed 004 §4) with ``/settings`` (§3) and
``/playground`` (§5), ``/new`` (§2.3), ``/aliases``. Fragments (``Console``: a
session or 401) under ``/console/fragments/`` are the live parts of those pages,
polled by ``console.js`` every second or so (every ten for charts).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from waypost.console.charts import endpoint_charts
from waypost.console.present import action_table, filter_rows
from waypost.console.reads import Reads
from waypost.console.session import Console, Page
from waypost.console.templating import fragment, page
from waypost.control.auth import Principal
from waypost.control.context import ControlContext, VersionNumber
from waypost.errors import WaypostError
from waypost.model.prefix import UnitKey

__all__ = ["page_routes"]

ONE = "/{org}/{project}/{deployment}/{version}/{endpoint}"


async def _or_error(who: Principal, build: Callable[[], Awaitable[Response]]) -> Response:
    """The page, or the error page with the error's status and sentence."""
    try:
        return await build()
    except WaypostError as exc:
        return page("error.html", status=exc.status, user=who, error=exc, tab=None)


def page_routes(router: APIRouter, ctx: ControlContext) -> None:
    reads = Reads(ctx)

    @router.get("/")
    async def endpoints_page(
        who: Page,
        project: str | None = None,
        deployment: str | None = None,
        state: str | None = None,
    ) -> Response:
        async def build() -> Response:
            listing = await reads.listing(who)
            return page(
                "endpoints.html",
                user=who,
                tab="endpoints",
                listing=listing,
                rows=filter_rows(
                    listing.endpoints, project=project, deployment=deployment, state=state
                ),
                aliases=[
                    a
                    for a in listing.aliases
                    if (not project or a.project == project)
                    and (not deployment or a.deployment == deployment)
                ],
                chosen={"project": project, "deployment": deployment, "state": state},
            )

        return await _or_error(who, build)

    @router.get("/console/fragments/endpoints")
    async def endpoints_fragment(
        who: Console,
        project: str | None = None,
        deployment: str | None = None,
        state: str | None = None,
    ) -> Response:
        listing = await reads.listing(who)
        return fragment(
            "_list.html",
            rows=filter_rows(
                listing.endpoints, project=project, deployment=deployment, state=state
            ),
            aliases=[
                a
                for a in listing.aliases
                if (not project or a.project == project)
                and (not deployment or a.deployment == deployment)
            ],
        )

    for tab in ("overview", "settings", "playground"):
        _endpoint_page(router, reads, tab)

    @router.get("/console/fragments/endpoint" + ONE)
    async def endpoint_fragment(
        who: Console, org: str, project: str, deployment: str, version: VersionNumber, endpoint: str
    ) -> Response:
        key = UnitKey(org, project, deployment, version, endpoint)
        ep = await reads.endpoint(who, key)
        return fragment("_live.html", ep=ep, events=await reads.events(key))

    @router.get("/console/fragments/charts" + ONE)
    async def charts_fragment(
        who: Console, org: str, project: str, deployment: str, version: VersionNumber, endpoint: str
    ) -> Response:
        key = UnitKey(org, project, deployment, version, endpoint)
        await reads.endpoint(who, key)
        history = ctx.service.history
        points = history.series(key.id, time.time())
        return fragment("_charts.html", charts=endpoint_charts(points, history.bucket))

    @router.get("/new")
    async def new_page(who: Page) -> Response:
        limits = ctx.service.settings.limits
        return page("new.html", user=who, tab="new", limits=limits)

    @router.get("/aliases")
    async def aliases_page(who: Page, project: str | None = None) -> Response:
        async def build() -> Response:
            projects = await reads.projects(who)
            chosen = project or (projects[0] if projects else None)
            aliases = await reads.aliases(who, chosen) if chosen else []
            return page(
                "aliases.html",
                user=who,
                tab="aliases",
                projects=projects,
                chosen=chosen,
                aliases=aliases,
            )

        return await _or_error(who, build)

    @router.get("/console/fragments/aliases")
    async def aliases_fragment(who: Console, project: str) -> Response:
        return fragment("_alias_live.html", aliases=await reads.aliases(who, project))


def _endpoint_page(router: APIRouter, reads: Reads, tab: str) -> None:
    suffix = "" if tab == "overview" else f"/{tab}"

    @router.get("/endpoints" + ONE + suffix, name=f"endpoint_{tab}")
    async def endpoint_page(
        who: Page,
        org: str,
        project: str,
        deployment: str,
        version: VersionNumber,
        endpoint: str,
    ) -> Response:
        key = UnitKey(org, project, deployment, version, endpoint)

        async def build() -> Response:
            ep = await reads.endpoint(who, key)
            settings = reads.service.settings
            context: dict[str, Any] = {
                "user": who,
                "tab": tab,
                "ep": ep,
                "base": f"/endpoints/{key.id}",
                "limits": settings.limits,
            }
            if tab == "overview":
                context["events"] = await reads.events(key)
            if tab == "settings":
                context["actions"] = action_table()
            return page(f"endpoint_{tab}.html", **context)

        return await _or_error(who, build)
