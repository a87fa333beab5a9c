"""The schema: SQLAlchemy 2 typed ORM classes, one per table.

The migrations in ``migrations/versions`` create exactly this schema; a test
compares the two on SQLite and PostgreSQL. Names in events are copied rather
than referenced, so events outlive what they are about. Constraint names come
from one naming convention, so migrations can refer to them on every database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Alias",
    "Base",
    "Deployment",
    "Endpoint",
    "Event",
    "Project",
    "ProjectLogSink",
    "ProjectSecret",
    "Replica",
    "RouteRevision",
    "Token",
    "UTCDateTime",
    "Version",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Names follow seed 004's rule (at most 64 characters).
NAME = String(64)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every database.

    SQLite has no time zones, so it stores naive UTC; PostgreSQL stores
    ``timestamptz``. A naive datetime is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"the store keeps aware datetimes only; got a naive one: {value}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class RouteRevision(Base):
    """One row: bumped in the same transaction as any change the route table depends on."""

    __tablename__ = "route_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("org", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org: Mapped[str] = mapped_column(NAME)
    name: Mapped[str] = mapped_column(NAME)
    created_at: Mapped[datetime]


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(NAME)
    branch: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    #: The highest version number handed out; incremented atomically to allocate the next one.
    last_version: Mapped[int] = mapped_column(Integer)


class Version(Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("deployment_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    branch: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(255))
    bundle_digest: Mapped[str] = mapped_column(String(128))
    bundle_size: Mapped[int] = mapped_column(BigInteger)


class Endpoint(Base):
    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("version_id", "name"), Index(None, "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(NAME)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    pending_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    state: Mapped[str] = mapped_column(String(32))
    desired: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    state_changed_at: Mapped[datetime]
    created_at: Mapped[datetime]
    ever_ready: Mapped[bool] = mapped_column(Boolean)
    replicas_desired: Mapped[int] = mapped_column(Integer)

    # "raise": replicas are only ever loaded in bulk (selectinload), never one endpoint at a
    # time behind the caller's back.
    replicas: Mapped[list[Replica]] = relationship(
        order_by="Replica.replica_id", lazy="raise", passive_deletes=True
    )


class Replica(Base):
    __tablename__ = "replicas"
    __table_args__ = (UniqueConstraint("endpoint_id", "replica_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    replica_id: Mapped[str] = mapped_column(String(255))
    phase: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[float] = mapped_column(Float)
    restarts: Mapped[int] = mapped_column(Integer)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index(None, "org", "project", "id"),
        Index(None, "org", "project", "deployment", "version", "endpoint", "id"),
        Index(None, "org", "project", "alias", "id"),
    )

    # BIGINT on PostgreSQL (events only grow); INTEGER on SQLite, whose rowid alias it must be.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    org: Mapped[str] = mapped_column(NAME)
    project: Mapped[str] = mapped_column(NAME)
    deployment: Mapped[str | None] = mapped_column(NAME)
    version: Mapped[int | None] = mapped_column(Integer)
    endpoint: Mapped[str | None] = mapped_column(NAME)
    alias: Mapped[str | None] = mapped_column(NAME)
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(255))


class Alias(Base):
    __tablename__ = "aliases"
    __table_args__ = (UniqueConstraint("project_id", "deployment", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # "" rather than NULL for a Modelbit alias file: NULLs are distinct in a unique
    # constraint on SQLite and PostgreSQL alike, so NULL would let duplicates in.
    deployment: Mapped[str] = mapped_column(NAME)
    name: Mapped[str] = mapped_column(NAME)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class ProjectLogSink(Base):
    """A logging endpoint of a project: the gateway sends it that project's request logs."""

    __tablename__ = "log_sinks"
    __table_args__ = (UniqueConstraint("project_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    #: The order the user gave the URLs in, from 0.
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2048))


class ProjectSecret(Base):
    """A secret of a project: an environment variable of its replicas, encrypted at rest."""

    __tablename__ = "project_secrets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    #: The value encrypted by the control plane; the store never sees it in the clear.
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]


class Model(Base):
    """A registered model (a Hugging Face layout directory), immutable once added."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(NAME)
    name: Mapped[str] = mapped_column(NAME)
    task: Mapped[str] = mapped_column(String(64))
    #: sha256 over the model's files; where the files live under the home's models/ dir.
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    files: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(255))


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(255), unique=True)
    scope: Mapped[str] = mapped_column(String(32))
    project: Mapped[str | None] = mapped_column(String(129))  # org/project
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean)
