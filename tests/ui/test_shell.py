"""The UI's shell in Chromium: it loads with no console error and no CSP violation, on a desktop and on
a phone; the Content-Security-Policy the gateway sends is the one the browser enforces (no inline
script, no inline style attribute, no eval, no other origin; the live feed allowed); and the layer
skips loudly where there is no Chromium."""

from __future__ import annotations

import json

import pytest

from tests.ui.conftest import SESSION_KEY, run_without_chromium

def test_the_shell_loads_with_no_console_error_and_the_policy_set(open_page, ui_front, ui_feed):
    page = open_page()
    page.wait_for_load_state("networkidle")
    main = page.request.get("/")
    assert main.status == 200 and main.headers["content-type"] == "text/html; charset=utf-8"
    policy = main.headers["content-security-policy"]
    ws_origin = ui_feed.url.removesuffix("/ws")
    assert f"connect-src 'self' {ws_origin};" in policy
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert page.title().strip()
    config = page.evaluate("async () => (await fetch('config.json')).json()")
    assert config == {"api_base": "/api/v1", "ws_url": ui_feed.url}
    # the teardown fails the test if anything was logged as an error meanwhile


def test_the_shell_fits_a_phone_screen(open_page):
    page = open_page(phone=True)
    page.wait_for_load_state("networkidle")
    assert page.viewport_size == {"width": 375, "height": 667}
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375


def test_an_inline_script_is_refused_and_reported(open_page):
    page = open_page(allow_errors=True)  # the violation is the point; it must still be seen below
    fired = page.evaluate("""() => new Promise(resolve => {
      document.addEventListener('securitypolicyviolation',
        e => resolve({directive: e.violatedDirective, blocked: e.blockedURI}), {once: true});
      const script = document.createElement('script');
      script.textContent = 'window.inlineRan = true';
      document.body.append(script);
    })""")
    assert fired["directive"].startswith("script-src") and fired["blocked"] == "inline"
    assert page.evaluate("() => window.inlineRan") is None
    assert any("CSP violation: script-src" in e for e in open_page.errors(page)), open_page.errors(page)


def test_eval_an_inline_style_attribute_and_other_origins_are_refused(open_page):
    page = open_page(allow_errors=True)
    # eval from a script of the page's own origin (DevTools' evaluate itself is exempt from the policy):
    # a same-origin file the browser is handed here, as if ui/ held it.
    page.route("**/probe.js", lambda route: route.fulfill(
        content_type="text/javascript",
        body="try { eval('1 + 1'); window.evalResult = 'ran' } catch (e) { window.evalResult = e.name }"))
    page.evaluate("""() => new Promise(loaded => {
      const probe = document.createElement('script'); probe.src = 'probe.js'; probe.onload = loaded;
      document.head.append(probe);
    })""")
    assert page.evaluate("() => window.evalResult") == "EvalError"
    styled = page.evaluate("""() => new Promise(resolve => {
      document.addEventListener('securitypolicyviolation', e => resolve(e.violatedDirective), {once: true});
      const box = document.createElement('div');
      box.innerHTML = '<p style="color: rgb(255, 0, 0)">x</p>';
      document.body.append(box);
    })""")
    assert styled.startswith("style-src")
    # Set from JavaScript, a style is allowed: that is how the UI's scripts style things.
    assert page.evaluate("""() => { const p = document.createElement('p'); document.body.append(p);
      p.style.color = 'rgb(0, 128, 0)'; return getComputedStyle(p).color }""") == "rgb(0, 128, 0)"
    elsewhere = page.evaluate("""() => new Promise(resolve => {
      document.addEventListener('securitypolicyviolation', e => resolve(e.violatedDirective), {once: true});
      fetch('http://127.0.0.1:9/elsewhere').catch(() => {});
    })""")
    assert elsewhere.startswith("connect-src")


def test_the_live_feed_is_an_allowed_origin(page, ui_feed):
    opened = page.evaluate("""url => new Promise(resolve => {
      document.addEventListener('securitypolicyviolation', e => resolve('refused: ' + e.violatedDirective));
      const ws = new WebSocket(url);
      ws.onopen = () => { ws.close(); resolve('open'); };
      ws.onerror = () => resolve('error');
    })""", ui_feed.url)
    assert opened == "open"


def test_a_page_opened_for_a_user_holds_their_session(open_page, staff, manager, sign_in):
    page = open_page(user=staff)
    stored = json.loads(page.evaluate("key => localStorage.getItem(key)", SESSION_KEY))
    assert stored["user"]["email"] == staff["email"] and stored["user"]["role"] == "staff"
    assert stored["access_token"] and stored["refresh_token"]
    me = page.request.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {stored['access_token']}"})
    assert me.status == 200 and me.json()["email"] == staff["email"]
    session = sign_in(page, manager)
    stored = json.loads(page.evaluate("key => localStorage.getItem(key)", SESSION_KEY))
    assert stored == session and stored["user"]["role"] == "manager"


@pytest.mark.allow_browser_errors
def test_a_console_error_fails_the_test_unless_allowed(open_page):
    page = open_page()
    page.evaluate("() => console.error('on purpose')")
    assert [e.split(" (")[0] for e in open_page.errors(page)] == ["console.error: on purpose"]


def test_without_chromium_the_layer_skips_and_says_so_loudly():
    run = run_without_chromium("tests/ui/test_shell.py", "-k", "not without_chromium")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "THE BROWSER LAYER DID NOT RUN" in run.stdout
    assert "IMS_CHROMIUM=/nonexistent/chromium is not an executable file" in run.stdout
    assert " skipped" in run.stdout and " passed" not in run.stdout
