"""The Redis stream `ims:events` as the live feed sees it: ids, events as sent to clients, replay, retention.

An entry's fields are `event_id` (the outbox row's identity, `<id>@<created_at>`: only compared, to
skip a duplicate), `event`, `data` (JSON text) and `ts` (shared/events.py writes them). A client
receives `{"id": <stream id>, "event", "data", "ts"}`; the stream id is what it hands back as
`last_event_id` to resume. A `data_restored` entry is the exception: every client receives it as the
server's own `{"event": "resync_required", "data": {"reason", "backup"}}`, since after a restore
what it holds may be newer than the database.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

from websockets.frames import Frame, Opcode

from shared import event_types
from shared.events import STREAM

log = logging.getLogger("ims.realtime")

EVENT_TYPES = event_types.FEED_TYPES  # what a client may narrow to
RESTORED_REASON = "the database was restored from a backup"

REPLAY_BATCH = 500
_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")

Key = tuple[int, int]


def parse_id(text: str) -> Key:
    """'1700000000000-3' -> (1700000000000, 3); ValueError for anything else."""
    match = _ID.match(text)
    if match is None:
        raise ValueError(f"not a stream id: {text[:40]!r}")
    return int(match[1]), int(match[2])


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    key: Key
    type: str
    event_id: str  # the outbox row's identity: the same event published twice (a relay after data loss) has one
    item_id: int | None
    data: dict[str, Any]
    payload: bytes  # the message as UTF-8 JSON
    frame: bytes  # the WebSocket text frame every client allowed to see it receives: built once per process

    @property
    def manager_only(self) -> bool:
        # Staff see only what a declaration opens to them (shared.event_types): a type declared
        # manager-only, or not declared at all, never reaches them.
        return self.type not in event_types.STAFF_VISIBLE

    @property
    def to_everyone(self) -> bool:
        """A restore concerns every client, whatever its role and narrowing (sent as resync_required)."""
        return self.type == event_types.RESTORED


def _item_id(data: dict[str, Any]) -> int | None:
    """The item an event is about, wherever that event type keeps it."""
    for value in (data.get("item_id"), (data.get("item") or {}).get("id"), (data.get("alert") or {}).get("item_id")):
        if isinstance(value, int):
            return value
    return None


def to_event(stream_id: str, fields: dict[str, str]) -> Event | None:
    """The event in a stream entry, or None (logged) for an entry not written by shared.events."""
    try:
        type_, raw = fields["event"], fields["data"]
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("data is not an object")
        ts = fields.get("ts")
    except (KeyError, ValueError) as exc:
        log.warning("skipping stream entry %s: %s", stream_id, exc)
        return None
    if type_ == event_types.RESTORED:
        payload = control("resync_required", {"reason": RESTORED_REASON, "backup": data.get("backup")}).encode()
    else:  # `raw` is already JSON: splice it in rather than parse and dump it again.
        payload = ('{"id":%s,"event":%s,"data":%s,"ts":%s}' % (
            json.dumps(stream_id), json.dumps(type_), raw, json.dumps(ts))).encode()
    return Event(stream_id, parse_id(stream_id), type_, fields.get("event_id", ""), _item_id(data), data,
                 payload, text_frame(payload))


def text_frame(payload: bytes | str) -> bytes:
    """One unmasked, uncompressed text frame, as a server sends it (RFC 6455 §5.2)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return Frame(Opcode.TEXT, data).serialize(mask=False)


def control(event: str, data: dict[str, Any] | None = None) -> str:
    """A message from the server itself (ready, subscribed, resync_required, error): no stream id."""
    return json.dumps({"event": event, "data": data or {}}, separators=(",", ":"))


async def _info(redis: Any) -> dict[str, Any] | None:
    """XINFO STREAM, or None for a stream that does not exist (yet)."""
    try:
        return dict(await redis.xinfo_stream(STREAM))
    except Exception as exc:
        if "no such key" in str(exc).lower():
            return None
        raise


async def last_id(redis: Any) -> str:
    """The id of the newest entry ever added ('0-0' for a stream that does not exist yet)."""
    info = await _info(redis)
    return "0-0" if info is None else str(info["last-generated-id"])


async def missed_history(redis: Any, after: Key) -> str | None:
    """Why entries after `after` can no longer be replayed (trimmed, or the id is not from this
    stream), or None when the stream still holds everything after it."""
    info = await _info(redis)
    if info is None:
        return None if after == (0, 0) else "the event stream was reset"
    newest = parse_id(str(info["last-generated-id"]))
    if after > newest:
        return "last_event_id is not from this event stream"
    deleted = info.get("max-deleted-entry-id")  # Redis 7 knows exactly what it trimmed
    if deleted is not None:
        return "last_event_id is older than the stream keeps" if after < parse_id(str(deleted)) else None
    first = info.get("first-entry")
    if first is None:  # empty: fine only if nothing was ever added after `after`
        return None if after == newest else "last_event_id is older than the stream keeps"
    # Redis 6 says only where the stream starts now: an id before that may have lost entries.
    return "last_event_id is older than the stream keeps" if after < parse_id(str(first[0])) else None


async def replay(redis: Any, after: str) -> AsyncIterator[Event]:
    """Every event after `after` (exclusive), oldest first, in batches."""
    cursor = after
    while True:
        batch = await redis.xrange(STREAM, min=f"({cursor}", max="+", count=REPLAY_BATCH)
        for stream_id, fields in batch:
            event = to_event(stream_id, fields)
            if event is not None:
                yield event
        if len(batch) < REPLAY_BATCH:
            return
        cursor = batch[-1][0]


async def trim_by_age(redis: Any, max_age: float) -> int:
    """Drop entries older than `max_age` seconds (approximately: whole macro-nodes); return how many."""
    oldest_ms = int((time.time() - max_age) * 1000)
    return int(await redis.xtrim(STREAM, minid=f"{oldest_ms}-0", approximate=True))
