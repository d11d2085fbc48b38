"""GET /dashboard/movements: stock in and out per UTC day from the ledger, for the dashboard's chart."""

from __future__ import annotations

import datetime as dt

import pytest

from shared import db
from tests.api.helpers import V1, assert_validation, withdraw
from tests.client import Api

ZERO = {"stock_in": 0, "stock_out": 0, "movements": 0}


def movements(api: Api, token: str, query: str = "") -> dict:
    res = api.get(f"{V1}/dashboard/movements{query}", token=token)
    assert res.status == 200, res.text
    return res.json()


def by_date(answer: dict) -> dict[str, dict]:
    return {day["date"]: {k: v for k, v in day.items() if k != "date"} for day in answer["data"]}


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


@pytest.mark.parametrize("days", [1, 7, 365])
def test_one_entry_per_utc_day_ending_today_oldest_first(api, staff, days):
    answer = movements(api, staff["token"], f"?days={days}")
    assert answer["days"] == days
    dates = [dt.date.fromisoformat(day["date"]) for day in answer["data"]]
    last = today()
    assert dates == [last - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
    assert all(set(day) == {"date", "stock_in", "stock_out", "movements"} for day in answer["data"])


def test_thirty_days_unless_told(api, staff):
    answer = movements(api, staff["token"])
    assert answer["days"] == 30 and len(answer["data"]) == 30


def test_a_restock_and_a_withdrawal_today_land_in_todays_bucket(api, staff, item):
    """Staff may read it (the ledger itself is for managers); the movements are staff's own."""
    before = by_date(movements(api, staff["token"], "?days=2"))
    res = api.post(f"{V1}/items/{item['id']}/restock", {"quantity": 5}, token=staff["token"])
    assert res.status == 200, res.text
    withdraw(api, staff["token"], item["id"], 2)
    after = movements(api, staff["token"], "?days=2")
    day = after["data"][-1]["date"]  # today; before may not have had it if midnight (UTC) passed meanwhile
    was = before.get(day, ZERO)
    assert by_date(after)[day] == {"stock_in": was["stock_in"] + 5, "stock_out": was["stock_out"] + 2,
                                   "movements": was["movements"] + 2}


def test_days_are_utc_calendar_days_and_edits_without_a_quantity_change_do_not_count(api, staff, item):
    """Ledger rows written straight into the table at the edges of UTC days (only the ledger is read)."""
    midnight = dt.datetime.combine(today(), dt.time(), dt.timezone.utc)  # today began, in UTC
    rows = [(midnight - dt.timedelta(days=2), 10, 13),  # the day before yesterday: 3 in
            (midnight - dt.timedelta(microseconds=1), 13, 9),  # the last moment of yesterday: 4 out
            (midnight - dt.timedelta(days=1), 9, 9),  # the first moment of yesterday: no quantity change
            (midnight - dt.timedelta(days=1), 9, 8)]  # and 1 out
    before = by_date(movements(api, staff["token"], "?days=3"))
    ids = [db.one("INSERT INTO inventory_logs (item_id, action, quantity_before, quantity_after, created_at) "
                  "VALUES (:item, 'count', :before, :after, :at) RETURNING id",
                  item=item["id"], before=b, after=a, at=at)["id"] for at, b, a in rows]
    try:
        after = by_date(movements(api, staff["token"], "?days=3"))
    finally:
        db.execute("DELETE FROM inventory_logs WHERE id = ANY(CAST(:ids AS bigint[]))", ids=ids)
    day = lambda n: (today() - dt.timedelta(days=n)).isoformat()  # noqa: E731
    gained = {date: {k: after[date][k] - before.get(date, ZERO)[k] for k in ZERO} for date in after}
    assert gained[day(2)] == {"stock_in": 3, "stock_out": 0, "movements": 1}
    assert gained[day(1)] == {"stock_in": 0, "stock_out": 5, "movements": 2}
    assert gained[day(0)] == ZERO


@pytest.mark.parametrize("days", ["0", "366", "-1", "abc", "1.5", ""])
def test_days_out_of_bounds_or_not_an_integer_is_422(api, staff, days):
    errors = assert_validation(api.get(f"{V1}/dashboard/movements?days={days}", token=staff["token"]))
    assert errors[0]["loc"] == ["query", "days"]


def test_parameters_other_than_days_are_refused(api, staff):
    errors = assert_validation(api.get(f"{V1}/dashboard/movements?page=2", token=staff["token"]))
    assert errors[0]["loc"] == ["query", "page"]
