"""Who may call a private endpoint: a bearer token checked against the snapshot's grants.

A request whose chosen backend target is ``private`` needs ``Authorization: Bearer
<token>`` of a token that may invoke it: scope ``admin``; or ``invoke``/``deploy``
limited to no project, to the target's ``org/project``, or (``invoke`` only) to the
target key itself. No token is a 401 (the caller must say who it is); a token that is
unknown, revoked (absent from the grants), expired, or of a scope or project that
does not reach the target is a 403.

The gateway never sees tokens at rest: the grants hold SHA-256 hex digests, the
presented token is hashed the same way (``waypost.control.auth.hash_token``), found in
a dict, and the digests are compared once more in constant time. Expiry is judged
with ``now`` (Unix seconds), an argument.

The gateway's own metrics name every project; ``is_loopback`` says whether a peer may
read them without ``--metrics-public``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final, final

from waypost.errors import Forbidden, Unauthorized
from waypost.model.routes import TokenGrant

__all__ = ["PRIVATE", "Grants", "is_loopback", "may_invoke"]

PRIVATE: Final = "private"
_BEARER = "bearer "


def is_loopback(peer: str | None) -> bool:
    """Whether the peer address is this machine's loopback (127.0.0.0/8 or ::1)."""
    try:
        return peer is not None and ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


def may_invoke(grant: TokenGrant, target_key: str) -> bool:
    """True if ``grant``'s scope and project limit reach the target ``target_key``."""
    if grant.scope == "admin":
        return True
    if grant.scope not in ("invoke", "deploy"):
        return False
    if grant.project is None:
        return True
    org, project, *_ = target_key.split("/", 2)
    if grant.project == f"{org}/{project}":
        return True
    return grant.scope == "invoke" and grant.project == target_key


@final
class Grants:
    """The grants of one snapshot, by token hash."""

    __slots__ = ("_by_hash",)

    def __init__(self, grants: Iterable[TokenGrant] = ()) -> None:
        self._by_hash: Mapping[str, TokenGrant] = MappingProxyType(
            {g.token_hash: g for g in grants}
        )

    def __len__(self) -> int:
        return len(self._by_hash)

    def check(self, authorization: str | None, target_key: str, now: float) -> None:
        """Return if the ``Authorization`` value may invoke ``target_key``; else raise.

        Unauthorized (401) without a bearer token, Forbidden (403) for a token that
        may not.
        """
        if not authorization or not authorization[: len(_BEARER)].lower() == _BEARER:
            raise Unauthorized(
                f"/{target_key} is private: send 'Authorization: Bearer <token>' "
                "with a token that may invoke it"
            )
        token = authorization[len(_BEARER) :].strip()
        if not token:
            raise Unauthorized(f"/{target_key} is private: the bearer token is empty")
        digest = hashlib.sha256(token.encode()).hexdigest()
        grant = self._by_hash.get(digest)
        if grant is None or not hmac.compare_digest(grant.token_hash, digest):
            raise Forbidden("that token is not valid (unknown or revoked)")
        if grant.expires_at is not None and grant.expires_at <= now:
            raise Forbidden("that token has expired")
        if not may_invoke(grant, target_key):
            limit = f" limited to {grant.project}" if grant.project else ""
            raise Forbidden(f"a {grant.scope} token{limit} may not invoke /{target_key}")
