"""The stock ledger, alerts and the dashboard (see shared.models)."""

import datetime as dt
from typing import Annotated, Literal, Optional

from pydantic import Field

from shared.models.base import Id, Out, Page, Params, QBool, QInt, QTime, Query


Action = Literal["create", "update", "delete", "restock", "withdraw", "count"]


class LogQuery(Query):
    item_id: Optional[Annotated[Id, QInt]] = None
    user_id: Optional[Annotated[Id, QInt]] = None
    action: Optional[Action] = None
    since: Optional[QTime] = None
    until: Optional[QTime] = None


class LogEntry(Out):
    id: int
    item_id: int
    user_id: Optional[int]
    action: Action
    quantity_before: int
    quantity_after: int
    delta: int
    notes: Optional[str]
    request_id: Optional[str]
    created_at: dt.datetime


# `logged`: no mail transport is configured, so the message went to the log instead of a mailbox.
MailStatus = Literal["pending", "sending", "sent", "logged", "failed", "skipped"]


class AlertQuery(Query):
    acknowledged: Optional[QBool] = None
    mail_status: Optional[MailStatus] = None


class Alert(Out):
    id: int
    item_id: int
    item_name: str
    item_sku: str
    quantity: int
    threshold: int
    created_at: dt.datetime
    acknowledged: bool
    acknowledged_at: Optional[dt.datetime]
    acknowledged_by: Optional[int]
    resolved_at: Optional[dt.datetime]
    mail_status: MailStatus
    mail_attempts: int
    mail_sent_at: Optional[dt.datetime]
    mail_last_error: Optional[str]


class Activity(Out):
    id: int
    item_id: int
    item_name: Optional[str]
    action: Action
    quantity_before: int
    quantity_after: int
    user_id: Optional[int]
    created_at: dt.datetime


class Summary(Out):
    total_items: int
    total_quantity: int
    total_value: str
    low_stock_count: int
    recent_activity: list[Activity]


class CategoryBreakdown(Out):
    category_id: Optional[int]
    name: str
    item_count: int
    total_quantity: int


class MovementQuery(Params):
    days: Annotated[int, Field(ge=1, le=365, description="how many UTC days, ending today"), QInt] = 30


class MovementDay(Out):
    date: dt.date = Field(description="a UTC calendar day")
    stock_in: int = Field(description="the sum of the day's positive quantity changes, whatever the action")
    stock_out: int = Field(description="the sum of the day's negative quantity changes, as a positive number")
    movements: int = Field(description="ledger entries that changed a quantity that day")


class Movements(Out):
    days: int
    data: list[MovementDay] = Field(description="one entry per day, oldest first, days without movements included")


class LogPage(Page):
    data: list[LogEntry]


class AlertPage(Page):
    data: list[Alert]
