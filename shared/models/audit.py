"""The security audit log (see shared.models)."""

import datetime as dt
from typing import Annotated, Any, Literal, Optional

from shared.models.base import Id, Out, Page, QInt, QTime, Query


AuditAction = Literal["login_failed", "login_throttled", "password_changed", "password_change_failed",
                      "password_change_throttled", "password_reset", "role_changed", "user_activated",
                      "user_deactivated", "user_created", "manager_created"]


class AuditQuery(Query):
    action: Optional[AuditAction] = None
    user_id: Optional[Annotated[Id, QInt]] = None  # the actor or the user concerned
    since: Optional[QTime] = None


class AuditEntry(Out):
    id: int
    action: AuditAction
    actor_id: Optional[int]  # who did it, when signed in
    user_id: Optional[int]  # whom it concerns
    email: Optional[str]  # the e-mail tried (a failed sign-in) or concerned
    address: Optional[str]  # the client address
    details: dict[str, Any]
    created_at: dt.datetime


class AuditPage(Page):
    data: list[AuditEntry]
