"""Serve a WSGI or ASGI app under the URL prefix its request came in under.

The gateway forwards the full original path (``/org/project/deployment/selector/
endpoint/rest``) with the prefix as requested in the ``X-VH-Prefix`` header; a
replica's environment names its own version's prefix in ``VH_DEFAULT_PREFIX`` and
``SCRIPT_NAME``. These middlewares move that prefix out of the routing path
(WSGI: into ``SCRIPT_NAME``; ASGI: into ``root_path``) so apps with routes like
``/predict`` work unchanged and the URLs they generate carry the prefix the client
used (a version number, ``latest`` or an alias).

Only a prefix the request path really starts with, at a segment boundary, is ever
used, so a spoofed header cannot make an app generate URLs that point elsewhere.

Stdlib only, and importable without the rest of waypost: the local runtime copies
this package into every replica's environment, so ``server-command`` apps can
``from waypost.prefix import PrefixMiddleware`` too.
"""

from __future__ import annotations

from .asgi import AsgiPrefixMiddleware
from .match import DEFAULT_PREFIX_VARS, HEADER, choose_prefix, normalize_prefix, split_prefix
from .wsgi import PrefixMiddleware

__all__ = [
    "DEFAULT_PREFIX_VARS",
    "HEADER",
    "AsgiPrefixMiddleware",
    "PrefixMiddleware",
    "choose_prefix",
    "normalize_prefix",
    "split_prefix",
]
