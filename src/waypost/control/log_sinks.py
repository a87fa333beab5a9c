"""The rules for a project's log sinks: the URLs its request logs are sent to.

At most ``MAX_LOG_SINKS`` distinct absolute ``http://`` or ``https://`` URLs; the
gateway POSTs JSON request-log lines to each (Modelbit's "logging endpoints").
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from waypost.errors import Problem

__all__ = ["MAX_LOG_SINKS", "MAX_URL_LENGTH", "log_sink_problems"]

MAX_LOG_SINKS = 10
MAX_URL_LENGTH = 2048  # the store's column width


def log_sink_problems(urls: Sequence[str]) -> list[Problem]:
    """One problem per broken rule, naming the URL's position (``urls.2``)."""
    problems: list[Problem] = []
    if len(urls) > MAX_LOG_SINKS:
        problems.append(
            Problem(f"at most {MAX_LOG_SINKS} log sinks, not {len(urls)}", field="urls")
        )
    seen: set[str] = set()
    for index, url in enumerate(urls):
        field = f"urls.{index}"
        if url in seen:
            problems.append(Problem(f"{url!r} is given twice", field=field))
        seen.add(url)
        problem = _url_problem(url)
        if problem:
            problems.append(Problem(problem, field=field))
    return problems


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return f"a log sink URL may have at most {MAX_URL_LENGTH} characters"
    if any(c.isspace() or not c.isprintable() for c in url):
        return f"{url!r} contains spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- reading it raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"{url!r} is not a URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http:// or https:// URL with a host"
    if parts.fragment:
        return f"{url!r} has a #fragment, which is never sent"
    return None
