"""Every event a real workload writes is declared (shared.event_types), with exactly its declared fields:
the outbox holds nothing the declarations, the live feed's filter and /asyncapi.json do not know."""

from __future__ import annotations

from shared import db, event_types
from tests.api.workload import every_event_type


def test_every_event_a_workload_writes_is_declared_with_exactly_its_fields(api, manager, staff):
    start = db.one("SELECT COALESCE(max(id), 0) AS n FROM events")["n"]
    item = every_event_type(api, manager, staff)
    rows = db.query("SELECT id, type, data FROM events WHERE id > :start ORDER BY id", start=start)
    # The workload is representative: every type but data_restored, which only a restore writes.
    assert {r["type"] for r in rows} == set(event_types.TYPES) - {event_types.RESTORED}
    for row in rows:
        assert row["type"] in event_types.TYPES, row
        assert list(row["data"]) and set(row["data"]) == set(event_types.TYPES[row["type"]].keys), row
    assert rows[-1]["type"] == "item_deleted" and rows[-1]["data"]["item_id"] == item["id"]

