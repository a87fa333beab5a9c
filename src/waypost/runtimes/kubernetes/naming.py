"""Names, labels and annotations of the objects of one unit (an endpoint of a version): pure.

Kubernetes names are DNS labels (at most 63 characters, ``[a-z0-9-]``, a letter
first for Services), while waypost names may be 64 characters of mixed case with
``.`` and ``_``. So an object's name is a readable slug cut to fit plus a hash of
the whole key, which keeps two units apart however their slugs collide. The full
key rides along as an annotation (``waypost.io/key``), the source of truth when
the runtime reads objects back; the short hash label (``waypost.io/unit``) is
what selectors use.
"""

from __future__ import annotations

import hashlib
import re

from waypost.model.prefix import UnitKey

__all__ = [
    "ANNOTATION_KEY",
    "ANNOTATION_SPEC",
    "ANNOTATION_TOKEN_AT",
    "COMPONENT_REPLICA",
    "LABEL_COMPONENT",
    "LABEL_MANAGED",
    "LABEL_UNIT",
    "MANAGED_BY",
    "MANAGED_SELECTOR",
    "label_value",
    "object_name",
    "route_name",
    "secret_name",
    "selector",
    "unit_hash",
    "unit_labels",
]

LABEL_MANAGED = "app.kubernetes.io/managed-by"
MANAGED_BY = "waypost"
LABEL_COMPONENT = "app.kubernetes.io/component"
COMPONENT_REPLICA = "replica"
LABEL_UNIT = "waypost.io/unit"
ANNOTATION_KEY = "waypost.io/key"
ANNOTATION_SPEC = "waypost.io/spec-hash"
ANNOTATION_TOKEN_AT = "waypost.io/token-minted-at"
#: Selects every replica-side object the runtime made (pods, slices, deployments...).
MANAGED_SELECTOR = f"{LABEL_MANAGED}={MANAGED_BY},{LABEL_COMPONENT}={COMPONENT_REPLICA}"

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_LABEL_BAD = re.compile(r"[^A-Za-z0-9._-]")
_DNS_LABEL = 63


def _slug(text: str, limit: int) -> str:
    return _NOT_SLUG.sub("-", text.lower()).strip("-")[:limit].strip("-")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def unit_hash(key: UnitKey) -> str:
    """12 hex digits naming ``key`` in labels and names (48 bits: no collision in practice)."""
    return _digest(key.id)[:12]


def object_name(key: UnitKey) -> str:
    """``wp-{deployment}-v{version}-{endpoint}-{hash}``, cut to a 63-character DNS label.

    The Deployment, Service, PodDisruptionBudget and HPA of a unit share it.
    """
    tail = f"-{unit_hash(key)[:8]}"
    version = f"-v{key.version}"
    room = _DNS_LABEL - len("wp-") - len(version) - len(tail) - 1
    deployment = _slug(key.deployment, max(1, room // 2)) or "d"
    endpoint = _slug(key.endpoint, max(1, room - len(deployment))) or "e"
    return f"wp-{deployment}{version}-{endpoint}{tail}"[:_DNS_LABEL]


def secret_name(key: UnitKey) -> str:
    """The unit's Secret: the bundle token and the project's secrets."""
    return object_name(key)[: _DNS_LABEL - len("-secrets")] + "-secrets"


def route_name(prefix: str) -> str:
    """An HTTPRoute's name for a route prefix (``org/project/deployment/selector[/endpoint]``)."""
    parts = prefix.split("/")
    readable = _slug("-".join(parts[2:]), _DNS_LABEL - len("wp-") - 9)
    return f"wp-{readable or 'route'}-{_digest(prefix)[:8]}"


def label_value(text: str) -> str:
    """``text`` as a valid label value: at most 63 characters, alphanumeric at both ends."""
    cleaned = _LABEL_BAD.sub("-", text)[:_DNS_LABEL]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


def selector(key: UnitKey) -> dict[str, str]:
    return {LABEL_UNIT: unit_hash(key)}


def unit_labels(key: UnitKey) -> dict[str, str]:
    """Labels on every object of the unit: selection by hash, reading by people."""
    return {
        LABEL_MANAGED: MANAGED_BY,
        LABEL_COMPONENT: COMPONENT_REPLICA,
        LABEL_UNIT: unit_hash(key),
        "waypost.io/org": label_value(key.org),
        "waypost.io/project": label_value(key.project),
        "waypost.io/deployment": label_value(key.deployment),
        "waypost.io/version": str(key.version),
        "waypost.io/endpoint": label_value(key.endpoint),
    }
