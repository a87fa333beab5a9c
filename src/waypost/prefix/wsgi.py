"""WSGI: move the prefix from the path into ``SCRIPT_NAME``, the rest into ``PATH_INFO``.

A server may already have split the path (gunicorn moves ``SCRIPT_NAME`` from its
environment out of the path), so the full path is ``SCRIPT_NAME + PATH_INFO`` and
the prefix is chosen against that. A request matching no candidate is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .match import HEADER, split_prefix
from .match import default_prefixes as _prefixes_in

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["PrefixMiddleware"]

_HEADER_KEY = "HTTP_" + HEADER.upper().replace("-", "_")


def _to_wsgi_str(value: str) -> str:
    """A native string as WSGI spells it: UTF-8 bytes carried in a latin-1 ``str``."""
    return value.encode("utf-8", "surrogateescape").decode("latin-1")


class PrefixMiddleware:
    """Wrap a WSGI app so it is served under the prefix each request came in under.

    ``default_prefixes`` are the replica's own prefixes; when omitted they are read
    from ``environ`` (``VH_DEFAULT_PREFIX``, then ``SCRIPT_NAME``), which defaults to
    ``os.environ`` at construction time.
    """

    def __init__(
        self,
        app: WSGIApplication,
        default_prefixes: Iterable[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        if default_prefixes is None:
            default_prefixes = _prefixes_in(os.environ if environ is None else environ)
        self.default_prefixes = tuple(_to_wsgi_str(p) for p in default_prefixes if p)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        script_name = str(environ.get("SCRIPT_NAME", "")).rstrip("/")
        path = script_name + str(environ.get("PATH_INFO", ""))
        header = environ.get(_HEADER_KEY)
        found = split_prefix(path, (header, *self.default_prefixes), encoding="latin-1")
        if found is not None:
            prefix, rest = found
            environ["SCRIPT_NAME"] = prefix
            environ["PATH_INFO"] = rest or "/"
        return self.app(environ, start_response)
