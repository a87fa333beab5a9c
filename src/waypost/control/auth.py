"""Bearer tokens for the management API: random, stored only as a hash, compared in constant time.

The admin token is created on first start and written to ``<home>/admin-token``
(mode 0600) so the CLI on the same machine finds it; the gateway gets its own
token the same way. Other tokens are created through the API (``waypost tokens``),
shown once, and looked up by their SHA-256: the hash, not the token, is what the
database holds, so a copy of the database grants nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from waypost.errors import Unauthorized

__all__ = [
    "Principal",
    "StoredToken",
    "TokenCheck",
    "ensure_token_file",
    "hash_token",
    "new_token",
]


@dataclass(frozen=True)
class Principal:
    name: str
    scope: str
    project: str | None = None
    token_id: int | None = None


class StoredToken(Protocol):
    """What TokenCheck needs of a stored token (the store's TokenRecord fits)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def token_hash(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def project(self) -> str | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def revoked(self) -> bool: ...


def new_token() -> str:
    return "wp_" + secrets.token_urlsafe(32)  # 256 bits


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_token_file(path: Path) -> str:
    """Read the token in ``path``, or create one there with mode 0600."""
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = new_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token


@dataclass(frozen=True)
class _Known:
    principal: Principal
    expires_at: datetime | None


class TokenCheck:
    """Turns an ``Authorization`` header into a Principal, or raises Unauthorized.

    Tokens come from ``lookup`` (by hash, e.g. the store) and from ``allow`` (in
    memory, for tests and embedders).
    """

    def __init__(
        self,
        lookup: Callable[[str], StoredToken | None] | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._known: dict[str, _Known] = {}
        self._lookup = lookup
        self._clock = clock

    def allow(self, token: str, principal: Principal, expires_at: datetime | None = None) -> None:
        self._known[hash_token(token)] = _Known(principal, expires_at)

    def __call__(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized(
                "this route needs a token: send 'Authorization: Bearer <token>' "
                "(the admin token is in <home>/admin-token)"
            )
        digest = hash_token(authorization[7:].strip())
        known = self._in_memory(digest) or self._stored(digest)
        if known is None:
            raise Unauthorized("that token is not valid")
        if known.expires_at and known.expires_at <= self._clock():
            raise Unauthorized("that token has expired")
        return known.principal

    def _in_memory(self, digest: str) -> _Known | None:
        for known_digest, known in self._known.items():
            if hmac.compare_digest(known_digest, digest):
                return known
        return None

    def _stored(self, digest: str) -> _Known | None:
        found = self._lookup(digest) if self._lookup else None
        if found is None or found.revoked or not hmac.compare_digest(found.token_hash, digest):
            return None
        principal = Principal(found.name, found.scope, found.project, found.id)
        return _Known(principal, found.expires_at)
