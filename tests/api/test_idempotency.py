"""Idempotency-Key on POST: a retry replays the first response instead of moving stock twice."""

from __future__ import annotations

import threading
import uuid

from tests.api.helpers import V1, assert_problem, assert_validation


def key() -> str:
    return f"idem-{uuid.uuid4().hex}"


def withdraw(api, token, item_id, qty, idem, notes=None):
    body = {"quantity": qty} if notes is None else {"quantity": qty, "notes": notes}
    return api.post(f"{V1}/items/{item_id}/withdraw", body, token=token, headers={"Idempotency-Key": idem})


def quantity(api, token, item_id) -> int:
    return api.get(f"{V1}/items/{item_id}", token=token).json()["quantity"]


def movements(api, token, item_id) -> list[dict]:
    entries = api.get(f"{V1}/logs/item/{item_id}?action=withdraw", token=token).json()["data"]
    return entries


def test_same_key_and_body_replays_the_first_response_and_moves_once(api, staff, item):
    k = key()
    first = withdraw(api, staff["token"], item["id"], 7, k)
    second = withdraw(api, staff["token"], item["id"], 7, k)
    assert first.status == second.status == 200, (first.text, second.text)
    assert second.json() == first.json() and first.json()["quantity"] == 93
    assert second.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    assert quantity(api, staff["token"], item["id"]) == 93
    assert len(movements(api, staff["token"], item["id"])) == 1


def test_same_key_with_a_different_body_is_422(api, staff, item):
    k = key()
    assert withdraw(api, staff["token"], item["id"], 7, k).status == 200
    assert_validation(withdraw(api, staff["token"], item["id"], 8, k))
    assert_validation(withdraw(api, staff["token"], item["id"], 7, k, notes="other"))
    assert quantity(api, staff["token"], item["id"]) == 93


def test_same_key_on_a_different_item_is_422(api, manager, staff, item):
    k = key()
    other = api.post(f"{V1}/items", {"name": "Other", "sku": f"o-{uuid.uuid4().hex[:8]}", "quantity": 10},
                     token=manager["token"]).json()
    assert withdraw(api, staff["token"], item["id"], 1, k).status == 200
    assert_validation(withdraw(api, staff["token"], other["id"], 1, k))
    assert quantity(api, staff["token"], other["id"]) == 10


def test_same_key_from_a_different_user_is_independent(api, manager, staff, item):
    k = key()
    by_staff = withdraw(api, staff["token"], item["id"], 5, k)
    by_manager = withdraw(api, manager["token"], item["id"], 5, k)
    assert by_staff.status == by_manager.status == 200
    assert by_staff.json()["quantity"] == 95 and by_manager.json()["quantity"] == 90
    assert "idempotent-replayed" not in by_manager.headers
    assert quantity(api, staff["token"], item["id"]) == 90


def test_concurrent_requests_with_one_key_move_stock_once(api, staff, item):
    k, results, barrier = key(), [], threading.Barrier(8)
    lock = threading.Lock()

    def send() -> None:
        barrier.wait()
        res = withdraw(api, staff["token"], item["id"], 3, k)
        with lock:
            results.append(res)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8
    assert all(r.status == 200 for r in results), [r.text for r in results]
    assert len({r.body for r in results}) == 1 and results[0].json()["quantity"] == 97
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in results) == 7
    assert quantity(api, staff["token"], item["id"]) == 97
    assert len(movements(api, staff["token"], item["id"])) == 1


def test_a_failed_attempt_is_not_stored_and_the_key_works_after_restocking(api, staff, item):
    k = key()
    assert_problem(withdraw(api, staff["token"], item["id"], 150, k), 409, "insufficient_stock")
    assert api.post(f"{V1}/items/{item['id']}/restock", {"quantity": 50}, token=staff["token"]).status == 200
    res = withdraw(api, staff["token"], item["id"], 150, k)
    assert res.status == 200, res.text
    assert res.json()["quantity"] == 0 and "idempotent-replayed" not in res.headers
    assert withdraw(api, staff["token"], item["id"], 150, k).headers.get("idempotent-replayed") == "true"


def test_idempotency_key_works_for_item_creation(api, manager):
    k, body = key(), {"name": "Idem", "sku": f"idem-{uuid.uuid4().hex[:8]}", "quantity": 3}
    first = api.post(f"{V1}/items", body, token=manager["token"], headers={"Idempotency-Key": k})
    second = api.post(f"{V1}/items", body, token=manager["token"], headers={"Idempotency-Key": k})
    assert first.status == second.status == 201
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]


def test_an_overlong_idempotency_key_is_422(api, staff, item):
    assert_validation(withdraw(api, staff["token"], item["id"], 1, "k" * 256))
    assert quantity(api, staff["token"], item["id"]) == 100
