"""``KubernetesOptions``: how the Kubernetes runtime places replicas, as one frozen value.

Built once at the edge with ``from_environ`` (``WAYPOST_K8S_*`` variables, plus
``KUBECONFIG``) and passed down; nothing in the package reads the environment
elsewhere. Every field has a default that works for ``waypost k8s install``'s
layout (control plane Service ``waypost-control`` in namespace ``waypost``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from waypost.errors import InvalidSpec, Problem

__all__ = ["BundleSource", "KubernetesOptions"]

BundleSource = Literal["fetch", "image"]

#: Environment variable -> field. Values are parsed by the field's type.
_ENVIRON: Mapping[str, str] = {
    "WAYPOST_K8S_NAMESPACE": "namespace",
    "WAYPOST_K8S_API_URL": "api_url",
    "WAYPOST_K8S_IMAGE": "waypost_image",
    "WAYPOST_K8S_DEFAULT_IMAGE": "default_image",
    "WAYPOST_K8S_BUNDLE_SOURCE": "bundle_source",
    "WAYPOST_K8S_IMAGE_WORKDIR": "image_workdir",
    "WAYPOST_K8S_DRAIN_SECONDS": "drain_seconds",
    "WAYPOST_K8S_STOP_GRACE": "stop_grace",
    "WAYPOST_K8S_PROGRESS_DEADLINE": "progress_deadline",
    "WAYPOST_K8S_MODELS_CLAIM": "models_claim",
    "WAYPOST_K8S_CONTEXT": "context",
    "KUBECONFIG": "kubeconfig",
}


@dataclass(frozen=True)
class KubernetesOptions:
    #: Where replicas run (the runtime's Role is limited to it).
    namespace: str = "waypost"
    #: The control plane as pods reach it; init containers fetch bundles from here.
    api_url: str = "http://waypost-control.waypost.svc:8081"
    #: waypost's own image: runs the init container that fetches the bundle and the shim.
    waypost_image: str = "waypost:latest"
    #: Image of endpoints whose spec names none (needs python3 with venv and pip).
    default_image: str = "python:3.11-slim"
    #: ``fetch``: an init container downloads the bundle with a short-lived token;
    #: ``image``: the endpoint's image already holds the bundle (in ``image_workdir``)
    #: and its requirements, and nothing is installed at pod start.
    bundle_source: BundleSource = "fetch"
    image_workdir: str = "/app"
    #: The port replicas listen on when the spec names none (each pod has its own IP).
    port: int = 8000
    #: preStop sleep: time for gateways to learn a pod is leaving before it gets SIGTERM.
    drain_seconds: float = 5.0
    #: Time requests in flight get after SIGTERM (the launcher's graceful timeout is 80%).
    stop_grace: float = 10.0
    #: Lower bound of the Deployment's progressDeadlineSeconds (the spec's startup
    #: timeout plus image pulls can ask for more).
    progress_deadline: int = 300
    field_manager: str = "waypost"
    #: Mint a new bundle token for a unit when the one in its Secret is older than this.
    token_refresh: float = 240.0
    #: Model files of ``runtime:`` endpoints live under this path, per ``owner/name``.
    models_path: str = "/models"
    #: A PersistentVolumeClaim mounted read-only at ``models_path``; None: the image has them.
    models_claim: str | None = None
    #: Server-side timeout of each watch request (the watch is then resumed).
    watch_timeout: int = 300
    kubeconfig: str | None = None
    context: str | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise InvalidSpec.of(problems)

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.bundle_source not in ("fetch", "image"):
            found.append(
                Problem(
                    f"bundle source must be fetch or image, not {self.bundle_source!r}",
                    field="bundle_source",
                )
            )
        if not 1 <= self.port <= 65535:
            found.append(Problem(f"not a TCP port: {self.port}", field="port"))
        for name in ("drain_seconds", "stop_grace", "token_refresh"):
            if getattr(self, name) < 0:
                found.append(Problem(f"{name} cannot be negative", field=name))
        if self.progress_deadline < 1 or self.watch_timeout < 1:
            found.append(Problem("deadlines and timeouts must be at least 1 second"))
        if not self.api_url.startswith(("http://", "https://")):
            found.append(Problem(f"api_url must be an http(s) URL: {self.api_url!r}"))
        return found

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **overrides: Any) -> KubernetesOptions:
        """Defaults, then ``WAYPOST_K8S_*`` variables, then ``overrides`` (None is ignored)."""
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        for variable, name in _ENVIRON.items():
            text = environ.get(variable)
            if not text:
                continue
            try:
                values[name] = _parse(str(types[name]), text)
            except ValueError:
                problems.append(Problem(f"{variable}={text!r} is not a number", field=variable))
        if problems:
            raise InvalidSpec.of(problems)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)


def _parse(type_name: str, text: str) -> Any:
    if type_name == "float":
        return float(text)
    if type_name == "int":
        return int(text)
    return text
