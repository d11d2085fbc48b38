"""The managers' pages in Chromium (categories, locations, transactions, alerts, users, profile, system)
with data made through the API: each renders it, acts on it, and follows the live feed; staff see
none of the managers' controls; the users and alerts pages fit a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.api.helpers import V1, new_category, new_item, new_location, withdraw
from tests.conftest import make_user, unique

MANAGER_PAGES = ["Transactions", "Alerts", "Users", "Import", "System"]


def early(prefix: str) -> str:
    """A unique name sorted before the others, so it is on the first page of a list by name."""
    return f"000 {unique(prefix)}"


def row(page, text: str):
    return page.get_by_role("row").filter(has_text=text)


def only_refusals(open_page, page, *statuses: int) -> None:
    """Chromium logs every refused request as a console error: allow exactly those the test provoked."""
    expected = re.compile(rf"Failed to load resource: the server responded with a status of ({'|'.join(map(str, statuses))}) ")
    unexpected = [e for e in open_page.errors(page) if not expected.search(e)]
    assert not unexpected, unexpected


def fits_the_screen(page) -> bool:
    # On a phone Chromium widens the layout viewport to fit what overflows: compare with the device width.
    return page.evaluate("() => document.documentElement.scrollWidth") <= 375


def test_categories_add_edit_delete_with_a_taken_name_and_live_changes(open_page, api, manager):
    taken = new_category(api, manager["token"], name=early("Taken"))
    page = open_page("/#/categories", user=manager, allow_errors=True)
    expect(page.get_by_role("heading", name="Categories")).to_be_visible()
    expect(row(page, taken["name"])).to_be_visible()

    name = early("Tools")
    page.get_by_role("button", name="Add category").click()
    dialog = page.get_by_role("dialog", name="New category")
    dialog.get_by_label("Name").fill(taken["name"])
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.get_by_text("This name is taken.")).to_be_visible()  # next to the name field
    expect(dialog.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_label("Description").fill("Hand tools")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    expect(row(page, name)).to_contain_text("Hand tools")

    page.get_by_role("button", name=f"Edit {name}").click()
    dialog = page.get_by_role("dialog", name=f"Edit category {name}")
    dialog.get_by_label("Description").fill("Hand and power tools")
    dialog.get_by_role("button", name="Save").click()
    expect(row(page, name)).to_contain_text("Hand and power tools")

    # A change made elsewhere appears in place.
    other = new_category(api, manager["token"], name=early("Live"))
    expect(row(page, other["name"])).to_be_visible()
    res = api.request("PUT", f"{V1}/categories/{other['id']}", {"name": other["name"], "description": "renamed elsewhere"},
                      token=manager["token"])
    assert res.status == 200, res.text
    expect(row(page, other["name"])).to_contain_text("renamed elsewhere")
    assert api.request("DELETE", f"{V1}/categories/{other['id']}", token=manager["token"]).status == 204
    expect(row(page, other["name"])).to_have_count(0)

    page.get_by_role("button", name=f"Delete {name}").click()
    confirm = page.get_by_role("dialog", name="Confirm")
    expect(confirm).to_contain_text("uncategorized")
    confirm.get_by_role("button", name="Delete").click()
    expect(row(page, name)).to_have_count(0)
    assert not any(c["name"] == name for c in api.get(f"{V1}/categories?per_page=100", token=manager["token"]).json()["data"])
    only_refusals(open_page, page, 409)


def test_categories_show_item_counts_and_locations_their_address(open_page, api, manager):
    category = new_category(api, manager["token"], name=early("Counted"))
    for _ in range(2):
        new_item(api, manager["token"], category_id=category["id"])
    location = new_location(api, manager["token"], name=early("Shelf"), address="Aisle 3")
    page = open_page("/#/categories", user=manager)
    expect(row(page, category["name"]).get_by_role("cell").nth(1)).to_have_text("2")  # description, items, actions
    page.goto("/#/locations")
    expect(row(page, location["name"])).to_contain_text("Aisle 3")
    page.get_by_role("button", name=f"Delete {location['name']}").click()
    expect(page.get_by_role("dialog", name="Confirm")).to_contain_text("without a location")
    page.get_by_role("dialog", name="Confirm").get_by_role("button", name="Cancel").click()
    expect(row(page, location["name"])).to_be_visible()


def test_staff_see_no_manager_controls_and_no_manager_pages(open_page, api, manager, staff):
    category = new_category(api, manager["token"], name=early("ReadOnly"))
    location = new_location(api, manager["token"], name=early("ReadOnly"))
    page = open_page("/#/categories", user=staff)
    expect(row(page, category["name"])).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Categories")).to_be_visible()
    for label in MANAGER_PAGES:
        expect(nav.get_by_role("link", name=label)).to_have_count(0)
    expect(page.get_by_role("button", name="Add category")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^(Edit|Delete) "))).to_have_count(0)

    page.goto("/#/locations")
    expect(row(page, location["name"])).to_be_visible()
    expect(page.get_by_role("button", name="Add location")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^(Edit|Delete) "))).to_have_count(0)

    for path in ("users", "transactions", "alerts", "import", "system"):
        page.goto(f"/#/{path}")
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_transactions_filtered_by_sku_link_to_the_item_and_grow_live(open_page, api, manager):
    item = new_item(api, manager["token"], quantity=5)
    assert api.post(f"{V1}/items/{item['id']}/restock", {"quantity": 7, "notes": "delivery"},
                    token=manager["token"]).status == 200
    page = open_page(f"/#/transactions?item={item['sku']}", user=manager)
    expect(page.get_by_role("heading", name="Transactions")).to_be_visible()
    restock = row(page, "restock")
    expect(restock).to_contain_text("+7")
    expect(restock).to_contain_text("delivery")
    expect(restock).to_contain_text("Boss")
    expect(restock.get_by_role("link")).to_have_attribute("href", f"#/items/{item['id']}")
    expect(page.get_by_role("row").filter(has=page.get_by_role("cell"))).to_have_count(2)  # create, restock

    withdraw(api, manager["token"], item["id"], 3)
    expect(row(page, "withdraw")).to_contain_text("-3")
    expect(page.get_by_role("row").filter(has=page.get_by_role("cell"))).to_have_count(3)

    # The form's filters go into the hash: the action filter leaves only the withdrawal.
    page.get_by_label("Action").select_option("withdraw")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"action=withdraw"))
    expect(page.get_by_role("row").filter(has=page.get_by_role("cell"))).to_have_count(1)

    page.get_by_label("Item (SKU or id)").fill("no-such-sku-anywhere")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status").filter(has_text="No item has the SKU")).to_be_visible()


def test_alerts_open_first_then_acknowledged(open_page, api, manager):
    item = new_item(api, manager["token"], quantity=12, low_stock_threshold=10)
    page = open_page("/#/alerts", user=manager)
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    withdraw(api, manager["token"], item["id"], 5)  # below the threshold while the page is open
    open_alerts = page.get_by_role("region", name=re.compile("^Open"))
    alert = open_alerts.get_by_role("row").filter(has_text=item["sku"])
    expect(alert).to_contain_text("7 / 10")
    expect(alert.get_by_role("link", name=item["name"])).to_have_attribute("href", f"#/items/{item['id']}")
    expect(alert).to_contain_text(re.compile("Sent|Logged|Pending|Failed"))

    alert.get_by_role("button", name=f"Acknowledge the alert for {item['name']}").click()
    expect(open_alerts.get_by_role("row").filter(has_text=item["sku"])).to_have_count(0)
    done = page.get_by_role("region", name="Acknowledged").get_by_role("row").filter(has_text=item["sku"])
    expect(done).to_contain_text("Acknowledged")
    alerts = api.get(f"{V1}/alerts?acknowledged=true&per_page=100", token=manager["token"]).json()["data"]
    assert any(a["item_id"] == item["id"] and a["acknowledged"] for a in alerts)


def test_users_create_deactivate_reactivate_and_change_role(open_page, api, manager):
    page = open_page("/#/users", user=manager, allow_errors=True)
    email = f"{unique('ui-user')}@example.com"
    page.get_by_role("button", name="Add user").click()
    dialog = page.get_by_role("dialog", name="New user")
    dialog.get_by_label("Full name").fill("Shelf Person")
    dialog.get_by_label("E-mail").fill(email)
    dialog.get_by_label("Role").select_option("staff")
    dialog.get_by_label("Password").fill("short")
    dialog.get_by_role("button", name="Create user").click()
    expect(dialog.get_by_label("Password")).to_have_attribute("aria-invalid", "true")  # the API's 422, in place
    dialog.get_by_label("Password").fill("shelf-pass-1")
    dialog.get_by_role("button", name="Create user").click()
    expect(dialog).to_be_hidden()

    if not row(page, email).count():  # a full first page: the new account ends the last one
        users = api.get(f"{V1}/users?per_page=25", token=manager["token"]).json()
        page.goto(f"/#/users?page={-(-users['total'] // 25)}")
    user_row = row(page, email)
    expect(user_row).to_contain_text("Active")
    user_row.get_by_role("button", name="Deactivate Shelf Person").click()
    expect(user_row).to_contain_text("Inactive")
    assert api.post(f"{V1}/auth/login", {"email": email, "password": "shelf-pass-1"}).status == 403
    user_row.get_by_role("button", name="Activate Shelf Person").click()
    expect(user_row).to_contain_text("Active")
    user_row.get_by_label("Role of Shelf Person").select_option("manager")
    expect(page.get_by_text("Shelf Person updated.")).to_have_count(3)  # deactivated, activated, promoted
    login = api.post(f"{V1}/auth/login", {"email": email, "password": "shelf-pass-1"})
    assert login.status == 200 and login.json()["user"]["role"] == "manager"
    only_refusals(open_page, page, 422)


def test_profile_password_change_then_sign_in_with_the_new_one(open_page, api, manager):
    user = make_user(api, manager)
    page = open_page("/#/profile", user=user, allow_errors=True)
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    expect(page.get_by_text(user["email"])).to_be_visible()
    page.get_by_label("Current password").fill(user["password"])
    page.get_by_label("New password", exact=True).fill("brand-new-pass-1")
    page.get_by_label("Confirm new password").fill("brand-new-pass-2")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("The two new passwords differ.")).to_be_visible()
    page.get_by_label("Current password").fill("not-my-password")
    page.get_by_label("Confirm new password").fill("brand-new-pass-1")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("This is not your current password.")).to_be_visible()
    page.get_by_label("Current password").fill(user["password"])
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password was changed.")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to IMS")).to_be_visible()
    page.goto("/#/login?next=/profile")
    page.get_by_label("E-mail").fill(user["email"])
    page.get_by_label("Password").fill("brand-new-pass-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    only_refusals(open_page, page, 403)


def test_a_reset_password_must_be_changed_first(open_page, api, manager):
    user = make_user(api, manager)
    page = open_page("/#/users", user=manager)
    if not row(page, user["email"]).count():
        total = api.get(f"{V1}/users?per_page=25", token=manager["token"]).json()["total"]
        page.goto(f"/#/users?page={-(-total // 25)}")
    row(page, user["email"]).get_by_role("button", name=f"Reset the password of {user['user']['full_name']}").click()
    dialog = page.get_by_role("dialog", name=re.compile("^Reset the password"))
    dialog.get_by_label("Temporary password").fill("temporary-pass-1")
    dialog.get_by_role("button", name="Reset password").click()
    expect(dialog).to_be_hidden()

    other = open_page("/#/login")
    refreshes: list[str] = []
    other.on("request", lambda r: refreshes.append(r.url) if r.url.endswith("/auth/refresh") else None)
    other.get_by_label("E-mail").fill(user["email"])
    other.get_by_label("Password").fill("temporary-pass-1")
    other.get_by_role("button", name="Sign in").click()
    expect(other).to_have_url(re.compile("#/profile"))
    expect(other.get_by_role("alert").filter(has_text="reset your password")).to_be_visible()
    # The live feed refuses such a user, so it is not opened: no token is refreshed again and again meanwhile.
    other.wait_for_timeout(3000)
    assert refreshes == [] and other.locator("#live").is_hidden()
    other.get_by_label("Current password").fill("temporary-pass-1")
    other.get_by_label("New password", exact=True).fill("my-own-pass-1")
    other.get_by_label("Confirm new password").fill("my-own-pass-1")
    other.get_by_role("button", name="Change password").click()
    expect(other).not_to_have_url(re.compile("#/profile"))


def test_system_page_shows_the_database_and_this_live_connection(open_page, manager):
    page = open_page("/#/system", user=manager)
    expect(page.locator("#live")).to_have_text("Live")
    database = page.get_by_role("row").filter(has_text="Database")
    expect(database).to_contain_text("OK")
    expect(database).to_contain_text("ms")
    expect(page.get_by_role("region", name="Backups")).to_contain_text(re.compile("never|\\d"))
    expect(page.get_by_role("link", name="API documentation")).to_have_attribute("href", re.compile("/docs$"))
    # The feed reports its connections every ~10 s and the page reloads every 10 s: wait for both.
    count = page.get_by_role("region", name="Live feed").get_by_text(re.compile(r"^\d+ connections? on"))
    expect(count).not_to_have_text(re.compile(r"^0 connections"), timeout=30_000)
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("status").filter(has_text="Updated")).to_be_visible()


def test_the_low_stock_banner_appears_live_for_managers_only(open_page, api, manager, staff):
    item = new_item(api, manager["token"], quantity=15, low_stock_threshold=10)
    boss = open_page("/#/categories", user=manager)
    worker = open_page("/#/categories", user=staff)
    for page in (boss, worker):
        expect(page.locator("#live")).to_have_text("Live")
    withdraw(api, staff["token"], item["id"], 10)
    banner = boss.get_by_role("region", name="Low-stock alerts")
    expect(banner).to_contain_text(item["name"])
    expect(banner.get_by_role("link", name=re.compile(re.escape(item["name"])))).to_have_attribute(
        "href", f"#/items/{item['id']}")
    expect(worker.get_by_role("region", name="Low-stock alerts")).to_be_hidden()
    assert item["name"] not in worker.content()


@pytest.mark.parametrize("path", ["users", "alerts"])
def test_users_and_alerts_fit_a_phone(open_page, api, manager, path):
    item = new_item(api, manager["token"], quantity=11, low_stock_threshold=10,
                    name=f"A long item name that has to wrap on a phone {unique('x')}")
    withdraw(api, manager["token"], item["id"], 2)
    page = open_page(f"/#/{path}", phone=True, user=manager)
    expect(page.get_by_role("heading", name=path.title(), exact=True)).to_be_visible()
    expect(page.get_by_role("table").first).to_be_visible()
    assert fits_the_screen(page)
    page.emulate_media(color_scheme="dark")
    assert fits_the_screen(page)
