"""What the live feed delivers (DESIGN.md §5): every event in stream order as {id, event, data, ts};
manager-only events never reach staff; a client can narrow what it gets; a client resuming from
`last_event_id` gets what it missed once, in order, then live; a client that stops reading is dropped
while the others keep receiving."""

from __future__ import annotations

import asyncio
import threading

from realtime import stream
from shared import event_types, events
from tests.api.workload import every_event_type
from tests.realtime.conftest import aio, http_get, metric, peer, raw_client, withdraw


def key(message: dict) -> tuple[int, int]:
    return stream.parse_id(message["id"])


@aio
async def test_a_withdrawal_arrives_as_id_event_data_ts(feed, api, staff, item):
    async with peer(feed.url, token=staff["token"]) as client:
        await client.ready()
        withdraw(api, staff["token"], item["id"], 3)
        [message] = await client.about(item["id"])
    assert set(message) == {"id", "event", "data", "ts"}
    assert message["event"] == "stock_changed"
    data = message["data"]
    assert (data["previous_quantity"], data["quantity"], data["delta"], data["action"]) == (100, 97, -3, "withdraw")
    assert data["user"]["id"] == staff["user"]["id"]
    assert message["ts"].endswith("Z")
    [entry] = [e for e in events.redis_client().xrange(events.STREAM, message["id"], message["id"])]
    assert entry[1][b"event"] == b"stock_changed"


@aio
async def test_events_arrive_in_stream_order(feed, api, manager, item):
    async with peer(feed.url, token=manager["token"]) as client:
        await client.ready()
        for _ in range(5):
            withdraw(api, manager["token"], item["id"])
        got = await client.about(item["id"], 5)
    assert [m["data"]["quantity"] for m in got] == [99, 98, 97, 96, 95]
    assert [key(m) for m in got] == sorted(key(m) for m in got)


@aio
async def test_staff_never_receive_alerts_managers_do(feed, api, manager, staff, item):
    async with peer(feed.url, token=staff["token"]) as worker, peer(feed.url, token=manager["token"]) as boss:
        await worker.ready()
        await boss.ready()
        withdraw(api, staff["token"], item["id"], 95)  # below the threshold of 10: an alert
        res = api.post(f"/api/v1/items/{item['id']}/restock", {"quantity": 50}, token=staff["token"])
        assert res.status == 200, res.text  # back above it: the alert is resolved
        kinds = ("stock_changed", "low_stock_alert", "stock_recovered")
        seen_by_boss = await boss.about(item["id"], 4, kinds)
        seen_by_worker = await worker.about(item["id"], 2, kinds)
    assert [m["event"] for m in seen_by_boss] == ["stock_changed", "low_stock_alert", "stock_changed",
                                                  "stock_recovered"]
    # In stream order the alert sits between the two movements: staff get the movements only.
    assert [m["event"] for m in seen_by_worker] == ["stock_changed", "stock_changed"]
    assert [m["id"] for m in seen_by_worker] == [seen_by_boss[0]["id"], seen_by_boss[2]["id"]]


@aio
async def test_staff_do_not_receive_user_changes(feed, api, manager, staff, item):
    async with peer(feed.url, token=staff["token"]) as worker, peer(feed.url, token=manager["token"]) as boss:
        await worker.ready()
        await boss.ready()
        res = api.post("/api/v1/users", {"email": f"u{item['id']}@example.com", "password": "password-1",
                                         "full_name": "New", "role": "staff"}, token=manager["token"])
        assert res.status == 201, res.text
        withdraw(api, manager["token"], item["id"])
        seen: dict[str, list[str]] = {"staff": [], "manager": []}
        for role, client in (("staff", worker), ("manager", boss)):
            while not seen[role] or seen[role][-1] != "stock_changed":  # everything up to the withdrawal
                seen[role].append((await client.next())["event"])
    assert "user_changed" in seen["manager"]  # the event exists, before the withdrawal in the stream
    assert "user_changed" not in seen["staff"]



@aio
async def test_every_declared_type_reaches_managers_and_staff_only_those_declared_for_them(feed, api, manager,
                                                                                         staff):
    """A workload making every declared type the API writes: managers get all of them, staff exactly the
    types declared for staff; every message has the shape /asyncapi.json gives its type."""
    doc = api.get("/asyncapi.json").json()
    async with peer(feed.url, token=staff["token"]) as worker, peer(feed.url, token=manager["token"]) as boss:
        await worker.ready()
        await boss.ready()
        item = await asyncio.to_thread(every_event_type, api, manager, staff)
        seen: dict[str, list[dict]] = {"staff": [], "manager": []}
        for role, client in (("staff", worker), ("manager", boss)):
            # Everything up to the workload's last event, its item_deleted (which both may see).
            while not seen[role] or (seen[role][-1]["event"], seen[role][-1]["data"].get("item_id")) != (
                    "item_deleted", item["id"]):
                seen[role].append(await client.next())
    # Every type the feed sends as itself (data_restored, which only a restore writes, arrives as
    # resync_required: tests/realtime/test_restore.py).
    assert {m["event"] for m in seen["manager"]} == event_types.FEED_TYPES
    assert {m["event"] for m in seen["staff"]} == event_types.STAFF_VISIBLE & event_types.FEED_TYPES
    for message in seen["staff"] + seen["manager"]:
        payload = doc["components"]["messages"][message["event"]]["payload"]
        assert set(message) == set(payload["required"])
        data = doc["components"]["schemas"][payload["properties"]["data"]["$ref"].rsplit("/", 1)[1]]
        assert set(message["data"]) == set(data["required"]), message


@aio
async def test_a_type_no_declaration_opens_to_staff_never_reaches_them(feed, api, manager, staff, item):
    """An entry of a type this version does not declare (written by another version, say) is manager-only."""
    async with peer(feed.url, token=staff["token"]) as worker, peer(feed.url, token=manager["token"]) as boss:
        await worker.ready()
        await boss.ready()
        events.publish([{"id": f"undeclared-{item['id']}", "type": "inventory_audited",
                         "data": {"item_id": item["id"]}, "created_at": "2026-11-30T10:00:00+00:00"}])
        withdraw(api, manager["token"], item["id"])  # then one that staff may see
        kinds = ("inventory_audited", "stock_changed")
        seen_by_boss = await boss.about(item["id"], 2, kinds)
        seen_by_worker = await worker.about(item["id"], 1, kinds)
    assert [m["event"] for m in seen_by_boss] == ["inventory_audited", "stock_changed"]
    assert [m["event"] for m in seen_by_worker] == ["stock_changed"]
    assert seen_by_worker[0]["id"] == seen_by_boss[1]["id"]

def _item(api, manager, name: str) -> dict:
    res = api.post("/api/v1/items", {"name": name, "sku": name, "quantity": 50}, token=manager["token"])
    assert res.status == 201, res.text
    return res.json()


@aio
async def test_a_subscription_narrows_to_event_types_and_items(feed, api, manager, item):
    other = _item(api, manager, f"other-{item['id']}")
    async with peer(feed.url, token=manager["token"]) as client:
        await client.ready()
        await client.send({"type": "subscribe", "events": ["stock_changed"], "items": [item["id"]]})
        reply = await client.next()
        assert reply == {"event": "subscribed", "data": {"events": ["stock_changed"], "items": [item["id"]]}}
        withdraw(api, manager["token"], other["id"])  # another item
        res = api.patch(f"/api/v1/items/{item['id']}", {"name": "renamed"}, token=manager["token"])
        assert res.status == 200, res.text  # another event type
        withdraw(api, manager["token"], item["id"])
        first = await client.next()
    assert (first["event"], first["data"]["item_id"]) == ("stock_changed", item["id"])


@aio
async def test_a_subscription_can_be_given_in_the_url(feed, api, manager, item):
    other = _item(api, manager, f"url-{item['id']}")
    async with peer(feed.url, token=manager["token"], items=str(item["id"]), events="stock_changed") as client:
        await client.ready()
        withdraw(api, manager["token"], other["id"])
        withdraw(api, manager["token"], item["id"])
        first = await client.next()
    assert first["data"]["item_id"] == item["id"]


@aio
async def test_a_bad_subscription_is_answered_with_an_error_and_changes_nothing(feed, api, manager, item):
    async with peer(feed.url, token=manager["token"]) as client:
        await client.ready()
        await client.send({"type": "subscribe", "events": ["no_such_event"]})
        error = await client.next()
        await client.send({"type": "dance"})
        unknown = await client.next()
        withdraw(api, manager["token"], item["id"])
        [event] = await client.about(item["id"])
    assert error["event"] == "error" and "no_such_event" in error["data"]["message"]
    assert unknown["event"] == "error"
    assert event["event"] == "stock_changed"


@aio
async def test_resuming_replays_the_missed_events_once_in_order_then_goes_live(feed, api, manager, item):
    async with peer(feed.url, token=manager["token"]) as client:
        await client.ready()
        withdraw(api, manager["token"], item["id"])
        [seen] = await client.about(item["id"])
    for _ in range(3):  # while disconnected
        withdraw(api, manager["token"], item["id"])
    async with peer(feed.url, token=manager["token"], last_event_id=seen["id"]) as client:
        missed = await client.about(item["id"], 3)
        ready = await client.ready()
        withdraw(api, manager["token"], item["id"])
        [live] = await client.about(item["id"])
    assert [m["data"]["quantity"] for m in missed] == [98, 97, 96]
    assert live["data"]["quantity"] == 95
    assert key(seen) < key(missed[0]) and key(missed[-1]) < key(live)
    assert stream.parse_id(ready["data"]["last_event_id"]) >= key(missed[-1])


@aio
async def test_ready_gives_a_resume_point_even_before_any_event(feed, api, manager, item):
    async with peer(feed.url, token=manager["token"]) as client:
        position = (await client.ready())["data"]["last_event_id"]
    withdraw(api, manager["token"], item["id"])
    async with peer(feed.url, token=manager["token"], last_event_id=position) as client:
        [missed] = await client.about(item["id"])
    assert missed["data"]["quantity"] == 99


@aio
async def test_resuming_while_events_keep_coming_leaves_no_gap_and_no_duplicate(feed, api, manager, item):
    """The seam between replay and live: withdrawals run throughout the reconnect."""
    total = 40
    async with peer(feed.url, token=manager["token"]) as client:
        await client.ready()
        withdraw(api, manager["token"], item["id"])
        [first] = await client.about(item["id"])

    def keep_withdrawing() -> None:
        for _ in range(total - 1):
            withdraw(api, manager["token"], item["id"])

    writer = threading.Thread(target=keep_withdrawing)
    writer.start()
    try:
        await asyncio.sleep(0.05)
        async with peer(feed.url, token=manager["token"], last_event_id=first["id"]) as client:
            rest = await client.about(item["id"], total - 1)
    finally:
        writer.join()
    assert [m["data"]["quantity"] for m in rest] == list(range(98, 100 - total - 1, -1))


@aio
async def test_an_id_older_than_the_stream_keeps_asks_for_a_resync(feed, api, manager, item):
    async with peer(feed.url, token=manager["token"], last_event_id="1-0") as client:
        resync = await client.next()
        await client.ready()
        withdraw(api, manager["token"], item["id"])
        [live] = await client.about(item["id"])
    assert resync["event"] == "resync_required" and resync["data"]["reason"]
    assert live["data"]["quantity"] == 99


@aio
async def test_an_id_from_another_stream_asks_for_a_resync(feed, manager):
    async with peer(feed.url, token=manager["token"], last_event_id="99999999999999-0") as client:
        resync = await client.next()
    assert resync["event"] == "resync_required"


@aio
async def test_a_malformed_last_event_id_closes_with_4400(feed, manager):
    async with peer(feed.url, token=manager["token"], last_event_id="yesterday") as client:
        code, reason = await client.closed()
    assert code == 4400 and "last_event_id" in reason


@aio
async def test_a_client_that_stops_reading_is_dropped_while_others_keep_receiving(feed, api, manager, item):
    silent = raw_client(feed.url, manager["token"], receive_buffer=4096)
    try:
        async with peer(feed.url, token=manager["token"], items=str(item["id"])) as reader:
            await reader.ready()
            filler = "x" * 1990
            dropped = 'ims_realtime_clients_dropped_total{reason="slow"}'
            dropped_before = metric(http_get(feed.http_url + "/metrics")[2], dropped)

            def write() -> None:  # ~2.5 KB per event: far beyond the silent client's window and buffers
                for n in range(150):
                    res = api.patch(f"/api/v1/items/{item['id']}", {"description": f"{n} {filler}"},
                                    token=manager["token"])
                    assert res.status == 200, res.text

            # The writes run in a thread so this loop keeps reading like a healthy client.
            _, got = await asyncio.gather(asyncio.to_thread(write), reader.about(item["id"], 150, ("item_updated",)))
            assert [m["data"]["item"]["description"].split()[0] for m in got] == [str(n) for n in range(150)]
        text = http_get(feed.http_url + "/metrics")[2]
        assert metric(text, dropped) == dropped_before + 1
    finally:
        silent.close()
