"""One error tree for waypost; each class carries the HTTP status it maps to.

The API has one handler that reads ``.status``; the CLI maps JSON errors back to
these classes, so a refusal keeps its type and its sentence end to end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BadGateway",
    "BadRequest",
    "BuildFailed",
    "Conflict",
    "Forbidden",
    "GatewayTimeout",
    "InvalidSpec",
    "NotFound",
    "Problem",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "WaypostError",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with user input: where it is and what is wrong."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
        if self.field:
            where = f"{where} ({self.field})" if where else self.field
        return f"{where}: {self.message}" if where else self.message

    def to_json(self) -> dict[str, object]:
        return {
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
        }


class WaypostError(Exception):
    """Base of every error waypost raises on purpose."""

    status: int = 500
    code: str = "internal"

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = tuple(problems)

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.problems:
            body["problems"] = [p.to_json() for p in self.problems]
        return body


class InvalidSpec(WaypostError):
    """User input (a file, a name, a request body) is not valid."""

    status = 422
    code = "invalid"

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> InvalidSpec:
        lines = [str(p) for p in problems]
        head = lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n" + "\n".join(lines)
        return cls(head, problems)


class Unauthorized(WaypostError):
    status = 401
    code = "unauthorized"


class Forbidden(WaypostError):
    status = 403
    code = "forbidden"


class NotFound(WaypostError):
    status = 404
    code = "not_found"


class Conflict(WaypostError):
    """The action does not fit the current state (a sentence says why)."""

    status = 409
    code = "conflict"


class TooLarge(WaypostError):
    status = 413
    code = "too_large"


class Unavailable(WaypostError):
    status = 503
    code = "unavailable"


class BadRequest(WaypostError):
    """A request the gateway will not route (a malformed or ambiguous path or framing)."""

    status = 400
    code = "bad_request"


class BadGateway(WaypostError):
    """The chosen replica could not be reached, or broke off its answer."""

    status = 502
    code = "bad_gateway"


class GatewayTimeout(WaypostError):
    """An endpoint did not wake, or a replica did not answer, before the deadline."""

    status = 504
    code = "gateway_timeout"


class BuildFailed(WaypostError):
    """Preparing a version (unpacking, installing requirements) failed."""

    status = 422
    code = "build_failed"
