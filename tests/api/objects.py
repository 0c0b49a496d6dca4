"""Real objects for the API fuzz: a tenant of the fuzz's own, reached through the running gateway,
and one object of each kind its services keep, by the path parameter that names it.

The fuzz puts these ids (and values that fit them) into the cases it sends, so that a case reaches
the handler's real work (read, change, publish, execute, …) and not only its 404 or 422. A DELETE
gets an object made for it alone (``for_path``), so that the shared objects live through the run;
a tenant deleted is one of its own, signed up for that case, with its own admin's token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from schemathesis.models import Case

SAVED_QUERY_VALUES = {"min_id": 2}
# Fields naming an object by another name than its path parameter's.
ID_ALIASES = {"query_id": "saved_query_id"}
AD_HOC_QUERY = "SELECT id, name FROM people ORDER BY id"
ALERT_SCHEDULE = {"kind": "interval", "seconds": 3600}
ALERT_CONDITION = {
    "value": {"kind": "column", "column": "id"},
    "threshold": {"op": ">", "value": 10},
}
_NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
# Query parameters with values that name real things: the data source's table, the last day (the
# range of analytics' reports, which holds the fuzz's own events).
QUERY_VALUES = {
    "schema": "public",
    "table": "people",
    "from": (_NOW - timedelta(days=1)).isoformat(),
    "to": (_NOW + timedelta(hours=1)).isoformat(),
    "tz": "UTC",
}
QUERY = "SELECT id, name FROM people WHERE id >= {{ min_id }} ORDER BY id"


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _channels() -> list[dict[str, Any]]:
    # Nothing listens on port 9: a notification is tried and recorded as failed.
    secret = f"whsec-{uuid.uuid4().hex}"
    return [{"kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": secret}]


@dataclass
class Caller:
    """Who a case calls as: a tenant's admin (its token) in that tenant."""

    tenant_id: str
    token: str


@dataclass
class FuzzTenant:
    """A tenant signed up through the gateway, whose admin's API key gives the fuzz its tokens (an
    API-key token outlives what the fuzz does to sessions: logging out, changing passwords)."""

    gateway: str
    http: httpx.Client
    tenant_id: str = ""
    api_key: str = ""
    _token: str = ""
    _token_at: float = 0.0

    def call(self, method: str, path: str, token: str, body: Any = None) -> dict[str, Any]:
        response = self.http.request(
            method,
            f"{self.gateway}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code in (200, 201), f"{method} {path}: {response.text}"
        return dict(response.json())

    def signup(self) -> Caller:
        name = _name("fuzz")
        response = self.http.post(
            f"{self.gateway}/api/identity/signup",
            json={
                "tenant_name": name,
                "tenant_slug": name,
                "username": name,
                "email": f"{name}@example.com",
                "password": f"fuzz passphrase {uuid.uuid4().hex}",
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return Caller(body["tenant"]["id"], body["tokens"]["access_token"])

    def start(self) -> None:
        admin = self.signup()
        self.tenant_id = admin.tenant_id
        created = self.call("POST", "/api/identity/api-keys", admin.token, {"name": "fuzz"})
        self.api_key = created["key"]

    @property
    def admin(self) -> Caller:
        """The admin, with an access token from the API key (a new one each minute: the suite
        may run longer than one lives)."""
        if not self._token or time.monotonic() - self._token_at > 60:
            response = self.http.post(
                f"{self.gateway}/api/identity/auth/api-key-token", json={"api_key": self.api_key}
            )
            assert response.status_code == 200, response.text
            self._token = response.json()["access_token"]
            self._token_at = time.monotonic()
        return Caller(self.tenant_id, self._token)


@dataclass
class RealObjects:
    """One object of each kind in the fuzz tenant, by the path parameter naming it (``shared``:
    the fuzz reads and changes these), and those other objects refer to (``referenced``: a data
    source and a saved query no case changes, so that what refers to them stays valid)."""

    tenant: FuzzTenant
    postgres_database: str
    shared: dict[str, str] = field(default_factory=dict)
    referenced: dict[str, str] = field(default_factory=dict)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.tenant.call("POST", path, self.tenant.admin.token, body)

    def role(self) -> str:
        body = {"name": _name("role"), "permissions": [{"resource": "dashboard", "action": "read"}]}
        return str(self._post("/api/identity/roles", body)["id"])

    def permission(self) -> str:
        body = {"resource": "saved_query", "action": "execute"}
        return str(
            self._post(f"/api/identity/roles/{self.shared['role_id']}/permissions", body)["id"]
        )

    def user(self) -> str:
        name = _name("user")
        body = {
            "username": name,
            "email": f"{name}@example.com",
            "password": f"user passphrase {uuid.uuid4().hex}",
            "role_id": self.shared["role_id"],
        }
        return str(self._post("/api/identity/users", body)["id"])

    def api_key(self) -> str:
        return str(self._post("/api/identity/api-keys", {"name": _name("key")})["id"])

    def data_source(self) -> str:
        body = {
            "name": _name("source"),
            "type": "postgresql",
            "connection_config": self.connection_config(),
        }
        return str(self._post("/api/datasource/data-sources", body)["id"])

    def saved_query(self, data_source_id: str | None = None) -> str:
        body = {
            "name": _name("query"),
            "query_text": QUERY,
            "data_source_id": data_source_id or self.shared["data_source_id"],
            "parameters": [{"name": "min_id", "type": "number", "default": 1}],
        }
        return str(self._post("/api/datasource/saved-queries", body)["id"])

    def execution(self) -> str:
        path = f"/api/datasource/saved-queries/{self.shared['saved_query_id']}/execute"
        return str(self._post(path, {"values": SAVED_QUERY_VALUES})["execution_id"])

    def dashboard(self) -> str:
        body = {
            "name": _name("dashboard"),
            "components": [
                {
                    "id": "people",
                    "type": "chart",
                    "saved_query_id": self.referenced["saved_query_id"],
                    "parameter_bindings": {"min_id": "minimum"},
                }
            ],
            "layout": {"items": [{"component_id": "people", "x": 0, "y": 0, "w": 8, "h": 4}]},
            "filters": [
                {"id": "minimum", "type": "number", "label": "From id", "parameter": "min_id"}
            ],
        }
        return str(self._post("/api/dashboard/dashboards", body)["id"])

    def grant(self) -> str:
        path = f"/api/dashboard/dashboards/{self.shared['dashboard_id']}/grants"
        return str(
            self._post(path, {"user_id": self.shared["user_id"], "permission": "view"})["id"]
        )

    def alert(self) -> str:
        body = {
            "name": _name("alert"),
            "query_id": self.referenced["saved_query_id"],
            "parameter_values": SAVED_QUERY_VALUES,
            "condition_config": dict(ALERT_CONDITION),
            "notification_config": {"channels": _channels()},
            "schedule": dict(ALERT_SCHEDULE),
        }
        return str(self._post("/api/alert/alerts", body)["id"])

    def factories(self) -> dict[str, Callable[[], str]]:
        """How to make an object each path parameter names, in an order where each finds what it
        needs among the shared objects made before it."""
        return {
            "tenant_id": lambda: self.tenant.tenant_id,
            "role_id": self.role,
            "permission_id": self.permission,
            "user_id": self.user,
            "api_key_id": self.api_key,
            "data_source_id": self.data_source,
            "saved_query_id": self.saved_query,
            "execution_id": self.execution,
            "dashboard_id": self.dashboard,
            "version": lambda: "1",
            "grant_id": self.grant,
            "alert_id": self.alert,
        }

    def make_shared(self) -> None:
        # Objects only referred to (from dashboards, alerts, bodies), never in a path: the fuzz
        # changes the shared ones (a saved query's parameters), not these.
        self.referenced["data_source_id"] = self.data_source()
        self.referenced["saved_query_id"] = self.saved_query(self.referenced["data_source_id"])
        for name, make in self.factories().items():
            self.shared[name] = make()

    def _referred(self, key: str) -> str | None:
        name = ID_ALIASES.get(key, key)
        return self.referenced.get(name) or self.shared.get(name)

    def connection_config(self) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": 5432,
            "database": self.postgres_database,
            "user": "postgres",
            "password": "unused (trust)",
            "ssl_mode": "disable",
        }

    def in_body(self, body: Any) -> Any:
        """``body`` with real values where it names things at any depth: every ``…_id`` field a
        shared object of that kind (a user's role, a saved query's data source, a chart's saved
        query, a grant's user), SQL the data source can run, a password the policy accepts, a
        connection to the real PostgreSQL, an alert's schedule and channel, names that must be
        unique made so."""
        if isinstance(body, list):
            return [self.in_body(item) for item in body]
        if isinstance(body, str):
            # No NUL: PostgreSQL cannot store one, so the services refuse it (the other cases,
            # with the generated bodies as they are, keep sending them).
            return body.replace("\x00", "")
        if not isinstance(body, dict):
            return body
        # An id given (a string, not null) names a real object; "exactly one of" rules hold.
        real = {
            key: self._referred(key) or value
            if key.endswith("_id") and isinstance(value, str)
            else self.in_body(value)
            for key, value in body.items()
        }
        for key in ("values", "parameter_values"):
            if isinstance(real.get(key), dict):
                real[key] = dict(SAVED_QUERY_VALUES)
        # Unique across runs too (the fuzz's cases are the same every run; emails are global).
        fresh = {"username": _name("user"), "tenant_slug": _name("fuzz")}
        fresh["email"] = f"{fresh['username']}@example.com"
        for key, value in fresh.items():
            if isinstance(real.get(key), str):
                real[key] = value
        if isinstance(real.get("query_text"), str):
            real["query_text"] = AD_HOC_QUERY
        for key in ("password", "new_password"):
            if isinstance(real.get(key), str):
                real[key] = f"fuzz passphrase {uuid.uuid4().hex}"
        if isinstance(real.get("schedule"), dict):
            real["schedule"] = dict(ALERT_SCHEDULE)
        if isinstance(real.get("condition_config"), dict):
            real["condition_config"] = dict(ALERT_CONDITION)
        if isinstance(real.get("channels"), list):
            real["channels"] = _channels()
        if "connection_config" in real:
            real.update(type="postgresql", connection_config=self.connection_config())
        return real

    def in_query(self, query: dict[str, Any] | None) -> dict[str, Any] | None:
        """``query`` naming shared objects by their ids, the data source's real table, a time
        range with data."""
        if not query:
            return query
        return {
            key: self._referred(key) or value
            if key.endswith("_id")
            else QUERY_VALUES.get(key, value)
            for key, value in query.items()
        }

    def based_on_current_version(self, method: str, case: Case) -> None:
        """An update or restore of the shared dashboard based on its version now (the body's
        ``version``, or the ``If-Match`` a case sends), so that it is not refused as stale."""
        dashboard_id = (case.path_parameters or {}).get("dashboard_id")
        if dashboard_id != self.shared["dashboard_id"] or not isinstance(case.body, dict):
            return
        if method != "PUT" and "version" not in case.body:
            return
        path = f"/api/dashboard/dashboards/{dashboard_id}"
        version = int(self.tenant.call("GET", path, self.tenant.admin.token)["version"])
        case.body["version"] = version
        for name in case.headers or {}:
            if name.lower() == "if-match":
                case.headers[name] = f'"{version}"'

    def for_path(
        self, method: str, names: list[str], generated: dict[str, Any]
    ) -> tuple[dict[str, Any], Caller]:
        """Path parameters naming real objects (a DELETE's last one made for it alone), and who
        calls. A name without a factory (a service's new resource) keeps its generated value."""
        caller = self.tenant.admin
        parameters = {name: self.shared.get(name, generated.get(name)) for name in names}
        if method == "DELETE" and names:
            last = names[-1]
            if last == "tenant_id":
                caller = self.tenant.signup()
                parameters[last] = caller.tenant_id
            elif last in self.factories():
                parameters[last] = self.factories()[last]()
        return parameters, caller
