"""Signed in across token expiry, in real Chromium: access tokens made to last seconds, so a test sees
several expire. Two tabs share one session (localStorage) and one refresh token, which may be spent
once: they must take turns, neither ending the session; and when the API is unreachable as a token
expires, the session is kept and the live feed comes back by itself."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from shared import db
from tests.ui.conftest import SESSION_KEY, session_for

TTL = 8  # seconds an access token lasts here
REUSED = "SELECT count(*) AS n FROM events WHERE type = 'session_ended' AND data->>'reason' = 'token_reused'"


@pytest.fixture
def short_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Access tokens issued by this process's front last TTL seconds (the live feed reads their exp)."""
    from shared import settings

    real = settings.get
    monkeypatch.setattr(settings, "get", lambda: dataclasses.replace(real(), access_ttl=TTL))


@pytest.fixture
def tabs(browser: Any, ui_front: Any, manager: dict, short_tokens: None) -> Iterator[Any]:
    """A browser context signed in as the manager: its pages are tabs sharing one localStorage."""
    stored = json.dumps(session_for(ui_front.url, manager))
    context = browser.new_context(base_url=ui_front.url, storage_state={"cookies": [], "origins": [
        {"origin": ui_front.url, "localStorage": [{"name": SESSION_KEY, "value": stored}]}]})
    context.set_default_timeout(10_000)
    yield context
    context.close()


def signed_in(page: Any) -> bool:
    return bool(page.evaluate(f"() => localStorage.getItem('{SESSION_KEY}') !== null"))


def test_two_tabs_stay_signed_in_as_their_tokens_expire(tabs: Any) -> None:
    reused = db.one(REUSED)["n"]
    first, second = tabs.new_page(), tabs.new_page()
    for page in (first, second):
        page.goto("/#/items")
        expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    first.wait_for_timeout(3 * TTL * 1000)  # three lifetimes of a token
    for page in (first, second):
        # Requests with whatever token the tab holds now; a navigation inside the app, not a reload,
        # which could cut off a refresh in flight (see the README's "Sessions in the browser").
        page.goto("/#/categories")
        ended = db.query("SELECT data FROM events WHERE type = 'session_ended' ORDER BY id DESC LIMIT 2")
        expect(page.get_by_role("heading", name="Categories"), f"signed out; sessions ended last: {ended}").to_be_visible()
        page.goto("/#/items")
        ended = db.query("SELECT data FROM events WHERE type = 'session_ended' ORDER BY id DESC LIMIT 3")
        expect(page.get_by_role("heading", name="Inventory"), f"signed out; last sessions ended: {ended}").to_be_visible()
        expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
        assert signed_in(page)
    assert db.one(REUSED)["n"] == reused, "a refresh token was used twice: the session was ended"


def test_the_feed_comes_back_after_the_api_was_away_when_the_token_expired(tabs: Any) -> None:
    page = tabs.new_page()
    page.goto("/#/categories")
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    refused: list[str] = []

    def away(route: Any) -> None:
        refused.append(route.request.url)
        route.abort()

    page.route("**/auth/refresh", away)
    page.wait_for_timeout(2 * TTL * 1000)  # the token expires while no refresh can get through
    assert refused, "no refresh was tried while the token expired"
    assert signed_in(page), "an unreachable API signed the user out"
    page.unroute("**/auth/refresh")
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=40_000)
    assert signed_in(page)
