"""Aliases: named traffic policies of a project, and the history of their changes.

A policy is stored as the JSON of ``AliasPolicy.to_json()``. Every change is an
"alias" event whose reason shows the old and the new policy JSON, so the
history of an alias can be read back (and a bad change undone by hand).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from waypost.errors import Conflict, NotFound
from waypost.model.policy import AliasPolicy
from waypost.store.base import (
    StoreBase,
    add_event,
    bump_revision,
    ensure_project,
    insert_if_missing,
    project_id,
)
from waypost.store.reading import alias_record, as_json, events
from waypost.store.records import AliasRecord, EventRecord
from waypost.store.tables import Alias, Event

__all__ = ["AliasesMixin"]


class AliasesMixin(StoreBase):
    def set_alias(
        self,
        org: str,
        project: str,
        deployment: str | None,
        name: str,
        policy: AliasPolicy,
        *,
        actor: str,
    ) -> AliasRecord:
        """Create or replace an alias (``deployment`` None: a Modelbit endpoint file).

        Creates the project if it does not exist yet. Setting the policy an alias
        already has changes nothing: no event, no new route revision.
        """
        new = as_json(policy.to_json(), f"the policy of alias {name!r}")
        with self._write() as session:
            now = self._now()
            pid = ensure_project(session, org, project, now)
            where = _alias_where(pid, deployment, name)
            row = _locked(session, where)
            values = {"project_id": pid, "deployment": deployment or "", "name": name}
            old: dict[str, Any] | None = None
            created = row is None and insert_if_missing(
                session, Alias, {**values, "policy": new, "updated_at": now}
            )
            if not created:
                # Found, or a concurrent writer created it first: change that row.
                row = row or _locked(session, where)
                if row is None:
                    raise Conflict(f"alias {name} of {org}/{project} changed meanwhile; retry")
                if row.policy == new:
                    return alias_record(org, project, row)
                old = row.policy
                session.execute(
                    update(Alias)
                    .where(Alias.id == row.id)
                    .values(policy=new, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
            _alias_event(session, org, project, deployment, name, old, new, now, actor)
            bump_revision(session)
            saved = session.scalars(
                select(Alias).where(*where).execution_options(populate_existing=True)
            ).one()
            return alias_record(org, project, saved)

    def delete_alias(
        self, org: str, project: str, deployment: str | None, name: str, *, actor: str
    ) -> None:
        with self._write() as session:
            pid = project_id(session, org, project)
            row = _locked(session, _alias_where(pid, deployment, name))
            if row is None:
                raise _not_found(org, project, deployment, name)
            session.execute(delete(Alias).where(Alias.id == row.id))
            now = self._now()
            _alias_event(session, org, project, deployment, name, row.policy, None, now, actor)
            bump_revision(session)

    def get_alias(self, org: str, project: str, deployment: str | None, name: str) -> AliasRecord:
        with self._read() as session:
            pid = project_id(session, org, project)
            row = session.scalars(select(Alias).where(*_alias_where(pid, deployment, name))).first()
            if row is None:
                raise _not_found(org, project, deployment, name)
            return alias_record(org, project, row)

    def list_aliases(self, org: str, project: str) -> list[AliasRecord]:
        """The aliases of a project by deployment and name (alias files first)."""
        with self._read() as session:
            pid = project_id(session, org, project)
            rows = session.scalars(
                select(Alias).where(Alias.project_id == pid).order_by(Alias.deployment, Alias.name)
            )
            return [alias_record(org, project, row) for row in rows]

    def alias_history(self, org: str, project: str, name: str) -> list[EventRecord]:
        """Every change of the aliases named ``name`` (on any deployment), oldest first."""
        with self._read() as session:
            project_id(session, org, project)
            rows = session.scalars(
                select(Event)
                .where(
                    Event.org == org,
                    Event.project == project,
                    Event.alias == name,
                    Event.kind == "alias",
                )
                .order_by(Event.id)
            )
            return events(rows)


def _alias_where(pid: int, deployment: str | None, name: str) -> tuple[Any, ...]:
    # "" stands for None in the table (see tables.Alias).
    return (Alias.project_id == pid, Alias.deployment == (deployment or ""), Alias.name == name)


def _locked(session: Session, where: tuple[Any, ...]) -> Alias | None:
    return session.scalars(select(Alias).where(*where).with_for_update()).first()


def _not_found(org: str, project: str, deployment: str | None, name: str) -> NotFound:
    where = f"deployment {deployment} of " if deployment else ""
    return NotFound(f"there is no alias {name} on {where}project {org}/{project}")


def _policy_text(policy: dict[str, Any] | None) -> str:
    return "none" if policy is None else json.dumps(policy, sort_keys=True)


def _alias_event(
    session: Session,
    org: str,
    project: str,
    deployment: str | None,
    name: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    now: datetime,
    actor: str,
) -> None:
    add_event(
        session,
        at=now,
        kind="alias",
        org=org,
        project=project,
        deployment=deployment,
        alias=name,
        reason=f"alias {name}: {_policy_text(old)} → {_policy_text(new)}",
        actor=actor,
    )
