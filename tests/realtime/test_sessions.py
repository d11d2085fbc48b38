"""The live feed follows the accounts rules of the HTTP API (shared.auth): an access token whose
session ended is refused, and so is a user who must first change a password a manager reset."""

from __future__ import annotations

import jwt

from shared import events
from tests.api.helpers import V1, login
from tests.conftest import make_user
from tests.realtime.conftest import aio, peer


@aio
async def test_an_access_token_of_a_logged_out_session_closes_with_4401(feed, api, manager):
    user = make_user(api, manager)
    async with peer(feed.url, token=user["token"]) as client:  # the control: it works until logout
        await client.ready()
    res = api.post(f"{V1}/auth/logout", {"refresh_token": user["refresh"]}, token=user["token"])
    assert res.status == 204
    async with peer(feed.url, token=user["token"]) as client:
        code, reason = await client.closed()
    assert code == 4401 and "session" in reason


@aio
async def test_a_user_who_must_change_the_password_is_refused(feed, api, manager):
    user = make_user(api, manager)
    res = api.post(f"{V1}/users/{user['user']['id']}/password", {"temporary_password": "temporary-pass-1"},
                   token=manager["token"])
    assert res.status == 204
    pair = login(api, user["email"], "temporary-pass-1")
    async with peer(feed.url, token=pair["access_token"]) as client:
        code, reason = await client.closed()
    assert code == 4401 and "password" in reason
    changed = api.post(f"{V1}/auth/password", {"current_password": "temporary-pass-1",
                                               "new_password": "my-own-pass-1"}, token=pair["access_token"])
    assert changed.status == 204
    async with peer(feed.url, token=pair["access_token"]) as client:
        await client.ready()


@aio
async def test_logout_closes_the_connections_of_that_session_only(feed, api, manager, item):
    user = make_user(api, manager)
    other = login(api, user["email"], user["password"])  # a second session, e.g. another device
    async with peer(feed.url, token=user["token"]) as ended, peer(feed.url, token=other["access_token"]) as kept:
        await ended.ready()
        await kept.ready()
        assert api.post(f"{V1}/auth/logout", {"refresh_token": user["refresh"]}, token=user["token"]).status == 204
        code, reason = await ended.closed()
        assert (code, reason) == (4401, "session ended")
        api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 1}, token=manager["token"])
        assert await kept.about(item["id"])  # the other session's connection goes on


@aio
async def test_a_password_change_closes_the_other_sessions_connections(feed, api, manager, item):
    user = make_user(api, manager)
    other = login(api, user["email"], user["password"])
    async with peer(feed.url, token=user["token"]) as caller, peer(feed.url, token=other["access_token"]) as ended:
        await caller.ready()
        await ended.ready()
        changed = api.post(f"{V1}/auth/password", {"current_password": user["password"],
                                                   "new_password": "a-new-pass-1"}, token=user["token"])
        assert changed.status == 204
        assert await ended.closed() == (4401, "session ended")
        api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 1}, token=manager["token"])
        assert await caller.about(item["id"])


@aio
async def test_a_manager_reset_closes_every_connection_of_the_user(feed, api, manager):
    user = make_user(api, manager)
    async with peer(feed.url, token=user["token"]) as client:
        await client.ready()
        res = api.post(f"{V1}/users/{user['user']['id']}/password", {"temporary_password": "temporary-pass-2"},
                       token=manager["token"])
        assert res.status == 204
        assert await client.closed() == (4401, "session ended")


@aio
async def test_a_session_ended_just_before_the_client_joins_is_closed_as_it_joins(feed, api, manager):
    """The race between the database check at connect and joining the fan-out: the feed remembers the
    sessions the stream said ended. Here the stream says so while the database still has it live, as
    it is for a moment when the revocation commits between the two."""
    user = make_user(api, manager)
    pair = login(api, user["email"], user["password"])
    session = jwt.decode(pair["access_token"], options={"verify_signature": False})["sid"]
    async with peer(feed.url, token=manager["token"]) as witness:  # the feed has read the event once
        await witness.ready()
        events.publish([{"id": f"ended-{session}", "type": "session_ended", "created_at": "2026-11-30T10:00:00+00:00",
                         "data": {"user_id": user["user"]["id"], "sessions": [session], "reason": "logout"}}])
        await witness.until(lambda m: m.get("event") == "session_ended" and m["data"]["sessions"] == [session])
    async with peer(feed.url, token=pair["access_token"]) as client:
        assert await client.closed() == (4401, "session ended")
    async with peer(feed.url, token=user["token"]) as other:  # another session of the user is not affected
        await other.ready()


@aio
async def test_a_user_deactivated_just_before_joining_is_closed_as_they_join(feed, api, manager):
    """The same race for a deactivation (or a new role): the feed keeps each changed user's latest state."""
    user = make_user(api, manager)
    deactivated = {**user["user"], "is_active": False}
    async with peer(feed.url, token=manager["token"]) as witness:
        await witness.ready()
        events.publish([{"id": f"deactivated-{user['user']['id']}", "type": "user_changed",
                         "created_at": "2026-11-30T10:00:00+00:00",
                         "data": {"action": "updated", "user": deactivated}}])
        await witness.until(lambda m: m.get("event") == "user_changed"
                            and m["data"]["user"]["id"] == user["user"]["id"])
    async with peer(feed.url, token=user["token"]) as client:  # the database still says active
        assert await client.closed() == (4401, "token revoked")
