"""The product answers end to end through the gateway."""


def test_health_reports_database_and_redis(api):
    res = api.get("/api/v1/health")
    assert res.status == 200
    assert res.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_withdraw_through_gateway(api, manager, item):
    res = api.post(f"/api/v1/items/{item['id']}/withdraw", {"quantity": 3}, token=manager["token"])
    assert res.status == 200, res.text
    assert res.json()["quantity"] == 97
