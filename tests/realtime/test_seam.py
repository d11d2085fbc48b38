"""The seam between a client's replay and the live stream, in the hub alone: the replay reads Redis
itself and can get ahead of this process's tail, whose next events the client then already has."""

from __future__ import annotations

import json
from typing import Any

from websockets.protocol import State

from realtime.hub import Client, Hub
from realtime.metrics import Metrics
from realtime.stream import Event, to_event


class _Transport:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, frame: bytes) -> None:
        self.frames.append(frame)


class _Connection:
    """What the hub touches of a websockets ServerConnection: its state and its transport."""

    def __init__(self) -> None:
        self.protocol = type("Protocol", (), {"state": State.OPEN})()
        self.transport = _Transport()


def _event(n: int) -> Event:
    event = to_event(f"1700000000000-{n}", {"event_id": str(n), "event": "stock_changed", "ts": "t",
                                            "data": json.dumps({"item_id": 7, "quantity": 100 - n})})
    assert event is not None
    return event


def _quantities(conn: Any) -> list[int]:
    sent = [frame[frame.index(b"{"):] for frame in conn.transport.frames if b"{" in frame]
    return [json.loads(payload)["data"]["quantity"] for payload in sent if b'"stock_changed"' in payload]


def test_live_events_the_replay_already_sent_are_not_sent_again():
    hub = Hub(Metrics(), client_buffer=1 << 20, catch_up_limit=1000)
    conn = _Connection()
    client = Client(conn, user_id=1, role="manager", session="s")  # type: ignore[arg-type]
    hub.add(client)
    hub.publish(_event(1))  # read by the tail while the replay ran: held, and the replay has it too
    # The replay (events 1 to 3, sent by the server itself) got ahead of the tail, which has read only 1.
    conn.transport.frames += [_event(n).frame for n in (1, 2, 3)]
    hub.go_live(client, _event(3).key, b"\x81\x00")
    for n in (2, 3, 4, 5):  # the tail catches up, then goes on
        hub.publish(_event(n))
    assert _quantities(conn) == [99, 98, 97, 96, 95]


def test_a_restore_read_while_a_client_catches_up_is_sent_as_it_goes_live():
    """A staff client narrowed to one item's stock changes, still replaying: the restore is held for it like
    any live event, then sent as resync_required."""
    hub = Hub(Metrics(), client_buffer=1 << 20, catch_up_limit=1000)
    conn = _Connection()
    client = Client(conn, user_id=2, role="staff", session="s")  # type: ignore[arg-type]
    client.events, client.items = frozenset({"stock_changed"}), frozenset({8})
    hub.add(client)
    restored = to_event("1700000000001-0", {"event_id": "9@2026-11-30T03:00:00.000000Z", "event": "data_restored",
                                            "ts": "t", "data": json.dumps({"backup": "b.dump", "taken_at": "t"})})
    assert restored is not None
    hub.publish(_event(1))  # about item 7: not for this client
    hub.publish(restored)
    assert client.pending == [restored]
    hub.go_live(client, None, b"\x81\x00")
    sent = [json.loads(frame[frame.index(b"{"):]) for frame in conn.transport.frames if b"{" in frame]
    assert sent == [{"event": "resync_required",
                     "data": {"reason": "the database was restored from a backup", "backup": "b.dump"}}]
