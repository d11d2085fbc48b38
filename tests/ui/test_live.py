"""Live in Chromium: a withdrawal made by staff in one browser shows, without a reload, in a manager's
inventory table (the row's quantity and low badge, marked as changed), on the manager's page of that
item (quantity and history), and on the dashboard's numbers; a deletion elsewhere is shown on the item
page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import unique

API = "/api/v1"


@pytest.fixture(scope="module")
def watched(api: Any, manager: dict) -> dict[str, Any]:
    prefix = unique("Live")
    res = api.post(f"{API}/items", {"name": f"{prefix} item", "sku": unique("L").upper(), "quantity": 12,
                                    "low_stock_threshold": 10}, token=manager["token"])
    assert res.status == 201, res.text
    return {"prefix": prefix, "item": res.json()}


def live(page: Any) -> None:
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


def test_a_withdrawal_by_staff_appears_live_for_a_manager(open_page, api, manager, staff, watched):
    item = watched["item"]
    table = open_page(f"/#/items?search={watched['prefix']}", user=manager)
    row = table.locator(f"table.inventory tbody tr[data-id='{item['id']}']")
    expect(row).to_contain_text("12")
    expect(row.locator(".badge.low")).to_have_count(0)
    detail = open_page(f"/#/items/{item['id']}", user=manager)
    expect(detail.get_by_role("region", name="Details")).to_contain_text("12 pcs")
    history = detail.get_by_role("region", name="Stock history").locator("tbody tr")
    expect(history).to_have_count(1)
    for page in (table, detail):
        live(page)

    shelf = open_page(f"/#/items/{item['id']}", user=staff)
    shelf.get_by_label("Quantity", exact=True).fill("5")
    shelf.get_by_label("Notes").fill("picked live")
    shelf.get_by_role("button", name="Withdraw").click()
    expect(shelf.get_by_role("status").filter(has_text="Withdrew 5")).to_be_visible()

    row = table.locator(f"table.inventory tbody tr[data-id='{item['id']}']")
    expect(row.locator("[data-col=quantity]")).to_have_text("7 Low")
    expect(row).to_have_class("low changed")
    expect(detail.get_by_role("region", name="Details")).to_contain_text("7 pcs")
    expect(detail.get_by_role("region", name="Details").get_by_text("Low stock", exact=True)).to_be_visible()
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("picked live")
    # nothing was reloaded: the pages are the ones opened above, with their state
    assert table.evaluate("() => performance.getEntriesByType('navigation').length") == 1

    # a deletion elsewhere is said on the item page, and the row leaves the table
    assert api.delete(f"{API}/items/{item['id']}", token=manager["token"]).status == 204
    expect(detail.get_by_role("alert")).to_contain_text("This item has been deleted")
    expect(detail.get_by_role("button", name="Withdraw")).to_be_disabled()
    expect(table.locator(f"table.inventory tbody tr[data-id='{item['id']}']")).to_have_count(0)


def test_the_dashboard_numbers_follow_live_events(open_page, api, manager, staff):
    page = open_page("/", user=staff)
    live(page)
    items = page.locator(".summary .stat").filter(has_text="Items").locator(".value")
    # every part loaded, so the page has subscribed to the events (it does once they are all shown)
    expect(page.get_by_role("img", name=re.compile("Stock in and out per day"))).to_be_visible()
    expect(page.get_by_text("Loading…")).to_have_count(0)
    expect(items).to_have_text(re.compile(r"\d"))
    shown = items.inner_text()  # as the page formats it, in the browser's locale ("1,322")
    before = int("".join(ch for ch in shown if ch.isdigit()))
    res = api.post(f"{API}/items", {"name": unique("Dash"), "sku": unique("D").upper(), "quantity": 1},
                   token=manager["token"])
    assert res.status == 201, res.text
    expect(items).not_to_have_text(shown)
    after = int("".join(ch for ch in items.inner_text() if ch.isdigit()))
    assert after > before
