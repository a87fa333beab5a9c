"""Project secrets: per project, named ciphertexts the control plane encrypted.

The store never sees a value in the clear, and never names one: a change is a
``"secret"`` event whose reason names the secret only. Secrets do not travel to
the gateways, so a change leaves the route revision alone.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from waypost.errors import NotFound
from waypost.store.base import StoreBase, add_event, ensure_project, project_id
from waypost.store.records import SecretRecord
from waypost.store.tables import Project, ProjectSecret

__all__ = ["SecretsMixin"]


class SecretsMixin(StoreBase):
    def set_secret(
        self, org: str, project: str, name: str, ciphertext: bytes, *, actor: str
    ) -> SecretRecord:
        """Create or replace secret ``name`` of a project (created if missing)."""
        with self._write() as session:
            now = self._now()
            pid = ensure_project(session, org, project, now)
            # Lock the project row: concurrent writers of one project's secrets take turns.
            session.execute(select(Project.id).where(Project.id == pid).with_for_update())
            found = _find(session, pid, name)
            if found is None:
                session.add(
                    ProjectSecret(project_id=pid, name=name, ciphertext=ciphertext, updated_at=now)
                )
                verb = "set"
            else:
                found.ciphertext, found.updated_at = ciphertext, now
                verb = "changed"
            add_event(
                session,
                at=now,
                kind="secret",
                org=org,
                project=project,
                reason=f"secret {name} {verb}",
                actor=actor,
            )
            return SecretRecord(name, now)

    def delete_secret(self, org: str, project: str, name: str, *, actor: str) -> None:
        """Remove secret ``name``; NotFound if the project has no such secret."""
        with self._write() as session:
            pid = project_id(session, org, project)
            deleted = session.execute(
                delete(ProjectSecret)
                .where(ProjectSecret.project_id == pid, ProjectSecret.name == name)
                .returning(ProjectSecret.id)
            ).first()
            if deleted is None:
                raise NotFound(f"project {org}/{project} has no secret {name}")
            add_event(
                session,
                at=self._now(),
                kind="secret",
                org=org,
                project=project,
                reason=f"secret {name} deleted",
                actor=actor,
            )

    def list_secrets(self, org: str, project: str) -> list[SecretRecord]:
        """The names of a project's secrets and when each was set, by name; never a value."""
        with self._read() as session:
            rows = session.execute(
                select(ProjectSecret.name, ProjectSecret.updated_at)
                .join(Project, ProjectSecret.project_id == Project.id)
                .where(Project.org == org, Project.name == project)
                .order_by(ProjectSecret.name)
            )
            return [SecretRecord(name, at) for name, at in rows]

    def secret_values(self, org: str, project: str) -> dict[str, bytes]:
        """Every secret of a project, name to ciphertext (for the replicas' environment)."""
        with self._read() as session:
            rows = session.execute(
                select(ProjectSecret.name, ProjectSecret.ciphertext)
                .join(Project, ProjectSecret.project_id == Project.id)
                .where(Project.org == org, Project.name == project)
            )
            return {name: bytes(ciphertext) for name, ciphertext in rows}


def _find(session: Session, pid: int, name: str) -> ProjectSecret | None:
    return session.scalar(
        select(ProjectSecret).where(ProjectSecret.project_id == pid, ProjectSecret.name == name)
    )
