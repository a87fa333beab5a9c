"""``waypost k8s install|render``: Kubernetes manifests for an installation and its endpoints.

``render`` prints, as YAML, what the Kubernetes runtime would apply for each
endpoint (Deployment, Service, Secret, PodDisruptionBudget, HPA) — for a project
folder (as version ``--version``, bundle digest computed like ``waypost deploy``)
or, with ``--deployed``, for the versions the API knows. ``--gateway-api`` adds
an ``HTTPRoute`` per version, ``latest`` and alias route. ``install`` prints the
control plane, gateways, RBAC and NetworkPolicy, or applies them with ``--apply``.
"""

from __future__ import annotations

import hashlib
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from waypost.cli.alias import fetch_aliases
from waypost.cli.bundle import make_bundle
from waypost.cli.common import api_client, default_project, run_command
from waypost.cli.deploy import split_project
from waypost.cli.render import err, out
from waypost.config import load_folder
from waypost.control.routing import AliasInput, EndpointInput, build_snapshot
from waypost.errors import InvalidSpec, Problem
from waypost.model.lifecycle import EndpointState
from waypost.model.policy import AliasPolicy
from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec
from waypost.runtimes.base import Workload
from waypost.runtimes.kubernetes.gatewayapi import GatewayRef, http_routes
from waypost.runtimes.kubernetes.install import CREATE_ONLY, InstallOptions, install_manifests
from waypost.runtimes.kubernetes.manifests import unit_manifests
from waypost.runtimes.kubernetes.options import BundleSource, KubernetesOptions
from waypost.runtimes.kubernetes.render import to_yaml
from waypost.runtimes.kubernetes.runtime import cpu_target

__all__ = ["Unit", "k8s_app", "unit_objects"]

k8s_app = typer.Typer(
    help="Kubernetes: install waypost on a cluster, render endpoints as manifests.",
    no_args_is_help=True,
)


@dataclass(frozen=True)
class Unit:
    """One endpoint of a version, as ``render`` needs it."""

    key: UnitKey
    spec: EndpointSpec
    digest: str
    state: EndpointState = EndpointState.RUNNING


def unit_objects(units: Sequence[Unit], options: KubernetesOptions) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for unit in units:
        workload = Workload(unit.key, unit.spec, Path("bundle.tar.gz"), unit.digest)
        objects += unit_manifests(workload, options, cpu_target=cpu_target(workload)).all()
    return objects


def _routes(
    units: Sequence[Unit], aliases: Sequence[AliasInput], options: KubernetesOptions, gw: GatewayRef
) -> tuple[list[dict[str, Any]], list[str]]:
    endpoints = [
        EndpointInput(
            u.key.org,
            u.key.project,
            u.key.deployment,
            u.key.version,
            u.key.endpoint,
            u.state,
            u.state in (EndpointState.RUNNING, EndpointState.SLEEPING),
            u.spec.visibility,
            u.spec.strip_prefix,
            (),
        )
        for u in units
    ]
    rendered = http_routes(
        build_snapshot(0, endpoints, aliases), namespace=options.namespace, gateway=gw
    )
    return rendered.routes, rendered.notes


def _folder_units(
    path: Path, project: str | None, version: int
) -> tuple[list[Unit], list[AliasInput]]:
    config = load_folder(path)
    chosen = project or config.project
    if not chosen:
        raise InvalidSpec.of([Problem("no project: pass --project ORG/PROJECT or set project:")])
    org, name = split_project(chosen)
    digest = hashlib.sha256(make_bundle(path, config.deployments).data).hexdigest()
    units = [
        Unit(UnitKey(org, name, d.name, version, e.name), e, digest)
        for d in config.deployments
        for e in d.endpoints
    ]
    aliases = [AliasInput(org, name, a.deployment, a.name, a.policy) for a in config.aliases]
    return units, aliases


def _deployed_units(project: str | None) -> tuple[list[Unit], list[AliasInput]]:
    units: list[Unit] = []
    aliases: list[AliasInput] = []
    digests: dict[str, str] = {}
    with api_client() as client:
        for ep in client.get("/endpoints", project=project):
            key = UnitKey.parse(ep["key"])
            version_path = (
                f"/projects/{key.org}/{key.project}/deployments/{key.deployment}"
                f"/versions/{key.version}"
            )
            if version_path not in digests:
                digests[version_path] = client.get(version_path)["bundle_digest"]
            spec = EndpointSpec.from_json(ep["spec"])
            units.append(Unit(key, spec, digests[version_path], EndpointState(ep["state"])))
        for alias in fetch_aliases(client, project):
            org, name = split_project(alias["project"])
            policy = AliasPolicy.from_json(alias["policy"])
            aliases.append(AliasInput(org, name, alias["deployment"], alias["name"], policy))
    return units, aliases


@k8s_app.command("render")
def render(
    path: Annotated[Path, typer.Argument(help="The project folder.")] = Path("."),
    deployed: Annotated[
        bool, typer.Option("--deployed", help="Render what the API has, not the folder.")
    ] = False,
    project: Annotated[str | None, typer.Option("--project", "-p", help="ORG/PROJECT.")] = None,
    version: Annotated[int, typer.Option(min=1, help="Version number for a folder.")] = 1,
    gateway_api: Annotated[
        bool, typer.Option("--gateway-api", help="Add Gateway API HTTPRoutes for every route.")
    ] = False,
    gateway: Annotated[str, typer.Option(help="The Gateway the HTTPRoutes attach to.")] = "waypost",
    gateway_namespace: Annotated[str | None, typer.Option(help="The Gateway's namespace.")] = None,
    namespace: Annotated[str, typer.Option(help="Namespace of the replicas.")] = "waypost",
    api_url: Annotated[str | None, typer.Option(help="The control plane as pods reach it.")] = None,
    image: Annotated[str | None, typer.Option(help="waypost's image (init containers).")] = None,
    bundle_source: Annotated[
        str, typer.Option(help="fetch (init container) or image (the image holds it).")
    ] = "fetch",
) -> None:
    """Print the manifests of every endpoint (and with --gateway-api its HTTPRoutes) as YAML."""

    def action() -> int:
        source: BundleSource = "image" if bundle_source == "image" else "fetch"
        if bundle_source not in ("fetch", "image"):
            raise InvalidSpec.of([Problem("--bundle-source is fetch or image")])
        options = KubernetesOptions(
            namespace=namespace,
            api_url=api_url or f"http://waypost-control.{namespace}.svc:8081",
            waypost_image=image or KubernetesOptions.waypost_image,
            bundle_source=source,
        )
        if deployed:
            units, aliases = _deployed_units(default_project(project))
        else:
            units, aliases = _folder_units(path, project, version)
        objects = unit_objects(units, options)
        notes: list[str] = []
        if gateway_api:
            routes, notes = _routes(units, aliases, options, GatewayRef(gateway, gateway_namespace))
            objects += routes
        sys.stdout.write(to_yaml(objects, header="generated by waypost k8s render"))
        for note in notes:
            err.print(f"note: {note}", markup=False, highlight=False)
        return 0

    run_command(action)


@k8s_app.command("install")
def install(
    namespace: Annotated[str, typer.Option(help="Namespace of the control plane and gateways.")] = (
        "waypost"
    ),
    manage: Annotated[
        list[str] | None,
        typer.Option(help="Namespace where replicas run (repeatable; default: --namespace)."),
    ] = None,
    image: Annotated[str, typer.Option(help="waypost's image.")] = "waypost:latest",
    gateways: Annotated[int, typer.Option(min=1, help="Gateway replicas.")] = 2,
    gateway_workers: Annotated[int, typer.Option(min=1, help="Processes per gateway.")] = 2,
    service_type: Annotated[
        str, typer.Option(help="Type of the gateway Service (ClusterIP, LoadBalancer...).")
    ] = "ClusterIP",
    database_url: Annotated[
        str | None, typer.Option(help="PostgreSQL URL (else the Secret must exist).")
    ] = None,
    database_secret: Annotated[str, typer.Option(help="Secret with key url.")] = (
        "waypost-database"
    ),
    storage: Annotated[str, typer.Option(help="Size of the control plane's volume.")] = "10Gi",
    apply: Annotated[bool, typer.Option("--apply", help="Apply to the cluster.")] = False,
    kubeconfig: Annotated[str | None, typer.Option(help="kubeconfig file.")] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context.")] = None,
) -> None:
    """Print (or --apply) the control plane, gateways, RBAC and NetworkPolicy."""

    def action() -> int:
        opts = InstallOptions(
            namespace=namespace,
            managed_namespaces=tuple(manage or ()),
            image=image,
            gateway_replicas=gateways,
            gateway_workers=gateway_workers,
            gateway_service_type=service_type,
            database_url=database_url,
            database_secret=database_secret,
            storage=storage,
        )
        objects = install_manifests(opts, gateway_token=secrets.token_urlsafe(32))
        if not apply:
            sys.stdout.write(to_yaml(objects, header="generated by waypost k8s install"))
            return 0
        from waypost.runtimes.kubernetes.apply import ClusterApi, load_configuration

        api = ClusterApi(load_configuration(kubeconfig, context), namespace=namespace)
        try:
            for obj in objects:
                what = f"{obj['kind']}/{obj['metadata']['name']}"
                if (obj["metadata"].get("annotations") or {}).get(CREATE_ONLY):
                    made = api.create_if_absent(obj)
                    out.print(f"{'created' if made else 'kept'} {what}", highlight=False)
                else:
                    api.apply(obj)
                    out.print(f"applied {what}", highlight=False)
        finally:
            api.close()
        return 0

    run_command(action)
