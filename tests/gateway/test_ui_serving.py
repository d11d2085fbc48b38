"""The web UI as the gateway serves it (gateway.ui): ui/'s files at /, the generated /config.json, the
Content-Security-Policy on every answer, ETag and 304, and no way out of ui/."""

from __future__ import annotations

import http.client
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway import ui
from gateway.app import is_ui_path, make_app
from localenv import process
from shared.settings import ConfigError
from tests.api.helpers import assert_problem
from tests.client import Api, Resp
from tests.conftest import ROOT, settings_env
from tests.front import in_process

UI = ROOT / "ui"
FIXED = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src {}; "
         "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def csp(*connect: str) -> str:
    return FIXED.format(" ".join(("'self'", *connect)))


@contextmanager
def serving(site: ui.Site | None = None, **env: str | None) -> Iterator[Api]:
    """A gateway of its own, built with these settings (the UI's are read when the app is made);
    `site`: another ui/ than the repository's."""
    with settings_env(**env):
        app = make_app()
        app.site = site or app.site
        try:
            with in_process(app) as url:
                client = Api(url)
                try:
                    yield client
                finally:
                    client.close()
        finally:
            app.activations.shutdown()


@pytest.fixture(scope="module", autouse=True)
def _settings(services: dict[str, str]) -> None:
    """The gateway's own settings (JWT_SECRET, CORS_ORIGINS…) are the session's."""


@pytest.fixture(scope="module")
def site() -> Iterator[Api]:
    """The default settings, whatever the environment running the tests says."""
    with serving(IMS_UI_API_BASE=None, IMS_UI_WS_URL=None, IMS_WS_PORT=None, IMS_TRUST_PROXY=None) as client:
        yield client


def raw_get(client: Api, target: str, headers: dict[str, str] | None = None) -> Resp:
    """GET with the request target exactly as written (no client-side normalisation)."""
    conn = http.client.HTTPConnection(client.host, client.port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_host="Host" in (headers or {}), skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        res = conn.getresponse()
        return Resp(res.status, {k.lower(): v for k, v in res.getheaders()}, res.read())
    finally:
        conn.close()


# --- files ------------------------------------------------------------------------------------------

def test_the_root_is_the_ui_shell_with_its_security_headers(site: Api) -> None:
    res = site.get("/")
    assert res.status == 200, res.text
    assert res.headers["content-type"] == "text/html; charset=utf-8"
    assert res.body == (UI / "index.html").read_bytes()
    assert res.headers["cache-control"] == "no-cache"
    assert res.headers["etag"].startswith('"') and res.headers["etag"].endswith('"')  # strong
    assert res.headers["content-security-policy"] == csp("ws://127.0.0.1:8001")
    assert res.headers["x-content-type-options"] == "nosniff"
    assert res.headers["referrer-policy"] == "no-referrer"
    assert site.get("/index.html").body == res.body


@pytest.mark.parametrize(("path", "content_type"), [
    ("/js/main.js", "text/javascript; charset=utf-8"),
    ("/css/app.css", "text/css; charset=utf-8"),
    ("/index.html", "text/html; charset=utf-8"),
])
def test_each_file_has_its_content_type_and_the_same_headers(site: Api, path: str, content_type: str) -> None:
    res = site.get(path + "?v=1")  # a query string does not change which file it is
    assert res.status == 200, res.text
    assert res.headers["content-type"] == content_type
    assert res.body == (UI / path[1:]).read_bytes()
    assert res.headers["content-security-policy"] == csp("ws://127.0.0.1:8001")
    assert res.headers["cache-control"] == "no-cache"


def test_content_types_of_the_other_kinds_a_ui_holds() -> None:
    assert ui.TYPES[".svg"] == "image/svg+xml"
    assert ui.TYPES[".json"] == "application/json"
    assert ui.TYPES[".png"] == "image/png"
    assert ui.TYPES[".ico"] == "image/x-icon"
    assert ui.TYPES[".webmanifest"] == "application/manifest+json"


def test_an_unchanged_file_is_a_304_and_a_changed_one_is_sent_again(site: Api) -> None:
    first = site.get("/js/main.js")
    etag = first.headers["etag"]
    for sent in (etag, f'W/{etag}', f'"nope", {etag}', "*"):
        again = site.get("/js/main.js", headers={"If-None-Match": sent})
        assert again.status == 304, sent
        assert again.body == b"" and again.headers["etag"] == etag
        assert again.headers["cache-control"] == "no-cache"
        assert "content-security-policy" in again.headers
    other = site.get("/js/main.js", headers={"If-None-Match": '"something-else"'})
    assert other.status == 200 and other.body == first.body
    assert site.get("/css/app.css").headers["etag"] != etag


def test_a_file_changed_on_disk_is_served_changed(tmp_path: Path) -> None:
    root = tmp_path / "ui"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>one</title>")
    with serving(ui.Site(ui.Config(), root)) as client:
        first = client.get("/")
        assert b"one" in first.body
        (root / "index.html").write_text("<!doctype html><title>two, longer</title>")
        second = client.get("/", headers={"If-None-Match": first.headers["etag"]})
        assert second.status == 200 and b"two" in second.body
        assert second.headers["etag"] != first.headers["etag"]


def test_head_is_get_without_the_body(site: Api) -> None:
    got = site.get("/css/app.css")
    head = site.request("HEAD", "/css/app.css")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == str(len(got.body))
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["content-type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize("path", ["/nowhere.js", "/css/", "/css", "/js/missing/main.js", "/index.html/x",
                                  "/.gitignore", "/css/.app.css"])
def test_a_missing_file_or_a_directory_is_a_404_problem(site: Api, path: str) -> None:
    assert_problem(site.get(path), 404)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_only_get_and_head_are_answered(site: Api, method: str) -> None:
    res = site.request(method, "/", body=b"{}", headers={"Content-Type": "application/json",
                                                         "Access-Control-Request-Method": "GET"})
    assert_problem(res, 405)
    assert res.headers["allow"] == "GET, HEAD"
    assert_problem(site.request(method, "/js/main.js"), 405)


@pytest.mark.parametrize("target", [
    "/../project.yml",
    "/css/../../project.yml",
    "/css/../index.html",  # even where it would stay inside ui/: dot segments are refused, not resolved
    "/%2e%2e/project.yml",
    "/%2E%2E/project.yml",
    "/css/%2e%2e/%2e%2e/project.yml",
    "/%2e%2e%2fproject.yml",
    "/..%2fproject.yml",
    "/..%5cproject.yml",
    "/%5c..%5cproject.yml",
    "/..\\project.yml",
    "/%252e%252e/project.yml",
    "//etc/passwd",
    "/%2fetc%2fpasswd",
    "/index.html%00.js",
    "/%00",
    "/js/main.js%00",
    "/%c0%ae%c0%ae/project.yml",  # overlong UTF-8 for "..": not UTF-8 at all
    "/./index.html",
    "/css/./app.css",
    "/ui/index.html",
])
def test_nothing_outside_ui_can_be_reached(site: Api, target: str) -> None:
    res = raw_get(site, target)
    assert_problem(res, 404)
    assert b"functions:" not in res.body and b"root:" not in res.body


def test_a_symbolic_link_out_of_ui_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ui"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (root / "inside.txt").write_text("fine")
    (root / "alias.txt").symlink_to(root / "inside.txt")
    with serving(ui.Site(ui.Config(), root)) as client:
        assert_problem(client.get("/leak.txt"), 404)
        assert client.get("/alias.txt").body == b"fine"
        assert client.get("/inside.txt").headers["content-type"] == "text/plain; charset=utf-8"


def test_api_and_document_paths_are_not_the_ui(site: Api) -> None:
    api = site.get("/api/v1/nowhere")
    assert_problem(api, 404)
    assert "content-security-policy" not in api.headers
    assert_problem(site.get("/api"), 404)
    assert site.get("/openapi.json").headers["content-type"] == "application/json"
    assert site.get("/asyncapi.json").headers["content-type"] == "application/json"
    assert not is_ui_path("/docs") and not is_ui_path("/docs/swagger-ui.css")
    assert is_ui_path("/documents.html") and is_ui_path("/apix") and is_ui_path("/")


def test_ui_answers_carry_no_cors_headers_and_the_api_still_does(site: Api) -> None:
    with settings_env(CORS_ORIGINS="*"):
        page = site.get("/", headers={"Origin": "https://elsewhere.example"})
        assert page.status == 200
        assert not [h for h in page.headers if h.startswith("access-control-") or h == "vary"], page.headers
        spec = site.get("/openapi.json", headers={"Origin": "https://elsewhere.example"})
        assert spec.headers["access-control-allow-origin"] == "*"


# --- /config.json and the policy's origins --------------------------------------------------------------

def test_config_json_defaults_to_the_api_here_and_the_feed_on_the_requests_host(site: Api) -> None:
    res = site.get("/config.json")
    assert res.status == 200
    assert res.headers["content-type"] == "application/json"
    assert res.json() == {"api_base": "/api/v1", "ws_url": "ws://127.0.0.1:8001/ws"}
    assert res.headers["content-security-policy"] == csp("ws://127.0.0.1:8001")
    assert res.headers["cache-control"] == "no-cache"
    assert site.get("/config.json", headers={"If-None-Match": res.headers["etag"]}).status == 304
    assert res.body != (UI / "config.json").read_bytes()  # generated, not the static site's file


@pytest.mark.parametrize(("host", "ws"), [
    ("ims.example.com", "ws://ims.example.com:8001"),
    ("IMS.Example.com:8443", "ws://ims.example.com:8001"),
    ("[::1]:8000", "ws://[::1]:8001"),
    ("10.1.2.3:80", "ws://10.1.2.3:8001"),
])
def test_the_default_feed_url_follows_the_host_name_asked_for(site: Api, host: str, ws: str) -> None:
    res = site.get("/config.json", headers={"Host": host})
    assert res.json()["ws_url"] == f"{ws}/ws"
    assert res.headers["content-security-policy"] == csp(ws)
    assert site.get("/", headers={"Host": host}).headers["content-security-policy"] == csp(ws)


@pytest.mark.parametrize("host", ["evil.example; script-src *", "a b", "'self'", "bad_host!", "[::1", "x..y"])
def test_a_host_header_that_is_no_host_name_is_refused(site: Api, host: str) -> None:
    res = raw_get(site, "/", {"Host": host})
    assert_problem(res, 400)
    assert "content-security-policy" not in res.headers


def test_forwarded_https_means_wss_only_behind_a_trusted_proxy(site: Api) -> None:
    assert site.get("/config.json", headers={"X-Forwarded-Proto": "https"}).json()["ws_url"].startswith("ws://")
    with serving(IMS_UI_WS_URL=None, IMS_TRUST_PROXY="1", IMS_WS_PORT="9443") as behind:
        res = behind.get("/config.json", headers={"X-Forwarded-Proto": "https", "Host": "ims.example.com"})
        assert res.json()["ws_url"] == "wss://ims.example.com:9443/ws"
        assert res.headers["content-security-policy"] == csp("wss://ims.example.com:9443")
        plain = behind.get("/config.json", headers={"Host": "ims.example.com"})
        assert plain.json()["ws_url"] == "ws://ims.example.com:9443/ws"
    # Two trusted proxies: the outer one's word counts, not what the client wrote before it.
    with serving(IMS_UI_WS_URL=None, IMS_TRUST_PROXY="2") as two:
        res = two.get("/config.json", headers={"X-Forwarded-Proto": "http, https, http", "Host": "a.example"})
        assert res.json()["ws_url"].startswith("wss://")


def test_set_urls_go_into_config_json_and_the_policy() -> None:
    with serving(IMS_UI_API_BASE="https://API.example.com:8443/api/v1/", IMS_UI_WS_URL="wss://live.example.com/ws",
                 CORS_ORIGINS=None) as client:
        res = client.get("/config.json", headers={"Host": "ui.example.org"})
        assert res.json() == {"api_base": "https://API.example.com:8443/api/v1", "ws_url": "wss://live.example.com/ws"}
        policy = csp("https://api.example.com:8443", "wss://live.example.com")
        assert res.headers["content-security-policy"] == policy
        for path in ("/", "/js/main.js", "/css/app.css"):
            assert client.get(path).headers["content-security-policy"] == policy


def test_a_path_api_base_adds_no_origin_to_the_policy() -> None:
    with serving(IMS_UI_API_BASE="/ims/api/v1", IMS_UI_WS_URL="ws://127.0.0.1:9001/ws") as client:
        res = client.get("/config.json")
        assert res.json() == {"api_base": "/ims/api/v1", "ws_url": "ws://127.0.0.1:9001/ws"}
        assert res.headers["content-security-policy"] == csp("ws://127.0.0.1:9001")


@pytest.mark.parametrize(("key", "value"), [
    ("IMS_UI_API_BASE", "ftp://files.example.com/api"),
    ("IMS_UI_API_BASE", "api/v1"),
    ("IMS_UI_API_BASE", "//evil.example/api/v1"),
    ("IMS_UI_API_BASE", "https://"),
    ("IMS_UI_API_BASE", "https://api.example.com/api/v1?x=1"),
    ("IMS_UI_API_BASE", "https://api.example.com; script-src *"),
    ("IMS_UI_API_BASE", "https://user:pass@api.example.com"),
    ("IMS_UI_API_BASE", "https://api.example.com:99999"),
    ("IMS_UI_WS_URL", "http://live.example.com/ws"),
    ("IMS_UI_WS_URL", "live.example.com/ws"),
    ("IMS_UI_WS_URL", "wss://"),
    ("IMS_UI_WS_URL", "wss://live.example.com/ws 'unsafe-inline'"),
    ("IMS_UI_WS_URL", "wss://live.example.com/ws#x"),
    ("IMS_WS_PORT", "eighty"),
    ("IMS_WS_PORT", "70000"),
])
def test_a_bad_setting_stops_the_start_naming_it(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        ui.Config.from_env({key: value})
    with settings_env(**{key: value}), pytest.raises(ConfigError, match=key):
        make_app()


def test_the_self_hosted_front_refuses_to_start_with_a_bad_setting() -> None:
    env = process.child_env({"IMS_UI_API_BASE": "javascript:alert(1)", "IMS_HOST": "127.0.0.1", "IMS_PORT": "0",
                             "IMS_WORKERS": "1"})
    run = subprocess.run([sys.executable, "-m", "gateway.serve"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode != 0
    assert "IMS_UI_API_BASE" in run.stderr, run.stderr[-2000:]
