"""The audit trail of security-relevant actions: sign-ins that failed or were throttled, password
changes and resets, role and activation changes, managers created by command. Each row says who
(the signed-in actor, or the e-mail tried), whom it concerns, when, from where and what."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared import db
from shared.jsontext import dumps

if TYPE_CHECKING:  # models are annotations here: a function imports only the ones it uses
    from shared.models import AuditQuery

_COLS = "id, action, actor_id, user_id, email, address, details, created_at"
_INSERT = """
INSERT INTO audit_log (action, actor_id, user_id, email, address, details)
VALUES (:action, :actor_id,
        -- whom it concerns: the account with the e-mail tried, when the caller did not look it up
        coalesce(CAST(:user_id AS bigint), (SELECT id FROM users WHERE email = :email)),
        :email, :address, CAST(:details AS jsonb))"""
_FILTERS = {"action": "action = :action", "user_id": "(actor_id = :user_id OR user_id = :user_id)",
            "since": "created_at >= :since"}


def record(conn: db.Conn | None, action: str, *, actor_id: int | None = None, user_id: int | None = None,
           email: str | None = None, address: str | None = None, **details: Any) -> None:
    """One audit row: on `conn`, in the transaction of the change it records, or on its own."""
    params = {"action": action, "actor_id": actor_id, "user_id": user_id, "email": email,
              "address": address or None, "details": dumps(details)}
    if conn is None:
        db.execute(_INSERT, **params)
    else:
        conn.execute(_INSERT, **params)


def page(q: AuditQuery) -> dict[str, Any]:
    values = q.model_dump(include=set(_FILTERS))
    params = {k: v for k, v in values.items() if v is not None}
    cond = " AND ".join(_FILTERS[k] for k in params) or "true"
    return db.paged(f"SELECT {_COLS} FROM audit_log WHERE {cond} ORDER BY id DESC",
                    f"SELECT count(*) AS n FROM audit_log WHERE {cond}", q.page, q.per_page, **params)
