"""The endpoint routes of the management API: thin wrappers over ``EndpointActions``.

``/endpoints/{org}/{project}/{deployment}/{version}/{endpoint}`` addresses one
endpoint of a version: GET it, its ``/events`` and ``/logs``; PUT ``/stop``,
``/start``, ``/restart``, ``/wake``; PATCH its settings; DELETE it with
``?confirm=NAME``. An action that does not fit the state is a 409 with a sentence.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from waypost.control import views
from waypost.control.context import MAX_ID, Caller, ControlContext, VersionNumber
from waypost.control.endpoint_settings import SettingsPatch
from waypost.control.endpoints import ACTIONS, EndpointActions
from waypost.control.service import parse_project
from waypost.errors import InvalidSpec, Problem
from waypost.model.lifecycle import EndpointState, Trigger
from waypost.model.prefix import UnitKey

__all__ = ["endpoint_routes"]

ONE = "/endpoints/{org}/{project}/{deployment}/{version}/{endpoint}"


def endpoint_routes(router: APIRouter, ctx: ControlContext) -> None:
    service = ctx.service
    actions = EndpointActions(service, ctx.runtime)

    @router.get("/endpoints", tags=["endpoints"])
    async def endpoints(
        project: str | None = None, deployment: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        org, name = parse_project(project) if project else (None, None)
        states = [_state(state)] if state else None
        found = await service.db(
            service.store.list_endpoints,
            org=org,
            project=name,
            deployment=deployment,
            states=states,
        )
        return [views.endpoint_json(e, ctx.gateway_url) for e in found]

    @router.get(ONE, tags=["endpoints"])
    async def endpoint(
        org: str, project: str, deployment: str, version: VersionNumber, endpoint: str
    ) -> dict[str, Any]:
        key = UnitKey(org, project, deployment, version, endpoint)
        return views.endpoint_json(await actions.get(key), ctx.gateway_url)

    @router.patch(ONE, tags=["endpoints"])
    async def update_endpoint(
        org: str,
        project: str,
        deployment: str,
        version: VersionNumber,
        endpoint: str,
        body: SettingsPatch,
        who: Caller,
    ) -> dict[str, Any]:
        """Change settings: replicas, visibility and autoscaling live; resources, engine
        args, quantization and the runtime framework at the next restart while it runs."""
        key = UnitKey(org, project, deployment, version, endpoint)
        record = await actions.update(key, body, actor=who.name)
        return views.endpoint_json(record, ctx.gateway_url)

    @router.delete(ONE, tags=["endpoints"])
    async def delete_endpoint(
        org: str,
        project: str,
        deployment: str,
        version: VersionNumber,
        endpoint: str,
        who: Caller,
        confirm: Annotated[
            str | None, Query(max_length=64, description="the endpoint's name, to confirm")
        ] = None,
    ) -> dict[str, Any]:
        key = UnitKey(org, project, deployment, version, endpoint)
        await actions.delete(key, confirm=confirm, actor=who.name)
        return {"deleted": key.id}

    @router.get(ONE + "/events", tags=["endpoints"])
    async def endpoint_events(
        org: str,
        project: str,
        deployment: str,
        version: VersionNumber,
        endpoint: str,
        after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[dict[str, Any]]:
        key = UnitKey(org, project, deployment, version, endpoint)
        await actions.get(key)
        found = await service.db(service.store.list_events, key=key, after_id=after, limit=limit)
        return [views.event_json(e) for e in found]

    @router.get(ONE + "/logs", tags=["endpoints"])
    async def endpoint_logs(
        org: str,
        project: str,
        deployment: str,
        version: VersionNumber,
        endpoint: str,
        offset: Annotated[int, Query(ge=0)] = 0,
        tail: Annotated[int | None, Query(ge=1, le=10000)] = None,
    ) -> dict[str, Any]:
        key = UnitKey(org, project, deployment, version, endpoint)
        await actions.get(key)
        chunk = await ctx.runtime.read_logs(key, offset=offset, tail=tail)
        return {"text": chunk.text, "offset": chunk.offset}

    for action in ACTIONS:
        _action_route(router, ctx, actions, action)


def _action_route(
    router: APIRouter, ctx: ControlContext, actions: EndpointActions, action: Trigger
) -> None:
    @router.put(ONE + f"/{action.value}", tags=["endpoints"], name=f"{action.value}_endpoint")
    async def act(
        org: str,
        project: str,
        deployment: str,
        version: VersionNumber,
        endpoint: str,
        who: Caller,
    ) -> dict[str, Any]:
        key = UnitKey(org, project, deployment, version, endpoint)
        record = await actions.act(key, action, actor=who.name)
        return views.endpoint_json(record, ctx.gateway_url)


def _state(value: str) -> EndpointState:
    try:
        return EndpointState(value)
    except ValueError:
        known = ", ".join(s.value for s in EndpointState)
        raise InvalidSpec.of(
            [Problem(f"unknown state {value!r} (one of {known})", field="state")]
        ) from None
