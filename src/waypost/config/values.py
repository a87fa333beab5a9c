"""Single values as users write them, and the pydantic types that check them.

Each check raises ``ValueError`` with the end of a sentence ("must be ...") that
``FileProblems`` puts after the key it is about.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator

from waypost.config.problems import describe
from waypost.model.durations import parse_duration

__all__ = [
    "AppTarget",
    "Duration",
    "EnvName",
    "HealthPath",
    "Memory",
    "ModelId",
    "RelativePath",
    "RuntimeName",
    "Scalar",
    "Sticky",
    "Text",
    "ValohaiWsgi",
    "Version",
    "parse_memory",
]

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTPE]i|[kKMGTPE])?B?\s*$")
_MEMORY_UNITS = {
    None: 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
#: Below this a plain number is almost surely meant as MiB, not bytes.
_SMALLEST_MEMORY = 2**20


def parse_memory(value: str | int) -> int:
    """Bytes from ``512Mi``, ``2Gi``, ``1G``, ``500M`` (Kubernetes units) or a number of bytes.

    ``ValueError`` with a sentence when ``value`` is not a memory size.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not a memory size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a memory size cannot be negative: {value}")
        return value
    match = _MEMORY.match(value)
    if not match:
        raise ValueError(f"not a memory size: {value!r} (write e.g. 512Mi, 2Gi, 1G)")
    return int(Decimal(match.group(1)) * _MEMORY_UNITS[match.group(2)])


def _memory(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"must be a memory size like 512Mi or 2Gi, not {describe(value)}")
    try:
        size = parse_memory(value)
    except ValueError:
        raise ValueError(
            f"must be a memory size like 512Mi, 2Gi or 1G, or a number of bytes, "
            f"not {describe(value)}"
        ) from None
    if size < _SMALLEST_MEMORY:
        raise ValueError(
            f"is only {size} bytes (a plain number means bytes); write e.g. 512Mi or 2Gi"
        )
    return size


def _duration(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a duration like 500ms, 60s or 5m, not {describe(value)}")
    try:
        seconds = parse_duration(value)
    except (ValueError, OverflowError):
        raise ValueError(
            f"must be a duration like 500ms, 60s or 5m, or a number of seconds, "
            f"not {describe(value)}"
        ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"must be a duration above zero, not {describe(value)}")
    return seconds


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


_APP_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$", re.ASCII)


def _app_target(value: str) -> str:
    if not _APP_TARGET.match(value):
        raise ValueError(f"must be module:callable like app:app or pkg.main:api, not {value!r}")
    return value


_VALOHAI_WSGI = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?$", re.ASCII)


def _valohai_wsgi(value: str) -> str:
    if not _VALOHAI_WSGI.match(value):
        raise ValueError(f"must be module or module:callable like predict:app, not {value!r}")
    return value


def _version(value: object) -> object:
    if value == "latest" and isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(f"must be latest or a version number (1, 2, ...), not {describe(value)}")


def _scalar(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}")
    if isinstance(value, str | int | float | bool):
        return value
    raise ValueError(
        f"must be a single value (text, a number or true/false), not {describe(value)}"
    )


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(
            "must be a valid environment variable name "
            "(letters, digits and '_', not starting with a digit)"
        )
    return value


def _relative_path(value: str) -> str:
    parts = value.replace("\\", "/").split("/")
    if not value.strip() or value.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise ValueError(f"must be a relative path inside the project folder, not {value!r}")
    return value


def _health_path(value: str) -> str:
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise ValueError(f"must be a URL path starting with '/', like /health, not {value!r}")
    return value


_STICKY = re.compile(r"^(header|cookie):[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _sticky(value: str) -> str:
    if not _STICKY.match(value):
        raise ValueError(f"must be header:NAME or cookie:NAME, not {value!r}")
    return value


_MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$", re.ASCII)


def _model_id(value: str) -> str:
    if not _MODEL_ID.match(value):
        raise ValueError(f"must be a model id owner/name like BAAI/bge-small-en, not {value!r}")
    return value


_RUNTIME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _runtime_name(value: str) -> str:
    if not _RUNTIME.match(value):
        raise ValueError(
            f"must be a runtime framework name like vllm or sentence-transformers, not {value!r}"
        )
    return value


Text = Annotated[str, AfterValidator(_text)]
AppTarget = Annotated[str, AfterValidator(_app_target)]
Duration = Annotated[float, BeforeValidator(_duration)]
Memory = Annotated[int, BeforeValidator(_memory)]
Version = Annotated[int | Literal["latest"], BeforeValidator(_version)]
Scalar = Annotated[str | int | float | bool, BeforeValidator(_scalar)]
EnvName = Annotated[str, AfterValidator(_env_name)]
RelativePath = Annotated[str, AfterValidator(_relative_path)]
HealthPath = Annotated[str, AfterValidator(_health_path)]
Sticky = Annotated[str, AfterValidator(_sticky)]
ModelId = Annotated[str, AfterValidator(_model_id)]
RuntimeName = Annotated[str, AfterValidator(_runtime_name)]
ValohaiWsgi = Annotated[str, AfterValidator(_valohai_wsgi)]
