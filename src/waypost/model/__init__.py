"""Pure domain of waypost: names, specs, prefixes, lifecycle, alias policies, routes.

Stdlib only, no I/O. Every other package builds on these values; nothing here
imports from the rest of waypost except ``waypost.errors``.
"""
