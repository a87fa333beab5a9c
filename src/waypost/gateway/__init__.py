"""The data plane: route, split, balance and proxy requests to ready replicas.

``python -m waypost.gateway`` serves ``/{org}/{project}/{deployment}/{selector}/{endpoint}/...``
from a route table it takes from the control plane (``sync``: a snapshot, then a long-poll
watch), and keeps serving its last table while the control plane is down.

``core/`` is sans-I/O (route matching, split choice, header rules, balancing, outlier
ejection, retry rules and budgets, admission, loop lag, mirror and hold accounting, log
lines, sink buffers, traffic counts, request framing, who may call a private endpoint,
HTTP/1.1 framing and keep-alive towards replicas); the modules here are the I/O shell
around it: ``server`` (the request handler), ``h1server`` (the HTTP/1.1 server: an
asyncio Protocol per connection on httptools, with the request limits, keep-alive,
pipelining and lingering close), ``bodylimit`` (a streamed body cut off at
``--max-body``), ``upstream`` (the client pool and streaming, over ``h1client``: the
gateway's own HTTP/1.1 client on asyncio Protocols and httptools, faster than aiohttp's
for this job), ``forward`` (attempts, retries, timeouts, ejection), ``replay`` (a small
body kept so a failed attempt can be resent), ``overload`` (per-target concurrency caps
and their wait queue), ``websocket`` (the upgrade, then the two connections spliced),
``metrics`` (Prometheus, summed over workers), ``holds`` (requests held while an
endpoint wakes), ``mirrors`` (shadow copies, run through ``background``), ``requestlog``
(JSON lines on stdout), ``sinks`` (the lines POSTed to each project's log sinks),
``reporter`` (the traffic report to the control plane), ``sync`` (route table updates),
``serve`` (one worker's lifetime and drain), ``workers`` (the pre-fork supervisor) and
``options`` (the limits).

The gateway never imports ``waypost.store`` or ``waypost.control``: only ``waypost.model``
and ``waypost.errors``, so it can run anywhere and restart alone.
"""
