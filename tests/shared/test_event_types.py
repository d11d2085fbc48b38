"""The event declarations (shared.event_types) and what follows from them: emit refuses what is not
declared, the SQL payloads are built from them, staff see only what a declaration opens to them, and
README's event table says the same."""

from __future__ import annotations

import json
import re

import pytest

from realtime import stream
from shared import db, event_types, events
from tests.conftest import ROOT

UndeclaredEvent = event_types.UndeclaredEvent


def outbox_size() -> int:
    return db.one("SELECT count(*) AS n FROM events")["n"]


def test_emit_refuses_an_undeclared_type_and_writes_nothing(services):
    before = outbox_size()
    with pytest.raises(UndeclaredEvent, match="item_exploded"):
        with db.transaction() as conn:
            events.emit(conn, "item_exploded", {"item_id": 1})
    assert outbox_size() == before


@pytest.mark.parametrize("data", [
    {"item_id": 1, "sku": "A", "name": "a"},  # `user` missing
    {"item_id": 1, "sku": "A", "name": "a", "user": {"id": 1}, "secret": "x"},  # one too many
])
def test_emit_refuses_a_payload_whose_keys_differ_from_the_declaration(services, data):
    before = outbox_size()
    with pytest.raises(UndeclaredEvent, match="item_deleted"):
        with db.transaction() as conn:
            events.emit(conn, "item_deleted", data)
    assert outbox_size() == before


def test_emit_writes_a_declared_event(services):
    with db.transaction() as conn:
        events.emit(conn, "item_deleted", {"item_id": 1, "sku": "A", "name": "a", "user": {"id": 1}})
    row = db.one("SELECT type, data FROM events ORDER BY id DESC LIMIT 1")
    assert row["type"] == "item_deleted" and row["data"] == {"item_id": 1, "sku": "A", "name": "a", "user": {"id": 1}}


def test_sql_payload_takes_its_keys_in_declared_order_from_the_declaration():
    declared = event_types.TYPES["stock_recovered"]
    exprs = {key: f"x.{key}" for key in reversed(declared.keys)}
    text = event_types.sql_payload("stock_recovered", exprs)
    pairs = ", ".join(f"'{key}', x.{key}" for key in declared.keys)
    assert text == f"'stock_recovered', jsonb_build_object({pairs})"


@pytest.mark.parametrize("name, exprs", [
    ("stock_recovered", {"alert_id": "1"}),  # fields left out
    ("stock_recovered", {**{k: "1" for k in event_types.TYPES["stock_recovered"].keys}, "extra": "1"}),
    ("stock_exploded", {}),
])
def test_sql_payload_refuses_what_the_declaration_does_not_say(name, exprs):
    with pytest.raises(UndeclaredEvent):
        event_types.sql_payload(name, exprs)


def test_a_type_is_manager_only_unless_declared_for_staff():
    assert event_types.EventType("new_type", "…", ()).staff is False
    assert event_types.EventType("new_type", "…", ()).audience == "managers"
    manager_only = {"low_stock_alert", "alert_acknowledged", "stock_recovered", "user_changed", "session_ended"}
    assert set(event_types.TYPES) - event_types.STAFF_VISIBLE == manager_only


def test_the_live_feed_reads_audience_from_the_declarations():
    def event(type_: str) -> stream.Event:
        made = stream.to_event("1-0", {"event": type_, "data": "{}", "event_id": "1", "ts": "t"})
        assert made is not None
        return made

    for declared in event_types.DECLARED:
        assert event(declared.name).manager_only is (not declared.staff), declared.name
    assert event("a_type_nobody_declared").manager_only  # staff never see what no declaration opens to them
    # A client may narrow to every type the feed sends as itself: all but data_restored (resync_required).
    assert stream.EVENT_TYPES == event_types.FEED_TYPES == set(event_types.TYPES) - {"data_restored"}


def test_a_restore_is_for_every_client_and_sent_as_resync_required():
    made = stream.to_event("1-0", {"event": "data_restored", "event_id": "1@t", "ts": "t",
                                   "data": '{"backup": "daily/2026-11-30.dump", "taken_at": "2026-11-30T03:00:00Z"}'})
    assert made is not None and made.to_everyone and not made.manager_only
    assert json.loads(made.payload) == {"event": "resync_required", "data": {
        "reason": "the database was restored from a backup", "backup": "daily/2026-11-30.dump"}}
    assert made.frame == stream.text_frame(made.payload)
    for name in event_types.FEED_TYPES:  # the others keep their audience and the client's narrowing
        other = stream.to_event("1-0", {"event": name, "data": "{}", "event_id": "1@t", "ts": "t"})
        assert other is not None and not other.to_everyone and b'"resync_required"' not in other.payload, name


def readme_event_table() -> dict[str, tuple[str, list[str]]]:
    """README's "Events" table: event -> (who receives it, payload fields in order)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Events\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    table = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        [name] = re.findall(r"`([a-z_]+)`", cells[0])
        table[name] = (cells[1], re.findall(r"`([a-z_]+)`", cells[3]))
    return table


def test_readme_event_table_matches_the_declarations():
    declared = {t.name: (t.audience, list(t.keys)) for t in event_types.DECLARED}
    assert readme_event_table() == declared
