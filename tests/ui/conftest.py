"""The browser layer: the web UI in a real Chromium driven by Playwright for Python, against the real
gateway (serving ui/ and the API, over HTTP on an ephemeral port) and a real realtime server (`python
-m realtime`, a child process on an ephemeral port), with the session's database and Redis;
/config.json points the UI at that realtime server.

Chromium: IMS_CHROMIUM, else /usr/bin/chromium (Debian's `chromium`), else `chromium` or
`chromium-browser` on PATH. Playwright's own browser download is not used. With none, every test
here skips and the run ends with a banner saying so (pytest_terminal_summary below).

Fixtures:
- `open_page(path="/", *, phone=False, user=None, allow_errors=False)`: a new page in a context of its
  own (desktop 1280×800, or 375×667 with touch when `phone`), signed in as `user` (a `manager`/`staff`
  fixture dict, or any {"email", "password"} of an active user) when given. At teardown each page's
  screenshot goes to .artifacts/ui/<test>[-n].png, and the test fails if a page logged a console error,
  raised an uncaught exception or met a CSP violation, unless it was opened with `allow_errors=True`
  or the test is marked `@pytest.mark.allow_browser_errors`. `open_page.errors(page)` lists them.
- `page`: `open_page()`, one desktop page at / not signed in.
- `ui_front` (its `.url`), `ui_feed` (its `.url`, the WebSocket URL), `browser`, and `sign_in(page,
  user)` to put a session into an open page (then reloads it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localenv import process
from tests.client import Api
from tests.conftest import ROOT, loopback_address, settings_env

ARTIFACTS = ROOT / ".artifacts" / "ui"
SESSION_KEY = "ims.session"  # where ui/js/session.js keeps {access_token, refresh_token, user}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}
HERE = Path(__file__).resolve().parent


def find_chromium() -> tuple[str | None, str]:
    """(the Chromium to drive, or None; why, when None)."""
    named = os.environ.get("IMS_CHROMIUM")
    if named:
        found = shutil.which(named) or (named if os.access(named, os.X_OK) and os.path.isfile(named) else None)
        return found, "" if found else f"IMS_CHROMIUM={named} is not an executable file"
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium", ""
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path, ""
    return None, "no Chromium: not at /usr/bin/chromium, none named by IMS_CHROMIUM, none on PATH"


CHROMIUM, WHY_NOT = find_chromium()
try:
    import playwright.sync_api  # noqa: F401
except ImportError:  # not installed: the same skip, another reason
    CHROMIUM, WHY_NOT = None, "the playwright package is not installed (pip install -r requirements-dev.txt)"

_skipped: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_browser_errors: console errors and CSP violations do not fail the test")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM is not None:
        return
    skip = pytest.mark.skip(reason=f"browser layer skipped: {WHY_NOT}")
    for item in items:
        if Path(str(item.path)).resolve().is_relative_to(HERE):
            item.add_marker(skip)
            _skipped.append(item.nodeid)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _skipped:
        return
    write = terminalreporter.write_line
    terminalreporter.write_sep("!", "THE BROWSER LAYER DID NOT RUN", red=True, bold=True)
    write(f"{len(_skipped)} tests in tests/ui/ were skipped: {WHY_NOT}.", red=True, bold=True)
    write("The web UI was NOT tested in a browser. To run them, install Debian's Chromium", red=True)
    write("(apt-get install chromium; .ci/run does this as root) or point IMS_CHROMIUM at a Chromium binary.",
          red=True)
    terminalreporter.write_sep("!", red=True, bold=True)


# --- servers --------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def ui_feed(services: dict[str, str]) -> Iterator[Any]:
    """`python -m realtime` on an ephemeral port: the live feed the UI's pages connect to."""
    from realtime import launch

    server = launch.start(process.child_env({"IMS_WS_PORT": "0", "IMS_WS_HOST": "127.0.0.1",
                                             "IMS_LOG_LEVEL": "WARNING"}))
    yield server
    server.stop()


@dataclass(frozen=True)
class UiFront:
    url: str
    app: Any


@pytest.fixture(scope="session")
def ui_front(gateway: str, ui_feed: Any) -> Iterator[UiFront]:
    """The gateway's App serving ui/ and the API on an ephemeral port, /config.json naming ui_feed. In
    this process like the session's `gateway` (tests/front.py says why), whose invoke API it shares for
    chaining: a front of its own in a child process would run a second scheduler on the session's
    database, firing the triggers other tests fire themselves."""
    from gateway.app import make_app
    from tests.front import in_process

    with settings_env(IMS_UI_WS_URL=ui_feed.url, IMS_UI_API_BASE=None):
        app = make_app()  # the UI's settings are read here, once
    with in_process(app) as url:
        yield UiFront(url, app)
    app.activations.shutdown()


# --- the browser ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None  # else every test here was skipped at collection
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


def session_for(front_url: str, user: dict[str, Any]) -> dict[str, Any]:
    """A fresh session for `user` (its "email", else user["user"]["email"], and "password"), signed in
    through the API as the UI would: {access_token, refresh_token, user}, what session.js keeps."""
    email = user.get("email") or user["user"]["email"]
    api = Api(front_url, source=loopback_address())
    try:
        res = api.post("/api/v1/auth/login", {"email": email, "password": user["password"]})
    finally:
        api.close()
    assert res.status == 200, res.text
    body = res.json()
    return {"access_token": body["access_token"], "refresh_token": body["refresh_token"], "user": body["user"]}


def put_session(page: Any, user: dict[str, Any], front_url: str) -> dict[str, Any]:
    """Put a fresh session for `user` where the UI keeps it, in an open page of the front, and reload."""
    session = session_for(front_url, user)
    page.evaluate("([key, value]) => localStorage.setItem(key, value)", [SESSION_KEY, json.dumps(session)])
    page.reload()
    return session


class Pages:
    """The factory behind `open_page`: every page it opened, and what went wrong in each."""

    def __init__(self, browser: Any, front_url: str) -> None:
        self.browser, self.front_url = browser, front_url
        self.opened: list[tuple[Any, Any, bool]] = []  # (page, context, errors allowed)
        self._errors: dict[int, list[str]] = {}

    def __call__(self, path: str = "/", *, phone: bool = False, user: dict[str, Any] | None = None,
                 allow_errors: bool = False, wait: bool = True) -> Any:
        options: dict[str, Any] = {"base_url": self.front_url, "viewport": PHONE if phone else DESKTOP}
        if phone:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        if user is not None:
            stored = json.dumps(session_for(self.front_url, user))
            options["storage_state"] = {"cookies": [], "origins": [
                {"origin": self.front_url, "localStorage": [{"name": SESSION_KEY, "value": stored}]}]}
        context = self.browser.new_context(**options)
        context.set_default_timeout(10_000)
        page = context.new_page()
        errors = self._errors.setdefault(id(page), [])

        def console(message: Any) -> None:
            if message.type == "error":
                where = message.location.get("url") or ""
                errors.append(f"console.error: {message.text}" + (f" ({where})" if where else ""))

        page.on("console", console)
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        # A CSP violation is also logged to the console by Chromium; the event names the directive.
        context.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => console.error("
            "'CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')));")
        self.opened.append((page, context, allow_errors))
        page.goto(path, wait_until="load" if wait else "commit")
        return page

    def errors(self, page: Any) -> list[str]:
        return self._errors.get(id(page), [])

    def finish(self, test_name: str, allow_all: bool) -> list[str]:
        """Screenshots, then close everything; the errors that fail the test."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        failures: list[str] = []
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name).strip("_")[:150]
        for n, (page, context, allowed) in enumerate(self.opened, 1):
            name = base if n == 1 else f"{base}-{n}"
            try:
                if not page.is_closed():
                    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            except Exception as exc:  # a crashed page: the screenshot is lost, the test's own failure stands
                failures.append(f"{name}: no screenshot ({exc})")
            if not (allowed or allow_all):
                failures += [f"{name}: {e}" for e in self.errors(page)]
            context.close()
        return failures


@pytest.fixture
def open_page(browser: Any, ui_front: UiFront, request: pytest.FixtureRequest) -> Iterator[Pages]:
    pages = Pages(browser, ui_front.url)
    yield pages
    allow_all = request.node.get_closest_marker("allow_browser_errors") is not None
    failures = pages.finish(request.node.name, allow_all)
    if failures:
        pytest.fail("the browser reported errors:\n" + "\n".join(failures), pytrace=False)


@pytest.fixture
def page(open_page: Pages) -> Any:
    return open_page()


@pytest.fixture
def sign_in(ui_front: UiFront) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    """`sign_in(page, user)`: a fresh session for `user` in that page (see put_session)."""
    return lambda page, user: put_session(page, user, ui_front.url)


def run_without_chromium(*args: str) -> subprocess.CompletedProcess[str]:
    """pytest on `args` with IMS_CHROMIUM naming nothing: what a machine without Chromium sees."""
    env = process.child_env({"IMS_CHROMIUM": "/nonexistent/chromium"})
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
