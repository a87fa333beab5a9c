"""Bearer tokens for the management API: random, stored only as a hash, compared in constant time.

The admin token is created on first start and written to ``<home>/admin-token``
(mode 0600) so the CLI on the same machine finds it; the gateway gets its own
token the same way. Scoped tokens for users come with the security work.
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

from waypost.errors import Unauthorized

__all__ = ["Principal", "TokenCheck", "ensure_token_file", "hash_token", "new_token"]


@dataclass(frozen=True)
class Principal:
    name: str
    scope: str
    project: str | None = None


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
    """Turns an ``Authorization`` header into a Principal, or raises Unauthorized."""

    def __init__(self, lookup: Callable[[str], _Known | None] | None = None) -> None:
        self._known: dict[str, _Known] = {}
        self._lookup = lookup

    def allow(self, token: str, principal: Principal, expires_at: datetime | None = None) -> None:
        self._known[hash_token(token)] = _Known(principal, expires_at)

    def __call__(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized(
                "this route needs a token: send 'Authorization: Bearer <token>' "
                "(the admin token is in <home>/admin-token)"
            )
        digest = hash_token(authorization[7:].strip())
        for known_digest, known in self._known.items():
            if hmac.compare_digest(known_digest, digest):
                if known.expires_at and known.expires_at < datetime.now(UTC):
                    raise Unauthorized("that token has expired")
                return known.principal
        raise Unauthorized("that token is not valid")
