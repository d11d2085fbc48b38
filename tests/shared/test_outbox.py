"""The outbox (DESIGN.md §4, §5): every event reaches the Redis stream `ims:events` exactly once, in
outbox order, whether Redis was up at the write or the relay caught up later."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import Counter
from typing import Any

import pytest

from shared import db, events
from tests.conftest import publishing_to, unique

Row = dict[str, Any]


def stream() -> list[dict[str, Any]]:
    """Every entry of the stream, oldest first, fields decoded."""
    out = []
    for stream_id, fields in events.redis_client().xrange(events.STREAM):
        entry = {k.decode(): v.decode() for k, v in fields.items()}
        entry["data"] = json.loads(entry["data"])
        entry["stream_id"] = stream_id.decode()
        out.append(entry)
    return out


def outbox_id(entry: dict[str, Any]) -> int:
    """The outbox id in a stream entry's event_id (`<id>@<created_at>`)."""
    return int(entry["event_id"].split("@")[0])


def entries_for(event_ids: list[int]) -> list[dict[str, Any]]:
    wanted = {str(i) for i in event_ids}  # as text: other tests publish rows of their own making ("ended-…")
    return [e for e in stream() if e["event_id"].split("@")[0] in wanted]


def outbox_for_item(item_id: int) -> list[dict[str, Any]]:
    return db.query("SELECT id, type, data, published_at FROM events "
                    "WHERE COALESCE(data->>'item_id', data->'item'->>'id') = :id ORDER BY id", id=str(item_id))


def max_event_id() -> int:
    return db.one("SELECT COALESCE(max(id), 0) AS n FROM events")["n"]


def redis_unreachable() -> contextlib.AbstractContextManager[None]:
    """Point the publisher at a port nobody listens on; put everything back afterwards."""
    return publishing_to("redis://127.0.0.1:1")


def test_withdrawal_reaches_the_stream_exactly_once(api, staff, item):
    res = api.post(f"/api/v1/items/{item['id']}/withdraw", {"quantity": 3, "notes": "for the lab"},
                   token=staff["token"])
    assert res.status == 200, res.text
    rows = [r for r in outbox_for_item(item["id"]) if r["type"] == "stock_changed"]
    assert len(rows) == 1
    row = rows[0]

    [entry] = entries_for([row["id"]])
    assert entry["event"] == "stock_changed"
    data = entry["data"]
    assert (data["previous_quantity"], data["quantity"], data["delta"]) == (100, 97, -3)
    assert data["action"] == "withdraw"
    assert data["user"]["id"] == staff["user"]["id"]
    assert data["item_id"] == item["id"]
    assert entry["ts"].endswith("Z")
    assert data == row["data"]

    mine = [e for e in stream() if e["event"] == "stock_changed" and e["data"].get("item_id") == item["id"]]
    assert len(mine) == 1

    events.relay()
    assert len(entries_for([row["id"]])) == 1, "the relay published it a second time"
    assert all(r["published_at"] is not None for r in outbox_for_item(item["id"]))


def test_item_creation_event_is_published(api, manager):
    res = api.post("/api/v1/items", {"name": unique("Out"), "sku": unique("OUT"), "quantity": 5},
                   token=manager["token"])
    assert res.status == 201
    created = [r for r in outbox_for_item(res.json()["id"]) if r["type"] == "item_created"]
    assert len(created) == 1
    [entry] = entries_for([created[0]["id"]])
    assert entry["event"] == "item_created" and entry["data"]["item"]["sku"] == res.json()["sku"]


def test_redis_down_writes_succeed_and_relay_publishes_missed_events_once_in_order(api, manager, staff, item):
    before = max_event_id()
    with redis_unreachable():
        writes = [
            api.post(f"/api/v1/items/{item['id']}/withdraw", {"quantity": 1}, token=staff["token"]),
            api.post(f"/api/v1/items/{item['id']}/restock", {"quantity": 4}, token=staff["token"]),
            api.patch(f"/api/v1/items/{item['id']}", {"quantity": 50}, token=staff["token"]),
            api.post(f"/api/v1/items/{item['id']}/withdraw", {"quantity": 45}, token=staff["token"]),
            api.post("/api/v1/items", {"name": unique("Down"), "sku": unique("DOWN")}, token=manager["token"]),
            api.post("/api/v1/categories", {"name": unique("Cat")}, token=manager["token"]),
        ]
        assert [w.status for w in writes] == [200, 200, 200, 200, 201, 201], [w.text for w in writes]
        assert writes[3].json()["quantity"] == 5
        missed = [r["id"] for r in db.query("SELECT id FROM events WHERE id > :n ORDER BY id", n=before)]
    # four stock_changed, two low_stock_alert (the withdrawal's; the new item is created empty), item_created,
    # category_changed
    assert len(missed) >= 8
    assert entries_for(missed) == [], "published although Redis was down"
    types = Counter(r["type"] for r in db.query("SELECT type FROM events WHERE id = ANY(CAST(:ids AS bigint[]))",
                                                ids=missed))
    assert types["stock_changed"] == 4 and types["low_stock_alert"] == 2

    assert events.relay() >= len(missed)
    published = entries_for(missed)
    assert [outbox_id(e) for e in published] == missed, "each once, in outbox order"
    assert len({e["stream_id"] for e in published}) == len(missed)
    unpublished = db.query("SELECT id FROM events WHERE id = ANY(CAST(:ids AS bigint[])) AND published_at IS NULL",
                           ids=missed)
    assert unpublished == []
    assert events.relay() == 0
    assert len(entries_for(missed)) == len(missed)

    # Redis is back: the next write is published at once, not only by the relay.
    res = api.post(f"/api/v1/items/{item['id']}/restock", {"quantity": 1}, token=staff["token"])
    assert res.status == 200
    latest = [r for r in outbox_for_item(item["id"]) if r["type"] == "stock_changed"][-1]
    assert len(entries_for([latest["id"]])) == 1


def test_concurrent_relays_publish_each_event_once(api, staff, item):
    before = max_event_id()
    with redis_unreachable():
        for _ in range(5):
            assert api.post(f"/api/v1/items/{item['id']}/withdraw", {"quantity": 1},
                            token=staff["token"]).status == 200
    missed = [r["id"] for r in db.query("SELECT id FROM events WHERE id > :n ORDER BY id", n=before)]
    assert len(missed) >= 5

    barrier = threading.Barrier(6)
    counts: list[int] = []

    def relay() -> None:
        barrier.wait(timeout=30)
        counts.append(events.relay())

    threads = [threading.Thread(target=relay) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(counts) == 6
    assert [outbox_id(e) for e in entries_for(missed)] == missed
    assert events.relay() == 0


def test_relay_with_redis_down_raises_and_keeps_events_for_later(api, staff, item):
    before = max_event_id()
    with redis_unreachable():
        assert api.post(f"/api/v1/items/{item['id']}/withdraw", {"quantity": 2}, token=staff["token"]).status == 200
        missed = [r["id"] for r in db.query("SELECT id FROM events WHERE id > :n ORDER BY id", n=before)]
        with pytest.raises(events.Unavailable):  # ops/relay reports it; the outage is logged once
            events.relay()
        still = db.query("SELECT id FROM events WHERE id = ANY(CAST(:ids AS bigint[])) AND published_at IS NULL",
                         ids=missed)
        assert [r["id"] for r in still] == missed
    events.relay()
    assert [outbox_id(e) for e in entries_for(missed)] == missed


def test_writes_while_redis_is_down_log_the_outage_once(api, staff, item, caplog):
    withdraw = f"/api/v1/items/{item['id']}/withdraw"
    assert api.post(withdraw, {"quantity": 1}, token=staff["token"]).status == 200  # published: Redis is up
    with caplog.at_level(logging.INFO, logger="ims.events"):
        with redis_unreachable():
            for _ in range(10):
                assert api.post(withdraw, {"quantity": 1}, token=staff["token"]).status == 200
        assert api.post(withdraw, {"quantity": 1}, token=staff["token"]).status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "ims.events"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("redis unavailable (")
    assert lines[1].startswith("redis available again after ") and "(10 publishes left to the relay)" in lines[1]
    assert not [r for r in caplog.records if r.exc_info]
    events.relay()


def test_crossing_below_threshold_raises_low_stock_alert_and_restock_recovers(api, manager, staff, item):
    assert api.post(f"/api/v1/items/{item['id']}/withdraw", {"quantity": 91}, token=staff["token"]).status == 200
    assert api.post(f"/api/v1/items/{item['id']}/withdraw", {"quantity": 1}, token=staff["token"]).status == 200
    low = [r for r in outbox_for_item(item["id"]) if r["type"] == "low_stock_alert"]
    assert len(low) == 1, "edge-triggered: one alert for one crossing"
    alert = db.one("SELECT id, quantity, threshold, resolved_at FROM alerts WHERE item_id = :id", id=item["id"])
    assert low[0]["data"]["alert_id"] == alert["id"]
    assert (low[0]["data"]["quantity"], low[0]["data"]["threshold"]) == (9, 10) == (alert["quantity"],
                                                                                     alert["threshold"])
    [entry] = entries_for([low[0]["id"]])
    assert entry["event"] == "low_stock_alert" and entry["data"]["item_id"] == item["id"]

    res = api.post(f"/api/v1/items/{item['id']}/restock", {"quantity": 2}, token=staff["token"])
    assert res.json()["quantity"] == 10
    recovered = [r for r in outbox_for_item(item["id"]) if r["type"] == "stock_recovered"]
    assert len(recovered) == 1
    assert recovered[0]["data"]["alert_id"] == alert["id"] and recovered[0]["data"]["quantity"] == 10
    [entry] = entries_for([recovered[0]["id"]])
    assert entry["event"] == "stock_recovered"
    assert db.one("SELECT resolved_at FROM alerts WHERE id = :id", id=alert["id"])["resolved_at"] is not None

    # Re-armed: the next crossing raises a new alert.
    assert api.post(f"/api/v1/items/{item['id']}/withdraw", {"quantity": 5}, token=staff["token"]).status == 200
    low = [r for r in outbox_for_item(item["id"]) if r["type"] == "low_stock_alert"]
    assert len(low) == 2 and low[1]["data"]["alert_id"] != alert["id"]
    assert [e["event"] for e in entries_for([r["id"] for r in outbox_for_item(item["id"])])] == \
           [r["type"] for r in outbox_for_item(item["id"])]


def emit_deletions(tag: str, count: int) -> list[Row]:
    """`count` item_deleted events (one transaction each, published after commit); their outbox rows."""
    for n in range(count):
        with db.transaction() as conn:
            events.emit(conn, "item_deleted", {"item_id": -1, "sku": tag, "name": f"{tag}-{n}", "user": {"id": 0}})
    return db.query("SELECT id, created_at FROM events WHERE data->>'sku' = :tag ORDER BY id", tag=tag)


def test_events_written_after_a_restore_rewound_the_id_sequence_reach_the_stream(services, rewind_outbox):
    """A restore drops outbox rows and restarts the sequence below ids Redis holds markers and entries for:
    the new rows have the old ids but another creation time, and each is published once."""
    events.relay()  # everything earlier is published: the relay at the end sees only this test's rows
    old, new = unique("before"), unique("after")
    before = emit_deletions(old, 3)
    assert [outbox_id(e) for e in entries_for([r["id"] for r in before])] == [r["id"] for r in before]

    rewind_outbox(before[0]["id"])
    after = emit_deletions(new, 3)
    assert [r["id"] for r in after] == [r["id"] for r in before]  # the same ids again

    entries = entries_for([r["id"] for r in after])
    assert [e["data"]["name"] for e in entries] == [f"{old}-{n}" for n in range(3)] + [f"{new}-{n}" for n in range(3)]
    assert [e["event_id"] for e in entries] == [events.identity(r) for r in before + after]
    assert len({e["event_id"] for e in entries}) == 6
    assert events.relay() == 0  # the relay finds each new row's marker: added once
    assert len(entries_for([r["id"] for r in after])) == 6


def test_a_row_published_after_commit_and_again_by_the_relay_is_added_once(services):
    """After commit the movement statement's rows come from json_agg (created_at as text, in the session's
    time zone, trailing zeros dropped); the relay reads the same rows as datetimes. Both give one identity."""
    events.relay()  # everything earlier is published: the relay below sees only this test's row
    data = {"item_id": -1, "sku": unique("twice"), "name": "twice", "user": {"id": 0}}
    with db.transaction() as conn:
        conn.execute("SET LOCAL TimeZone = 'Asia/Kolkata'")
        row = conn.one("""
            WITH outbox AS (
                INSERT INTO events (type, data, created_at)
                VALUES ('item_deleted', CAST(:data AS jsonb), '2026-11-30 10:00:00.12+00')
                RETURNING id, type, data, created_at
            )
            SELECT (SELECT json_agg(outbox ORDER BY outbox.id) FROM outbox) AS events""", data=json.dumps(data))
        assert row is not None
        [published] = row["events"]
        events.publish_after_commit(row["events"])
    assert published["created_at"] == "2026-11-30T15:30:00.12+05:30"  # as the statement hands it over
    assert len(entries_for([published["id"]])) == 1

    assert events.relay() == 0
    [entry] = entries_for([published["id"]])
    assert db.one("SELECT published_at FROM events WHERE id = :id", id=published["id"])["published_at"] is not None
    assert entry["event_id"] == f"{published['id']}@2026-11-30T10:00:00.120000Z"  # one canonical form
    assert entry["ts"] == "2026-11-30T10:00:00.120000Z"
