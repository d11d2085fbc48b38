"""The OpenAPI document is the truth: schemathesis generates requests from /openapi.json (valid and
invalid ones) for every operation, as a manager, as staff and anonymously, against the real gateway,
PostgreSQL and Redis, and runs every check it has: no 5xx, every status and header documented, every
body matching its schema, valid data accepted and invalid data refused.

Bounded (MAX_EXAMPLES per operation and role) and derandomized, so CI sees the same requests each run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from gateway import manifest
from tests.conftest import loopback_address, make_user
from tests.contract.conftest import count

MAX_EXAMPLES = 20

SETTINGS = settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck), print_blob=False)


@pytest.fixture(scope="module")
def people(api, manager) -> Iterator[dict[str, Any]]:
    """Callers of their own, and users the generated PATCH /users/{id} may change at will: the
    session's manager and staff must keep their roles and tokens for the layers that run after this.
    Every account the run created (generated managers among them) is deactivated afterwards, so the
    later layers find the session's manager the only active one, as they expect."""
    from shared import db

    last = db.one("SELECT coalesce(max(id), 0) AS id FROM users")["id"]
    yield {"manager": make_user(api, manager, "manager"), "staff": make_user(api, manager, "staff"),
           "targets": [make_user(api, manager, "staff")["user"]["id"] for _ in range(3)]}
    db.execute("UPDATE users SET is_active = false WHERE id > :id", id=last)


@pytest.fixture(scope="module")
def contract(gateway, people) -> Any:
    schema = schemathesis.openapi.from_url(f"{gateway}/openapi.json")
    schema.config.update(base_url=f"{gateway}/api/v1")
    # Every check schemathesis has is on by default (max_response_time needs a limit; there is none).
    # A schema-valid body may still be refused by a rule the document cannot express: a category
    # that does not exist, an Idempotency-Key already used for another request, a password of more
    # than 72 bytes (JSON Schema counts characters; the field says so in words), a CSV body whose header
    # or quoting is not an items CSV (a string to the schema), an export cursor the server did not hand
    # out (opaque to the schema). Those are 422s of
    # their own kinds; the check `only_rule_refusals` below holds every other valid case to them. An
    # If-Match naming another version is a documented 412.
    schema.config.checks.positive_data_acceptance.expected_statuses = [
        "2xx", "401", "403", "404", "409", "412", "422", "429"]
    return schema


class _SendingFrom(requests.adapters.HTTPAdapter):
    """Connects from a loopback address of its own, so the run's generated failed sign-ins fill login
    throttle buckets (per client address) that no later test signs in from."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.mount("http://", _SendingFrom(loopback_address()))
    yield session
    session.close()


RULE_REFUSALS = {"foreign_key", "idempotency_key", "password_bytes", "password_unchanged", "csv_header", "csv_syntax",
                 "cursor"}


def only_rule_refusals(ctx: Any, response: Any, case: Any) -> bool | None:
    """A valid request answered 422 names a rule beyond the schema, never a schema-shaped reason."""
    meta = case.meta
    if response.status_code != 422 or meta is None or not meta.generation.mode.is_positive:
        return None
    kinds = {err.get("type") for err in json.loads(response.content).get("errors", [])}
    assert kinds <= RULE_REFUSALS, f"a schema-valid request was refused: {response.content[:400]!r}"
    return None


ROLES = ("manager", "staff", "anonymous")
OPERATIONS = [(f.method, f.route) for f in manifest.load() if f.routed]


def _call(case: Any, role: str, people: dict[str, Any], credentials: dict[str, str], http: requests.Session) -> None:
    if case.path.startswith("/users/{id}") and isinstance(case.path_parameters.get("id"), int) \
            and case.path_parameters["id"] >= 1:
        targets = people["targets"]
        case.path_parameters["id"] = targets[case.path_parameters["id"] % len(targets)]
    if role == "anonymous":
        case.headers.pop("Authorization", None)  # generated from the security scheme: no caller at all
    count(role, f"{case.method} {case.path}")
    case.call_and_validate(session=http, headers=credentials, additional_checks=[only_rule_refusals])


def _negatable(operation: Any) -> bool:
    return any(len(part) for part in (operation.path_parameters, operation.query, operation.body)) or any(
        p.name != "Authorization" for p in operation.headers)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,route", OPERATIONS, ids=[f"{m} {r}" for m, r in OPERATIONS])
def test_operation_keeps_the_contract(contract, people, http, role, method, route):
    operation = contract[route][method]
    # The caller's credentials are fixed (never negated: an invalid token is not what is tested here)
    # and passed as explicit, so the auth checks know them for real ones.
    fixed = {"Authorization": f"Bearer {people[role]['token']}"} if role != "anonymous" else {}
    modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if _negatable(operation) else [])
    for mode in modes:
        @SETTINGS
        @given(case=operation.as_strategy(generation_mode=mode, headers=fixed))
        def run(case: Any) -> None:
            _call(case, role, people, fixed, http)

        run()
