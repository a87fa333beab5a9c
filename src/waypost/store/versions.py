"""Projects, deployments and versions: creating a version, and reading the tree.

A version number comes from a counter on its deployment row, incremented with
``UPDATE ... RETURNING`` in the transaction that creates the version: concurrent
creators queue on that row (PostgreSQL) or on the write lock (SQLite) and get
consecutive numbers; a transaction that fails rolls its increment back too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from waypost.errors import InvalidSpec, Problem
from waypost.model.lifecycle import EndpointState
from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec
from waypost.store.base import (
    StoreBase,
    add_event,
    bump_revision,
    deployment_id,
    ensure_project,
    insert_if_missing,
    project_id,
    transition_event,
)
from waypost.store.reading import as_json, load_versions, one_version
from waypost.store.records import DeploymentRecord, ProjectRecord, VersionRecord
from waypost.store.tables import Deployment, Endpoint, Project, Version

__all__ = ["VersionsMixin"]


class VersionsMixin(StoreBase):
    def create_version(
        self,
        org: str,
        project: str,
        deployment: str,
        *,
        branch: str,
        bundle_digest: str,
        bundle_size: int,
        endpoints: Sequence[EndpointSpec],
        actor: str,
    ) -> VersionRecord:
        """The next version of ``deployment``, its endpoints Building; all or nothing.

        Creates the project and the deployment if they do not exist yet.
        """
        specs = tuple(endpoints)
        _check_unique_names(specs)
        with self._write() as session:
            now = self._now()
            dep_id = _ensure_deployment(session, org, project, deployment, branch, now)
            number = session.execute(
                update(Deployment)
                .where(Deployment.id == dep_id)
                .values(last_version=Deployment.last_version + 1)
                .returning(Deployment.last_version)
                .execution_options(synchronize_session=False)
            ).scalar_one()
            version = Version(
                deployment_id=dep_id,
                number=number,
                branch=branch,
                created_at=now,
                created_by=actor,
                bundle_digest=bundle_digest,
                bundle_size=bundle_size,
            )
            session.add(version)
            session.flush()
            names = ", ".join(s.name for s in specs) or "none"
            add_event(
                session,
                at=now,
                kind="version",
                org=org,
                project=project,
                deployment=deployment,
                version=number,
                reason=f"version {number} created from bundle {bundle_digest[:12]} "
                f"({bundle_size} bytes); endpoints: {names}",
                actor=actor,
            )
            created = f"version {number} created"
            for spec in specs:
                session.add(
                    Endpoint(
                        version_id=version.id,
                        name=spec.name,
                        spec=as_json(spec.to_json(), f"the spec of endpoint {spec.name!r}"),
                        pending_spec=None,
                        state=EndpointState.BUILDING.value,
                        desired="running",
                        reason=created,
                        state_changed_at=now,
                        created_at=now,
                        ever_ready=False,
                        replicas_desired=spec.replicas.min,
                    )
                )
                # Written one by one, so a bad spec fails with its predecessors in the
                # transaction: the rollback, not a pre-check, keeps nothing half-written.
                session.flush()
                transition_event(
                    session,
                    UnitKey(org, project, deployment, number, spec.name),
                    at=now,
                    from_state=None,
                    to_state=EndpointState.BUILDING.value,
                    reason=created,
                    actor=actor,
                )
            bump_revision(session)
            return one_version(session, org, project, deployment, number)

    def get_version(self, org: str, project: str, deployment: str, number: int) -> VersionRecord:
        with self._read() as session:
            deployment_id(session, org, project, deployment)
            return one_version(session, org, project, deployment, number)

    def list_versions(self, org: str, project: str, deployment: str) -> list[VersionRecord]:
        """Every version of ``deployment``, ascending; NotFound if it does not exist."""
        with self._read() as session:
            deployment_id(session, org, project, deployment)
            return load_versions(session, org, project, deployment)

    def list_deployments(self, org: str, project: str) -> list[DeploymentRecord]:
        """The deployments of a project by name; NotFound if the project does not exist."""
        with self._read() as session:
            pid = project_id(session, org, project)
            deployments = session.scalars(
                select(Deployment).where(Deployment.project_id == pid).order_by(Deployment.name)
            ).all()
            numbers: dict[int, list[int]] = defaultdict(list)
            for dep_id, number in session.execute(
                select(Version.deployment_id, Version.number)
                .join(Deployment, Version.deployment_id == Deployment.id)
                .where(Deployment.project_id == pid)
                .order_by(Version.number)
            ):
                numbers[dep_id].append(number)
            return [
                DeploymentRecord(
                    org=org,
                    project=project,
                    name=d.name,
                    branch=d.branch,
                    created_at=d.created_at,
                    versions=tuple(numbers[d.id]),
                )
                for d in deployments
            ]

    def list_projects(self) -> list[ProjectRecord]:
        """Every project by org and name, with how many deployments each has."""
        with self._read() as session:
            rows = session.execute(
                select(Project, func.count(Deployment.id))
                .outerjoin(Deployment, Deployment.project_id == Project.id)
                .group_by(Project.id)
                .order_by(Project.org, Project.name)
            )
            return [
                ProjectRecord(org=p.org, name=p.name, deployments=count, created_at=p.created_at)
                for p, count in rows
            ]


def _check_unique_names(specs: Sequence[EndpointSpec]) -> None:
    seen: set[str] = set()
    problems: list[Problem] = []
    for spec in specs:
        if spec.name in seen:
            problems.append(Problem(f"endpoint {spec.name!r} is declared twice", field=spec.name))
        seen.add(spec.name)
    if problems:
        raise InvalidSpec.of(problems)


def _ensure_deployment(
    session: Session, org: str, project: str, deployment: str, branch: str, now: datetime
) -> int:
    pid = ensure_project(session, org, project, now)
    statement = select(Deployment.id).where(
        Deployment.project_id == pid, Deployment.name == deployment
    )
    found = session.scalar(statement)
    if found is None:
        values = {"project_id": pid, "name": deployment, "branch": branch, "created_at": now}
        insert_if_missing(session, Deployment, {**values, "last_version": 0})
        found = session.execute(statement).scalar_one()
    return found
