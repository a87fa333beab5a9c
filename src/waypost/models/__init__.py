"""Model runtimes: the built-in model servers and the runtime-framework catalogue.

``tasks``, ``frameworks`` (with ``schema`` and ``catalogue``), ``modeldir`` and
``launch`` are light (stdlib and ``waypost.errors`` only): the model store, the control
plane and the local runtime import them to validate a ``kind="runtime"`` endpoint and
to build its replica command. The built-in server (``serve``, ``app``, ``openai``,
``batching``, ``backends``) imports Starlette and uvicorn, and torch and the model
libraries only in ``backends``' model modules, inside the replica process. Nothing
here imports the store, the control plane or the gateway.
"""
