"""One frozen ``Settings`` for a waypost installation, built from an injectable environ.

Nothing reads ``os.environ`` at import time: ``Settings.from_environ(os.environ, ...)``
is called once at the edge (the CLI) and the value is passed down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from waypost.errors import Problem

__all__ = ["Limits", "Settings"]

DEFAULT_API_PORT = 8081
DEFAULT_GATEWAY_PORT = 8080


@dataclass(frozen=True)
class Limits:
    """Installation-wide limits (seed 004: min replicas 0-5, max replicas 1-5)."""

    min_replicas_max: int = 5
    max_replicas_max: int = 5
    bundle_bytes: int = 256 * 1024 * 1024
    startup_timeout: float = 60.0
    build_timeout: float = 900.0

    def replica_problems(self, low: int, high: int, where: str = "replicas") -> list[Problem]:
        """One problem per broken rule of a replica range (``where`` prefixes the fields)."""
        problems: list[Problem] = []
        if low < 0:
            problems.append(
                Problem(f"min replicas cannot be negative: {low}", field=f"{where}.min")
            )
        elif low > self.min_replicas_max:
            problems.append(
                Problem(
                    f"min replicas {low} is over this installation's limit {self.min_replicas_max}",
                    field=f"{where}.min",
                )
            )
        if high < 1:
            problems.append(
                Problem(f"max replicas must be at least 1, not {high}", field=f"{where}.max")
            )
        elif high > self.max_replicas_max:
            problems.append(
                Problem(
                    f"max replicas {high} is over this installation's limit "
                    f"{self.max_replicas_max}",
                    field=f"{where}.max",
                )
            )
        if high < low:
            problems.append(
                Problem(f"max replicas {high} is below min replicas {low}", field=f"{where}.max")
            )
        return problems


@dataclass(frozen=True)
class Settings:
    home: Path
    host: str = "127.0.0.1"
    api_port: int = DEFAULT_API_PORT
    gateway_port: int = DEFAULT_GATEWAY_PORT
    database_url: str | None = None  # None: SQLite file in home
    runtime: str = "local"
    gateway_workers: int = 1
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        home = Path(environ.get("WAYPOST_HOME") or Path(environ.get("HOME", ".")) / ".waypost")
        base = cls(home=home, database_url=environ.get("WAYPOST_DATABASE_URL") or None)
        given = {k: v for k, v in overrides.items() if v is not None}
        if "home" in given:
            given["home"] = Path(given["home"])
        return replace(base, **given)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'waypost.db'}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    # Layout of the home directory; every part finds its files through these.
    @property
    def bundles_dir(self) -> Path:
        return self.home / "bundles"

    @property
    def runtime_dir(self) -> Path:
        return self.home / "runtime"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def admin_token_file(self) -> Path:
        return self.home / "admin-token"
