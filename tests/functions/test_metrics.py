"""ops/metrics, the business gauges: read through the gateway as Prometheus reads them, parsed by
prometheus_client's own parsers; and BusinessCollector, which the gateway can register beside its own."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from shared import errors, events
from shared.services.metrics import BusinessCollector
from tests.conftest import make_user, publishing_to, unique

GAUGES = {"ims_items", "ims_stock_quantity", "ims_low_stock_items", "ims_open_alerts", "ims_active_users",
          "ims_outbox_pending", "ims_outbox_oldest_seconds", "ims_stream_length"}


def expected() -> set[str]:
    """GAUGES, and the backup gauges once backup_runs has a run to report (tests/backup writes some):
    absent rather than a false zero until then, which is what an alert on `absent()` needs."""
    from shared import db

    runs = db.one("SELECT coalesce(bool_or(succeeded), false) AS ok, coalesce(bool_or(NOT succeeded), false) "
                  "AS failed FROM backup_runs WHERE kind = 'backup'") or {}
    return (GAUGES | ({"ims_backup_last_success_timestamp_seconds", "ims_backup_last_size_bytes"}
                      if runs["ok"] else set())
            | ({"ims_backup_last_failure_timestamp_seconds"} if runs["failed"] else set()))


def scrape(api, accept: str | None = None) -> tuple[str, str]:
    res = api.get("/api/v1/metrics", headers={"Accept": accept} if accept else {})
    assert res.status == 200, res.text
    return res.headers["content-type"], res.text


def values(text: str) -> dict[str, float]:
    """Each family's one sample, after checking it is an unlabelled gauge with a HELP text."""
    found = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge" and family.documentation, family
        [sample] = family.samples
        assert (sample.name, sample.labels) == (family.name, {})
        found[family.name] = sample.value
    return found


def test_metrics_are_prometheus_text_gauges_that_follow_the_inventory(api, manager):
    content_type, text = scrape(api)
    assert content_type == CONTENT_TYPE_PLAIN_0_0_4
    before = values(text)
    assert set(before) == expected()
    res = api.post("/api/v1/items", {"name": unique("Gauge"), "sku": unique("SKU"), "quantity": 7,
                                     "low_stock_threshold": 3}, token=manager["token"])
    assert res.status == 201, res.text
    make_user(api, manager)
    after = values(scrape(api)[1])
    assert after["ims_items"] == before["ims_items"] + 1
    assert after["ims_stock_quantity"] == before["ims_stock_quantity"] + 7
    assert after["ims_active_users"] == before["ims_active_users"] + 1


def test_the_outbox_gauges_follow_what_the_relay_has_not_published(api, manager):
    events.relay()  # whatever earlier tests left unpublished
    cleared = values(scrape(api)[1])
    assert (cleared["ims_outbox_pending"], cleared["ims_outbox_oldest_seconds"]) == (0, 0)
    with publishing_to("redis://127.0.0.1:1/0"):  # nothing listens on port 1: the event stays in the outbox
        res = api.post("/api/v1/items", {"name": unique("Gauge"), "sku": unique("SKU"), "quantity": 1},
                       token=manager["token"])
        assert res.status == 201, res.text
        pending = values(scrape(api)[1])
    assert pending["ims_outbox_pending"] >= 1  # the item's events (created, and its low-stock alert)
    assert 0 < pending["ims_outbox_oldest_seconds"] < 60  # the age of what was just written, not of older events
    assert events.relay() == pending["ims_outbox_pending"]
    relayed = values(scrape(api)[1])
    assert (relayed["ims_outbox_pending"], relayed["ims_outbox_oldest_seconds"]) == (0, 0)


def test_metrics_speak_openmetrics_to_a_scraper_that_asks_for_it(api):
    content_type, text = scrape(api, "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    families = list(openmetrics_families(text))  # refuses a body without `# EOF`
    assert {f.name for f in families} == expected() and {f.type for f in families} == {"gauge"}


def test_without_redis_the_stream_length_is_left_out_not_zero(api, services):
    with publishing_to("redis://127.0.0.1:1/0"):  # nothing listens on port 1
        assert set(values(scrape(api)[1])) == expected() - {"ims_stream_length"}


def test_the_collector_reads_nothing_until_collected_and_then_reads_the_database(services, monkeypatch):
    """What the gateway does with it: register it in a registry beside its own metrics, then scrape."""
    from shared import db

    registry = CollectorRegistry()
    own = Counter("ims_test_requests", "A metric of the registry's own.", registry=registry)
    own.inc()
    with monkeypatch.context() as down:
        down.setattr(db, "_pool", db.Pool("postgresql://x@127.0.0.1:1/x", 1))  # nobody listens on port 1
        registry.register(BusinessCollector())  # describes itself: no query, no failure
        with pytest.raises(errors.Unavailable):
            generate_latest(registry)
    text = generate_latest(registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert GAUGES <= set(families) and families["ims_test_requests"].samples[0].value == 1
    assert set(values(generate_latest(BusinessCollector()).decode())) == expected()
