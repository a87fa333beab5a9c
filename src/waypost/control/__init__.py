"""The control plane: REST API, lifecycle, reconciler, route publishing, and ``waypost up``.

Layers: ``api`` and ``api_*`` (thin FastAPI routes) -> ``service``, ``endpoints``,
``aliases`` (use cases) -> the store and a ``Runtime``. ``reconcile``, ``autoscale``,
``crashes``, ``endpoint_settings`` and ``routing`` are pure functions of their inputs
(and the time); ``loop`` applies the reconciler's decisions. May import every other
waypost package except the gateway's internals (it only speaks the route snapshot
format to gateways).
"""
