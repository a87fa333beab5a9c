"""What every part of the store shares: sessions, the clock, and the few writes all make.

Each public store method runs in its own short session (``_read`` or ``_write``),
so one ``Store`` can be used from many threads at once. A write session on SQLite
starts with ``BEGIN IMMEDIATE`` (see ``engine``); on PostgreSQL, rows that are
read and then changed are locked with ``SELECT ... FOR UPDATE``.

The route revision is bumped as the last statement of a transaction: every
transaction that locks the revision row then holds it only until its commit and
waits for nothing else meanwhile, so it cannot take part in a deadlock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Engine, Select, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from waypost.errors import NotFound
from waypost.model.prefix import UnitKey
from waypost.store.engine import WRITE
from waypost.store.tables import Deployment, Endpoint, Event, Project, RouteRevision, Version

__all__ = ["Clock", "StoreBase", "utc_now"]

Clock = Callable[[], datetime]
Ts = TypeVarTuple("Ts")


def utc_now() -> datetime:
    return datetime.now(UTC)


class StoreBase:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        # expire_on_commit=False: records are built from rows after the commit, too.
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._reads.begin() as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._writes.begin() as session:
            yield session

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the store's clock must return aware datetimes")
        return now.astimezone(UTC)


def bump_revision(session: Session) -> None:
    """Make gateways fetch a new route table; call it last in the transaction."""
    session.execute(
        update(RouteRevision)
        .where(RouteRevision.id == 1)
        .values(revision=RouteRevision.revision + 1)
        .execution_options(synchronize_session=False)
    )


def add_event(
    session: Session,
    *,
    at: datetime,
    kind: str,
    org: str,
    project: str,
    reason: str,
    actor: str,
    deployment: str | None = None,
    version: int | None = None,
    endpoint: str | None = None,
    alias: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
) -> None:
    session.add(
        Event(
            at=at,
            kind=kind,
            org=org,
            project=project,
            deployment=deployment,
            version=version,
            endpoint=endpoint,
            alias=alias,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            actor=actor,
        )
    )


def transition_event(
    session: Session,
    key: UnitKey,
    *,
    at: datetime,
    from_state: str | None,
    to_state: str | None,
    reason: str,
    actor: str,
    kind: str = "transition",
) -> None:
    add_event(
        session,
        at=at,
        kind=kind,
        org=key.org,
        project=key.project,
        deployment=key.deployment,
        version=key.version,
        endpoint=key.endpoint,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        actor=actor,
    )


def insert_if_missing(session: Session, entity: type[Any], values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING: True if this call inserted the row.

    Two writers creating one row both succeed: on PostgreSQL the second waits for
    the first to commit and inserts nothing; a SELECT after it (READ COMMITTED)
    sees the row. On SQLite the write lock already keeps them apart.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(entity).values(**values).on_conflict_do_nothing().returning(entity.id)
    return session.execute(statement).first() is not None


def ensure_project(session: Session, org: str, project: str, now: datetime) -> int:
    """The id of project ``org/project``, created if missing."""
    statement = select(Project.id).where(Project.org == org, Project.name == project)
    found = session.scalar(statement)
    if found is None:
        insert_if_missing(session, Project, {"org": org, "name": project, "created_at": now})
        found = session.execute(statement).scalar_one()
    return found


def project_id(session: Session, org: str, project: str) -> int:
    found = session.scalar(select(Project.id).where(Project.org == org, Project.name == project))
    if found is None:
        raise NotFound(f"there is no project {org}/{project}")
    return found


def deployment_id(session: Session, org: str, project: str, deployment: str) -> int:
    found = session.scalar(
        select(Deployment.id)
        .join(Project, Deployment.project_id == Project.id)
        .where(Project.org == org, Project.name == project, Deployment.name == deployment)
    )
    if found is None:
        project_id(session, org, project)  # say which part is missing
        raise NotFound(f"there is no deployment {deployment} in project {org}/{project}")
    return found


def key_filter(key: UnitKey) -> tuple[ColumnElement[bool], ...]:
    """Conditions selecting ``key`` from endpoints joined up to their project."""
    return (
        Project.org == key.org,
        Project.name == key.project,
        Deployment.name == key.deployment,
        Version.number == key.version,
        Endpoint.name == key.endpoint,
    )


def joined_to_project(statement: Select[*Ts]) -> Select[*Ts]:
    """Join a select from endpoints up to their version, deployment and project."""
    return (
        statement.join(Version, Endpoint.version_id == Version.id)
        .join(Deployment, Version.deployment_id == Deployment.id)
        .join(Project, Deployment.project_id == Project.id)
    )


def endpoint_not_found(key: UnitKey) -> NotFound:
    return NotFound(f"there is no endpoint {key}")


def locked_endpoint(session: Session, key: UnitKey) -> tuple[int, str]:
    """(id, state) of the endpoint at ``key``, its row locked until the transaction ends."""
    statement = joined_to_project(select(Endpoint.id, Endpoint.state)).where(*key_filter(key))
    row = session.execute(statement.with_for_update(of=Endpoint)).one_or_none()
    if row is None:
        raise endpoint_not_found(key)
    return row.id, row.state
