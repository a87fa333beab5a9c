"""ASGI: keep the full ``path``, set ``root_path`` to the prefix (http and websocket).

The ASGI spec (and Starlette since 0.33) says ``path`` includes ``root_path``; the
router matches on ``path`` minus ``root_path``, and ``url_for`` prepends
``root_path``. ``raw_path`` is left as the server read it. Lifespan and any other
scope type pass through untouched.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from .match import HEADER, split_prefix
from .match import default_prefixes as _prefixes_in

__all__ = ["AsgiApp", "AsgiPrefixMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADER_NAME = HEADER.lower().encode("latin-1")


class AsgiPrefixMiddleware:
    """Wrap an ASGI app so it is served under the prefix each request came in under.

    ``default_prefixes`` are the replica's own prefixes; when omitted they are read
    from ``environ`` (``VH_DEFAULT_PREFIX``, then ``SCRIPT_NAME``), which defaults to
    ``os.environ`` at construction time.
    """

    def __init__(
        self,
        app: AsgiApp,
        default_prefixes: Iterable[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        if default_prefixes is None:
            default_prefixes = _prefixes_in(os.environ if environ is None else environ)
        self.default_prefixes = tuple(p for p in default_prefixes if p)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") in ("http", "websocket"):
            scope = self._with_root_path(scope)
        await self.app(scope, receive, send)

    def _with_root_path(self, scope: Scope) -> Scope:
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", "") or "").rstrip("/")
        # A server-set root_path is part of path; look for the prefix after it.
        base = root if root and (path == root or path.startswith(root + "/")) else ""
        found = split_prefix(path[len(base) :], (_header(scope), *self.default_prefixes))
        if found is None:
            return scope
        return {**scope, "root_path": base + found[0]}


def _header(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or ():
        if bytes(name).lower() == _HEADER_NAME:
            return bytes(value).decode("utf-8", "replace")
    return None
