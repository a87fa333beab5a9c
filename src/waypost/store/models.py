"""The model store's catalogue: which models are registered, with their task and digest.

The files themselves live in the control plane's home, under the digest; the store
keeps only what identifies them. A model is immutable once added: adding the same
``owner/name`` again with the same digest is a no-op, with another digest a conflict.
Events about a model carry its owner and name as org and project, the project an
endpoint created from the model lives in (design.md).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from waypost.errors import Conflict, NotFound
from waypost.store.base import StoreBase, add_event
from waypost.store.records import ModelRecord
from waypost.store.tables import Model

__all__ = ["ModelsMixin"]


class ModelsMixin(StoreBase):
    def add_model(
        self, owner: str, name: str, *, task: str, digest: str, size: int, files: int, actor: str
    ) -> tuple[ModelRecord, bool]:
        """Register a model; returns it and whether it is new (False: already there, same files)."""
        try:
            with self._write() as session:
                found = _find(session, owner, name)
                if found is not None:
                    return _same_or_conflict(found, digest), False
                now = self._now()
                row = Model(
                    owner=owner,
                    name=name,
                    task=task,
                    digest=digest,
                    size=size,
                    files=files,
                    created_at=now,
                    created_by=actor,
                )
                session.add(row)
                session.flush()
                add_event(
                    session,
                    at=now,
                    kind="model",
                    org=owner,
                    project=name,
                    reason=f"model {owner}/{name} added ({task}, sha256 {digest[:12]})",
                    actor=actor,
                )
                return _record(row), True
        except IntegrityError:
            # Another writer added the same name between our read and our insert.
            return _same_or_conflict(self.get_model(owner, name), digest), False

    def get_model(self, owner: str, name: str) -> ModelRecord:
        with self._read() as session:
            found = _find(session, owner, name)
            if found is None:
                raise NotFound(f"model {owner}/{name} is not in the model store")
            return _record(found)

    def list_models(self) -> list[ModelRecord]:
        with self._read() as session:
            rows = session.scalars(select(Model).order_by(Model.owner, Model.name))
            return [_record(row) for row in rows]

    def remove_model(self, owner: str, name: str, *, actor: str) -> ModelRecord:
        with self._write() as session:
            found = _find(session, owner, name)
            if found is None:
                raise NotFound(f"model {owner}/{name} is not in the model store")
            record = _record(found)
            session.delete(found)
            add_event(
                session,
                at=self._now(),
                kind="model",
                org=owner,
                project=name,
                reason=f"model {owner}/{name} removed",
                actor=actor,
            )
            return record

    def model_digest_in_use(self, digest: str) -> bool:
        """Whether any registered model still points at the files of ``digest``."""
        with self._read() as session:
            return (
                session.scalar(select(Model.id).where(Model.digest == digest).limit(1)) is not None
            )


def _find(session: Session, owner: str, name: str) -> Model | None:
    return session.scalar(select(Model).where(Model.owner == owner, Model.name == name))


def _same_or_conflict(found: ModelRecord | Model, digest: str) -> ModelRecord:
    record = found if isinstance(found, ModelRecord) else _record(found)
    if record.digest != digest:
        raise Conflict(
            f"model {record.model_id} is already registered with other files "
            f"(sha256 {record.digest[:12]}, not {digest[:12]}); models are immutable: "
            "remove it first or register the new files under another name"
        )
    return record


def _record(row: Model) -> ModelRecord:
    return ModelRecord(
        id=row.id,
        owner=row.owner,
        name=row.name,
        task=row.task,
        digest=row.digest,
        size=row.size,
        files=row.files,
        created_at=row.created_at,
        created_by=row.created_by,
    )
