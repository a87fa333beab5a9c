"""The data plane: route, split, balance and proxy requests to ready replicas.

``python -m waypost.gateway`` serves ``/{org}/{project}/{deployment}/{selector}/{endpoint}/...``
from a route table it takes from the control plane (``sync``: a snapshot, then a long-poll
watch), and keeps serving its last table while the control plane is down.

``core/`` is sans-I/O (route matching, split choice, header rules, balancing); the modules
here are the I/O shell around it: ``server`` (the request handler), ``upstream`` (the client
pool and streaming), ``sync`` (route table updates), ``accesslog``, ``serve`` (one worker's
lifetime and drain) and ``workers`` (the pre-fork supervisor).

The gateway never imports ``waypost.store`` or ``waypost.control``: only ``waypost.model``
and ``waypost.errors``, so it can run anywhere and restart alone.
"""
