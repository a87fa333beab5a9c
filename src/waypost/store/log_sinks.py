"""Log sinks: per project, the URLs the gateway sends that project's request logs to.

The list is replaced as a whole. A change is a ``"log_sinks"`` event (old and new
list in its reason) and bumps the route revision, since the sinks travel to the
gateways in the route snapshot; setting the list a project already has changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from waypost.model.routes import LogSink
from waypost.store.base import StoreBase, add_event, bump_revision, ensure_project, project_id
from waypost.store.tables import Project, ProjectLogSink

__all__ = ["LogSinksMixin"]


class LogSinksMixin(StoreBase):
    def get_log_sinks(self, org: str, project: str) -> list[str]:
        """The log sink URLs of a project, in the order given; NotFound without the project."""
        with self._read() as session:
            return _urls(session, project_id(session, org, project))

    def set_log_sinks(
        self, org: str, project: str, urls: Sequence[str], *, actor: str
    ) -> list[str]:
        """Replace the log sinks of a project (created if missing); the URLs as stored."""
        wanted = list(urls)
        with self._write() as session:
            now = self._now()
            pid = ensure_project(session, org, project, now)
            # Lock the project row: concurrent replacements of one list take turns.
            session.execute(select(Project.id).where(Project.id == pid).with_for_update())
            old = _urls(session, pid)
            if old == wanted:
                return old
            session.execute(delete(ProjectLogSink).where(ProjectLogSink.project_id == pid))
            session.add_all(
                ProjectLogSink(project_id=pid, position=i, url=url) for i, url in enumerate(wanted)
            )
            add_event(
                session,
                at=now,
                kind="log_sinks",
                org=org,
                project=project,
                reason=f"log sinks: {json.dumps(old)} → {json.dumps(wanted)}",
                actor=actor,
            )
            bump_revision(session)
            return wanted

    def list_all_log_sinks(self) -> list[LogSink]:
        """Every project's log sinks, by project and position (for the route snapshot)."""
        with self._read() as session:
            rows = session.execute(
                select(Project.org, Project.name, ProjectLogSink.url)
                .join(Project, ProjectLogSink.project_id == Project.id)
                .order_by(Project.org, Project.name, ProjectLogSink.position)
            )
            return [LogSink(f"{org}/{name}", url) for org, name, url in rows]


def _urls(session: Session, pid: int) -> list[str]:
    return list(
        session.scalars(
            select(ProjectLogSink.url)
            .where(ProjectLogSink.project_id == pid)
            .order_by(ProjectLogSink.position)
        )
    )
