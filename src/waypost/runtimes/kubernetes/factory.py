"""``create_runtime``: a ``KubernetesRuntime`` for ``waypost up --runtime kubernetes``.

The one place that turns settings into a cluster connection: in-cluster config
when the control plane runs in a pod, else the kubeconfig (``KUBECONFIG`` or
``~/.kube/config``, optionally a context).
"""

from __future__ import annotations

from collections.abc import Mapping

from waypost.runtimes.kubernetes.apply import ClusterApi, load_configuration
from waypost.runtimes.kubernetes.options import KubernetesOptions
from waypost.runtimes.kubernetes.runtime import KubernetesRuntime, MintToken
from waypost.settings import Settings

__all__ = ["create_runtime"]


def create_runtime(
    settings: Settings,
    *,
    mint_token: MintToken,
    environ: Mapping[str, str] | None = None,
    options: KubernetesOptions | None = None,
) -> KubernetesRuntime:
    """``options`` as given, else from ``environ`` (``WAYPOST_K8S_*``); without
    ``WAYPOST_K8S_API_URL`` pods reach the control plane at
    ``http://waypost-control.NAMESPACE.svc:API_PORT`` (what ``waypost k8s install`` makes)."""
    env = dict(environ or {})
    if options is None:
        options = KubernetesOptions.from_environ(env)
        if not env.get("WAYPOST_K8S_API_URL"):
            url = f"http://waypost-control.{options.namespace}.svc:{settings.api_port}"
            options = KubernetesOptions.from_environ(env, api_url=url)
    configuration = load_configuration(options.kubeconfig, options.context)
    api = ClusterApi(
        configuration, namespace=options.namespace, field_manager=options.field_manager
    )
    return KubernetesRuntime(api, options, mint_token=mint_token)
