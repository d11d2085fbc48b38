"""/docs in a real Chromium with every request to another host refused: Swagger UI renders IMS's
operations from this gateway's files alone, and the page's CSP is never violated."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def test_docs_render_the_operations_with_no_request_leaving_the_machine(browser: Any, ui_front: Any) -> None:
    context = browser.new_context()
    refused: list[str] = []
    violations: list[str] = []

    def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    # Every violation, whatever the console prints about it.
    context.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                            "console.error('Content Security Policy: ' + e.violatedDirective + ' ' + e.blockedURI))")
    page = context.new_page()
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    try:
        page.goto(f"{ui_front.url}/docs")
        page.locator(".opblock", has_text="/items").first.wait_for(timeout=30_000)
        assert page.locator(".opblock").count() > 10
        page.locator(".opblock-summary", has_text="/items").first.click()  # an operation opens
        page.locator(".opblock-body").first.wait_for(timeout=10_000)
        page.locator(".opblock-body .highlight-code").first.wait_for(timeout=10_000)  # a response example
        # The schemas render too, expanded all the way (the expanders set style attributes).
        page.locator("section.models .json-schema-2020-12-expand-deep-button").first.click()
        page.locator("section.models .json-schema-2020-12-body").first.wait_for(timeout=10_000)
    finally:
        shots = Path(__file__).resolve().parents[2] / ".artifacts" / "ui"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "docs_offline.png"), full_page=False)
        context.close()
    assert refused == [], f"/docs asked other hosts for {refused}"
    assert violations == [], violations
