"""Who may read the feed's business figures and open it from a browser: METRICS_TOKEN on /metrics
(the realtime server's and the gateway's), IMS_WS_ORIGINS at the WebSocket handshake. Real clients,
a realtime server of its own started with those settings."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from realtime import launch
from tests.conftest import settings_env
from tests.realtime.conftest import WAIT, Peer, aio, feed_env, http_get, peer

TOKEN = "metrics-" + "t" * 24
UI = "https://ui.example.com"


@pytest.fixture(scope="module")
def guarded(services: dict[str, str], gateway: str) -> Iterator[launch.Realtime]:
    server = launch.start(feed_env(METRICS_TOKEN=TOKEN, IMS_WS_ORIGINS=f"{UI}, https://admin.example.com"))
    yield server
    server.stop()


def get(url: str, token: str | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as res:
            return res.status, res.headers.get("WWW-Authenticate", ""), res.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("WWW-Authenticate", ""), exc.read().decode()


def test_realtime_metrics_want_the_token_when_it_is_set(guarded):
    for token in (None, "wrong", TOKEN + "x"):
        status, challenge, body = get(guarded.http_url + "/metrics", token)
        assert (status, challenge) == (401, "Bearer") and "ims_realtime" not in body
    status, _, body = get(guarded.http_url + "/metrics", TOKEN)
    assert status == 200 and "ims_realtime_connections" in body
    assert http_get(guarded.http_url + "/healthz")[0] == 200  # the health check stays open


def test_realtime_metrics_are_open_when_no_token_is_set(feed):
    status, _, body = get(feed.http_url + "/metrics")
    assert status == 200 and "ims_realtime_connections" in body


@pytest.fixture
def metrics_token(services: dict[str, str]) -> Iterator[None]:
    """METRICS_TOKEN for the functions the session gateway runs in this process."""
    with settings_env(METRICS_TOKEN=TOKEN):
        yield


def test_gateway_metrics_want_the_token_when_it_is_set(gateway, metrics_token):
    for token in (None, "wrong"):
        status, challenge, body = get(gateway + "/api/v1/metrics", token)
        assert (status, challenge) == (401, "Bearer") and "ims_items" not in body
    status, _, body = get(gateway + "/api/v1/metrics", TOKEN)
    assert status == 200 and "ims_" in body


def test_gateway_metrics_are_open_when_no_token_is_set(gateway):
    status, _, body = get(gateway + "/api/v1/metrics")
    assert status == 200 and "ims_" in body


@aio
async def test_a_browser_origin_outside_the_setting_is_refused_at_the_handshake(guarded, manager):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{guarded.url}?token={manager['token']}", origin="https://evil.example.com",
                           compression=None, open_timeout=WAIT):
            pass
    assert refused.value.response.status_code == 403


@aio
async def test_an_allowed_origin_and_a_client_without_origin_get_the_feed(guarded, manager):
    async with connect(f"{guarded.url}?token={manager['token']}", origin=UI, compression=None,
                       open_timeout=WAIT) as ws:
        await Peer(ws).until(lambda m: m.get("event") == "ready")
    async with peer(guarded.url, token=manager["token"]) as client:  # a script, not a browser
        await client.until(lambda m: m.get("event") == "ready")


@aio
async def test_without_the_setting_any_origin_gets_the_feed(feed, manager):
    async with connect(f"{feed.url}?token={manager['token']}", origin="https://anywhere.example",
                       compression=None, open_timeout=WAIT) as ws:
        await Peer(ws).until(lambda m: m.get("event") == "ready")
