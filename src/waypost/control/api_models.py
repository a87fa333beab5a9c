"""The model-store routes of the management API: thin wrappers over ``ModelLibrary``.

``PUT /models/{owner}/{name}?task=`` takes the model directory as a tar stream
(``application/x-tar``, gzip allowed) and answers 201 when it registered the
model, 200 when the same files were already registered under that name.
``GET /models`` lists the store (the console's model picker); ``DELETE`` refuses
while endpoints still serve the model.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from waypost.control.context import Caller, ControlContext
from waypost.control.models import ModelLibrary
from waypost.store import ModelRecord

__all__ = ["model_json", "model_routes"]

ONE = "/models/{owner}/{name}"


def model_json(record: ModelRecord) -> dict[str, Any]:
    return {
        "id": record.model_id,
        "owner": record.owner,
        "name": record.name,
        "task": record.task,
        "digest": record.digest,
        "size": record.size,
        "files": record.files,
        "created_at": record.created_at.isoformat(),
        "created_by": record.created_by,
    }


def model_routes(router: APIRouter, ctx: ControlContext) -> None:
    library: ModelLibrary = ctx.service.models

    @router.get("/models", tags=["models"])
    async def list_models(task: str | None = None) -> list[dict[str, Any]]:
        return [model_json(m) for m in await library.listing() if task in (None, m.task)]

    @router.get(ONE, tags=["models"])
    async def get_model(owner: str, name: str) -> dict[str, Any]:
        return model_json(await library.get(owner, name))

    @router.put(
        ONE,
        tags=["models"],
        status_code=201,
        responses={200: {"description": "the same files were already registered"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-tar": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )
    async def add_model(
        owner: str,
        name: str,
        request: Request,
        response: Response,
        who: Caller,
        task: Annotated[str | None, Query(max_length=64)] = None,
    ) -> dict[str, Any]:
        record, created = await library.add(
            owner, name, request.stream(), task=task, actor=who.name
        )
        response.status_code = 201 if created else 200
        return model_json(record)

    @router.delete(ONE, tags=["models"], status_code=204, response_model=None)
    async def remove_model(owner: str, name: str, who: Caller) -> Response:
        model_id = f"{owner}/{name}"
        endpoints = await ctx.service.db(ctx.service.store.list_endpoints)
        used_by = [str(e.key) for e in endpoints if e.spec.model == model_id]
        await library.remove(owner, name, actor=who.name, used_by=used_by)
        return Response(status_code=204)
