"""The live feed across a database restore: events written after the outbox id sequence rewound are
delivered (not taken for duplicates of the older events with the same ids), and the restore's
`data_restored` event reaches every client, whatever its role and narrowing, as `resync_required`:
live, and in a replay from before it."""

from __future__ import annotations

from typing import Any

from shared import db, events
from tests.conftest import unique
from tests.realtime.conftest import aio, peer, withdraw

REASON = "the database was restored from a backup"


def outbox_ids(item_id: int) -> list[int]:
    return [r["id"] for r in db.query("SELECT id FROM events WHERE type = 'stock_changed' "
                                      "AND (data->>'item_id')::bigint = :id ORDER BY id", id=item_id)]


def announce_restore(backup: str) -> None:
    """What the restore command does once the database is back: the event, in a transaction, then the relay."""
    with db.transaction() as conn:
        events.emit(conn, "data_restored", {"backup": backup, "taken_at": "2026-11-30T03:00:00Z"})
    events.relay()


def is_restore(message: dict[str, Any]) -> bool:
    return message.get("event") in ("resync_required", "data_restored")


@aio
async def test_events_after_the_outbox_ids_rewound_reach_a_connected_client(feed, api, manager, item,
                                                                            rewind_outbox):
    """The feed has seen outbox ids n and n+1; after a restore rewinds the sequence, new events get
    those ids again, with a later creation time: the client receives them too."""
    async with peer(feed.url, token=manager["token"]) as client:
        await client.ready()
        for _ in range(2):
            withdraw(api, manager["token"], item["id"])
        first = await client.about(item["id"], 2)
        ids = outbox_ids(item["id"])
        rewind_outbox(ids[0])
        for _ in range(2):
            withdraw(api, manager["token"], item["id"])
        again = await client.about(item["id"], 2)
    assert outbox_ids(item["id"]) == ids  # the same outbox ids, now for the later withdrawals
    assert [m["data"]["quantity"] for m in first + again] == [99, 98, 97, 96]
    assert len({m["id"] for m in first + again}) == 4  # four stream entries


@aio
async def test_a_restore_reaches_every_client_as_resync_required(feed, api, manager, staff, item):
    """Managers and staff, narrowed or not: each gets resync_required with the backup's key, never
    data_restored itself."""
    backup = unique("daily") + ".dump"
    async with (peer(feed.url, token=manager["token"]) as boss,
                peer(feed.url, token=staff["token"]) as worker,
                peer(feed.url, token=staff["token"], events="stock_changed") as narrowed,
                peer(feed.url, token=manager["token"], events="stock_changed", items=str(item["id"])) as one_item):
        clients = (boss, worker, narrowed, one_item)
        for client in clients:
            await client.ready()
        announce_restore(backup)
        got = [(await client.until(is_restore))[0] for client in clients]
    for message in got:
        assert message == {"event": "resync_required", "data": {"reason": REASON, "backup": backup}}


@aio
async def test_a_client_resuming_from_before_a_restore_gets_resync_required_in_its_replay(feed, api, manager,
                                                                                        staff, item):
    backup = unique("weekly") + ".dump"
    async with peer(feed.url, token=staff["token"]) as client:
        await client.ready()
        withdraw(api, manager["token"], item["id"])
        [seen] = await client.about(item["id"])
    announce_restore(backup)
    withdraw(api, manager["token"], item["id"])
    # Narrowed to this item's stock changes, and staff: the restore reaches it all the same.
    async with peer(feed.url, token=staff["token"], last_event_id=seen["id"], events="stock_changed",
                    items=str(item["id"])) as client:
        replayed = [await client.next() for _ in range(3)]
    assert replayed[0] == {"event": "resync_required", "data": {"reason": REASON, "backup": backup}}
    assert (replayed[1]["event"], replayed[1]["data"]["quantity"]) == ("stock_changed", 98)
    assert replayed[2]["event"] == "ready"
