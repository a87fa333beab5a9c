"""The ``waypost`` command line: thin, it talks to the management API over HTTP only.

May import ``waypost.config`` (to validate and bundle locally before uploading),
``waypost.model`` and ``waypost.errors``; ``waypost up`` imports the control plane
lazily, so the other commands start fast and never touch the store.
"""
