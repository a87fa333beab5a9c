"""Request paths: split the target, refuse malformed paths, find the prefix segments.

A route is chosen from the first four or five segments of the path
(``/org/project/deployment/selector[/endpoint]/rest...``), compared as they were
sent: nothing is decoded, so ``%61cme`` is not ``acme`` and simply matches nothing.
What *could* make a path mean something else to the gateway, to a cache or to the
app behind it is refused with 400 before any route is looked at:

- anywhere in the path: a NUL (raw or ``%00``), a backslash (raw or ``%5c``), a
  ``#`` (a fragment is never part of a request target; an upstream client would cut
  it off), a ``.`` or ``..`` segment (also spelled ``%2e``, ``.%2e``, ...);
- in the four leading segments: an empty segment (``//``), an encoded slash or dot
  (``%2f``, ``%2e``), a ``;`` path parameter.

The fifth segment is the endpoint only if a route says so; a fifth segment that
could not be an endpoint name (empty before more path, ``%2f``, ``%2e``, ``;``) is
left to an endpoint-less route as part of its rest, and refused otherwise.
The upstream request carries the path exactly as received.
"""

from __future__ import annotations

from dataclasses import dataclass

from waypost.errors import BadRequest

__all__ = ["LEADING_SEGMENTS", "RequestPath", "normalize", "split_target"]

#: org, project, deployment, selector, endpoint
LEADING_SEGMENTS = 5
_DOTS = frozenset((".", ".."))


@dataclass(frozen=True, slots=True)
class RequestPath:
    """A path that passed the checks, cut into its leading segments."""

    path: str
    #: ``path[1:].split("/", 5)``: up to five segments, then the remainder if any.
    parts: tuple[str, ...]
    #: Why the fifth segment cannot be an endpoint, if it is malformed as one.
    fifth_problem: str | None = None

    def segments(self, count: int) -> tuple[str, ...] | None:
        """The first ``count`` segments, or None if the path has fewer."""
        return self.parts[:count] if len(self.parts) >= count else None

    def endpoint_key(self) -> tuple[str, ...] | None:
        """The five leading segments, if the fifth could be an endpoint name."""
        if len(self.parts) < LEADING_SEGMENTS or self.fifth_problem is not None:
            return None
        if not self.parts[LEADING_SEGMENTS - 1]:
            return None
        return self.parts[:LEADING_SEGMENTS]

    def rest(self, count: int) -> str:
        """The raw path after the first ``count`` segments: ``""`` or ``"/..."``."""
        offset = sum(len(part) for part in self.parts[:count]) + count
        return self.path[offset:]


def split_target(target: str) -> tuple[str, str]:
    """``/a/b?x=1`` -> (``/a/b``, ``x=1``); the query stays raw."""
    path, _, query = target.partition("?")
    return path, query


def normalize(path: str) -> RequestPath:
    """Check ``path`` (no query) and cut it; BadRequest says what is wrong with it."""
    if not path.startswith("/"):
        raise BadRequest("the request path must start with '/'")
    lowered = path.lower()
    if "\x00" in path or "%00" in lowered:
        raise BadRequest("the request path contains a NUL character")
    if "\\" in path or "%5c" in lowered:
        raise BadRequest("the request path contains a backslash")
    if "#" in path:
        raise BadRequest("the request path contains a '#' (fragment)")
    if "." in lowered or "%2e" in lowered:
        for segment in lowered.split("/"):
            if segment in _DOTS or ("%2e" in segment and segment.replace("%2e", ".") in _DOTS):
                raise BadRequest("the request path contains a '.' or '..' segment")
    parts = tuple(path[1:].split("/", LEADING_SEGMENTS))
    last = len(parts) - 1
    for index, segment in enumerate(parts[: LEADING_SEGMENTS - 1]):
        problem = _segment_problem(segment, followed=index < last)
        if problem is not None:
            raise BadRequest(f"the request path has {problem} in its prefix")
    fifth = LEADING_SEGMENTS - 1
    fifth_problem = (
        _segment_problem(parts[fifth], followed=fifth < last) if len(parts) > fifth else None
    )
    return RequestPath(path, parts, fifth_problem)


def _segment_problem(segment: str, *, followed: bool) -> str | None:
    if not segment:
        return "an empty segment ('//')" if followed else None
    if ";" in segment:
        return "a ';' parameter"
    if "%" in segment:
        lowered = segment.lower()
        if "%2f" in lowered or "%2e" in lowered:
            return "an encoded '/' or '.'"
    return None
