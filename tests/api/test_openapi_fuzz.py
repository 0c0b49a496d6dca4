"""Every service's OpenAPI, fuzzed by schemathesis through the gateway, reaching the handlers.

What is covered: every operation of every service the gateway serves (identity, dashboard,
datasource, alert, ingestion, analytics — a new route is fuzzed as soon as it is served), with
cases drawn from its own OpenAPI. A case calls as the fuzz tenant's admin (a real token from
identity; one case in five with no token), and three in four use real objects of that tenant
(``objects.py``): in the path (users, roles, permissions, API keys, dashboards, versions, grants,
data sources on a real PostgreSQL, saved queries, executions, alerts; a DELETE gets an object of
its own), in the body (ids, SQL the source runs, passwords the policy takes, unique names) and in
the query (the source's table, a time range). Every answer must pass schemathesis' checks: no 5xx,
a status the operation declares, its declared content type, and a body valid against the declared
schema (error answers too: the kit's ``ErrorResponse``). Each operation must also answer 2xx at
least once — its handler did its work — unless ``NOT_REACHED`` says why no case can get there.

What is not: chains that follow an object the fuzz itself created (the objects are made before,
not by, the fuzz: no OpenAPI links), other tenants' objects (the access-matrix and stack tests),
and requests the HTTP servers refuse before any service (a NUL in a path, a non-ASCII header).
Cost: ``EXAMPLES`` cases per operation (fewer for slow ones), derandomized (the same cases every
run), no shrinking: about 45 s for all services on a loaded 2-core machine.
"""

from __future__ import annotations

import re
from collections import Counter

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from lookout_testing.servers import Servers
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.models import APIOperation, Case

from .objects import RealObjects

# FastAPI publishes OpenAPI 3.1; schemathesis 3.x supports it behind this switch.
schemathesis.experimental.OPEN_API_3_1.enable()

SERVICES = ["identity", "dashboard", "datasource", "alert", "ingestion", "analytics"]
FUZZ_ADDRESS = "127.0.0.5"
"""The fuzz connects from a loopback address of its own: its many failed logins lock that address
in identity's throttle (and draw on the gateway's per-address limits), not 127.0.0.1, which the
rest of the suite logs in from."""


class _FromTheFuzzAddress(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = (FUZZ_ADDRESS, 0)
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]


def fuzz_session() -> requests.Session:
    session = requests.Session()
    session.mount("http://", _FromTheFuzzAddress())
    return session


SESSION = fuzz_session()
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)
EXAMPLES = 10
# Operations whose cases are slow (a password hashed, a tenant signed up, queries run, a large
# document generated): fewer.
FEWER_EXAMPLES = {
    "POST /signup": 5,
    "POST /users": 6,
    "POST /me/password": 3,
    "DELETE /tenants/{tenant_id}": 4,
    "DELETE /users/{user_id}": 5,
    "POST /executions/batch": 3,
    "POST /dashboards": 6,
    "PUT /dashboards/{dashboard_id}": 6,
    "POST /dashboards/import": 5,
}
# Operations no fuzzed case can carry to a 2xx, and why. An operation that newly never answers
# 2xx is listed with the answers it got ("422 invalid_schedule": 4, ...): give ``objects.py`` the
# real value it lacks (an object, a valid field), or say here why no case can have one.
NOT_REACHED = {
    "POST /auth/login": "needs a user's password",
    "POST /auth/refresh": "needs a refresh token",
    "POST /auth/service-token": "needs a service's secret",
    "POST /auth/api-key-token": "needs an API key",
    "POST /me/password": "needs the caller's password (an API-key token has none)",
    "POST /auth/logout": "an API-key token has no session to end (409)",
    "POST /executions/batch": "an item is one of two exact shapes (a saved query and its values,"
    " or a data source and SQL), which random items miss; test_execution_batch covers it",
}


VISIBLE_ASCII = re.compile(r"[\x20-\x7e]*")


def path_names(operation: APIOperation) -> list[str]:
    return re.findall(r"{(\w+)}", operation.path)


def answer_of(response: requests.Response) -> str:
    """The status, and an error's code (``"422 weak_password"``): what a case got, in a word."""
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return str(response.status_code)
    return f"{response.status_code} {code}"


def fuzz_operation(
    operation: APIOperation, objects: RealObjects, answers: Counter[str]
) -> str | None:
    """Run ``operation``'s cases; count their answers; the first failure's report, if any."""
    names = path_names(operation)
    method = operation.method.upper()

    @settings(
        max_examples=FEWER_EXAMPLES.get(f"{method} {operation.path}", EXAMPLES),
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Case) -> None:
        # The HTTP servers (nginx, uvicorn) answer a NUL in a path (schemathesis' path parameters
        # come percent-encoded) or a header byte outside visible ASCII (a control character, a
        # non-ASCII byte) with a 400 of their own,
        # before any service sees the request.
        assume(not any("%00" in str(value) for value in (case.path_parameters or {}).values()))
        assume(all(VISIBLE_ASCII.fullmatch(str(value)) for value in (case.headers or {}).values()))
        # By the case's place, not drawn, so that every operation gets its share of each kind.
        place = sum(answers.values())
        real = place % 4 != 3
        anonymous = place % 5 == 4
        caller = objects.tenant.admin
        if real and names:
            case.path_parameters, caller = objects.for_path(
                method, names, dict(case.path_parameters or {})
            )
        if real:
            case.body = objects.in_body(case.body)
            case.query = objects.in_query(case.query)
            objects.based_on_current_version(method, case)
        headers = dict(case.headers or {})
        headers.pop("Authorization", None)
        if not anonymous:
            headers["Authorization"] = f"Bearer {caller.token}"
        case.headers = headers
        response = case.call(session=SESSION, timeout=30)
        answers[answer_of(response)] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except AssertionError as error:
            # Kept, not raised: a case's mode follows its place, which a replay would not keep.
            failures.append(str(error))

    failures: list[str] = []
    try:
        run()
    except Exception as error:  # reported with every other operation's, not swallowed
        inner = "".join(f"\n{part}" for part in getattr(error, "exceptions", ()))
        failures.append(f"{error}{inner}")
    return f"{operation.verbose_name}: {failures[0]}" if failures else None


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_answers_as_its_openapi_says(
    service: str, servers: Servers, real_objects: RealObjects
) -> None:
    base = f"{servers.gateway}/api/{service}"
    ready = httpx.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, f"{service} is not ready: {ready.text}"
    schema = schemathesis.from_uri(f"{base}/openapi.json", base_url=base)
    failures: list[str] = []
    unreached: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        answers: Counter[str] = Counter()
        failure = fuzz_operation(operation, real_objects, answers)
        if failure is not None:
            failures.append(failure)
        key = f"{operation.method.upper()} {operation.path}"
        if not any(answer.startswith("2") for answer in answers) and key not in NOT_REACHED:
            unreached.append(f"{key}: {dict(answers)}")
    assert not failures, "\n\n".join(failures)
    assert not unreached, f"never answered 2xx: {unreached}"
