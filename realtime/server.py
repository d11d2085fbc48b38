"""The WebSocket endpoint `/ws`, plus `/healthz` and `/metrics` on the same port.

A connection: authenticate (token in the URL or as the first message) → register with the hub,
holding live events → replay from `last_event_id` if given → send what was held, minus what the
replay already sent → `ready` → live. Afterwards the client may send a fresh token or narrow what it
receives. The token's expiry closes the connection (4401) unless a fresh one arrived.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Origin

from realtime import registry, stream, tail
from realtime.auth import Identity, Refused, identify
from realtime.config import Config
from realtime.hub import CLOSE_UNAUTHORIZED, Client, Hub
from realtime.metrics import Metrics
from shared.errors import Unavailable
from shared.services import ops

log = logging.getLogger("ims.realtime")

CLOSE_BAD_REQUEST = 4400
CLOSE_TRY_AGAIN = 1013  # the stream or the database is unreachable: reconnect later (same last_event_id)
MAX_MESSAGE = 64 * 1024  # what a client may send: a token or a subscription


class BadRequest(Exception):
    """A malformed request from the client; the message is what it is told."""


def _ids(values: Any) -> frozenset[int] | None:
    if values is None:
        return None
    if not isinstance(values, list) or not all(type(v) is int for v in values):
        raise BadRequest("items must be a list of item ids")
    return frozenset(values)


def _types(values: Any) -> frozenset[str] | None:
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest("events must be a list of event types")
    unknown = sorted(set(values) - stream.EVENT_TYPES)
    if unknown:
        raise BadRequest(f"unknown event types: {', '.join(unknown)}")
    return frozenset(values)


def _csv(query: dict[str, list[str]], name: str) -> list[str] | None:
    if name not in query:
        return None
    return [part for part in query[name][-1].split(",") if part]


class RealtimeServer:
    def __init__(self, config: Config, redis_url: str) -> None:
        self.config = config
        self.metrics = Metrics()
        self.hub = Hub(self.metrics, config.client_buffer, config.catch_up_limit)
        self.redis = tail.connect(redis_url)
        self.tail = tail.Tail(self.redis, self.hub, self.metrics)
        self.registration = registry.Registration(redis_url, self.hub)
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        # compression=None: permessage-deflate costs ~50 KiB more per connection (websockets'
        # memory guide) to shrink messages of a few hundred bytes.
        self._server = await serve(
            self._handle, self.config.host, self.config.port, process_request=self._http,
            compression=None, ping_interval=self.config.ping_interval or None,
            ping_timeout=self.config.ping_interval or None, close_timeout=self.config.close_timeout,
            max_size=MAX_MESSAGE, max_queue=4, server_header=None,
            # an Origin outside IMS_WS_ORIGINS is refused with 403 at the handshake
            origins=None if self.config.origins is None else [*map(Origin, self.config.origins), None])
        self._tasks.append(asyncio.create_task(self.tail.run(), name="tail"))
        self._tasks.append(asyncio.create_task(self.registration.run(), name="registration"))
        if self.config.stream_max_age:
            self._tasks.append(asyncio.create_task(self.tail.trim_forever(self.config.stream_max_age), name="trim"))

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/ws"

    async def stop(self) -> None:
        """Close every connection with 1001 (going away), stop reading the stream, leave the servers'
        registry (ims:realtime:servers), release Redis."""
        if self._server is not None:
            self.metrics.dropped.labels("shutdown").inc(len(self.hub.clients))
            self._server.close()  # 1001 to every open connection, 503 to handshakes in flight
            try:
                async with asyncio.timeout(self.config.close_timeout + 1):
                    await self._server.wait_closed()
            except TimeoutError:
                log.warning("some connections did not close in time")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.hub.wait_closing()
        await self.registration.leave()
        await self.redis.aclose()

    # --- plain HTTP on the same port --------------------------------------------------------

    async def _http(self, ws: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == "/ws":
            return None  # on to the WebSocket handshake
        if path == "/healthz":
            return await self._health(ws)
        if path == "/metrics":
            if not ops.metrics_allowed(request.headers.get("Authorization")):
                response = ws.respond(401, "/metrics wants the METRICS_TOKEN as a bearer token\n")
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
            return await self._metrics(ws, request)
        return ws.respond(404, "Not Found: the live feed is at /ws\n")

    async def _health(self, ws: ServerConnection) -> Response:
        try:
            async with asyncio.timeout(1):
                await self.redis.ping()
        except Exception:  # whatever the reason, the feed cannot be fed
            return ws.respond(503, "redis unreachable\n")
        return ws.respond(200, "ok\n")

    async def _metrics(self, ws: ServerConnection, request: Request) -> Response:
        try:
            async with asyncio.timeout(1):
                self.metrics.lag_seconds.set(await self.tail.lag())
        except Exception:  # Redis down: the last known lag stands, redis_up says why
            pass
        body, content_type = self.metrics.exposition(request.headers.get("Accept"))
        response = ws.respond(200, body.decode())
        headers: Headers = response.headers
        del headers["Content-Type"]
        headers["Content-Type"] = content_type
        return response

    # --- one connection ---------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        self._bound_kernel_buffer(ws)
        admitted = await self._admit(ws)
        if admitted is None:
            return
        client, after = admitted
        try:
            if await self._catch_up(ws, client, after):
                await self._listen(ws, client)
            else:  # the hub is closing it with a code of its own: returning now would send 1000 first
                await ws.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            self.hub.remove(client)

    async def _admit(self, ws: ServerConnection) -> tuple[Client, str | None] | None:
        """The authenticated client and where it resumes from, or None once the connection is closed.

        A coroutine of its own so that the query and the token are freed once it returns: an idle
        connection keeps only what _handle holds while it waits."""
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query, keep_blank_values=True)
        try:
            after = self._last_event_id(query)
            identity = await identify(await self._token(ws, query))
            client = Client(ws, identity.user_id, identity.role, identity.session)
            client.events = _types(_csv(query, "events"))
            client.items = _query_items(query)
        except Refused as exc:
            await ws.close(CLOSE_UNAUTHORIZED, _reason(str(exc)))
            return None
        except BadRequest as exc:
            await ws.close(CLOSE_BAD_REQUEST, _reason(str(exc)))
            return None
        except Unavailable:  # the token's user could not be read; the outage is logged once
            await ws.close(CLOSE_TRY_AGAIN, "database unavailable; reconnect shortly")
            return None
        except ConnectionClosed:
            return None
        self._arm_expiry(client, identity)
        _forget_handshake(ws)
        return client, after

    def _bound_kernel_buffer(self, ws: ServerConnection) -> None:
        """Linux grows a socket's send buffer up to 4 MiB for a peer that stops reading; fixing it at
        the client buffer size bounds the kernel's memory per client too, and lets a stalled client
        fill its budget (and be dropped) after kilobytes rather than megabytes."""
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.client_buffer)

    @staticmethod
    def _last_event_id(query: dict[str, list[str]]) -> str | None:
        if "last_event_id" not in query:
            return None
        value = query["last_event_id"][-1]
        try:
            stream.parse_id(value)
        except ValueError:
            raise BadRequest("last_event_id must be a stream id such as 1700000000000-0") from None
        return value

    async def _token(self, ws: ServerConnection, query: dict[str, list[str]]) -> str:
        if "token" in query:
            return query["token"][-1]
        try:
            async with asyncio.timeout(self.config.auth_timeout):
                raw = await ws.recv()
        except TimeoutError:
            raise Refused(f"No access token within {self.config.auth_timeout:g} s.") from None
        message = _parse(raw)
        if not isinstance(message, dict) or message.get("type") != "auth":
            raise Refused('The first message must be {"type":"auth","token":"<access token>"}.')
        return message.get("token")  # type: ignore[return-value]  # identify() checks it

    async def _catch_up(self, ws: ServerConnection, client: Client, after: str | None) -> bool:
        """Replay (if asked), then go live; False if the connection was closed instead."""
        self.hub.add(client)  # from here on live events are held for it (client.pending)
        seam: stream.Key | None = None
        if after is not None:
            try:
                seam = await self._replay(ws, client, after)
            except ConnectionClosed:
                raise
            except Exception as exc:  # Redis unreachable mid-replay: the client retries with the same id
                log.warning("replay for user %s failed: %s", client.user_id, exc)
                self.hub.remove(client)
                await ws.close(CLOSE_TRY_AGAIN, "event stream unavailable; reconnect with last_event_id")
                return False
        # Where to resume from next time: this replica's position, unless the client is ahead of it
        # (it came from a replica further along the stream).
        position = self.hub.position
        if seam is not None and (position is None or stream.parse_id(position) < seam):
            position = f"{seam[0]}-{seam[1]}"
        ready = stream.control("ready", {"last_event_id": position,
                                         "user": {"id": client.user_id, "role": client.role}})
        self.hub.go_live(client, seam, stream.text_frame(ready))
        return client in self.hub.clients

    async def _replay(self, ws: ServerConnection, client: Client, after: str) -> stream.Key | None:
        """Send what the client missed; return the id it now has everything up to (None: resync)."""
        seam = stream.parse_id(after)
        reason = await stream.missed_history(self.redis, seam)
        if reason is not None:
            await ws.send(stream.control("resync_required", {"reason": reason}))
            return None
        async for event in stream.replay(self.redis, after):
            seam = event.key
            if client.wants(event):
                await ws.send(event.payload, text=True)  # awaited: a long replay waits for a slow reader
                self.metrics.messages_sent.inc()
                self.metrics.replayed.inc()
        return seam

    async def _listen(self, ws: ServerConnection, client: Client) -> None:
        async for raw in ws:
            if client not in self.hub.clients:
                continue  # closing (too slow, revoked, expired): ignore what is still arriving
            message = _parse(raw)
            kind = message.get("type") if isinstance(message, dict) else None
            try:
                if kind == "auth":
                    await self._reauthenticate(client, message.get("token"))  # type: ignore[union-attr]
                elif kind == "subscribe":
                    self._subscribe(client, message)  # type: ignore[arg-type]
                else:
                    raise BadRequest('expected {"type": "auth" | "subscribe", …}')
            except BadRequest as exc:
                self._reply(client, "error", {"message": str(exc)})
            except Refused as exc:
                self.hub.close(client, CLOSE_UNAUTHORIZED, _reason(str(exc)), "revoked")
            except Unavailable:  # the current token stands until it expires; the client may try again
                self._reply(client, "error", {"message": "database unavailable; send the token again shortly"})
            # Once the hub has closed a client, keep reading until the close completes: returning
            # would make the library close with 1000 before our close code goes out.

    async def _reauthenticate(self, client: Client, token: Any) -> None:
        identity = await identify(token)
        if identity.user_id != client.user_id or identity.role != client.role:
            raise Refused("The new token is for another user or role; reconnect with it.")
        client.session = identity.session
        self._arm_expiry(client, identity)
        self._reply(client, "authenticated", {"expires_at": int(identity.expires_at)})

    def _subscribe(self, client: Client, message: dict[str, Any]) -> None:
        events, items = _types(message.get("events")), _ids(message.get("items"))
        client.events, client.items = events, items
        self._reply(client, "subscribed", {"events": sorted(events) if events is not None else None,
                                           "items": sorted(items) if items is not None else None})

    def _reply(self, client: Client, event: str, data: dict[str, Any]) -> None:
        if not self.hub.write(client, stream.text_frame(stream.control(event, data))):
            self.hub.drop_slow(client)

    def _arm_expiry(self, client: Client, identity: Identity) -> None:
        if client.expiry is not None:
            client.expiry.cancel()
        delay = max(0.0, identity.expires_at - time.time())
        client.expiry = asyncio.get_running_loop().call_later(
            delay, self.hub.close, client, CLOSE_UNAUTHORIZED, "token expired", "expired")


def _forget_handshake(ws: ServerConnection) -> None:
    """Drop the handshake's headers, which nothing reads again: a browser's (cookies and all) would
    otherwise stay with an idle connection for hours. About 3 KiB per connection (bench.feed)."""
    if ws.request is not None:
        ws.request.headers = Headers()
    if ws.response is not None:
        ws.response.headers = Headers()


def _parse(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _query_items(query: dict[str, list[str]]) -> frozenset[int] | None:
    """`?items=3,17`: only events about these items."""
    texts = _csv(query, "items")
    if texts is None:
        return None
    if not all(t.isdigit() for t in texts):
        raise BadRequest("items must be a comma-separated list of item ids")
    return frozenset(int(t) for t in texts)


def _reason(text: str) -> str:
    """A close reason must fit in 123 bytes of UTF-8."""
    return text.encode()[:123].decode(errors="ignore")
