"""Who may connect to the live feed, and for how long (DESIGN.md §5): close code 4401 for every
token the HTTP API would refuse, and for a token that expires or is revoked while connected."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest

from tests.conftest import make_user
from tests.realtime.conftest import aio, peer, token_for, withdraw


@aio
async def test_token_in_the_url_admits_and_ready_names_the_user(feed, manager):
    async with peer(feed.url, token=manager["token"]) as client:
        ready = await client.ready()
    assert ready["data"]["user"] == {"id": manager["user"]["id"], "role": "manager"}
    assert "last_event_id" in ready["data"]


@aio
async def test_token_as_the_first_message_admits(feed, staff):
    async with peer(feed.url) as client:
        await client.send({"type": "auth", "token": staff["token"]})
        ready = await client.ready()
    assert ready["data"]["user"]["role"] == "staff"


def _forged(manager: dict) -> str:
    head, body, _sig = manager["token"].split(".")
    return f"{head}.{body}.AAAA"


@pytest.mark.parametrize("case", ["garbage", "forged", "expired", "refresh", "empty"])
@aio
async def test_a_token_the_api_would_refuse_closes_with_4401(feed, manager, case):
    token = {"garbage": "not-a-jwt", "forged": _forged(manager), "refresh": manager["refresh"], "empty": "",
             "expired": token_for(manager["user"]["id"], "manager", -60)}[case]
    async with peer(feed.url, token=token) as client:
        code, reason = await client.closed()
    assert code == 4401 and reason


@aio
async def test_a_first_message_that_is_not_auth_closes_with_4401(feed):
    async with peer(feed.url) as client:
        await client.send({"type": "subscribe", "events": ["stock_changed"]})
        code, reason = await client.closed()
    assert code == 4401 and "auth" in reason


@aio
async def test_no_token_within_the_auth_timeout_closes_with_4401(feed):
    async with peer(feed.url) as client:  # the test server allows 1 s (IMS_WS_AUTH_TIMEOUT)
        code, reason = await client.closed()
    assert code == 4401 and "token" in reason


@aio
async def test_a_deactivated_users_token_is_refused(feed, api, manager):
    user = make_user(api, manager)
    res = api.patch(f"/api/v1/users/{user['user']['id']}", {"is_active": False}, token=manager["token"])
    assert res.status == 200, res.text
    async with peer(feed.url, token=user["token"]) as client:
        code, _ = await client.closed()
    assert code == 4401


@aio
async def test_deactivating_a_connected_user_closes_their_socket(feed, api, manager):
    user = make_user(api, manager)
    async with peer(feed.url, token=user["token"]) as client, peer(feed.url, token=manager["token"]) as boss:
        await client.ready()
        await boss.ready()
        res = api.patch(f"/api/v1/users/{user['user']['id']}", {"is_active": False}, token=manager["token"])
        assert res.status == 200, res.text
        code, reason = await client.closed()
        [changed] = await boss.until(lambda m: m["event"] == "user_changed")
    assert (code, reason) == (4401, "token revoked")
    assert changed["data"]["user"]["id"] == user["user"]["id"]
    assert changed["data"]["user"]["is_active"] is False


@aio
async def test_the_connection_closes_with_4401_when_its_token_expires(feed, manager):
    short = token_for(manager["user"]["id"], "manager", 3)
    async with peer(feed.url, token=short) as client:
        await client.ready()
        code, reason = await client.closed()
    assert (code, reason) == (4401, "token expired")


@aio
async def test_a_fresh_token_sent_in_time_keeps_the_connection(feed, api, manager, item):
    short = token_for(manager["user"]["id"], "manager", 3)
    async with peer(feed.url, token=short) as client:
        await client.ready()
        await client.send({"type": "auth", "token": manager["token"]})
        reply = await client.next()
        assert reply["event"] == "authenticated"
        expiry = jwt.decode(short, options={"verify_signature": False})["exp"]
        await asyncio.sleep(max(expiry - time.time(), 0) + 0.5)  # past the first token's expiry
        withdraw(api, manager["token"], item["id"])
        [event] = await client.about(item["id"])
    assert event["event"] == "stock_changed"


@aio
async def test_a_fresh_token_for_someone_else_closes_with_4401(feed, manager, staff):
    async with peer(feed.url, token=manager["token"]) as client:
        await client.ready()
        await client.send({"type": "auth", "token": staff["token"]})
        code, _ = await client.closed()
    assert code == 4401


@aio
async def test_a_database_that_is_down_closes_with_1013_and_no_traceback(services, manager, tmp_path):
    """The token's user cannot be read: "try again later", not a crash per connection attempt."""
    from realtime import launch
    from tests.realtime.conftest import feed_env

    log = tmp_path / "realtime.log"
    with log.open("w") as sink:
        server = launch.start(feed_env(DATABASE_URL="postgresql://x@127.0.0.1:1/x", IMS_LOG_LEVEL="INFO"),
                              stderr=sink)
    try:
        for _ in range(3):
            async with peer(server.url, token=manager["token"]) as client:
                code, reason = await client.closed()
            assert (code, reason) == (1013, "database unavailable; reconnect shortly")
    finally:
        server.stop()
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("database unavailable (") == 1, text
