"""``Store``: the one object the rest of waypost keeps state through.

It opens (and migrates) the database, and puts together the parts in this
package, each of which owns one area: versions, endpoints, events, aliases,
log sinks, secrets, tokens. Every method is synchronous, opens its own short transaction, and
returns frozen records; the control plane calls them through a thread pool.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError

from waypost.errors import Unavailable
from waypost.store.aliases import AliasesMixin
from waypost.store.base import Clock, utc_now
from waypost.store.endpoints import EndpointsMixin
from waypost.store.engine import create_store_engine, database_url, migrate
from waypost.store.events import EventsMixin
from waypost.store.log_sinks import LogSinksMixin
from waypost.store.models import ModelsMixin
from waypost.store.secrets import SecretsMixin
from waypost.store.tables import RouteRevision
from waypost.store.tokens import TokensMixin
from waypost.store.versions import VersionsMixin

__all__ = ["Store"]


class Store(
    VersionsMixin,
    EndpointsMixin,
    EventsMixin,
    AliasesMixin,
    LogSinksMixin,
    SecretsMixin,
    TokensMixin,
    ModelsMixin,
):
    """Projects, deployments, versions, endpoints, replicas, events, aliases, log sinks,
    secrets, tokens, models."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        """Use ``Store.open``; this takes an engine whose schema is already migrated."""
        super().__init__(engine, clock)

    @classmethod
    def open(cls, url: str, *, clock: Clock = utc_now) -> Store:
        """Connect to ``url`` (``sqlite:///file`` or ``postgresql://...``) and migrate it.

        ``clock`` gives the time the store writes into records (aware datetimes).
        InvalidSpec for a URL the store cannot use; Unavailable if the database
        cannot be reached.
        """
        engine = create_store_engine(url)
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            shown = database_url(url).render_as_string(hide_password=True)
            raise Unavailable(f"cannot open the database {shown}: {exc.orig}") from exc
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, clock)

    def close(self) -> None:
        """Close every pooled connection; the store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def route_revision(self) -> int:
        """The route revision: it grows with every change the gateway's route table depends on.

        One primary-key read on a pooled connection; gateways' long polls call it often.
        """
        with self._engine.connect() as connection:
            return connection.execute(
                select(RouteRevision.revision).where(RouteRevision.id == 1)
            ).scalar_one()
