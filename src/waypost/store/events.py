"""Reading the event log: transitions, new versions, alias changes, deletions.

Events are only ever appended (by the parts of the store that change things);
they are read in id order, so ``after_id`` pages through them and a client can
follow the log by passing the last id it saw.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select

from waypost.model.prefix import UnitKey
from waypost.store.base import StoreBase
from waypost.store.reading import events
from waypost.store.records import EventRecord
from waypost.store.tables import Event

__all__ = ["EventsMixin"]


class EventsMixin(StoreBase):
    def list_events(
        self,
        *,
        org: str | None = None,
        project: str | None = None,
        key: UnitKey | None = None,
        after_id: int = 0,
        limit: int = 200,
    ) -> list[EventRecord]:
        """Up to ``limit`` events with ids above ``after_id`` matching every filter, by id."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        where: list[ColumnElement[bool]] = [Event.id > after_id]
        if org is not None:
            where.append(Event.org == org)
        if project is not None:
            where.append(Event.project == project)
        if key is not None:
            where += [
                Event.org == key.org,
                Event.project == key.project,
                Event.deployment == key.deployment,
                Event.version == key.version,
                Event.endpoint == key.endpoint,
            ]
        with self._read() as session:
            rows = session.scalars(select(Event).where(*where).order_by(Event.id).limit(limit))
            return events(rows)
