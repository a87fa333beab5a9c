"""``/api/v1/tokens``: create (shown once), list (never the secret), revoke. Admin only
(enforced by ``access.authorize`` for every route under this path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from waypost.control.access import Scope
from waypost.control.auth import hash_token, new_token
from waypost.control.context import MAX_ID, Caller, ControlContext
from waypost.errors import InvalidSpec, Problem
from waypost.model.durations import parse_duration
from waypost.model.names import name_problems
from waypost.store import TokenRecord

__all__ = ["token_routes"]


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=64)
    scope: Scope
    #: ``org/project`` (deploy, read, invoke) or ``org/project/deployment/version/endpoint``
    #: (invoke only); None: every project.
    project: str | None = None
    #: A duration such as ``720h`` or ``90m``; None: it never expires.
    expires_in: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        problems = name_problems(value, "token name")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.split("/")
        if len(parts) not in (2, 5) or not all(parts):
            raise ValueError("must be ORG/PROJECT or ORG/PROJECT/DEPLOYMENT/VERSION/ENDPOINT")
        return value

    @field_validator("expires_in")
    @classmethod
    def _expires(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) <= 0:
            raise ValueError("must be a positive duration")
        return value


def token_json(t: TokenRecord) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "scope": t.scope,
        "project": t.project,
        "created_at": t.created_at.isoformat(),
        "expires_at": t.expires_at.isoformat() if t.expires_at else None,
        "revoked": t.revoked,
    }


def token_routes(router: APIRouter, ctx: ControlContext) -> None:
    service = ctx.service

    @router.post("/tokens", tags=["tokens"], status_code=201)
    async def create_token(body: NewToken, who: Caller) -> dict[str, Any]:
        """A new token. Its secret is in this answer only: it is stored as a hash."""
        if body.project and body.project.count("/") == 4 and body.scope != "invoke":
            raise InvalidSpec.of(
                [Problem("only invoke tokens can be limited to one endpoint", field="project")]
            )
        token = new_token()
        expires_at = None
        if body.expires_in is not None:
            expires_at = datetime.now(UTC) + timedelta(seconds=parse_duration(body.expires_in))
        record = await service.db(
            service.store.create_token,
            name=body.name,
            token_hash=hash_token(token),
            scope=body.scope,
            project=body.project,
            expires_at=expires_at,
        )
        return {**token_json(record), "token": token, "created_by": who.name}

    @router.get("/tokens", tags=["tokens"])
    async def list_tokens() -> list[dict[str, Any]]:
        return [token_json(t) for t in await service.db(service.store.list_tokens)]

    @router.delete("/tokens/{token_id}", tags=["tokens"])
    async def revoke_token(token_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> dict[str, Any]:
        return token_json(await service.db(service.store.revoke_token, token_id))
