"""`make demo` (localenv.demo) as a newcomer runs it: against a running front of its own on a fresh
database (the demo's first-user path wants an instance with no user, and its few hundred items and
open alerts would be in every other test's way on the session's). Loaded once, run again with the
printed credentials: nothing changes."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from localenv import process
from localenv.front import Front
from tests.backup.conftest import front_env, migrated, query
from tests.conftest import ROOT

DATABASE = "ims_test_demo"


@pytest.fixture(scope="module")
def instance(services: dict[str, str], tmp_path_factory: Any) -> Iterator[tuple[str, str]]:
    """(the front's URL, its database URL): an IMS with no user yet."""
    from localenv import scratch
    from shared import settings

    database = migrated(DATABASE)
    front = Front(front_env(database), tmp_path_factory.mktemp("demo") / "front.log")
    try:
        yield front.url, database
    finally:
        front.stop()
        scratch.drop_database(settings.get().database_url, DATABASE)


def run_demo(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    child = process.child_env({"IMS_URL": url, **env})
    for name in ("IMS_DEMO_EMAIL", "IMS_DEMO_PASSWORD", "IMS_DEMO_REMOTE"):
        if name not in env:
            child.pop(name, None)
    return subprocess.run([sys.executable, "-m", "localenv.demo"], cwd=ROOT, env=child, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)


def state(database: str) -> dict[str, Any]:
    """What the demo made, row by row (not the sessions and audit entries a sign-in adds)."""
    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) for r in query(database, sql)]

    return {
        "categories": rows("SELECT id, name, description FROM categories ORDER BY id"),
        "locations": rows("SELECT id, name, description, address FROM locations ORDER BY id"),
        "items": rows("SELECT id, sku, name, category_id, location_id, quantity, unit, price::text, "
                      "low_stock_threshold, version, updated_at FROM items ORDER BY id"),
        "ledger": rows("SELECT id, item_id, action, quantity_before, quantity_after, notes FROM inventory_logs "
                       "ORDER BY id"),
        "alerts": rows("SELECT id, item_id, acknowledged_at, resolved_at FROM alerts ORDER BY id"),
        "users": rows("SELECT id, email, role, is_active FROM users ORDER BY id"),
    }


def test_the_demo_loads_a_sample_inventory_once_and_a_second_run_changes_nothing(instance):
    url, database = instance
    first = run_demo(url)
    assert first.returncode == 0, first.stderr + first.stdout
    out = first.stdout
    manager = re.search(r"manager\s+manager@demo\.example\s+password: (\S+)", out)
    staff = re.search(r"staff\s+staff@demo\.example\s+password: (\S+)", out)
    assert manager and staff, out
    assert f"Open {url}/ and sign in" in out and f"{url}/docs" in out

    loaded = state(database)
    assert len(loaded["categories"]) == 8 and len(loaded["locations"]) == 5
    assert len(loaded["items"]) >= 200
    assert len({sku.casefold() for _, sku, *_ in loaded["items"]}) == len(loaded["items"])
    assert all(category and location for _, _, _, category, location, *_ in loaded["items"])
    actions = [action for _, _, action, *_ in loaded["ledger"]]
    assert actions.count("create") == len(loaded["items"])
    assert {"restock", "withdraw", "count"} <= set(actions) and len(actions) > 1.5 * len(loaded["items"])
    open_alerts = [a for a in loaded["alerts"] if a[3] is None]
    assert len(open_alerts) >= 1
    assert len([a for a in loaded["alerts"] if a[2] is not None]) == 1
    low = [i for i in loaded["items"] if i[5] < i[8]]  # quantity below threshold: each has its open alert
    assert {i[0] for i in low} == {a[1] for a in open_alerts}
    assert [(email, role, active) for _, email, role, active in loaded["users"]] == [
        ("manager@demo.example", "manager", True), ("staff@demo.example", "staff", True)]
    assert re.search(rf"items +{len(loaded['items'])} created, +0 already there", out), out
    assert f"{len(open_alerts)} open on the demo items, 1 acknowledged" in out

    as_staff = run_demo(url, IMS_DEMO_EMAIL="staff@demo.example", IMS_DEMO_PASSWORD=staff.group(1))
    assert as_staff.returncode == 2 and "not a manager" in as_staff.stderr, as_staff.stderr

    # Users exist now: without credentials the demo refuses rather than register anyone.
    refused = run_demo(url)
    assert refused.returncode == 2 and "IMS_DEMO_EMAIL" in refused.stderr, refused.stderr
    assert state(database) == loaded

    again = run_demo(url, IMS_DEMO_EMAIL="manager@demo.example", IMS_DEMO_PASSWORD=manager.group(1))
    assert again.returncode == 0, again.stderr + again.stdout
    assert state(database) == loaded
    assert re.search(rf"items +0 created, +{len(loaded['items'])} already there", again.stdout), again.stdout
    assert "password:" not in again.stdout  # nothing generated, nothing to print


def test_the_demo_refuses_wrong_or_half_given_credentials(instance):
    url, _ = instance
    wrong = run_demo(url, IMS_DEMO_EMAIL="manager@demo.example", IMS_DEMO_PASSWORD="not-the-password")
    assert wrong.returncode == 2 and "Signing in as manager@demo.example failed" in wrong.stderr
    half = run_demo(url, IMS_DEMO_EMAIL="manager@demo.example")
    assert half.returncode == 2 and "both" in half.stderr


def test_the_demo_stays_on_this_machine_unless_told(instance):
    refused = run_demo("http://192.0.2.10:8000")  # TEST-NET-1: never contacted
    assert refused.returncode == 2 and "IMS_DEMO_REMOTE=1" in refused.stderr
