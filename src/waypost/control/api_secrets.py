"""The project-secret routes of the management API: thin wrappers over ``ProjectSecrets``.

A value goes in with ``PUT`` and never comes out: not in a response, an error or a log
line. Listing shows names and when each was set. Replicas get the values as
environment variables when they start; restart an endpoint to apply a change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from waypost.control.context import Caller, ControlContext
from waypost.control.secrets import MAX_VALUE_BYTES
from waypost.control.service import check_names

__all__ = ["secret_routes"]


class SecretBody(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    # Counted in characters here (a cheap bound); the service checks the UTF-8 bytes.
    value: str = Field(max_length=MAX_VALUE_BYTES)


def secret_routes(router: APIRouter, ctx: ControlContext) -> None:
    secrets = ctx.service.secrets
    base = "/projects/{org}/{project}/secrets"

    @router.get(base, tags=["secrets"])
    async def list_secrets(org: str, project: str) -> list[dict[str, Any]]:
        found = await secrets.names(org, project)
        return [{"name": s.name, "updated_at": s.updated_at.isoformat()} for s in found]

    @router.put(base + "/{name}", tags=["secrets"], status_code=204, response_model=None)
    async def set_secret(
        org: str, project: str, name: str, body: SecretBody, who: Caller
    ) -> Response:
        check_names(org=org, project=project)
        await secrets.set(org, project, name, body.value, actor=who.name)
        return Response(status_code=204)

    @router.delete(base + "/{name}", tags=["secrets"], status_code=204, response_model=None)
    async def delete_secret(org: str, project: str, name: str, who: Caller) -> Response:
        await secrets.delete(org, project, name, actor=who.name)
        return Response(status_code=204)
