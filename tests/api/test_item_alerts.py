"""An item created or edited so that it is below its threshold opens an alert with its low_stock_alert
event, edge-triggered as a withdrawal is (one open alert per item; nothing new while it stays low and
gets no lower); an edit back to or above the threshold resolves it (stock_recovered)."""

from __future__ import annotations

from typing import Any

import pytest

from shared import db
from tests.api.helpers import V1, new_item, withdraw


def alerts_of(item_id: int) -> list[dict[str, Any]]:
    return db.query("SELECT id, quantity, threshold, resolved_at FROM alerts WHERE item_id = :id ORDER BY id",
                    id=item_id)


def alert_events(item_id: int) -> list[tuple[str, dict[str, Any]]]:
    rows = db.query("SELECT type, data FROM events WHERE type IN ('low_stock_alert', 'stock_recovered') "
                    "AND data->>'item_id' = :id ORDER BY id", id=str(item_id))
    return [(r["type"], r["data"]) for r in rows]


def edit(api, token: str, item: dict, method: str = "PATCH", **fields: Any) -> dict:
    body = fields if method == "PATCH" else {k: item[k] for k in (
        "name", "sku", "description", "category_id", "location_id", "unit", "price", "low_stock_threshold")} | fields
    res = api.request(method, f"{V1}/items/{item['id']}", body, token=token)
    assert res.status == 200, res.text
    return res.json()


def test_an_item_created_below_its_threshold_opens_an_alert_with_its_event(api, manager):
    item = new_item(api, manager["token"], quantity=3, low_stock_threshold=10, unit="boxes")
    assert item["is_low_stock"] is True
    [alert] = alerts_of(item["id"])
    assert (alert["quantity"], alert["threshold"], alert["resolved_at"]) == (3, 10, None)
    assert alert_events(item["id"]) == [("low_stock_alert", {
        "alert_id": alert["id"], "item_id": item["id"], "sku": item["sku"], "name": item["name"],
        "quantity": 3, "threshold": 10, "unit": "boxes"})]
    listed = api.get(f"{V1}/alerts?acknowledged=false&per_page=100", token=manager["token"]).json()["data"]
    assert [a["id"] for a in listed if a["item_id"] == item["id"]] == [alert["id"]]


def test_an_item_created_with_the_defaults_is_below_the_default_threshold(api, manager):
    item = new_item(api, manager["token"])  # quantity 0, threshold 10
    assert [a["quantity"] for a in alerts_of(item["id"])] == [0]


@pytest.mark.parametrize("quantity", [10, 50])
def test_an_item_created_at_or_above_its_threshold_opens_none(api, manager, quantity):
    item = new_item(api, manager["token"], quantity=quantity, low_stock_threshold=10)
    assert alerts_of(item["id"]) == [] and alert_events(item["id"]) == []


def test_a_staff_count_below_the_threshold_opens_an_alert_and_one_back_above_resolves_it(api, manager, staff):
    item = new_item(api, manager["token"], quantity=50, low_stock_threshold=10)
    edit(api, staff["token"], item, quantity=4)
    [alert] = alerts_of(item["id"])
    assert (alert["quantity"], alert["resolved_at"]) == (4, None)
    edit(api, staff["token"], item, quantity=10)  # at the threshold is not below it
    [alert] = alerts_of(item["id"])
    assert alert["resolved_at"] is not None
    assert [(kind, data["alert_id"], data["quantity"]) for kind, data in alert_events(item["id"])] == [
        ("low_stock_alert", alert["id"], 4), ("stock_recovered", alert["id"], 10)]


def test_raising_the_threshold_above_the_stock_opens_an_alert_and_lowering_it_resolves_it(api, manager):
    item = new_item(api, manager["token"], quantity=20, low_stock_threshold=10)
    edit(api, manager["token"], item, low_stock_threshold=25)
    [alert] = alerts_of(item["id"])
    assert (alert["quantity"], alert["threshold"], alert["resolved_at"]) == (20, 25, None)
    edit(api, manager["token"], item, low_stock_threshold=20)
    assert alerts_of(item["id"])[0]["resolved_at"] is not None
    assert [kind for kind, _ in alert_events(item["id"])] == ["low_stock_alert", "stock_recovered"]


def test_a_put_that_lowers_the_quantity_below_the_threshold_opens_an_alert(api, manager):
    item = new_item(api, manager["token"], quantity=20, low_stock_threshold=10)
    after = edit(api, manager["token"], item, "PUT", quantity=2)
    assert after["is_low_stock"] is True
    assert [a["quantity"] for a in alerts_of(item["id"])] == [2]
    assert [kind for kind, _ in alert_events(item["id"])] == ["low_stock_alert"]


def test_one_open_alert_per_item_whatever_edits_and_withdrawals_follow(api, manager, staff):
    item = new_item(api, manager["token"], quantity=5, low_stock_threshold=10)  # opens one
    edit(api, staff["token"], item, quantity=3)  # lower still, but one is open
    edit(api, manager["token"], item, low_stock_threshold=30)
    withdraw(api, staff["token"], item["id"], 1)
    edit(api, manager["token"], item, name=item["name"] + " (blue)")
    assert len(alerts_of(item["id"])) == 1
    assert [kind for kind, _ in alert_events(item["id"])] == ["low_stock_alert"]


def test_an_edit_that_leaves_a_low_item_without_an_alert_no_lower_opens_none(api, manager):
    """Edge-triggered like a restock that stays below: an item low without an open alert (its alert
    was resolved directly, as by an operator) gets one only when an edit makes it lower."""
    item = new_item(api, manager["token"], quantity=5, low_stock_threshold=10)
    db.execute("UPDATE alerts SET resolved_at = now() WHERE item_id = :id", id=item["id"])
    edit(api, manager["token"], item, name=item["name"] + " (red)")
    edit(api, manager["token"], item, quantity=6)
    assert len(alerts_of(item["id"])) == 1
    edit(api, manager["token"], item, quantity=4)
    assert [a["quantity"] for a in alerts_of(item["id"])] == [5, 4]
