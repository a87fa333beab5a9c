"""The pod template of a unit: containers, commands, environment, probes, resources. Pure.

What runs is what the local runtime runs (``runtimes/local/commands.py``): the same
``replica_argv`` and ``replica_environ``, with the paths of a pod instead of a
machine. A pod has one volume, ``/workspace`` (an emptyDir), and up to two init
containers:

- ``fetch`` (waypost's image) writes the launcher shim and, with
  ``bundle_source: fetch``, downloads the version's bundle from the control plane
  with the short-lived token in the unit's Secret, checks its sha256 and unpacks it;
- ``install`` (the endpoint's image) makes ``/workspace/env``, a virtualenv that
  sees the image's packages, and installs the requirements and the server
  (gunicorn or uvicorn) into it — skipped when the image holds everything
  (``bundle_source: image``) and for ``runtime:`` endpoints.

Probes come from ``health``: ``path`` -> HTTP GET (2xx/3xx), no path -> a TCP
connect, as the local runtime takes any HTTP answer. A ``startupProbe`` gives
``startup_timeout``; readiness and liveness follow. A ``preStop`` sleep keeps a
terminating pod serving while gateways learn from its EndpointSlice that it
leaves, then SIGTERM gives requests in flight ``stop_grace``.
"""

from __future__ import annotations

import hashlib
import math
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from waypost.model.spec import EndpointSpec, Resources
from waypost.models.frameworks import get_framework
from waypost.models.launch import ReplicaLaunch
from waypost.models.launch import replica_argv as model_argv
from waypost.models.tasks import parse_task
from waypost.runtimes.base import Workload
from waypost.runtimes.kubernetes.naming import ANNOTATION_KEY, secret_name
from waypost.runtimes.kubernetes.options import KubernetesOptions
from waypost.runtimes.local.commands import replica_argv, replica_environ

__all__ = [
    "APP_CONTAINER",
    "BUNDLES_DIR",
    "ENV_DIR",
    "FETCH_CONTAINER",
    "GPU_RESOURCE",
    "INSTALL_CONTAINER",
    "TOKEN_FILE",
    "app_argv",
    "cpu_quantity",
    "memory_quantity",
    "pod_template",
    "replica_port",
    "secret_env_key",
]

APP_CONTAINER = "app"
FETCH_CONTAINER = "fetch"
INSTALL_CONTAINER = "install"
WORKSPACE = "/workspace"
BUNDLES_DIR = f"{WORKSPACE}/bundles"
SHIM_DIR = f"{WORKSPACE}/shim"
ENV_DIR = f"{WORKSPACE}/env"
HOME_DIR = f"{WORKSPACE}/home"
TOKEN_DIR = "/var/run/waypost/bundle"
TOKEN_FILE = f"{TOKEN_DIR}/token"
GPU_RESOURCE = "nvidia.com/gpu"
#: The label GPU Feature Discovery puts on nodes; ``resources.gpu_type`` selects on it.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_MI = 1024 * 1024


def replica_port(spec: EndpointSpec, options: KubernetesOptions) -> int:
    return spec.port or options.port


def _installs(spec: EndpointSpec, options: KubernetesOptions) -> bool:
    """Whether an init container makes a virtualenv for this endpoint at pod start."""
    if options.bundle_source == "image" or spec.kind == "runtime":
        return False
    return spec.kind in ("wsgi", "asgi") or bool(spec.requirements)


def _app_dir(workload: Workload, options: KubernetesOptions) -> str:
    if options.bundle_source == "image":
        return options.image_workdir
    return f"{BUNDLES_DIR}/{workload.bundle_digest}"


def _python(spec: EndpointSpec, options: KubernetesOptions) -> str:
    return f"{ENV_DIR}/bin/python" if _installs(spec, options) else "python"


def app_argv(workload: Workload, options: KubernetesOptions) -> list[str]:
    """The replica's command: the local runtime's argv, listening on the pod's IP."""
    spec = workload.spec
    port = replica_port(spec, options)
    if spec.kind == "runtime":
        # The same model server command as locally (waypost's image has the models extra;
        # external servers' images have their binary), the model mounted under models_path.
        framework = get_framework(spec.target)
        task = workload.model_task or framework.tasks[0]
        return model_argv(
            ReplicaLaunch(
                framework,
                model_dir=Path(options.models_path.rstrip("/")) / (spec.model or ""),
                task=parse_task(task),
                engine_args=dict(spec.engine_args),
                quantization=spec.quantization,
                host="0.0.0.0",
                port=port,
                python=Path("python"),
                model_name=spec.model,
            )
        )
    return replica_argv(
        spec,
        python=Path(_python(spec, options)),
        host="0.0.0.0",
        port=port,
        graceful=options.stop_grace * 0.8,
    )


def secret_env_key(name: str) -> str:
    """The key in the unit's Secret that holds the environment variable ``name``."""
    if _SECRET_KEY.match(name) and len(name) < 240:
        return f"env.{name}"
    return "env-" + hashlib.sha256(name.encode()).hexdigest()[:24]


def _environment(workload: Workload, options: KubernetesOptions) -> list[dict[str, Any]]:
    """The local runtime's environment; the workload's own (project secrets) by reference
    to the unit's Secret, so their values never sit in the Deployment."""
    spec = workload.spec
    installs = _installs(spec, options)
    values = replica_environ(
        workload.key,
        spec,
        {},
        port=replica_port(spec, options),
        env_dir=Path(ENV_DIR if installs else "/usr/local"),
        home=Path(HOME_DIR),
        shim=Path(SHIM_DIR),
    )
    if not installs:
        values.pop("VIRTUAL_ENV", None)
    ours = ("PORT", "SCRIPT_NAME", "VH_DEFAULT_PREFIX", "HF_HUB_OFFLINE")
    env: list[dict[str, Any]] = []
    secret = secret_name(workload.key)
    for name, value in values.items():
        if name in workload.env and name not in ours and name not in ("PATH", "PYTHONPATH"):
            continue
        env.append({"name": name, "value": value})
    for name in workload.env:
        if name in ours or name in ("PATH", "PYTHONPATH"):
            continue
        ref = {"name": secret, "key": secret_env_key(name)}
        env.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
    return env


def cpu_quantity(cpu: float) -> str:
    """CPUs as a Kubernetes quantity: ``2`` or ``500m``."""
    if float(cpu).is_integer():
        return str(int(cpu))
    return f"{max(1, round(cpu * 1000))}m"


def memory_quantity(size: int) -> str:
    return f"{size // _MI}Mi" if size % _MI == 0 else str(size)


def _resources(resources: Resources) -> dict[str, Any]:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if resources.cpu is not None:
        requests["cpu"] = limits["cpu"] = cpu_quantity(resources.cpu)
    if resources.memory is not None:
        requests["memory"] = limits["memory"] = memory_quantity(resources.memory)
    if resources.gpu:
        # Extended resources are set in limits; requests must equal them.
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(resources.gpu)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _probe_handler(spec: EndpointSpec) -> dict[str, Any]:
    if spec.health.path:
        path = spec.health.path if spec.health.path.startswith("/") else "/" + spec.health.path
        return {"httpGet": {"path": path, "port": "http", "scheme": "HTTP"}}
    return {"tcpSocket": {"port": "http"}}


def _probes(spec: EndpointSpec) -> dict[str, Any]:
    handler = _probe_handler(spec)
    period = max(1, math.ceil(spec.health.interval))
    return {
        "startupProbe": {
            **handler,
            "periodSeconds": 1,
            "timeoutSeconds": 1,
            "failureThreshold": max(1, math.ceil(spec.health.startup_timeout)),
        },
        "readinessProbe": {
            **handler,
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            **handler,
            "periodSeconds": 5,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
    }


def _fetch_container(workload: Workload, options: KubernetesOptions) -> dict[str, Any]:
    argv = ["python", "-m", "waypost.runtimes.kubernetes.fetch", "--shim", SHIM_DIR]
    argv += ["--home", HOME_DIR]
    mounts: list[dict[str, Any]] = [{"name": "workspace", "mountPath": WORKSPACE}]
    if options.bundle_source == "fetch":
        url = f"{options.api_url.rstrip('/')}/api/v1/internal/bundles/{workload.bundle_digest}"
        argv += ["--url", url, "--sha256", workload.bundle_digest]
        argv += ["--token-file", TOKEN_FILE, "--bundles", BUNDLES_DIR]
        mounts.append({"name": "bundle-token", "mountPath": TOKEN_DIR, "readOnly": True})
    return {
        "name": FETCH_CONTAINER,
        "image": options.waypost_image,
        "imagePullPolicy": "IfNotPresent",
        "command": argv,
        "volumeMounts": mounts,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
    }


def _install_container(workload: Workload, image: str, app_dir: str) -> dict[str, Any]:
    spec = workload.spec
    packages = {"wsgi": ["gunicorn"], "asgi": ["uvicorn"]}.get(spec.kind, [])
    args = [*packages]
    if spec.requirements:
        args += ["-r", spec.requirements]
    pip = f"{ENV_DIR}/bin/python -m pip install --no-cache-dir --disable-pip-version-check"
    script = (
        "set -e\n"
        f"python3 -m venv --system-site-packages {ENV_DIR} || python -m venv "
        f"--system-site-packages {ENV_DIR}\n"
        f"{pip} {' '.join(shlex.quote(a) for a in args)}\n"
    )
    return {
        "name": INSTALL_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", script],
        "workingDir": app_dir,
        "env": [{"name": "HOME", "value": HOME_DIR}, {"name": "PIP_NO_INPUT", "value": "1"}],
        "volumeMounts": [{"name": "workspace", "mountPath": WORKSPACE}],
    }


def _image(spec: EndpointSpec, options: KubernetesOptions) -> str:
    if spec.image:
        return spec.image
    return options.waypost_image if spec.kind == "runtime" else options.default_image


def pod_template(
    workload: Workload,
    options: KubernetesOptions,
    *,
    labels: Mapping[str, str],
    annotations: Mapping[str, str] = {},
) -> dict[str, Any]:
    spec = workload.spec
    image = _image(spec, options)
    app_dir = _app_dir(workload, options)
    mounts: list[dict[str, Any]] = [{"name": "workspace", "mountPath": WORKSPACE}]
    volumes: list[dict[str, Any]] = [{"name": "workspace", "emptyDir": {}}]
    if options.bundle_source == "fetch":
        volumes.append(
            {
                "name": "bundle-token",
                "secret": {
                    "secretName": secret_name(workload.key),
                    "items": [{"key": "token", "path": "token"}],
                    "defaultMode": 0o400,
                },
            }
        )
    if spec.kind == "runtime" and options.models_claim:
        volumes.append(
            {
                "name": "models",
                "persistentVolumeClaim": {"claimName": options.models_claim, "readOnly": True},
            }
        )
        mounts.append({"name": "models", "mountPath": options.models_path, "readOnly": True})
    init = [_fetch_container(workload, options)]
    if _installs(spec, options):
        init.append(_install_container(workload, image, app_dir))
    drain = max(0, math.ceil(options.drain_seconds))
    app: dict[str, Any] = {
        "name": APP_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": app_argv(workload, options),
        "workingDir": app_dir,
        "env": _environment(workload, options),
        "ports": [
            {"name": "http", "containerPort": replica_port(spec, options), "protocol": "TCP"}
        ],
        "volumeMounts": mounts,
        **_probes(spec),
    }
    resources = _resources(spec.resources)
    if resources:
        app["resources"] = resources
    if drain:
        app["lifecycle"] = {"preStop": {"sleep": {"seconds": drain}}}
    pod_spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": math.ceil(options.drain_seconds + options.stop_grace),
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "initContainers": init,
        "containers": [app],
        "volumes": volumes,
    }
    node_selector = dict(spec.node_selector)
    if spec.resources.gpu_type:
        node_selector.setdefault(GPU_PRODUCT_LABEL, spec.resources.gpu_type)
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    if spec.resources.gpu:
        pod_spec["tolerations"] = [
            {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
        ]
    return {
        "metadata": {
            "labels": dict(labels),
            "annotations": {ANNOTATION_KEY: workload.key.id, **annotations},
        },
        "spec": pod_spec,
    }
