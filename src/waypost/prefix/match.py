"""Which prefix a request path is served under: a pure function of strings.

Both middlewares call ``choose_prefix`` with the path and the candidates in order
of preference (the ``X-VH-Prefix`` header first, then the replica's own default
prefix); the first candidate the path starts with at a segment boundary wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import unquote

__all__ = [
    "DEFAULT_PREFIX_VARS",
    "HEADER",
    "choose_prefix",
    "default_prefixes",
    "normalize_prefix",
    "split_prefix",
]

#: The header the gateway sets to the prefix as requested (always overwriting the client's).
HEADER = "X-VH-Prefix"

#: Environment variables naming the replica's own prefix, in order of preference.
DEFAULT_PREFIX_VARS = ("VH_DEFAULT_PREFIX", "SCRIPT_NAME")


def normalize_prefix(value: str) -> str | None:
    """``a/b``, ``/a/b/`` or `` a/b `` -> ``/a/b``; None when nothing is left.

    Leading slashes collapse into one, so a prefix can never start with ``//``
    (which a browser would read as another host).
    """
    stripped = value.strip().strip("/")
    return "/" + stripped if stripped else None


def _starts_at_segment(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def choose_prefix(
    path: str, candidates: Iterable[str | None], *, encoding: str = "utf-8"
) -> str | None:
    """The first candidate that ``path`` starts with at a segment boundary, normalized.

    ``path`` is already percent-decoded (WSGI ``PATH_INFO``, ASGI ``path``); a
    candidate that is percent-encoded is also tried decoded with ``encoding`` (WSGI
    strings are latin-1, ASGI strings are UTF-8).
    """
    for candidate in candidates:
        if not candidate:
            continue
        forms = [candidate]
        if "%" in candidate:
            forms.append(unquote(candidate, encoding=encoding, errors="replace"))
        for form in forms:
            prefix = normalize_prefix(form)
            if prefix is not None and _starts_at_segment(path, prefix):
                return prefix
    return None


def split_prefix(
    path: str, candidates: Iterable[str | None], *, encoding: str = "utf-8"
) -> tuple[str, str] | None:
    """``(prefix, rest)`` for the chosen prefix, or None; ``rest`` may be empty."""
    prefix = choose_prefix(path, candidates, encoding=encoding)
    if prefix is None:
        return None
    return prefix, path[len(prefix) :]


def default_prefixes(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The replica's own prefixes from a process environment, in order of preference."""
    return tuple(environ[name] for name in DEFAULT_PREFIX_VARS if environ.get(name))
