"""URL prefixes: ``org/project/deployment/selector/endpoint``.

The default prefix of an endpoint of a version uses its version number; the
prefix a request came in under may use ``latest`` or an alias as selector. The
gateway sends the latter as ``X-VH-Prefix``; replicas get the former as
``VH_DEFAULT_PREFIX`` and ``SCRIPT_NAME``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Prefix", "UnitKey"]


@dataclass(frozen=True, order=True)
class UnitKey:
    """One endpoint of one version: the unit that has replicas and a lifecycle."""

    org: str
    project: str
    deployment: str
    version: int
    endpoint: str

    @property
    def prefix(self) -> Prefix:
        return Prefix(self.org, self.project, self.deployment, str(self.version), self.endpoint)

    @property
    def id(self) -> str:
        return self.prefix.header

    @classmethod
    def parse(cls, text: str) -> UnitKey:
        """``org/project/deployment/version/endpoint`` -> UnitKey (ValueError if not)."""
        parts = text.strip("/").split("/")
        if len(parts) != 5 or not parts[3].isdigit():
            raise ValueError(f"not an org/project/deployment/version/endpoint key: {text!r}")
        org, project, deployment, version, endpoint = parts
        return cls(org, project, deployment, int(version), endpoint)

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class Prefix:
    org: str
    project: str
    deployment: str
    selector: str
    endpoint: str

    @property
    def header(self) -> str:
        """``org/project/deployment/selector/endpoint`` (VH_DEFAULT_PREFIX, X-VH-Prefix)."""
        return "/".join((self.org, self.project, self.deployment, self.selector, self.endpoint))

    @property
    def path(self) -> str:
        """``/org/project/deployment/selector/endpoint`` (SCRIPT_NAME)."""
        return "/" + self.header
