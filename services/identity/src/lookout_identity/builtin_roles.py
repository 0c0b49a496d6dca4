"""The roles every new tenant starts with, and their permissions.

- ``admin``: every action on every resource (``admin`` implies all actions).
- ``editor``: reads the tenant, its users and roles; creates dashboards, saved queries and alerts,
  and changes, deletes or shares only their own (a dashboard's ``share`` includes editing it: an
  editor sharing every dashboard could change every one); runs queries and analytics.
- ``viewer``: reads; runs saved queries and analytics; changes nothing.
"""

from __future__ import annotations

from typing import Any

from lookout_kit.auth.policy import RESOURCES

OWN: dict[str, Any] = {"owner_only": True}

Grant = tuple[str, str, dict[str, Any] | None]

BUILTIN_ROLES: dict[str, tuple[str, list[Grant]]] = {
    "admin": (
        "Everything in the tenant",
        [(resource, "admin", None) for resource in RESOURCES],
    ),
    "editor": (
        "Creates dashboards, queries and alerts; changes its own",
        [
            ("tenant", "read", None),
            ("user", "read", None),
            ("role", "read", None),
            ("dashboard", "read", None),
            ("dashboard", "create", None),
            ("dashboard", "share", OWN),
            ("dashboard", "update", OWN),
            ("dashboard", "delete", OWN),
            ("data_source", "read", None),
            ("data_source", "execute", None),
            ("saved_query", "read", None),
            ("saved_query", "create", None),
            ("saved_query", "execute", None),
            ("saved_query", "update", OWN),
            ("saved_query", "delete", OWN),
            ("saved_query", "share", OWN),
            ("alert", "read", None),
            ("alert", "create", None),
            ("alert", "update", OWN),
            ("alert", "delete", OWN),
            ("analytics", "read", None),
            ("analytics", "execute", None),
        ],
    ),
    "viewer": (
        "Reads dashboards and runs saved queries",
        [
            ("tenant", "read", None),
            ("user", "read", None),
            ("role", "read", None),
            ("dashboard", "read", None),
            ("data_source", "read", None),
            ("saved_query", "read", None),
            ("saved_query", "execute", None),
            ("alert", "read", None),
            ("analytics", "read", None),
            ("analytics", "execute", None),
        ],
    ),
}
