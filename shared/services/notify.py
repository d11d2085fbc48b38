"""Low-stock mail and the digest.

An alert's mail goes pending -> sending -> sent (`logged` when no transport is configured and the
message only went to the log), or back to pending with a back-off after a failure,
or failed once MAIL_MAX_ATTEMPTS are spent. A mailer claims ONE alert at a time in a single
statement (`FOR UPDATE SKIP LOCKED`, then `sending` with a lease), so concurrent mailers never send
the same alert twice; one that died mid-send has its claim expire after LEASE and the alert is
tried again (the attempt count it claimed with fences off its late writes). An alert resolved (back
in stock) before its mail went out is not mailed: `skipped`.
"""

from __future__ import annotations

import html
import logging
import time
from typing import Any

from shared import db, mail, settings

log = logging.getLogger("ims.notify")

LEASE = 300  # seconds a claimed alert stays ours; well over the mailer's 60 s time limit
PER_RUN = 50  # alerts one run mails at most; a scheduled run takes the rest
RUN_SECONDS = 25  # claim no more after this: a run must end well within the mailer's 60 s limit
MAX_DELAY = 6 * 3600
DIGEST_ROWS = 500  # items (and alerts) listed in one digest; a count says how many more there are

# Before claiming: an alert back in stock is not mailed any more, and one with no attempts left
# (its last mailer may have died mid-send, lease over; or MAIL_MAX_ATTEMPTS was lowered) has failed.
_TIDY = """
UPDATE alerts
SET mail_status = CASE WHEN resolved_at IS NOT NULL THEN 'skipped' ELSE 'failed' END,
    mail_last_error = CASE WHEN resolved_at IS NULL AND mail_status = 'sending'
                           THEN 'the mailer stopped while sending, and no attempts are left'
                           ELSE mail_last_error END
WHERE (mail_status = 'pending' OR (mail_status = 'sending' AND mail_next_at <= now()))
  AND (resolved_at IS NOT NULL OR mail_attempts >= :max_attempts)"""

_CLAIM = """
WITH due AS (
    SELECT id FROM alerts
    WHERE mail_status IN ('pending', 'sending') AND mail_next_at <= now() AND resolved_at IS NULL
      AND mail_attempts < :max_attempts
      AND (CAST(:ids AS bigint[]) IS NULL OR id = ANY(CAST(:ids AS bigint[])))
    ORDER BY id LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE alerts a
SET mail_status = 'sending', mail_attempts = a.mail_attempts + 1,
    mail_next_at = now() + make_interval(secs => :lease)
FROM due, items i LEFT JOIN locations l ON l.id = i.location_id
WHERE a.id = due.id AND i.id = a.item_id
RETURNING a.id, a.item_id, a.threshold, a.created_at, a.mail_attempts,
          i.name, i.sku, i.quantity, i.unit, l.name AS location"""

_SENT = """
UPDATE alerts SET mail_status = :status, mail_sent_at = now(), mail_last_error = NULL
WHERE id = :id AND mail_status = 'sending' AND mail_attempts = :attempt"""

_FAILED = """
UPDATE alerts
SET mail_status = CASE WHEN mail_attempts >= :max_attempts THEN 'failed' ELSE 'pending' END,
    mail_last_error = :error, mail_next_at = now() + make_interval(secs => :delay)
WHERE id = :id AND mail_status = 'sending' AND mail_attempts = :attempt
RETURNING mail_status"""

_MANAGERS = "SELECT email FROM users WHERE role = 'manager' AND is_active ORDER BY id"

_LOW = """
SELECT i.id, i.name, i.sku, i.quantity, i.low_stock_threshold AS threshold, i.unit, l.name AS location,
       count(*) OVER () AS total
FROM items i LEFT JOIN locations l ON l.id = i.location_id
WHERE i.quantity < i.low_stock_threshold
ORDER BY CAST(i.quantity AS numeric) / i.low_stock_threshold, lower(i.name)  -- emptiest first
LIMIT :n"""

# open alerts whose mail has not gone out although it was tried: given up on, or waiting for a retry
_MAIL_UNSENT = """
SELECT a.id, a.item_id, i.name, i.sku, a.mail_status AS status, a.mail_attempts AS attempts,
       a.mail_last_error AS last_error, a.created_at, count(*) OVER () AS total
FROM alerts a JOIN items i ON i.id = a.item_id
WHERE a.resolved_at IS NULL AND a.mail_attempts > 0 AND a.mail_status IN ('failed', 'pending')
ORDER BY a.id
LIMIT :n"""


def recipients() -> tuple[str, ...]:
    configured = settings.get().alert_email_to
    return configured or tuple(row["email"] for row in db.query(_MANAGERS))


def _ui_link(route: str) -> str | None:
    """The web UI's page at `route` (its hash route, the UI's own addresses: ui/js/router.js), or None
    when PUBLIC_URL is unknown: no link beats a wrong one."""
    base = settings.get().public_url
    return f"{base}/#/{route}" if base else None


def _item_link(item_id: int) -> str | None:
    return _ui_link(f"items/{item_id}")


def _delay(attempts: int) -> int:
    return min(settings.get().mail_retry_seconds * 2 ** max(attempts - 1, 0), MAX_DELAY)


# --- one alert ----------------------------------------------------------------------------------

def alert_message(alert: dict[str, Any], to: tuple[str, ...]) -> mail.Message:
    location = alert["location"] or "no location"
    link = _item_link(alert["item_id"])
    subject = f"Low stock: {alert['name']} ({alert['quantity']} {alert['unit']} left)"
    rows = [("Item", alert["name"]), ("SKU", alert["sku"]),
            ("Quantity", f"{alert['quantity']} {alert['unit']}"),
            ("Threshold", f"{alert['threshold']} {alert['unit']}"), ("Location", location)]
    text = (f"{alert['name']} has fallen below its low-stock threshold.\n\n"
            + "".join(f"{label + ':':<11}{value}\n" for label, value in rows)
            + (f"\nOpen it: {link}\n" if link else ""))
    cells = "".join(f"<tr><th align=\"left\">{label}</th><td>{html.escape(str(value))}</td></tr>"
                    for label, value in rows)
    body = (f"<p><strong>{html.escape(alert['name'])}</strong> has fallen below its low-stock threshold.</p>"
            f"<table>{cells}</table>"
            + (f"<p><a href=\"{html.escape(link)}\">Open {html.escape(alert['name'])} in IMS</a></p>" if link else ""))
    return mail.Message(to=to, subject=subject, text=text, html=body)


def send_alerts(alert_ids: list[int] | None = None) -> dict[str, Any]:
    """Mail the due unsent alerts among `alert_ids` (all of them when None), one at a time.

    Stops at the first transport failure: the transport is most likely down for the rest too, and
    each attempt could cost a full timeout; and after RUN_SECONDS. Returns the ids sent, to be
    retried, and failed for good.
    """
    s = settings.get()
    db.execute(_TIDY, max_attempts=s.mail_max_attempts)
    outcome: dict[str, Any] = {"sent": [], "retry": [], "failed": [], "transport": mail.transport()}
    to = recipients()
    started = time.monotonic()
    for _ in range(PER_RUN):
        if time.monotonic() - started > RUN_SECONDS:
            break
        alert = db.one(_CLAIM, ids=alert_ids, lease=LEASE, max_attempts=s.mail_max_attempts)
        if alert is None:
            break
        fence = {"id": alert["id"], "attempt": alert["mail_attempts"]}
        try:
            mail.send(alert_message(alert, to))
        except Exception as exc:
            transport_down = isinstance(exc, mail.MailError)
            # A MailError's text is ours and free of credentials; anything else is named, not quoted.
            error = str(exc) if transport_down else f"{exc.__class__.__name__} (see the mailer's log)"
            if not transport_down:
                log.exception("mailing alert %s failed unexpectedly", alert["id"])
            row = db.one(_FAILED, **fence, error=error[:500], max_attempts=s.mail_max_attempts,
                         delay=_delay(alert["mail_attempts"]))
            status = row["mail_status"] if row else "pending"
            outcome["failed" if status == "failed" else "retry"].append(alert["id"])
            log.warning("alert %s mail attempt %s failed (%s): %s", alert["id"], alert["mail_attempts"],
                        status, error)
            if transport_down:
                break
            continue  # something about this alert; the others may well go out
        # With no transport the message went to the log: recorded as such, not as delivered.
        db.execute(_SENT, **fence, status="logged" if outcome["transport"] == "log" else "sent")
        outcome["sent"].append(alert["id"])
        log.info("alert %s mailed to %s", alert["id"], ", ".join(to))
    return outcome


# --- the digest ---------------------------------------------------------------------------------

def digest_message(low: list[dict[str, Any]], unsent: list[dict[str, Any]], to: tuple[str, ...]) -> mail.Message:
    total = low[0]["total"] if low else 0
    unsent_total = unsent[0]["total"] if unsent else 0
    parts = []
    if total:
        parts.append(f"{total} item{'s' if total != 1 else ''} below threshold")
    if unsent:
        parts.append(f"{unsent_total} alert mail{'s' if unsent_total != 1 else ''} not sent")
    subject = "IMS digest: " + ", ".join(parts)

    text = [subject, ""]
    body = [f"<h2>{html.escape(subject)}</h2>"]
    if low:
        text.append("Below threshold (quantity / threshold, location):")
        body.append("<h3>Below threshold</h3><table><tr><th>Item</th><th>SKU</th><th>Quantity</th>"
                    "<th>Threshold</th><th>Location</th></tr>")
        for row in low:
            location = row["location"] or "-"
            text.append(f"- {row['name']} [{row['sku']}]: {row['quantity']} / {row['threshold']} {row['unit']}, "
                        f"{location}")
            cells = (row["name"], row["sku"], f"{row['quantity']} {row['unit']}", row["threshold"], location)
            body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        body.append("</table>")
        if total > len(low):
            text.append(f"… and {total - len(low)} more (GET /api/v1/items?below_threshold=true)")
            body.append(f"<p>… and {total - len(low)} more.</p>")
        text.append("")
    if unsent:
        text.append("Alerts whose mail could not be sent:")
        body.append("<h3>Alerts whose mail could not be sent</h3><ul>")
        for row in unsent:
            state = "given up" if row["status"] == "failed" else "will be retried"
            line = (f"alert {row['id']}: {row['name']} [{row['sku']}], {row['attempts']} attempts ({state}), "
                    f"last error: {row['last_error']}")
            text.append(f"- {line}")
            body.append(f"<li>{html.escape(line)}</li>")
        body.append("</ul>")
        if unsent_total > len(unsent):
            text.append(f"… and {unsent_total - len(unsent)} more (GET /api/v1/alerts?mail_status=failed)")
            body.append(f"<p>… and {unsent_total - len(unsent)} more.</p>")
    pages = [("the items below threshold", "items?below_threshold=true", low), ("the alerts", "alerts", unsent)]
    links = [(what, link) for what, route, shown in pages if shown and (link := _ui_link(route))]
    if links and text[-1]:
        text.append("")
    for what, link in links:
        text.append(f"Open {what}: {link}")
        body.append(f"<p><a href=\"{html.escape(link)}\">Open {what} in IMS</a></p>")
    return mail.Message(to=to, subject=subject, text="\n".join(text) + "\n", html="".join(body))


def digest() -> dict[str, Any]:
    """Retry unsent alert mail, then send one summary of items below threshold and of alert mail
    still not sent; nothing when there is nothing to report."""
    retried = send_alerts()
    low = db.query(_LOW, n=DIGEST_ROWS)
    unsent = db.query(_MAIL_UNSENT, n=DIGEST_ROWS)
    outcome = {"retried": retried, "low_stock": low[0]["total"] if low else 0,
               "unsent_alerts": unsent[0]["total"] if unsent else 0,
               "sent": False}
    if low or unsent:
        mail.send(digest_message(low, unsent, recipients()))
        outcome["sent"] = True
    return outcome
