"""The store: projects, deployments, versions, endpoints, replicas, events, aliases,
log sinks, secrets, tokens, models.

The only package that imports SQLAlchemy; it hands out frozen records
(``records``), never ORM objects. SQLite (a file, in WAL mode) by default,
PostgreSQL (psycopg 3) by URL; ``Store.open`` migrates the schema with Alembic
(``migrations/``) before returning. Every method is synchronous and thread-safe
(a session per call), so the control plane calls them through ``asyncio.to_thread``.

May import ``waypost.model``, ``waypost.errors`` and the ``ReplicaStatus`` value of
``waypost.runtimes.base``; never the control plane, the gateway or a runtime.
"""

from waypost.store.records import (
    AliasRecord,
    DeploymentRecord,
    Desired,
    EndpointRecord,
    EventRecord,
    ModelRecord,
    ProjectRecord,
    ReplicaRecord,
    SecretRecord,
    TokenRecord,
    VersionRecord,
)
from waypost.store.store import Store

__all__ = [
    "AliasRecord",
    "DeploymentRecord",
    "Desired",
    "EndpointRecord",
    "EventRecord",
    "ModelRecord",
    "ProjectRecord",
    "ReplicaRecord",
    "SecretRecord",
    "Store",
    "TokenRecord",
    "VersionRecord",
]
