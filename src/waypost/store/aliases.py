"""Aliases: named traffic policies of a project, and the history of their changes.

A policy is stored as the JSON of ``AliasPolicy.to_json()``. Every change is an
"alias" event whose reason shows the old and the new policy JSON, so the
history of an alias can be read back (and a bad change undone by hand).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from waypost.errors import Conflict, InvalidSpec, NotFound, Problem
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
        [(record, _)] = self.set_aliases(org, project, [(deployment, name, policy)], actor=actor)
        return record

    def set_aliases(
        self,
        org: str,
        project: str,
        aliases: Sequence[tuple[str | None, str, AliasPolicy]],
        *,
        actor: str,
    ) -> list[tuple[AliasRecord, bool]]:
        """Create or replace several aliases of one project in one transaction: all or none.

        ``aliases`` are ``(deployment, name, policy)``; the answer is, in the same order,
        each alias as stored and whether this call changed it. The route revision moves
        once, and only if something changed.
        """
        policies = [
            (deployment, name, as_json(policy.to_json(), f"the policy of alias {name!r}"))
            for deployment, name, policy in aliases
        ]
        keys = [_sort_key(p) for p in policies]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            named = ", ".join(f"{d or '-'}/{n}" for d, n in twice)
            raise InvalidSpec.of([Problem(f"aliases given more than once: {named}")])
        with self._write() as session:
            now = self._now()
            pid = ensure_project(session, org, project, now)
            done: dict[int, tuple[AliasRecord, bool]] = {}
            # Rows are locked in one order (deployment, name) by every writer, so two
            # transactions applying overlapping sets cannot deadlock on PostgreSQL.
            order = sorted(range(len(policies)), key=lambda i: _sort_key(policies[i]))
            for i in order:
                deployment, name, new = policies[i]
                done[i] = _upsert(session, org, project, pid, deployment, name, new, now, actor)
            if any(changed for _, changed in done.values()):
                bump_revision(session)
            return [done[i] for i in range(len(policies))]

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


def _sort_key(item: tuple[str | None, str, dict[str, Any]]) -> tuple[str, str]:
    return item[0] or "", item[1]


def _upsert(
    session: Session,
    org: str,
    project: str,
    pid: int,
    deployment: str | None,
    name: str,
    new: dict[str, Any],
    now: datetime,
    actor: str,
) -> tuple[AliasRecord, bool]:
    """Insert or update one alias row and write its event; (record, whether it changed)."""
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
            return alias_record(org, project, row), False
        old = row.policy
        session.execute(
            update(Alias)
            .where(Alias.id == row.id)
            .values(policy=new, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    _alias_event(session, org, project, deployment, name, old, new, now, actor)
    saved = session.scalars(
        select(Alias).where(*where).execution_options(populate_existing=True)
    ).one()
    return alias_record(org, project, saved), True


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
