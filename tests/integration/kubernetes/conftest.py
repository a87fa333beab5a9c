"""Fixtures: a fake Kubernetes API server on a free loopback port, and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from kubernetes import client

from tests.integration.kubernetes.fake_apiserver import FakeApiServer
from waypost.runtimes.kubernetes.apply import ClusterApi
from waypost.runtimes.kubernetes.options import KubernetesOptions
from waypost.runtimes.kubernetes.runtime import KubernetesRuntime


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


@pytest.fixture
def cluster(apiserver: FakeApiServer) -> Iterator[ClusterApi]:
    api = ClusterApi(client.Configuration(host=apiserver.url), namespace="waypost")
    yield api
    api.close()


@pytest.fixture
def options() -> KubernetesOptions:
    return KubernetesOptions(
        namespace="waypost", api_url="http://control.test:8081", watch_timeout=5
    )


@pytest.fixture
async def runtime(
    cluster: ClusterApi, options: KubernetesOptions
) -> AsyncIterator[KubernetesRuntime]:
    tokens = iter(f"token-{i}" for i in range(1000))
    rt = KubernetesRuntime(
        cluster,
        options,
        mint_token=lambda: next(tokens),
        sync_timeout=10,
        retry_delay=0.1,
        settle=30,
    )
    await rt.start()
    yield rt
    await rt.close()
