"""The item page, the new-item form and the scan page in Chromium: every field with names, the stock
history as a chart and a table, quick movements that each carry an Idempotency-Key (a double click
moves stock once; too much shows what is available), a manager's edit with an If-Match conflict shown
side by side, delete, a taken SKU on its field, scanning by SKU, and the phone layout."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import unique

API = "/api/v1"


@pytest.fixture(scope="module")
def shelf(api: Any, manager: dict) -> dict[str, Any]:
    """A category and a location of this module's own, for the items the tests make."""
    token = manager["token"]
    category = api.post(f"{API}/categories", {"name": unique("Cat")}, token=token).json()
    location = api.post(f"{API}/locations", {"name": unique("Loc")}, token=token).json()
    return {"category": category, "location": location}


@pytest.fixture
def thing(api: Any, manager: dict, shelf: dict) -> dict[str, Any]:
    """A fresh item with a little history: 40 in, 5 out (a note), so 35 now, threshold 10."""
    token = manager["token"]
    res = api.post(f"{API}/items", {
        "name": unique("Bolt"), "sku": unique("B").upper(), "quantity": 40, "price": "0.75", "unit": "pcs",
        "low_stock_threshold": 10, "description": "M6 hex bolts", "category_id": shelf["category"]["id"],
        "location_id": shelf["location"]["id"]}, token=token)
    assert res.status == 201, res.text
    item = res.json()
    out = api.post(f"{API}/items/{item['id']}/withdraw", {"quantity": 5, "notes": "first order"}, token=token,
                   headers={"Idempotency-Key": unique("k")})
    assert out.status == 200, out.text
    return out.json()


def current(api: Any, manager: dict, item_id: int) -> dict[str, Any]:
    return api.get(f"{API}/items/{item_id}", token=manager["token"]).json()


def details(page: Any) -> Any:
    return page.get_by_role("region", name="Details")


def history_rows(page: Any) -> Any:
    return page.get_by_role("region", name="Stock history").locator("tbody tr")


def test_the_item_page_shows_every_field_and_the_history(open_page, manager, shelf, thing):
    page = open_page(f"/#/items/{thing['id']}", user=manager)
    expect(page.get_by_role("heading", name=thing["name"], level=1)).to_be_visible()
    box = details(page)
    for text in (thing["sku"], "35 pcs", shelf["category"]["name"], shelf["location"]["name"], "M6 hex bolts", "0.75"):
        expect(box).to_contain_text(text)
    expect(page.get_by_role("img", name=f"Quantity of {thing['name']} over time")).to_be_visible()
    expect(page.locator("svg.chart line.threshold")).to_have_count(1)
    expect(history_rows(page)).to_have_count(2)
    newest = history_rows(page).first
    for text in ("Withdrawal", "-5", "40 → 35", "first order", "Boss"):
        expect(newest).to_contain_text(text)
    for control in ("Edit", "Delete"):
        expect(page.get_by_role("button", name=control)).to_be_visible()
    expect(page.get_by_role("link", name="Print label")).to_have_attribute("href", f"#/labels?ids={thing['id']}")


def test_movements_carry_an_idempotency_key_and_a_double_click_moves_once(open_page, api, manager, staff, thing):
    page = open_page(f"/#/items/{thing['id']}", user=staff)
    moves: list[Any] = []
    page.on("request", lambda r: moves.append(r) if re.search(r"/items/\d+(/restock|/withdraw)?$", r.url)
            and r.method in ("POST", "PATCH") else None)
    quantity, notes = page.get_by_label("Quantity", exact=True), page.get_by_label("Notes")

    quantity.fill("4")
    notes.fill("shelf restock")
    page.get_by_role("button", name="Restock").click()
    expect(page.get_by_role("status").filter(has_text="Restocked 4")).to_be_visible()
    expect(details(page)).to_contain_text("39 pcs")
    expect(history_rows(page).first).to_contain_text("shelf restock")

    quantity.fill("3")
    page.get_by_role("button", name="Withdraw").dblclick()
    expect(page.get_by_role("status").filter(has_text="Withdrew 3")).to_be_visible()
    expect(details(page)).to_contain_text("36 pcs")

    quantity.fill("30")
    page.get_by_role("button", name="Count").click()
    expect(page.get_by_role("status").filter(has_text="Counted")).to_be_visible()
    expect(details(page)).to_contain_text("30 pcs")

    assert current(api, manager, thing["id"])["quantity"] == 30
    log = api.get(f"{API}/logs/item/{thing['id']}", token=manager["token"]).json()["data"]
    assert [e["action"] for e in log[:3]] == ["count", "withdraw", "restock"]
    assert [e["delta"] for e in log[:3]] == [-6, -3, 4]
    keys = [r.headers.get("idempotency-key") for r in moves]
    assert moves and all(keys), [(r.method, r.url, r.headers) for r in moves]
    withdrawals = [r for r in moves if r.url.endswith("/withdraw")]
    assert len({r.headers["idempotency-key"] for r in withdrawals}) == 1  # the double click: one action
    assert len(set(keys)) == len({(r.method, r.url) for r in moves})  # one key per action


@pytest.mark.allow_browser_errors  # the browser logs the 409 answer as a failed resource
def test_withdrawing_more_than_there_is_shows_what_is_available(open_page, api, manager, staff, thing):
    page = open_page(f"/#/items/{thing['id']}", user=staff)
    page.get_by_label("Quantity", exact=True).fill("500")
    page.get_by_role("button", name="Withdraw").click()
    expect(page.get_by_role("alert")).to_contain_text("only 35 available")
    expect(page.get_by_label("Quantity", exact=True)).to_have_attribute("aria-invalid", "true")
    assert current(api, manager, thing["id"])["quantity"] == 35


def test_a_manager_edits_and_deletes(open_page, api, manager, thing):
    page = open_page(f"/#/items/{thing['id']}", user=manager)
    page.get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name="Edit item")
    expect(form.get_by_label("Name")).to_have_value(thing["name"])
    form.get_by_label("Low-stock threshold").fill("50")
    form.get_by_label("Price").fill("1.10")
    form.get_by_role("button", name="Save").click()
    expect(form).to_have_count(0)
    expect(details(page)).to_contain_text("1.10")
    expect(details(page).get_by_text("Low stock", exact=True)).to_be_visible()  # 35 < 50
    saved = current(api, manager, thing["id"])
    assert (saved["low_stock_threshold"], saved["price"], saved["name"]) == (50, "1.10", thing["name"])

    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(thing["name"])
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Inventory")).to_be_visible()
    assert api.get(f"{API}/items/{thing['id']}", token=manager["token"]).status == 404


@pytest.mark.allow_browser_errors  # the 412 answer is logged as a failed resource
def test_an_if_match_conflict_shows_both_versions(open_page, api, manager, thing):
    first = open_page(f"/#/items/{thing['id']}", user=manager)
    second = open_page(f"/#/items/{thing['id']}", user=manager)
    for page in (first, second):
        page.get_by_role("button", name="Edit").click()
    mine, theirs = f"{thing['name']} (mine)", f"{thing['name']} (theirs)"

    form = first.get_by_role("form", name="Edit item")
    form.get_by_label("Name").fill(theirs)
    form.get_by_role("button", name="Save").click()
    expect(first.get_by_role("heading", name=theirs, level=1)).to_be_visible()

    form = second.get_by_role("form", name="Edit item")
    form.get_by_label("Name").fill(mine)
    form.get_by_label("Unit").fill("box")
    form.get_by_role("button", name="Save").click()
    dialog = second.get_by_role("dialog", name="Someone saved this item first")
    expect(dialog).to_be_visible()
    name_row = dialog.get_by_role("row").filter(has=second.get_by_role("rowheader", name="Name"))
    expect(name_row.get_by_role("cell").nth(0)).to_have_text(mine)
    expect(name_row.get_by_role("cell").nth(1)).to_have_text(theirs)
    expect(name_row).to_have_class(re.compile("diff"))
    sku_row = dialog.get_by_role("row").filter(has=second.get_by_role("rowheader", name="SKU"))
    expect(sku_row).not_to_have_class(re.compile("diff"))
    # the other tab's save shows live behind the dialog
    expect(second.get_by_role("heading", name=theirs, level=1)).to_be_attached()

    dialog.get_by_role("button", name="Keep editing on the current version").click()
    expect(dialog).to_have_count(0)
    form = second.get_by_role("form", name="Edit item")
    expect(form.get_by_label("Name")).to_have_value(mine)
    expect(form.get_by_label("Unit")).to_have_value("box")
    form.get_by_role("button", name="Save").click()
    expect(second.get_by_role("heading", name=mine, level=1)).to_be_visible()
    saved = current(api, manager, thing["id"])
    assert (saved["name"], saved["unit"]) == (mine, "box")
    expect(first.get_by_role("heading", name=mine, level=1)).to_be_visible()  # live in the first tab


@pytest.mark.allow_browser_errors  # the 412 and 409 answers are logged as failed resources
def test_discarding_a_conflicting_change_keeps_the_saved_version(open_page, api, manager, thing):
    page = open_page(f"/#/items/{thing['id']}", user=manager)
    page.get_by_role("button", name="Edit").click()
    res = api.patch(f"{API}/items/{thing['id']}", {"description": "changed elsewhere"}, token=manager["token"])
    assert res.status == 200, res.text
    form = page.get_by_role("form", name="Edit item")
    form.get_by_label("Description").fill("changed here")
    form.get_by_role("button", name="Save").click()
    dialog = page.get_by_role("dialog", name="Someone saved this item first")
    dialog.get_by_role("button", name="Discard my change").click()
    expect(page.get_by_role("form", name="Edit item")).to_have_count(0)
    expect(details(page)).to_contain_text("changed elsewhere")
    assert current(api, manager, thing["id"])["description"] == "changed elsewhere"


@pytest.mark.allow_browser_errors  # the 409 answer is logged as a failed resource
def test_new_item_form_shows_a_taken_sku_and_creates(open_page, manager, shelf, thing):
    page = open_page("/#/items", user=manager)
    page.get_by_role("link", name="New item").click()
    expect(page.get_by_role("heading", name="New item", level=1)).to_be_visible()
    name = unique("Nut")
    page.get_by_label("Name").fill(name)
    page.get_by_label("SKU").fill(thing["sku"])
    page.get_by_label("Category").select_option(label=shelf["category"]["name"])
    page.get_by_label("Location").select_option(label=shelf["location"]["name"])
    page.get_by_label("Quantity").fill("12")
    page.get_by_role("button", name="Create item").click()
    expect(page.get_by_label("SKU")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field[data-field=sku] .error")).to_contain_text("already taken")
    sku = unique("N").upper()
    page.get_by_label("SKU").fill(sku)
    page.get_by_role("button", name="Create item").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(details(page)).to_contain_text(sku)
    expect(details(page)).to_contain_text(shelf["category"]["name"])
    expect(details(page)).to_contain_text("12 pcs")


def test_scanning_a_sku_opens_the_item_ready_for_a_movement(open_page, staff, thing):
    page = open_page("/#/scan", user=staff)
    field = page.get_by_label("SKU", exact=True)
    expect(field).to_be_focused()
    expect(page.get_by_text("cannot read barcodes from the camera")).to_be_visible()  # headless: no BarcodeDetector
    field.press_sequentially("NO-SUCH-CODE-9")
    field.press("Enter")
    expect(page.get_by_role("status").filter(has_text="No item with SKU NO-SUCH-CODE-9")).to_be_visible()
    field.fill("")
    field.press_sequentially(thing["sku"])  # as a USB scanner types it
    field.press("Enter")
    expect(page.get_by_role("heading", name=thing["name"], level=1)).to_be_visible()
    expect(page.get_by_label("Quantity", exact=True)).to_be_focused()


def test_phone_layout_of_the_item_page(open_page, staff, thing):
    page = open_page(f"/#/items/{thing['id']}", phone=True, user=staff)
    page.emulate_media(color_scheme="dark")  # and the screenshot shows the dark theme
    expect(page.get_by_role("heading", name=thing["name"], level=1)).to_be_visible()
    expect(history_rows(page)).to_have_count(2)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    menu = page.get_by_role("button", name="Menu")
    menu.click()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory")).to_be_visible()
