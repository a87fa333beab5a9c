"""The alias and log-sink routes of the management API: thin wrappers over ``Aliases``.

``/projects/{org}/{project}/aliases/{deployment}/{name}`` addresses an alias of a
deployment; ``-`` in the deployment's place addresses a Modelbit alias file (``-`` can
never be a deployment name). ``POST .../apply`` writes many aliases at once, all or none.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, StrictInt

from waypost.control import views
from waypost.control.aliases import BackendInput, MirrorInput, build_policy
from waypost.control.context import Caller, ControlContext
from waypost.control.service import check_names
from waypost.model.policy import AliasSpec, Target

__all__ = ["FILE_ALIAS", "alias_routes"]

#: The deployment segment of an alias file's API path.
FILE_ALIAS = "-"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetBody(_Body):
    #: null: the alias's own deployment (an alias file's targets must name one).
    deployment: str | None = None
    version: StrictInt | Literal["latest"]
    endpoint: str | None = None
    branch: str = "main"

    def target(self) -> Target:
        return Target(self.deployment, self.version, self.endpoint, self.branch)


class BackendBody(TargetBody):
    name: str | None = None  # default: v3, latest, other-dep-v3
    weight: StrictInt = 1


class MirrorBody(TargetBody):
    name: str | None = None


class PolicyBody(_Body):
    backends: list[BackendBody]
    mirrors: list[MirrorBody] = []
    sticky: str | None = None  # header:NAME or cookie:NAME

    def spec(self, name: str, deployment: str | None, source: str | None = None) -> AliasSpec:
        policy = build_policy(
            deployment,
            [BackendInput(b.name, b.target(), b.weight) for b in self.backends],
            [MirrorInput(m.name, m.target()) for m in self.mirrors],
            self.sticky,
        )
        return AliasSpec(name, deployment, policy, source)


class ApplyItem(PolicyBody):
    name: str
    deployment: str | None  # null: a Modelbit alias file
    source: str | None = None  # the file it came from, named in problems


class ApplyBody(_Body):
    aliases: list[ApplyItem]


class LogSinksBody(_Body):
    urls: list[str]


def _deployment(segment: str) -> str | None:
    return None if segment == FILE_ALIAS else segment


def alias_routes(router: APIRouter, ctx: ControlContext) -> None:
    aliases, gateway_url = ctx.service.aliases, ctx.gateway_url
    base = "/projects/{org}/{project}"
    one = base + "/aliases/{deployment}/{name}"

    @router.get(base + "/aliases", tags=["aliases"])
    async def list_aliases(org: str, project: str) -> list[dict[str, Any]]:
        found = await aliases.list_aliases(org, project, time.time())
        return [views.alias_json(v, gateway_url) for v in found]

    @router.get(one, tags=["aliases"])
    async def get_alias(org: str, project: str, deployment: str, name: str) -> dict[str, Any]:
        view = await aliases.get(org, project, _deployment(deployment), name, time.time())
        return views.alias_json(view, gateway_url)

    @router.put(one, tags=["aliases"])
    async def set_alias(
        org: str, project: str, deployment: str, name: str, body: PolicyBody, who: Caller
    ) -> dict[str, Any]:
        check_names(org=org, project=project)
        spec = body.spec(name, _deployment(deployment))
        view = await aliases.set(org, project, spec, actor=who.name, now=time.time())
        return views.alias_json(view, gateway_url)

    @router.delete(one, tags=["aliases"], status_code=204, response_model=None)
    async def delete_alias(
        org: str, project: str, deployment: str, name: str, who: Caller
    ) -> Response:
        await aliases.delete(org, project, _deployment(deployment), name, actor=who.name)
        return Response(status_code=204)

    @router.get(one + "/history", tags=["aliases"])
    async def alias_history(
        org: str, project: str, deployment: str, name: str
    ) -> list[dict[str, Any]]:
        found = await aliases.history(org, project, _deployment(deployment), name)
        return [views.alias_event_json(e) for e in found]

    @router.post(base + "/apply", tags=["aliases"])
    async def apply(org: str, project: str, body: ApplyBody, who: Caller) -> dict[str, Any]:
        """Check every alias, then write them all in one transaction: all or nothing."""
        check_names(org=org, project=project)
        specs = [a.spec(a.name, a.deployment, a.source) for a in body.aliases]
        applied = await aliases.apply(org, project, specs, actor=who.name, now=time.time())
        shown = [{**views.alias_json(v, gateway_url), "changed": v.changed} for v in applied]
        return {"aliases": shown, "changed": [a["prefix"] for a in shown if a["changed"]]}

    @router.get(base + "/log-sinks", tags=["log sinks"])
    async def log_sinks(org: str, project: str) -> dict[str, Any]:
        return {"urls": await aliases.log_sinks(org, project)}

    @router.put(base + "/log-sinks", tags=["log sinks"])
    async def set_log_sinks(
        org: str, project: str, body: LogSinksBody, who: Caller
    ) -> dict[str, Any]:
        check_names(org=org, project=project)
        urls = await aliases.set_log_sinks(org, project, body.urls, actor=who.name)
        return {"urls": urls}
