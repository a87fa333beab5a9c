"""Where the local runtime keeps things under its root directory.

root/bundles/<digest>/          unpacked bundles, one per content digest
root/envs/<key>/                virtualenvs, one per requirements hash and server kind
root/envs/<key>.log             the installer output of the last attempt at <key>
root/shim/<hash>/               waypost.prefix + the launcher, put on replicas' PYTHONPATH
root/logs/<org>/<project>/<deployment>/<version>/<endpoint>.log
root/homes/<org>/<project>/<deployment>/<version>/<endpoint>/   HOME and TMPDIR
root/run/<replica_id>.json      pidfiles of live replicas
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from waypost.errors import InvalidSpec
from waypost.model.prefix import UnitKey

__all__ = ["Layout"]


def _part(value: str) -> str:
    # Names are validated upstream; this guard keeps a bad one from escaping the root.
    if not value or value in (".", "..") or "/" in value or "\x00" in value:
        raise InvalidSpec(f"not usable as a path component: {value!r}")
    return value


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def bundles(self) -> Path:
        return self.root / "bundles"

    @property
    def envs(self) -> Path:
        return self.root / "envs"

    @property
    def shim(self) -> Path:
        return self.root / "shim"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def homes(self) -> Path:
        return self.root / "homes"

    @property
    def run(self) -> Path:
        return self.root / "run"

    def _unit_parts(self, key: UnitKey) -> tuple[str, ...]:
        return tuple(map(_part, (key.org, key.project, key.deployment, str(key.version))))

    def log_file(self, key: UnitKey) -> Path:
        return self.logs.joinpath(*self._unit_parts(key), f"{_part(key.endpoint)}.log")

    def home(self, key: UnitKey) -> Path:
        return self.homes.joinpath(*self._unit_parts(key), _part(key.endpoint))

    def pidfile(self, replica_id: str) -> Path:
        return self.run / f"{_part(replica_id)}.json"

    def make_dirs(self) -> None:
        for folder in (self.bundles, self.envs, self.shim, self.logs, self.homes, self.run):
            folder.mkdir(parents=True, exist_ok=True)
