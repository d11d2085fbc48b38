"""Categories and locations, the ledger (logs), low-stock alerts and the dashboard."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import quote

import pytest

from tests.api.helpers import V1, assert_problem, new_category, new_item, new_location
from tests.conftest import make_user, unique

KINDS = ["categories", "locations"]


# --- categories and locations -------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_create_returns_201_and_appears_in_the_list(api, manager, staff, kind):
    name = unique("Name")
    res = api.post(f"{V1}/{kind}", {"name": name, "description": "d"}, token=manager["token"])
    assert res.status == 201, res.text
    row = res.json()
    assert row["name"] == name and row["description"] == "d" and isinstance(row["id"], int)
    listed = api.get(f"{V1}/{kind}?per_page=100", token=staff["token"]).json()
    assert set(listed) == {"data", "page", "per_page", "total"}
    pages = -(-listed["total"] // 100)
    everything = [r for p in range(1, pages + 1)
                  for r in api.get(f"{V1}/{kind}?per_page=100&page={p}", token=staff["token"]).json()["data"]]
    assert row in everything


def test_location_keeps_its_address(api, manager):
    res = api.post(f"{V1}/locations", {"name": unique("Loc"), "address": "1 Dock Rd"}, token=manager["token"])
    assert res.status == 201 and res.json()["address"] == "1 Dock Rd"


@pytest.mark.parametrize("kind", KINDS)
def test_duplicate_name_is_409_case_insensitively(api, manager, kind):
    name = unique("Dup")
    assert api.post(f"{V1}/{kind}", {"name": name}, token=manager["token"]).status == 201
    assert_problem(api.post(f"{V1}/{kind}", {"name": name.upper()}, token=manager["token"]), 409)


@pytest.mark.parametrize("kind", KINDS)
def test_put_replaces_name_and_description(api, manager, kind):
    row = api.post(f"{V1}/{kind}", {"name": unique("Old"), "description": "old"}, token=manager["token"]).json()
    name = unique("New")
    res = api.put(f"{V1}/{kind}/{row['id']}", {"name": name}, token=manager["token"])
    assert res.status == 200, res.text
    assert res.json()["name"] == name and res.json()["description"] is None and res.json()["id"] == row["id"]


@pytest.mark.parametrize("kind", KINDS)
def test_put_keeping_its_own_name_in_another_case_is_allowed(api, manager, kind):
    row = api.post(f"{V1}/{kind}", {"name": unique("same")}, token=manager["token"]).json()
    res = api.put(f"{V1}/{kind}/{row['id']}", {"name": row["name"].upper()}, token=manager["token"])
    assert res.status == 200 and res.json()["name"] == row["name"].upper()


@pytest.mark.parametrize("kind", KINDS)
def test_put_taking_another_name_is_409(api, manager, kind):
    a = api.post(f"{V1}/{kind}", {"name": unique("A")}, token=manager["token"]).json()
    b = api.post(f"{V1}/{kind}", {"name": unique("B")}, token=manager["token"]).json()
    assert_problem(api.put(f"{V1}/{kind}/{b['id']}", {"name": a["name"].lower()}, token=manager["token"]), 409)


@pytest.mark.parametrize("kind", KINDS)
def test_put_missing_is_404(api, manager, kind):
    assert_problem(api.put(f"{V1}/{kind}/999999999", {"name": unique("x")}, token=manager["token"]), 404)


@pytest.mark.parametrize("kind", KINDS)
def test_delete_is_204_then_404(api, manager, kind):
    row = api.post(f"{V1}/{kind}", {"name": unique("Del")}, token=manager["token"]).json()
    res = api.delete(f"{V1}/{kind}/{row['id']}", token=manager["token"])
    assert res.status == 204 and res.body == b""
    assert_problem(api.delete(f"{V1}/{kind}/{row['id']}", token=manager["token"]), 404)


def test_deleting_a_category_leaves_its_items_uncategorized(api, manager):
    cat = new_category(api, manager["token"])
    item = new_item(api, manager["token"], category_id=cat["id"], quantity=4)
    assert api.delete(f"{V1}/categories/{cat['id']}", token=manager["token"]).status == 204
    after = api.get(f"{V1}/items/{item['id']}", token=manager["token"])
    assert after.status == 200 and after.json()["category_id"] is None and after.json()["quantity"] == 4


def test_deleting_a_location_leaves_its_items_unplaced(api, manager):
    loc = new_location(api, manager["token"])
    item = new_item(api, manager["token"], location_id=loc["id"])
    assert api.delete(f"{V1}/locations/{loc['id']}", token=manager["token"]).status == 204
    assert api.get(f"{V1}/items/{item['id']}", token=manager["token"]).json()["location_id"] is None


# --- the ledger ---------------------------------------------------------------------------------

def logs(api, token, query: str):
    res = api.get(f"{V1}/logs?{query}", token=token)
    assert res.status == 200, res.text
    return res.json()


def test_logs_filter_by_item_newest_first(api, manager, staff, item):
    api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 10}, token=staff["token"])
    api.post(f"{V1}/items/{item['id']}/restock", {"quantity": 4}, token=manager["token"])
    body = logs(api, manager["token"], f"item_id={item['id']}")
    assert body["total"] == 3
    assert [e["action"] for e in body["data"]] == ["restock", "withdraw", "create"]
    ids = [e["id"] for e in body["data"]]
    assert ids == sorted(ids, reverse=True)
    assert [(e["quantity_before"], e["quantity_after"]) for e in body["data"]] == [(90, 94), (100, 90), (0, 100)]
    assert body["data"][1]["user_id"] == staff["user"]["id"] and body["data"][1]["delta"] == -10


def test_logs_filter_by_action(api, manager, item):
    api.post(f"{V1}/items/{item['id']}/restock", {"quantity": 1}, token=manager["token"])
    body = logs(api, manager["token"], f"item_id={item['id']}&action=restock")
    assert [e["action"] for e in body["data"]] == ["restock"]
    newest = logs(api, manager["token"], "action=restock&per_page=100")["data"]
    assert newest and all(e["action"] == "restock" for e in newest)


def test_logs_filter_by_user(api, manager, item):
    user = make_user(api, manager)
    api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 2}, token=user["token"])
    api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 3}, token=manager["token"])
    body = logs(api, manager["token"], f"user_id={user['user']['id']}")
    assert body["total"] == 1
    assert body["data"][0]["item_id"] == item["id"] and body["data"][0]["delta"] == -2


def test_logs_filter_by_time_window(api, manager, item):
    entry = logs(api, manager["token"], f"item_id={item['id']}")["data"][0]
    at = dt.datetime.fromisoformat(entry["created_at"].replace("Z", "+00:00"))
    before, after = quote((at - dt.timedelta(seconds=1)).isoformat()), quote((at + dt.timedelta(seconds=1)).isoformat())
    q = f"item_id={item['id']}"
    assert logs(api, manager["token"], f"{q}&since={before}&until={after}")["total"] == 1
    assert logs(api, manager["token"], f"{q}&since={after}")["total"] == 0
    assert logs(api, manager["token"], f"{q}&until={before}")["total"] == 0


def test_logs_are_for_managers_only(api, staff):
    assert_problem(api.get(f"{V1}/logs", token=staff["token"]), 403)


def test_item_history_is_open_to_staff(api, staff, item):
    res = api.get(f"{V1}/logs/item/{item['id']}", token=staff["token"])
    assert res.status == 200 and [e["action"] for e in res.json()["data"]] == ["create"]


def test_history_of_an_item_that_never_existed_is_404(api, staff):
    assert_problem(api.get(f"{V1}/logs/item/999999999", token=staff["token"]), 404)


# --- alerts -------------------------------------------------------------------------------------

def alerts_for(api, token, item_id, query="") -> list[dict]:
    res = api.get(f"{V1}/alerts?per_page=100{query}", token=token)
    assert res.status == 200, res.text
    return [a for a in res.json()["data"] if a["item_id"] == item_id]


def test_crossing_below_threshold_raises_exactly_one_alert(api, manager, staff, item):
    api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 90}, token=staff["token"])
    assert alerts_for(api, manager["token"], item["id"]) == []  # 10 is not below a threshold of 10
    low = api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 1}, token=staff["token"]).json()
    assert low["is_low_stock"] is True
    api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 4}, token=staff["token"])
    [alert] = alerts_for(api, manager["token"], item["id"])
    assert alert["quantity"] == 9 and alert["threshold"] == 10
    assert alert["item_sku"] == item["sku"] and alert["item_name"] == item["name"]
    assert alert["acknowledged_at"] is None and alert["resolved_at"] is None


def test_unacknowledged_alert_is_listed_and_acknowledging_records_who(api, manager, staff, item):
    api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 95}, token=staff["token"])
    [alert] = alerts_for(api, manager["token"], item["id"], "&acknowledged=false")
    assert alert["acknowledged"] is False and alert["acknowledged_by"] is None
    res = api.patch(f"{V1}/alerts/{alert['id']}/acknowledge", token=manager["token"])
    assert res.status == 200, res.text
    acked = res.json()
    assert acked["id"] == alert["id"] and acked["acknowledged_by"] == manager["user"]["id"]
    assert acked["acknowledged"] is True and acked["acknowledged_at"] is not None
    assert alerts_for(api, manager["token"], item["id"], "&acknowledged=true")[0]["acknowledged"] is True
    assert alerts_for(api, manager["token"], item["id"], "&acknowledged=false") == []
    assert [a["id"] for a in alerts_for(api, manager["token"], item["id"], "&acknowledged=true")] == [alert["id"]]
    again = api.patch(f"{V1}/alerts/{alert['id']}/acknowledge", token=manager["token"]).json()
    assert again["acknowledged_at"] == acked["acknowledged_at"]


def test_acknowledging_a_missing_alert_is_404(api, manager):
    assert_problem(api.patch(f"{V1}/alerts/999999999/acknowledge", token=manager["token"]), 404)


def test_restocking_resolves_the_alert_and_a_later_crossing_raises_a_new_one(api, manager, staff, item):
    api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 95}, token=staff["token"])
    [first] = alerts_for(api, manager["token"], item["id"])
    api.post(f"{V1}/items/{item['id']}/restock", {"quantity": 4}, token=staff["token"])  # 9: still low
    assert alerts_for(api, manager["token"], item["id"])[0]["resolved_at"] is None
    api.post(f"{V1}/items/{item['id']}/restock", {"quantity": 1}, token=staff["token"])  # 10: recovered
    [resolved] = alerts_for(api, manager["token"], item["id"])
    assert resolved["id"] == first["id"] and resolved["resolved_at"] is not None
    api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 2}, token=staff["token"])
    alerts = alerts_for(api, manager["token"], item["id"])
    assert len(alerts) == 2
    assert alerts[0]["id"] > first["id"] and alerts[0]["resolved_at"] is None and alerts[0]["quantity"] == 8


def test_counting_below_threshold_raises_an_alert(api, manager, staff, item):
    api.patch(f"{V1}/items/{item['id']}", {"quantity": 3}, token=staff["token"])
    [alert] = alerts_for(api, manager["token"], item["id"])
    assert alert["quantity"] == 3
    api.patch(f"{V1}/items/{item['id']}", {"quantity": 50}, token=staff["token"])
    assert alerts_for(api, manager["token"], item["id"])[0]["resolved_at"] is not None


def test_alerts_are_newest_first(api, manager, staff):
    a = new_item(api, manager["token"], quantity=20)
    b = new_item(api, manager["token"], quantity=20)
    for it in (a, b):
        api.post(f"{V1}/items/{it['id']}/withdraw", {"quantity": 15}, token=staff["token"])
    data = api.get(f"{V1}/alerts?per_page=100", token=manager["token"]).json()["data"]
    ids = [x["id"] for x in data]
    assert ids == sorted(ids, reverse=True)
    order = [x["item_id"] for x in data if x["item_id"] in (a["id"], b["id"])]
    assert order == [b["id"], a["id"]]


# --- dashboard ----------------------------------------------------------------------------------

def test_summary_reflects_a_new_item(api, manager, staff):
    """Tests in a session run one at a time, so the deltas are exactly this item's."""
    before = api.get(f"{V1}/dashboard/summary", token=staff["token"]).json()
    item = new_item(api, manager["token"], quantity=7, price="3.25", low_stock_threshold=10)
    after = api.get(f"{V1}/dashboard/summary", token=staff["token"]).json()
    assert set(after) == {"total_items", "total_quantity", "total_value", "low_stock_count", "recent_activity"}
    assert after["total_items"] - before["total_items"] == 1
    assert after["total_quantity"] - before["total_quantity"] == 7
    assert Decimal(after["total_value"]) - Decimal(before["total_value"]) == Decimal("22.75")
    assert after["low_stock_count"] - before["low_stock_count"] == 1
    assert isinstance(after["total_value"], str)
    recent = after["recent_activity"]
    assert 1 <= len(recent) <= 10
    assert recent[0]["item_id"] == item["id"] and recent[0]["action"] == "create"
    assert recent[0]["item_name"] == item["name"]


def test_category_breakdown_counts_a_new_category(api, manager, staff):
    cat = new_category(api, manager["token"])
    empty = new_category(api, manager["token"])
    for qty in (3, 4):
        new_item(api, manager["token"], category_id=cat["id"], quantity=qty)
    res = api.get(f"{V1}/dashboard/category-breakdown", token=staff["token"])
    assert res.status == 200
    rows = {r["category_id"]: r for r in res.json()}
    assert rows[cat["id"]] == {"category_id": cat["id"], "name": cat["name"], "item_count": 2, "total_quantity": 7}
    assert rows[empty["id"]]["item_count"] == 0 and rows[empty["id"]]["total_quantity"] == 0


def test_category_breakdown_counts_uncategorized_items(api, manager, staff):
    before = {r["category_id"]: r for r in api.get(f"{V1}/dashboard/category-breakdown", token=staff["token"]).json()}
    new_item(api, manager["token"], quantity=6)
    after = {r["category_id"]: r for r in api.get(f"{V1}/dashboard/category-breakdown", token=staff["token"]).json()}
    old = before.get(None, {"item_count": 0, "total_quantity": 0})
    assert after[None]["name"] == "Uncategorized"
    assert after[None]["item_count"] - old["item_count"] == 1
    assert after[None]["total_quantity"] - old["total_quantity"] == 6


def test_summary_value_does_not_overflow_for_a_large_stock(api, manager, staff):
    before = api.get(f"{V1}/dashboard/summary", token=staff["token"]).json()
    item = new_item(api, manager["token"], quantity=1_000_000_000, price="9999999999.99")
    try:
        res = api.get(f"{V1}/dashboard/summary", token=staff["token"])
        assert res.status == 200, res.text
        assert Decimal(res.json()["total_value"]) - Decimal(before["total_value"]) == Decimal("9999999999990000000.00")
    finally:
        api.delete(f"{V1}/items/{item['id']}", token=manager["token"])
