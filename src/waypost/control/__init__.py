"""The control plane: REST API, lifecycle, reconciler, route publishing, and ``waypost up``.

Layers: ``api`` (thin FastAPI routes) -> ``service`` (use cases) -> the store and a
``Runtime``. ``reconcile`` and ``routing`` are pure functions of their inputs (and the
time); ``loop`` applies their decisions. May import every other waypost package except
the gateway's internals (it only speaks the route snapshot format to gateways).
"""
