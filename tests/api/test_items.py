"""Items: create, read, replace, patch, delete, stock movements, optimistic locking, list queries."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.api.helpers import V1, assert_problem, assert_validation, new_category, new_item, new_location
from tests.conftest import settings_env, unique

ITEM_FIELDS = {"id", "name", "sku", "description", "category_id", "location_id", "quantity", "unit", "price",
               "low_stock_threshold", "is_low_stock", "version", "created_at", "updated_at"}


def get(api, token, item_id):
    return api.get(f"{V1}/items/{item_id}", token=token)


def ids(api, token, query: str) -> list[int]:
    res = api.get(f"{V1}/items?{query}", token=token)
    assert res.status == 200, res.text
    return [row["id"] for row in res.json()["data"]]


def history(api, token, item_id) -> list[dict]:
    res = api.get(f"{V1}/logs/item/{item_id}?per_page=100", token=token)
    assert res.status == 200, res.text
    return res.json()["data"]


# --- create and read ----------------------------------------------------------------------------

def test_create_returns_201_with_every_field_etag_and_location(api, manager):
    cat, loc = new_category(api, manager["token"]), new_location(api, manager["token"])
    body = {"name": "Bolt M6", "sku": unique("BOLT"), "description": "zinc", "category_id": cat["id"],
            "location_id": loc["id"], "quantity": 40, "unit": "box", "price": "12.50", "low_stock_threshold": 5}
    res = api.post(f"{V1}/items", body, token=manager["token"])
    assert res.status == 201, res.text
    item = res.json()
    assert set(item) == ITEM_FIELDS
    assert {k: item[k] for k in body} == body
    assert item["price"] == "12.50" and item["is_low_stock"] is False and item["version"] == 1
    assert item["created_at"].endswith("Z") and item["updated_at"].endswith("Z")
    assert res.headers["etag"] == '"1"'
    assert res.headers["location"] == f"{V1}/items/{item['id']}"
    assert get(api, manager["token"], item["id"]).json() == item


def test_create_applies_defaults(api, manager):
    item = new_item(api, manager["token"])
    assert item["quantity"] == 0 and item["unit"] == "pcs" and item["low_stock_threshold"] == 10
    assert item["price"] is None and item["description"] is None and item["category_id"] is None
    assert item["is_low_stock"] is True


def test_create_accepts_price_as_a_number(api, manager):
    assert new_item(api, manager["token"], price=12.5)["price"] == "12.50"


def test_create_is_logged_as_create(api, manager):
    item = new_item(api, manager["token"], quantity=7)
    [entry] = history(api, manager["token"], item["id"])
    assert entry["action"] == "create" and entry["quantity_before"] == 0 and entry["quantity_after"] == 7
    assert entry["user_id"] == manager["user"]["id"]


def test_duplicate_sku_is_409_case_insensitively(api, manager):
    sku = unique("dup")
    new_item(api, manager["token"], sku=sku.lower())
    res = api.post(f"{V1}/items", {"name": "Other", "sku": sku.upper()}, token=manager["token"])
    assert_problem(res, 409)


def test_create_with_unknown_category_is_422(api, manager):
    res = api.post(f"{V1}/items", {"name": "X", "sku": unique("s"), "category_id": 999999999}, token=manager["token"])
    assert assert_validation(res)[0]["loc"] == ["body", "category_id"]


def test_create_with_unknown_location_is_422(api, manager):
    res = api.post(f"{V1}/items", {"name": "X", "sku": unique("s"), "location_id": 999999999}, token=manager["token"])
    assert assert_validation(res)[0]["loc"] == ["body", "location_id"]


def test_get_returns_item_with_etag(api, staff, item):
    res = get(api, staff["token"], item["id"])
    assert res.status == 200 and res.json() == item
    assert res.headers["etag"] == f'"{item["version"]}"'


def test_get_missing_item_is_404(api, staff):
    assert_problem(get(api, staff["token"], 999999999), 404)


@pytest.mark.parametrize("bad_id", ["abc", "-1", "1.5", "0x10"])
def test_get_non_numeric_id_is_404(api, staff, bad_id):
    assert_problem(get(api, staff["token"], bad_id), 404)


# --- replace and patch --------------------------------------------------------------------------

def test_put_replaces_every_editable_field(api, manager):
    item = new_item(api, manager["token"], description="old", unit="kg", price="3.00", quantity=5,
                    low_stock_threshold=2)
    sku = unique("NEW")
    res = api.put(f"{V1}/items/{item['id']}", {"name": "Renamed", "sku": sku}, token=manager["token"])
    assert res.status == 200, res.text
    after = res.json()
    assert after["name"] == "Renamed" and after["sku"] == sku
    # omitted editable fields fall back to their defaults; quantity (not sent) is kept
    assert after["description"] is None and after["unit"] == "pcs" and after["price"] is None
    assert after["low_stock_threshold"] == 10 and after["quantity"] == 5
    assert after["version"] == item["version"] + 1
    assert res.headers["etag"] == f'"{after["version"]}"'


def test_put_missing_item_is_404(api, manager):
    assert_problem(api.put(f"{V1}/items/999999999", {"name": "X", "sku": unique("s")}, token=manager["token"]), 404)


def test_put_without_required_fields_is_422(api, manager, item):
    assert_validation(api.put(f"{V1}/items/{item['id']}", {"name": "Only name"}, token=manager["token"]))


def test_put_taking_another_items_sku_is_409(api, manager, item):
    other = new_item(api, manager["token"])
    res = api.put(f"{V1}/items/{item['id']}", {"name": "X", "sku": other["sku"].upper()}, token=manager["token"])
    assert_problem(res, 409)


def test_patch_changes_only_the_fields_sent(api, manager, item):
    res = api.patch(f"{V1}/items/{item['id']}", {"name": "Patched"}, token=manager["token"])
    assert res.status == 200, res.text
    after = res.json()
    assert after["name"] == "Patched" and after["version"] == item["version"] + 1
    unchanged = ITEM_FIELDS - {"name", "version", "updated_at"}
    assert {k: after[k] for k in unchanged} == {k: item[k] for k in unchanged}


def test_patch_with_nothing_to_change_is_422(api, manager, item):
    assert_validation(api.patch(f"{V1}/items/{item['id']}", {}, token=manager["token"]))


def test_patch_name_to_null_is_422(api, manager, item):
    assert_validation(api.patch(f"{V1}/items/{item['id']}", {"name": None}, token=manager["token"]))


def test_staff_may_patch_quantity_and_it_is_logged_as_count(api, staff, item):
    res = api.patch(f"{V1}/items/{item['id']}", {"quantity": 42}, token=staff["token"])
    assert res.status == 200, res.text
    assert res.json()["quantity"] == 42
    latest = history(api, staff["token"], item["id"])[0]
    assert latest["action"] == "count" and latest["quantity_before"] == 100 and latest["quantity_after"] == 42
    assert latest["user_id"] == staff["user"]["id"] and latest["delta"] == -58


@pytest.mark.parametrize("change", [{"name": "Nope"}, {"quantity": 5, "price": "1.00"}, {"low_stock_threshold": 1}])
def test_staff_may_not_patch_other_fields(api, staff, item, change):
    assert_problem(api.patch(f"{V1}/items/{item['id']}", change, token=staff["token"]), 403)
    assert get(api, staff["token"], item["id"]).json() == item


def test_staff_may_not_put(api, staff, item):
    assert_problem(api.put(f"{V1}/items/{item['id']}", {"name": "X", "sku": unique("s")}, token=staff["token"]), 403)


def test_if_match_with_current_version_succeeds_and_bumps_version(api, manager, item):
    res = api.patch(f"{V1}/items/{item['id']}", {"unit": "kg"}, token=manager["token"],
                    headers={"If-Match": f'"{item["version"]}"'})
    assert res.status == 200, res.text
    assert res.json()["version"] == item["version"] + 1 and res.json()["unit"] == "kg"


def test_if_match_with_stale_version_is_412_and_changes_nothing(api, manager, item):
    api.patch(f"{V1}/items/{item['id']}", {"unit": "kg"}, token=manager["token"])
    current = get(api, manager["token"], item["id"]).json()
    stale = {"If-Match": f'"{item["version"]}"'}
    assert_problem(api.patch(f"{V1}/items/{item['id']}", {"name": "Lost"}, token=manager["token"], headers=stale),
                   412)
    assert_problem(api.put(f"{V1}/items/{item['id']}", {"name": "Lost", "sku": unique("s")},
                           token=manager["token"], headers=stale), 412)
    assert get(api, manager["token"], item["id"]).json() == current


def test_stale_if_match_on_delete_is_412_and_keeps_the_item(api, manager, item):
    api.patch(f"{V1}/items/{item['id']}", {"unit": "kg"}, token=manager["token"])
    res = api.delete(f"{V1}/items/{item['id']}", token=manager["token"], headers={"If-Match": '"1"'})
    assert_problem(res, 412)
    assert get(api, manager["token"], item["id"]).status == 200


@pytest.mark.parametrize("value", ["", " ", ","])
def test_an_empty_if_match_names_no_version_and_is_422(api, manager, item, value):
    for res in (api.patch(f"{V1}/items/{item['id']}", {"unit": "kg"}, token=manager["token"],
                          headers={"If-Match": value}),
                api.delete(f"{V1}/items/{item['id']}", token=manager["token"], headers={"If-Match": value})):
        body = assert_problem(res, 422)
        assert body["errors"][0]["loc"] == ["header", "If-Match"]
    assert get(api, manager["token"], item["id"]).json() == item


# --- delete -------------------------------------------------------------------------------------

def test_delete_is_204_then_404_and_the_history_stays(api, manager, item):
    res = api.delete(f"{V1}/items/{item['id']}", token=manager["token"])
    assert res.status == 204 and res.body == b""
    assert_problem(get(api, manager["token"], item["id"]), 404)
    entries = history(api, manager["token"], item["id"])
    assert [e["action"] for e in entries] == ["delete", "create"]
    assert entries[0]["quantity_before"] == 100 and entries[0]["quantity_after"] == 0


def test_delete_missing_item_is_404(api, manager):
    assert_problem(api.delete(f"{V1}/items/999999999", token=manager["token"]), 404)


def test_staff_may_not_delete(api, staff, item):
    assert_problem(api.delete(f"{V1}/items/{item['id']}", token=staff["token"]), 403)


# --- stock movements ----------------------------------------------------------------------------

def test_restock_returns_the_item_with_more_stock(api, staff, item):
    res = api.post(f"{V1}/items/{item['id']}/restock", {"quantity": 5, "notes": "delivery"}, token=staff["token"])
    assert res.status == 200, res.text
    after = res.json()
    assert set(after) == ITEM_FIELDS and after["quantity"] == 105 and after["version"] == item["version"] + 1
    latest = history(api, staff["token"], item["id"])[0]
    assert latest["action"] == "restock" and latest["notes"] == "delivery" and latest["delta"] == 5


def test_withdraw_returns_the_item_with_less_stock(api, staff, item):
    res = api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 30}, token=staff["token"])
    assert res.status == 200, res.text
    assert set(res.json()) == ITEM_FIELDS and res.json()["quantity"] == 70
    latest = history(api, staff["token"], item["id"])[0]
    assert latest["action"] == "withdraw" and (latest["quantity_before"], latest["quantity_after"]) == (100, 70)


def test_withdrawing_everything_leaves_zero(api, staff, item):
    res = api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 100}, token=staff["token"])
    assert res.status == 200 and res.json()["quantity"] == 0


def test_withdrawing_more_than_available_is_409_insufficient_stock(api, staff, item):
    res = api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 101}, token=staff["token"])
    body = assert_problem(res, 409, "insufficient_stock")
    assert body["available"] == 100
    assert get(api, staff["token"], item["id"]).json()["quantity"] == 100
    assert [e["action"] for e in history(api, staff["token"], item["id"])] == ["create"]


@pytest.mark.parametrize("movement", ["restock", "withdraw"])
def test_movement_on_missing_item_is_404(api, staff, movement):
    assert_problem(api.post(f"{V1}/items/999999999/{movement}", {"quantity": 1}, token=staff["token"]), 404)


# --- list: paging, search, filters, sorting ---------------------------------------------------

@pytest.fixture
def shelf(api, manager):
    """Three items in a fresh category and location: quantities 5, 50 and 500, threshold 10."""
    cat, loc = new_category(api, manager["token"]), new_location(api, manager["token"])
    tag = unique("shelf")
    specs = [("b-middle", "S-B", 50, "2.00"), ("A-first", "s-c", 5, None), ("c-last", "S-A", 500, "1.00")]
    made = [new_item(api, manager["token"], name=f"{name} {tag}", sku=f"{sku}-{tag}", quantity=qty, price=price,
                     category_id=cat["id"], location_id=loc["id"]) for name, sku, qty, price in specs]
    return {"category": cat, "location": loc, "items": made, "tag": tag}


def test_list_is_paged(api, staff, shelf):
    q = f"category_id={shelf['category']['id']}&per_page=2"
    first = api.get(f"{V1}/items?{q}&page=1", token=staff["token"]).json()
    assert set(first) == {"data", "page", "per_page", "total", "total_estimated"}
    assert first["page"] == 1 and first["per_page"] == 2 and first["total"] == 3 and len(first["data"]) == 2
    assert first["total_estimated"] is False
    second = api.get(f"{V1}/items?{q}&page=2", token=staff["token"]).json()
    assert second["page"] == 2 and len(second["data"]) == 1
    seen = {i["id"] for i in first["data"] + second["data"]}
    assert seen == {i["id"] for i in shelf["items"]}
    assert api.get(f"{V1}/items?{q}&page=3", token=staff["token"]).json()["data"] == []


def _page(api, token, query: str) -> dict:
    res = api.get(f"{V1}/items?{query}", token=token)
    assert res.status == 200, res.text
    return res.json()


def test_list_counts_exactly_up_to_the_limit(api, staff, shelf):
    q = f"category_id={shelf['category']['id']}&per_page=1"
    with settings_env(IMS_EXACT_TOTAL_LIMIT="3"):
        body = _page(api, staff["token"], q)
    assert (body["total"], body["total_estimated"]) == (3, False)


def test_list_past_the_limit_estimates_its_total_and_says_so(api, staff, shelf):
    q = f"category_id={shelf['category']['id']}&per_page=1"
    with settings_env(IMS_EXACT_TOTAL_LIMIT="2"):
        first, second = _page(api, staff["token"], q), _page(api, staff["token"], q + "&page=2")
    for body in (first, second):
        assert body["total_estimated"] is True and len(body["data"]) == 1
        assert body["total"] >= 3  # more than the limit, and never fewer than the pages have shown


def test_list_total_is_exact_on_a_last_page_that_is_not_full(api, staff, shelf):
    q = f"category_id={shelf['category']['id']}&per_page=2&page=2"
    with settings_env(IMS_EXACT_TOTAL_LIMIT="0"):
        body = _page(api, staff["token"], q)
    assert (len(body["data"]), body["total"], body["total_estimated"]) == (1, 3, False)


def test_list_past_the_end_still_counts(api, staff, shelf):
    q = f"category_id={shelf['category']['id']}&per_page=2&page=5"
    body = _page(api, staff["token"], q)
    assert (body["data"], body["total"], body["total_estimated"]) == ([], 3, False)


def test_a_page_far_past_the_end_counts_exactly_even_past_the_limit(api, staff, shelf):
    """An empty page past the end knows there are at most `offset` matches: it never claims more."""
    q = f"category_id={shelf['category']['id']}&per_page=100&page=100"
    with settings_env(IMS_EXACT_TOTAL_LIMIT="1"):
        body = _page(api, staff["token"], q)
    assert (body["data"], body["total"], body["total_estimated"]) == ([], 3, False)


def test_unfiltered_page_far_past_the_end_counts_exactly_even_past_the_limit(api, staff, manager):
    for _ in range(3):
        new_item(api, manager["token"])
    with settings_env(IMS_EXACT_TOTAL_LIMIT="1"):
        past = _page(api, staff["token"], "per_page=100&page=10000")
    with settings_env(IMS_EXACT_TOTAL_LIMIT="100000000"):
        exact = _page(api, staff["token"], "per_page=1")
    assert exact["total_estimated"] is False and exact["total"] < 999_900  # the page below is past the end
    assert (past["data"], past["total"], past["total_estimated"]) == ([], exact["total"], False)


def test_unfiltered_list_past_the_limit_is_an_estimate(api, staff, manager):
    for _ in range(3):
        new_item(api, manager["token"])
    with settings_env(IMS_EXACT_TOTAL_LIMIT="1"):
        body = _page(api, staff["token"], "per_page=2")
    assert body["total_estimated"] is True and len(body["data"]) == 2 and body["total"] >= 2


def test_search_past_the_limit_is_an_estimate(api, staff, manager):
    tag = unique("est").split("-")[1]
    for n in range(3):
        new_item(api, manager["token"], name=f"Estimated {tag} {n}")
    with settings_env(IMS_EXACT_TOTAL_LIMIT="2"):
        estimated = _page(api, staff["token"], f"search={tag}&per_page=2")
    exact = _page(api, staff["token"], f"search={tag}&per_page=2")
    assert estimated["total_estimated"] is True and estimated["total"] >= 3
    assert (exact["total"], exact["total_estimated"]) == (3, False)
    assert [i["id"] for i in estimated["data"]] == [i["id"] for i in exact["data"]]


def test_list_defaults_to_25_per_page(api, staff, manager):
    category = new_category(api, manager["token"])
    for _ in range(26):
        new_item(api, manager["token"], category_id=category["id"])
    body = api.get(f"{V1}/items?category_id={category['id']}", token=staff["token"]).json()
    assert (body["page"], body["per_page"], len(body["data"]), body["total"]) == (1, 25, 25, 26)


def test_list_per_page_over_100_is_422(api, staff):
    assert_validation(api.get(f"{V1}/items?per_page=101", token=staff["token"]))


def test_list_per_page_100_is_allowed(api, staff):
    assert api.get(f"{V1}/items?per_page=100", token=staff["token"]).status == 200


def _search(api, token, text: str) -> list[int]:
    return ids(api, token, f"search={quote(text)}&per_page=100&sort_by=created_at&order=desc")


def test_sku_filter_is_an_exact_case_insensitive_match(api, staff, manager):
    tag = unique("s").split("-")[1]
    item = new_item(api, manager["token"], sku=f"Scan-{tag}-1")
    new_item(api, manager["token"], sku=f"Scan-{tag}-10")  # shares the prefix: a substring, not a match
    for sku in (f"Scan-{tag}-1", f"SCAN-{tag}-1", f"scan-{tag}-1"):
        res = api.get(f"{V1}/items?sku={quote(sku)}", token=staff["token"])
        assert res.status == 200, res.text
        assert [i["id"] for i in res.json()["data"]] == [item["id"]] and res.json()["total"] == 1
    assert ids(api, staff["token"], f"sku=Scan-{tag}") == []
    assert ids(api, staff["token"], f"sku=Scan-{tag}-1&below_threshold=false") == []  # it has 0 of 10


def test_sku_filter_uses_the_unique_sku_index():
    from shared import db
    from shared.services import items

    with db.transaction() as conn:
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = conn.query(f"EXPLAIN SELECT id FROM items WHERE {items.SKU_IS}", sku="X-1")
    assert "items_sku_key" in " ".join(str(row) for row in plan), plan


def test_search_matches_a_sku_fragment_case_insensitively(api, staff, manager):
    tag = unique("q").split("-")[1]
    item = new_item(api, manager["token"], sku=f"ZX-{tag}-77")
    assert item["id"] in _search(api, staff["token"], f"x-{tag.upper()}-7")


def test_search_matches_a_name_word_case_insensitively(api, staff, manager):
    tag = unique("q").split("-")[1]
    item = new_item(api, manager["token"], name=f"Cordless Drill {tag}")
    found = _search(api, staff["token"], f"DRILL {tag.upper()}")
    assert item["id"] in found
    assert item["id"] in _search(api, staff["token"], f"ill {tag[:4]}")


def test_search_with_a_two_character_query(api, staff, manager):
    item = new_item(api, manager["token"], name=f"{unique('two')} Qy")
    assert item["id"] in _search(api, staff["token"], "qY")
    assert item["id"] not in _search(api, staff["token"], "yq")


@pytest.mark.parametrize("special, plain, alone", [
    ("50% off", "50x off", "0%"),  # % is not a wildcard
    ("a_b", "axb", "a_"),  # nor is _ (also in a query too short for the trigram index)
    ("c:\\d", "c:d", "c:\\"),  # a backslash is not an escape
])
def test_search_treats_like_metacharacters_literally(api, staff, manager, special, plain, alone):
    tag = unique("lit")
    hit = new_item(api, manager["token"], name=f"{tag} {special}")
    miss = new_item(api, manager["token"], name=f"{tag} {plain}")
    found = _search(api, staff["token"], f"{tag} {special}")
    assert hit["id"] in found and miss["id"] not in found
    found = _search(api, staff["token"], alone)
    assert hit["id"] in found and miss["id"] not in found


def test_search_finds_nothing_for_an_absent_text(api, staff):
    body = api.get(f"{V1}/items?search={unique('absent')}", token=staff["token"]).json()
    assert body["data"] == [] and body["total"] == 0


def test_filter_by_category(api, staff, shelf):
    found = ids(api, staff["token"], f"category_id={shelf['category']['id']}")
    assert sorted(found) == sorted(i["id"] for i in shelf["items"])


def test_filter_by_location(api, staff, shelf):
    found = ids(api, staff["token"], f"location_id={shelf['location']['id']}")
    assert sorted(found) == sorted(i["id"] for i in shelf["items"])


def _quantities(api, token, shelf, query: str) -> list[int]:
    res = api.get(f"{V1}/items?category_id={shelf['category']['id']}&sort_by=quantity&{query}", token=token)
    assert res.status == 200, res.text
    return [i["quantity"] for i in res.json()["data"]]


def test_filter_by_min_quantity(api, staff, shelf):
    assert _quantities(api, staff["token"], shelf, "min_quantity=50") == [50, 500]


def test_filter_by_max_quantity(api, staff, shelf):
    assert _quantities(api, staff["token"], shelf, "max_quantity=50") == [5, 50]


def test_filter_by_quantity_range(api, staff, shelf):
    assert _quantities(api, staff["token"], shelf, "min_quantity=6&max_quantity=499") == [50]


def test_filter_below_threshold(api, staff, shelf):
    assert _quantities(api, staff["token"], shelf, "below_threshold=true") == [5]
    assert _quantities(api, staff["token"], shelf, "below_threshold=false") == [50, 500]


def test_filters_combine_with_search(api, staff, shelf):
    found = ids(api, staff["token"], f"category_id={shelf['category']['id']}&search=middle")
    assert found == [shelf["items"][0]["id"]]


@pytest.mark.parametrize("sort_by,asc", [
    ("name", ["A-first", "b-middle", "c-last"]),
    ("sku", ["c-last", "b-middle", "A-first"]),
    ("quantity", ["A-first", "b-middle", "c-last"]),
    ("price", ["c-last", "b-middle", "A-first"]),
    ("created_at", ["b-middle", "A-first", "c-last"]),
])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_column_and_order(api, staff, shelf, sort_by, asc, order):
    res = api.get(f"{V1}/items?category_id={shelf['category']['id']}&sort_by={sort_by}&order={order}",
                  token=staff["token"])
    assert res.status == 200, res.text
    names = [i["name"].split(" ")[0] for i in res.json()["data"]]
    if order == "desc":
        asc = list(reversed(asc)) if sort_by != "price" else ["b-middle", "c-last", "A-first"]
    assert names == asc


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_updated_at(api, manager, staff, shelf, order):
    first = shelf["items"][0]
    api.patch(f"{V1}/items/{first['id']}", {"description": "touched"}, token=manager["token"])
    res = api.get(f"{V1}/items?category_id={shelf['category']['id']}&sort_by=updated_at&order={order}",
                  token=staff["token"])
    names = [i["name"].split(" ")[0] for i in res.json()["data"]]
    expected = ["A-first", "c-last", "b-middle"]
    assert names == (expected if order == "asc" else list(reversed(expected)))


def test_unknown_query_parameter_is_422(api, staff):
    errors = assert_validation(api.get(f"{V1}/items?colour=red", token=staff["token"]))
    assert errors[0]["loc"] == ["query", "colour"]


@pytest.mark.parametrize("query", ["sort_by=bogus", "order=sideways"])
def test_unknown_sort_is_422(api, staff, query):
    assert_validation(api.get(f"{V1}/items?{query}", token=staff["token"]))


def test_restocking_beyond_the_largest_storable_quantity_is_409_and_changes_nothing(api, staff, manager):
    item = new_item(api, manager["token"], quantity=1_000_000_000)
    assert api.post(f"{V1}/items/{item['id']}/restock", {"quantity": 1_000_000_000}, token=staff["token"]).status == 200
    res = api.post(f"{V1}/items/{item['id']}/restock", {"quantity": 1_000_000_000}, token=staff["token"])
    assert_problem(res, 409, "quantity_limit")
    assert get(api, staff["token"], item["id"]).json()["quantity"] == 2_000_000_000
    assert [e["action"] for e in history(api, staff["token"], item["id"])] == ["restock", "create"]



@pytest.mark.parametrize("kind", ["item", "category"])
def test_an_edit_racing_another_for_the_same_unique_value_is_409_not_500(api, manager, services, kind):
    """Its check finds the SKU (or name) free, then its UPDATE waits on the unique index for the other
    edit's commit, which takes it: still the documented conflict, not a 500."""
    import threading

    import pg8000.native

    from shared.db import connect_args
    from tests.conftest import wait_until

    token, value = manager["token"], unique("RACE")
    if kind == "item":
        first, second = new_item(api, token), new_item(api, token)
        taking = "UPDATE items SET sku = :value WHERE id = :id"
        edit_path, body, code = f"{V1}/items/{second['id']}", {"sku": value}, "sku_taken"
    else:
        first, second = new_category(api, token), new_category(api, token)
        taking = "UPDATE categories SET name = :value WHERE id = :id"
        edit_path, body, code = f"{V1}/categories/{second['id']}", {"name": value}, "name_taken"
    other = pg8000.native.Connection(**connect_args(services["DATABASE_URL"]))
    answers: list = []
    try:
        other.run("BEGIN")
        other.run(taking, value=value, id=first["id"])
        send = api.patch if kind == "item" else api.put
        edit = threading.Thread(target=lambda: answers.append(send(edit_path, body, token=token)))
        edit.start()
        wait_until(lambda: other.run("SELECT count(*) FROM pg_locks WHERE NOT granted")[0][0] > 0, 10,
                   "the edit to wait for the other's commit")
        other.run("COMMIT")
        edit.join(30)
    finally:
        other.close()
    assert_problem(answers[0], 409, code)
