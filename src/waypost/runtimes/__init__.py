"""Runtimes build and run replicas of endpoints of versions.

``base`` holds the ``Runtime`` protocol that the control plane programs against;
``local`` runs replicas as processes on this machine (the only code that spawns
processes); a Kubernetes runtime implements the same protocol. May import
``waypost.model`` and ``waypost.errors``; never the store, control plane or gateway.
"""
