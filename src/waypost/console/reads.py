"""What the console's pages read: endpoints, aliases and events a signed-in token may see.

The same store reads and the same JSON shapes as the REST API (``control.views``),
narrowed to what the token may read (``visibility``): a token limited to a project
sees that project only, and private endpoints only when it may call them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from waypost.console.present import AliasRow, EndpointRow, alias_row, endpoint_row
from waypost.console.visibility import check_read, may_read, sees_endpoint
from waypost.control import views
from waypost.control.auth import Principal
from waypost.control.context import ControlContext
from waypost.control.service import parse_project
from waypost.errors import NotFound
from waypost.model.prefix import UnitKey

__all__ = ["Listing", "Reads"]


@dataclass(frozen=True)
class Listing:
    endpoints: list[EndpointRow]
    aliases: list[AliasRow]
    projects: list[str]  # every project the token sees, for the filter
    deployments: list[str]


class Reads:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self.store = ctx.service.store

    async def listing(self, who: Principal) -> Listing:
        """Every endpoint of every version and every alias ``who`` sees, with live rates."""
        org, name = parse_project(who.project) if who.project else (None, None)
        records = await self.service.db(self.store.list_endpoints, org=org, project=name)
        now = time.time()
        history = self.service.history
        rows = []
        for record in records:
            if not sees_endpoint(who, record.key.id, record.spec.visibility):
                continue
            ep = views.endpoint_json(record, self.ctx.gateway_url)
            rows.append(endpoint_row(ep, history.rates(record.key.id, now)))
        projects = await self.projects(who)
        aliases = []
        for project in projects:
            p_org, p_name = parse_project(project)
            for view in await self.service.aliases.list_aliases(p_org, p_name, now):
                aliases.append(alias_row(views.alias_json(view, self.ctx.gateway_url)))
        deployments = sorted(
            {r.deployment for r in rows} | {a.deployment for a in aliases if a.deployment}
        )
        return Listing(rows, aliases, projects, deployments)

    async def endpoint(self, who: Principal, key: UnitKey) -> dict[str, Any]:
        """The endpoint as the API shows it; NotFound also when ``who`` may not see it."""
        check_read(who, f"/api/v1/endpoints/{key.id}")
        record = await self.service.db(self.store.get_endpoint, key)
        if not sees_endpoint(who, key.id, record.spec.visibility):
            raise NotFound(f"no endpoint {key.id}")
        return views.endpoint_json(record, self.ctx.gateway_url)

    async def events(self, key: UnitKey, limit: int = 50) -> list[dict[str, Any]]:
        """The endpoint's last ``limit`` events, newest first."""
        found = await self.service.db(self.store.list_events, key=key, limit=1000)
        return [views.event_json(e) for e in reversed(found[-limit:])]

    async def aliases(self, who: Principal, project: str) -> list[dict[str, Any]]:
        org, name = parse_project(project)
        check_read(who, f"/api/v1/projects/{org}/{name}/aliases")
        found = await self.service.aliases.list_aliases(org, name, time.time())
        return [views.alias_json(v, self.ctx.gateway_url) for v in found]

    async def projects(self, who: Principal) -> list[str]:
        return sorted(
            f"{p.org}/{p.name}"
            for p in await self.service.db(self.store.list_projects)
            if may_read(who, f"/api/v1/projects/{p.org}/{p.name}/aliases")
        )
