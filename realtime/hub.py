"""Connected clients and the fan-out of each event to those allowed and wanting to see it.

Everything here runs on the event loop thread and never awaits while fanning out, so an event
reaches every client in stream order before the next one is looked at. A write never waits for a
client either: it goes into that client's transport buffer, and a client whose buffer has grown past
`client_buffer` bytes (it stopped reading) is closed instead of being waited for or buffered without
bound. Dropping loses nothing: the client reconnects with `last_event_id` and the stream replays.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from realtime.metrics import Metrics
from realtime.stream import Event, Key

log = logging.getLogger("ims.realtime")

CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 1008  # policy violation: the client did not read what it was sent
_RECENT = 10_000  # outbox row identities remembered, to skip an event the relay re-published after Redis lost data


class Client:
    """One authenticated connection: who it is, what it asked for, and whether it is still catching up."""

    __slots__ = ("ws", "user_id", "role", "session", "events", "items", "pending", "replayed_to", "expiry")

    def __init__(self, ws: ServerConnection, user_id: int, role: str, session: str) -> None:
        self.ws = ws
        self.user_id = user_id
        self.role = role
        self.session = session
        self.events: frozenset[str] | None = None  # None: every type it may see
        self.items: frozenset[int] | None = None  # None: every item
        self.pending: list[Event] | None = []  # live events held while a replay runs; None once live
        # Where its replay ended, while this process's tail has not passed it yet: the replay reads the
        # stream directly and may run ahead of the tail, whose next events the client already has.
        self.replayed_to: Key | None = None
        self.expiry: asyncio.TimerHandle | None = None

    def wants(self, event: Event) -> bool:
        if event.to_everyone:
            return True
        if event.manager_only and self.role != "manager":
            return False
        if self.events is not None and event.type not in self.events:
            return False
        return self.items is None or event.item_id in self.items


class Hub:
    def __init__(self, metrics: Metrics, client_buffer: int, catch_up_limit: int) -> None:
        self.metrics = metrics
        self.client_buffer = client_buffer
        self.catch_up_limit = catch_up_limit
        self.clients: set[Client] = set()
        self.position: str | None = None  # stream id of the last event fanned out (or the start point)
        self._recent: dict[str, None] = {}
        # What the stream said of users and sessions lately (bounded like _recent): a client checked
        # against the database just before such an event, and added just after it, is closed as it
        # joins. The latest (is_active, role) of each user changed; the sessions that ended.
        self._users: dict[int, tuple[bool, str]] = {}
        self._ended: dict[str, None] = {}
        self._closing: set[asyncio.Task[None]] = set()

    # --- membership -------------------------------------------------------------------------

    def add(self, client: Client) -> None:
        self.clients.add(client)
        self.metrics.connections.labels(client.role).inc()
        active, role = self._users.get(client.user_id, (True, client.role))
        if client.session in self._ended:
            self.close(client, CLOSE_UNAUTHORIZED, "session ended", "revoked")
        elif not active or role != client.role:
            self.close(client, CLOSE_UNAUTHORIZED, "token revoked", "revoked")

    def remove(self, client: Client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            self.metrics.connections.labels(client.role).dec()
        if client.expiry is not None:
            client.expiry.cancel()
            client.expiry = None

    def close(self, client: Client, code: int, reason: str, why: str) -> None:
        """Stop sending to `client` now and close it in the background."""
        self.remove(client)
        self.metrics.dropped.labels(why).inc()
        task = asyncio.get_running_loop().create_task(client.ws.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def drop_slow(self, client: Client) -> None:
        log.info("dropping user %s's connection: it stopped reading", client.user_id)
        self.close(client, CLOSE_TOO_SLOW, "too slow; reconnect with last_event_id", "slow")

    # --- fan-out ----------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Hand one stream event to every client (the tail calls this, in stream order)."""
        self.position = event.id
        if self._seen(event.event_id):
            self.metrics.duplicates.inc()
            return
        self.metrics.events_received.inc()
        if event.type == "user_changed":
            self._revoke(event.data.get("user") or {})
        elif event.type == "session_ended":
            self._end_sessions(event.data)
        too_slow = [client for client in self.clients if not self.offer(client, event)]
        for client in too_slow:
            self.drop_slow(client)

    def offer(self, client: Client, event: Event) -> bool:
        """Send or hold `event` for `client`; False when the client is too far behind to keep."""
        if not client.wants(event):
            return True
        if client.pending is not None:
            client.pending.append(event)
            return len(client.pending) <= self.catch_up_limit
        if client.replayed_to is not None:
            if event.key <= client.replayed_to:
                return True  # the replay sent it already
            client.replayed_to = None
        return self.write(client, event.frame)

    def write(self, client: Client, frame: bytes) -> bool:
        """Queue one ready-made text frame on the client's socket; False if the client is too far behind."""
        ws = client.ws
        if ws.protocol.state is not State.OPEN:
            return True  # closing already; its handler removes it
        if ws.transport.get_write_buffer_size() > self.client_buffer:
            return False
        # Straight to the transport: the frame was built once for every client (no compression, and
        # servers don't mask), where ws.send() would build it again per client and await. websockets
        # itself only writes on the transport as it goes, so frames never interleave.
        ws.transport.write(frame)
        self.metrics.messages_sent.inc()
        return True

    def go_live(self, client: Client, replayed_to: Key | None, ready: bytes) -> None:
        """End a client's catch-up: send what arrived live meanwhile, minus what the replay already
        sent, then `ready`; all without yielding, so no live event can slip in between."""
        pending, client.pending = client.pending or [], None
        client.replayed_to = replayed_to
        fresh = [e.frame for e in pending if replayed_to is None or e.key > replayed_to]
        if not all(self.write(client, frame) for frame in [*fresh, ready]):
            self.drop_slow(client)

    def _seen(self, event_id: str) -> bool:
        if not event_id:
            return False
        if event_id in self._recent:
            return True
        _remember(self._recent, event_id, None)
        return False

    def _revoke(self, user: dict[str, Any]) -> None:
        """A deactivated user, or one whose role changed, holds tokens that no longer count (auth.py)."""
        if isinstance(user.get("id"), int):
            _remember(self._users, user["id"], (user.get("is_active") is not False, str(user.get("role"))))
        affected = [c for c in self.clients if c.user_id == user.get("id")
                    and (user.get("is_active") is False or user.get("role") != c.role)]
        for client in affected:
            self.close(client, CLOSE_UNAUTHORIZED, "token revoked", "revoked")

    def _end_sessions(self, data: dict[str, Any]) -> None:
        """Sessions that ended (sign-out, a password change or reset) take their access tokens along."""
        ended = set(data.get("sessions") or ())
        for session in ended:
            _remember(self._ended, session, None)
        for client in [c for c in self.clients if c.user_id == data.get("user_id") and c.session in ended]:
            self.close(client, CLOSE_UNAUTHORIZED, "session ended", "revoked")

    async def wait_closing(self) -> None:
        if self._closing:
            await asyncio.wait(list(self._closing))


def _remember(memory: dict[Any, Any], key: Any, value: Any) -> None:
    """Keep `key` (as the newest) in a memory of at most _RECENT entries, forgetting the oldest."""
    memory.pop(key, None)
    memory[key] = value
    if len(memory) > _RECENT:
        del memory[next(iter(memory))]
