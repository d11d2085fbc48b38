"""User administration by managers: listing, creating, renaming, activating, the last manager."""

from __future__ import annotations

from tests.api.helpers import V1, assert_problem, assert_validation, login
from tests.conftest import make_user, unique


def all_users(api, token) -> list[dict]:
    users, page = [], 1
    while True:
        body = api.get(f"{V1}/users?per_page=100&page={page}", token=token).json()
        users += body["data"]
        if page * 100 >= body["total"]:
            return users
        page += 1


def test_user_list_is_paged(api, manager, staff):
    res = api.get(f"{V1}/users?page=1&per_page=1", token=manager["token"])
    assert res.status == 200
    body = res.json()
    assert set(body) == {"data", "page", "per_page", "total"}
    assert body["page"] == 1 and body["per_page"] == 1 and body["total"] >= 2 and len(body["data"]) == 1
    second = api.get(f"{V1}/users?page=2&per_page=1", token=manager["token"]).json()
    assert second["data"][0]["id"] != body["data"][0]["id"]
    assert "password_hash" not in res.text


def test_manager_creates_an_active_user_with_a_role(api, manager):
    email = f"{unique('made')}@example.com"
    res = api.post(f"{V1}/users", {"email": email, "password": "long-enough-1", "full_name": "Made",
                                   "role": "staff"}, token=manager["token"])
    assert res.status == 201, res.text
    user = res.json()
    assert user["email"] == email and user["role"] == "staff" and user["is_active"] is True
    assert login(api, email, "long-enough-1")["user"]["id"] == user["id"]


def test_creating_a_user_with_a_taken_email_is_409(api, manager, staff):
    res = api.post(f"{V1}/users", {"email": staff["email"], "password": "long-enough-1", "full_name": "Dup",
                                   "role": "staff"}, token=manager["token"])
    assert_problem(res, 409)


def test_creating_a_user_with_an_unknown_role_is_422(api, manager):
    res = api.post(f"{V1}/users", {"email": f"{unique('r')}@example.com", "password": "long-enough-1",
                                   "full_name": "R", "role": "admin"}, token=manager["token"])
    assert assert_validation(res)[0]["loc"] == ["body", "role"]


def test_patch_changes_full_name_only(api, manager):
    user = make_user(api, manager)
    res = api.patch(f"{V1}/users/{user['user']['id']}", {"full_name": "New Name"}, token=manager["token"])
    assert res.status == 200, res.text
    body = res.json()
    assert body["full_name"] == "New Name" and body["role"] == "staff" and body["is_active"] is True


def test_patching_a_missing_user_is_404(api, manager):
    assert_problem(api.patch(f"{V1}/users/999999999", {"full_name": "X"}, token=manager["token"]), 404)


def test_manager_activates_a_registered_user_who_can_then_log_in(api, manager):
    email, password = f"{unique('wait')}@example.com", "long-enough-1"
    user = api.post(f"{V1}/auth/register", {"email": email, "password": password, "full_name": "Wait"}).json()
    assert_problem(api.post(f"{V1}/auth/login", {"email": email, "password": password}), 403)
    res = api.patch(f"{V1}/users/{user['id']}", {"is_active": True}, token=manager["token"])
    assert res.status == 200 and res.json()["is_active"] is True
    assert login(api, email, password)["user"]["role"] == "staff"


def _only_manager(api, manager) -> None:
    """Deactivate managers other tests left behind, so the session manager is the only one."""
    for user in all_users(api, manager["token"]):
        if user["role"] == "manager" and user["is_active"] and user["id"] != manager["user"]["id"]:
            api.patch(f"{V1}/users/{user['id']}", {"is_active": False}, token=manager["token"])


def test_the_last_active_manager_cannot_be_demoted(api, manager):
    _only_manager(api, manager)
    res = api.patch(f"{V1}/users/{manager['user']['id']}", {"role": "staff"}, token=manager["token"])
    assert_problem(res, 409, "last_manager")
    me = api.get(f"{V1}/auth/me", token=manager["token"])
    assert me.status == 200 and me.json()["role"] == "manager" and me.json()["is_active"] is True


def test_the_last_active_manager_cannot_be_deactivated(api, manager):
    _only_manager(api, manager)
    res = api.patch(f"{V1}/users/{manager['user']['id']}", {"is_active": False}, token=manager["token"])
    assert_problem(res, 409, "last_manager")
    assert api.get(f"{V1}/auth/me", token=manager["token"]).json()["is_active"] is True


def test_a_manager_who_is_not_the_last_can_be_deactivated(api, manager):
    other = make_user(api, manager, "manager")
    res = api.patch(f"{V1}/users/{other['user']['id']}", {"is_active": False}, token=manager["token"])
    assert res.status == 200 and res.json()["is_active"] is False
    assert_problem(api.get(f"{V1}/auth/me", token=other["token"]), 401)


def test_a_second_manager_may_act_as_manager(api, manager):
    other = make_user(api, manager, "manager")
    try:
        assert api.get(f"{V1}/users", token=other["token"]).status == 200
    finally:
        api.patch(f"{V1}/users/{other['user']['id']}", {"is_active": False}, token=manager["token"])
