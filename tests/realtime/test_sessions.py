"""The live feed follows the accounts rules of the HTTP API (shared.auth): an access token whose
session ended is refused, and so is a user who must first change a password a manager reset."""

from __future__ import annotations

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
