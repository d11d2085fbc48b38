"""notify/digest against a database of its own (the digest reports on everything in it): one mail
listing every item below threshold and every alert whose mail failed; nothing when all is well."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from gateway import manifest
from tests.conftest import settings_env

DIGEST = next(f for f in manifest.load() if f.qualified == "notify/digest")


@pytest.fixture
def own_database(services: dict[str, str], mail_env: Any) -> Iterator[None]:
    """The digest's own empty, migrated database for the duration of one test."""
    from localenv import scratch
    from shared import db, migrate

    db.close_pool()
    with settings_env(DATABASE_URL=scratch.fresh_database(os.environ["DATABASE_URL"], "ims_test_digest")):
        migrate.migrate()
        mail_env(ALERT_EMAIL_TO="stores@ims.test")
        yield
        db.close_pool()


def digest() -> dict[str, Any]:
    return manifest.load_main(DIGEST)({})  # type: ignore[no-any-return]


def add_item(name: str, sku: str, quantity: int, threshold: int, location: str | None = None) -> int:
    from shared import db

    location_id = None
    if location:
        location_id = db.one("INSERT INTO locations (name) VALUES (:n) RETURNING id", n=location)["id"]  # type: ignore[index]
    row = db.one("INSERT INTO items (name, sku, quantity, low_stock_threshold, unit, location_id) "
                 "VALUES (:name, :sku, :q, :t, 'kg', :loc) RETURNING id",
                 name=name, sku=sku, q=quantity, t=threshold, loc=location_id)
    return row["id"]  # type: ignore[index]


def test_nothing_to_report_sends_nothing(own_database, smtp):
    inbox, _ = smtp
    add_item("Plenty", "P-1", 50, 5)
    outcome = digest()
    assert outcome["sent"] is False and outcome["low_stock"] == 0 and outcome["unsent_alerts"] == 0
    assert inbox.messages == []


def test_digest_lists_low_items_and_alert_mail_not_sent(own_database, smtp):
    from shared import db

    inbox, _ = smtp
    add_item("Flour", "FL-1", 2, 5, location="Bay 1")
    add_item("Sugar", "SU-1", 50, 5, location="Bay 2")
    salt = add_item("Salt", "SA-1", 0, 1)
    db.execute("INSERT INTO alerts (item_id, quantity, threshold, mail_status, mail_attempts, mail_last_error) "
               "VALUES (:id, 0, 1, 'failed', 5, 'SMTP 10.0.0.1:25: ConnectionRefusedError')", id=salt)

    outcome = digest()
    assert outcome["sent"] is True and outcome["low_stock"] == 2 and outcome["unsent_alerts"] == 1
    [message] = inbox.messages
    assert message["Subject"] == "IMS digest: 2 items below threshold, 1 alert mail not sent"
    assert message["To"] == "stores@ims.test"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "- Salt [SA-1]: 0 / 1 kg, -" in text  # the emptiest first
    assert "- Flour [FL-1]: 2 / 5 kg, Bay 1" in text
    assert text.index("Salt [SA-1]") < text.index("Flour [FL-1]")
    assert "Sugar" not in text and "Sugar" not in html
    assert "5 attempts (given up), last error: SMTP 10.0.0.1:25: ConnectionRefusedError" in text
    for cell in ("<td>Flour</td>", "<td>FL-1</td>", "<td>2 kg</td>", "<td>5</td>", "<td>Bay 1</td>"):
        assert cell in html


def test_digest_links_open_the_web_uis_pages(own_database, smtp, mail_env):
    from shared import db

    inbox, _ = smtp
    mail_env(PUBLIC_URL="https://ims.example.com")
    add_item("Flour", "FL-1", 2, 5)
    salt = add_item("Salt", "SA-1", 0, 1)
    db.execute("INSERT INTO alerts (item_id, quantity, threshold, mail_status, mail_attempts) "
               "VALUES (:id, 0, 1, 'failed', 5)", id=salt)
    digest()
    [message] = inbox.messages
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for page in ("https://ims.example.com/#/items?below_threshold=true", "https://ims.example.com/#/alerts"):
        assert page in text
        assert f'<a href="{page}">' in html
    assert "https://ims.example.com/api/" not in text + html


def test_digest_retries_unsent_alerts_first(own_database, smtp):
    from shared import db

    inbox, _ = smtp
    oil = add_item("Oil", "OI-1", 1, 3)
    db.execute("INSERT INTO alerts (item_id, quantity, threshold, mail_attempts) VALUES (:id, 1, 3, 1)", id=oil)
    outcome = digest()
    assert len(outcome["retried"]["sent"]) == 1
    assert [m["Subject"] for m in inbox.messages] == ["Low stock: Oil (1 kg left)",
                                                     "IMS digest: 1 item below threshold"]


def test_digest_escapes_item_text_in_html(own_database, smtp):
    inbox, _ = smtp
    add_item("<script>alert(1)</script>", "X&Y", 0, 1)
    digest()
    html = inbox.messages[0].get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html and "X&amp;Y" in html


def test_digest_lists_alert_mail_still_waiting_for_a_retry(own_database, smtp):
    from shared import db

    inbox, _ = smtp
    tea = add_item("Tea", "TE-1", 1, 3)
    db.execute("INSERT INTO alerts (item_id, quantity, threshold, mail_attempts, mail_last_error, mail_next_at) "
               "VALUES (:id, 1, 3, 1, 'SMTP 10.0.0.1:25: ConnectionRefusedError', now() + interval '1 hour')",
               id=tea)  # failed once, backing off: not due, so the digest's own retry leaves it
    outcome = digest()
    assert outcome["retried"]["sent"] == [] and outcome["unsent_alerts"] == 1
    [message] = inbox.messages
    assert message["Subject"] == "IMS digest: 1 item below threshold, 1 alert mail not sent"
    text = message.get_body(("plain",)).get_content()
    assert "Tea [TE-1], 1 attempts (will be retried), last error: SMTP 10.0.0.1:25: ConnectionRefusedError" in text


def test_digest_reports_a_transport_failure_as_its_error(own_database, mail_env):
    from tests.notify.conftest import free_port

    mail_env(SMTP_URL=f"smtp://127.0.0.1:{free_port()}")
    add_item("Rice", "RI-1", 0, 1)
    outcome = digest()
    assert outcome == {"error": "MailError (see the function's log)"}
