"""A representative workload through the HTTP API that makes every declared event type at least once,
for the tests that check what reaches the outbox and the live feed."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import V1, new_category, new_item, new_location, withdraw
from tests.client import Api
from tests.conftest import unique


def _ok(res: Any, status: int = 200) -> Any:
    assert res.status == status, res.text
    return res.json() if res.body else None


def every_event_type(api: Api, manager: dict, staff: dict) -> dict:
    """Run the workload; return its item, deleted last (its item_deleted is the last event written).
    Each step names the events it writes."""
    boss, worker = manager["token"], staff["token"]
    category = new_category(api, boss)  # category_changed
    _ok(api.put(f"{V1}/categories/{category['id']}", {"name": unique("Cat")}, token=boss))  # category_changed
    location = new_location(api, boss)  # location_changed
    # Created below its threshold: item_created, low_stock_alert.
    item = new_item(api, boss, quantity=5, low_stock_threshold=10, category_id=category["id"],
                    location_id=location["id"])
    open_alerts = _ok(api.get(f"{V1}/alerts?acknowledged=false&per_page=100", token=boss))["data"]
    [alert] = [a for a in open_alerts if a["item_id"] == item["id"]]
    _ok(api.patch(f"{V1}/alerts/{alert['id']}/acknowledge", token=boss))  # alert_acknowledged
    # Movements (payloads built by the movement statement): stock_changed, stock_recovered; then
    # stock_changed, low_stock_alert.
    _ok(api.post(f"{V1}/items/{item['id']}/restock", {"quantity": 20}, token=worker))
    withdraw(api, worker, item["id"], 20)
    # Edits (payloads built in Python): a count, stock_changed, item_updated, stock_recovered; a higher
    # threshold, item_updated, low_stock_alert.
    _ok(api.patch(f"{V1}/items/{item['id']}", {"quantity": 30}, token=worker))
    _ok(api.patch(f"{V1}/items/{item['id']}", {"low_stock_threshold": 40}, token=boss))
    _ok(api.delete(f"{V1}/categories/{category['id']}", token=boss), 204)  # category_changed
    _ok(api.delete(f"{V1}/locations/{location['id']}", token=boss), 204)  # location_changed
    user = _ok(api.post(f"{V1}/users", {"email": f"{unique('w')}@example.com", "password": "password-1",
                                         "full_name": "Temp", "role": "staff"}, token=boss), 201)  # user_changed
    _ok(api.patch(f"{V1}/users/{user['id']}", {"full_name": "Temp Two"}, token=boss))  # user_changed
    pair = _ok(api.post(f"{V1}/auth/login", {"email": user["email"], "password": "password-1"}))
    _ok(api.post(f"{V1}/auth/logout", {"refresh_token": pair["refresh_token"]}, token=pair["access_token"]),
        204)  # session_ended
    _ok(api.delete(f"{V1}/items/{item['id']}", token=boss), 204)  # item_deleted
    return item
