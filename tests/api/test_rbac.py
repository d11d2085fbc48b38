"""The RBAC matrix, generated from project.yml: every web route × anonymous / staff / manager.

A route's `ims-auth` says who may call it. Anonymous callers of a staff or manager route get 401,
staff callers of a manager route 403; everyone else gets past authorization (a 404 for the unknown
id or a 422 for the empty body still counts as "allowed"). Ids in paths name nothing, so no case
can change what other tests rely on.
"""

from __future__ import annotations

import pytest

from gateway import manifest
from tests.api.helpers import V1, assert_problem

ROLES = ("anonymous", "staff", "manager")
MISSING_ID = "999999999"
WEB = [f for f in manifest.load() if f.routed]
CASES = [pytest.param(f, role, id=f"{f.method} {f.route} as {role}") for f in WEB for role in ROLES]


def expected(auth: str, role: str) -> int | None:
    """401/403 when the role may not call the route; None when it may."""
    if auth == "public":
        return None
    if role == "anonymous":
        return 401
    if auth == "manager" and role == "staff":
        return 403
    return None


def call(api, function, token):
    path = V1 + (function.route or "").replace("{id}", MISSING_ID)
    spec = manifest.load_main(function).spec
    if spec.body is str:  # a text body (CSV): an empty one, of its media type
        return api.request(function.method, path, token=token, body=b"",
                           headers={"Content-Type": spec.body_media_type})
    body = {} if function.method in ("POST", "PUT", "PATCH") else None
    return api.request(function.method, path, body, token=token)


def test_manifest_lists_web_routes_of_every_auth_level():
    assert {f.auth for f in WEB} == {"public", "staff", "manager"}


@pytest.mark.parametrize("function,role", CASES)
def test_route_authorizes_role_as_declared_in_manifest(api, manager, staff, function, role):
    token = {"anonymous": None, "staff": staff["token"], "manager": manager["token"]}[role]
    res = call(api, function, token)
    want = expected(function.auth, role)
    if want is None:
        # authorized: the route's own answer to an empty call on a missing id
        assert res.status in (200, 204, 404, 422), res.text
    else:
        assert_problem(res, want)
        if want == 401:
            assert res.headers.get("www-authenticate") == "Bearer"
