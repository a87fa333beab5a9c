"""The local runtime: replicas as processes on this machine.

The only package that spawns processes, and within it only ``supervisor`` starts,
signals and reaps them. ``bundle`` unpacks a version's archive safely, ``envs``
makes (and caches) a virtualenv per requirements file, ``commands`` says what to
run and with which environment (pure), ``launcher`` runs inside a replica's env to
serve ``wsgi:``/``asgi:`` apps behind the prefix middleware, ``health`` probes
readiness, ``replica`` is one replica's life (start, ready, watch, restart), and
``runtime`` ties them into ``LocalRuntime``.

May import ``waypost.model``, ``waypost.errors``, ``waypost.prefix`` and
``waypost.runtimes.base``; never the store, control plane or gateway.
"""

from __future__ import annotations

from waypost.runtimes.local.runtime import LocalRuntime

__all__ = ["LocalRuntime"]
