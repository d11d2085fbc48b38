"""Every event type, declared once: its name, who may see it, and the fields of its payload.

Everything else follows from this table: `shared.events.emit` refuses an undeclared type or a payload
whose keys differ from the declaration, the movement statement's payloads are generated from it
(`sql_payload`), the live feed shows staff only the types declared `staff=True` (manager-only is the
default, so a new type is never shown to staff by accident), `/asyncapi.json` (gateway.asyncapi)
describes it, and a test holds README's event table to it. One type is never sent to live-feed
clients as itself: `data_restored` (RESTORED) reaches every client as the feed's own
`resync_required`, since after a restore whatever a client holds may be newer than the database.
Imports nothing heavy: every cold start and the realtime server read it.

A field's `schema` is a JSON Schema, or the name of a response model in `shared.models` (the row
as the API returns it), which the AsyncAPI document resolves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_INT = {"type": "integer"}
_STR = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_WHO = {"type": "object", "properties": {"id": _INT}, "required": ["id"],
        "description": "the user who made the change"}
_CHANGE = {"type": "string", "enum": ["created", "updated", "deleted"]}
_IDENT = re.compile(r"^[a-z][a-z_]*$")  # event names and payload keys go into SQL as literals


@dataclass(frozen=True)
class Field:
    name: str
    description: str
    schema: Mapping[str, Any] | str


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    fields: tuple[Field, ...]
    staff: bool = False  # staff may see it; otherwise managers only

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def audience(self) -> str:
        return "everyone" if self.staff else "managers"


def _item_ref(what: str) -> tuple[Field, ...]:
    return (Field("item_id", f"the item {what}", _INT), Field("sku", "its SKU", _STR),
            Field("name", "its name", _STR))


# Alerts and their resolution carry alert ids only /alerts can show, and /alerts and /users are for
# managers: those types stay manager-only. Staff see the stock itself through stock_changed.
DECLARED: tuple[EventType, ...] = (
    EventType("item_created", "An item was added (POST /items).", (
        Field("item", "the item as created", "Item"),
        Field("user", "who created it", _WHO),
    ), staff=True),
    EventType("item_updated", "An item was edited (PUT or PATCH /items/{id}).", (
        Field("item", "the item after the edit", "Item"),
        Field("changed", "the fields the request set",
              {"type": "array", "items": _STR}),
        Field("user", "who edited it", _WHO),
    ), staff=True),
    EventType("item_deleted", "An item was deleted.", (
        *_item_ref("deleted"),
        Field("user", "who deleted it", _WHO),
    ), staff=True),
    EventType("stock_changed", "An item's quantity changed: a restock, a withdrawal or a count.", (
        *_item_ref("whose stock changed"),
        Field("previous_quantity", "the quantity before", _INT),
        Field("quantity", "the quantity after", _INT),
        Field("delta", "quantity - previous_quantity", _INT),
        Field("action", "what changed it", {"type": "string", "enum": ["restock", "withdraw", "count"]}),
        Field("user", "who changed it", _WHO),
        Field("low_stock_threshold", "the item's threshold", _INT),
        Field("is_low_stock", "quantity < low_stock_threshold", {"type": "boolean"}),
        Field("version", "the item's version after the change", _INT),
    ), staff=True),
    EventType("low_stock_alert", "An item went below its threshold: an alert was opened (and is mailed).", (
        Field("alert_id", "the alert (GET /alerts)", _INT),
        *_item_ref("that is low"),
        Field("quantity", "its quantity when the alert opened", _INT),
        Field("threshold", "its threshold then", _INT),
        Field("unit", "its unit", _STR),
    )),
    EventType("alert_acknowledged", "A manager acknowledged an alert.", (
        Field("alert", "the alert as GET /alerts shows it", "Alert"),
        Field("user", "who acknowledged it", _WHO),
    )),
    EventType("stock_recovered", "An item with an open alert is back at or above its threshold: the alert "
                                 "is resolved and the item re-armed.", (
        Field("alert_id", "the resolved alert", _INT),
        *_item_ref("that recovered"),
        Field("quantity", "its quantity now", _INT),
        Field("threshold", "its threshold", _INT),
    )),
    EventType("category_changed", "A category was created, edited or deleted.", (
        Field("action", "what happened to it", _CHANGE),
        Field("category", "the category (as it was, when deleted)", "Category"),
    ), staff=True),
    EventType("location_changed", "A location was created, edited or deleted.", (
        Field("action", "what happened to it", _CHANGE),
        Field("location", "the location (as it was, when deleted)", "Location"),
    ), staff=True),
    EventType("user_changed", "A user was created, edited, activated or deactivated.", (
        Field("action", "created or updated", _STR),
        Field("user", "the user as GET /users shows them", "User"),
    )),
    EventType("session_ended", "Sessions of a user ended (sign-out, a password change or reset, a reused "
                               "refresh token): their access tokens are refused from now on, and the live "
                               "feed closes the connections opened with them (4401).", (
        Field("user_id", "whose sessions ended", _INT),
        Field("sessions", "the sessions (refresh-token families) that ended",
              {"type": "array", "items": _STR}),
        Field("reason", "why", {"type": "string",
                                "enum": ["logout", "token_reused", "password_changed", "password_reset"]}),
    )),
    EventType("data_restored", "The database was restored from a backup: everything written after "
                               "the backup was taken is gone. The live feed never sends it as such: every "
                               "client gets resync_required instead.", (
        Field("backup", "the key of the backup restored", _STR),
        Field("taken_at", "when that backup was taken (ISO 8601)", _TIME),
    ), staff=True),
)

TYPES: dict[str, EventType] = {t.name: t for t in DECLARED}
STAFF_VISIBLE = frozenset(t.name for t in DECLARED if t.staff)
RESTORED = "data_restored"
# What the live feed sends as itself (and a client may subscribe to): all but RESTORED, which every
# client receives as resync_required whatever its role and narrowing.
FEED_TYPES = frozenset(TYPES) - {RESTORED}


class UndeclaredEvent(ValueError):
    """An event whose type is not declared here, or whose payload's keys differ from its declaration:
    a bug in the code that emits it, refused before it reaches the outbox."""


def declared(name: str) -> EventType:
    try:
        return TYPES[name]
    except KeyError:
        raise UndeclaredEvent(f"event type {name!r} is not declared in shared.event_types") from None


def check(name: str, data: Mapping[str, Any]) -> None:
    """Raise UndeclaredEvent unless `name` is declared and `data` has exactly its fields."""
    keys = declared(name).keys
    if set(data) != set(keys):
        missing, extra = sorted(set(keys) - set(data)), sorted(set(data) - set(keys))
        raise UndeclaredEvent(f"{name} payload does not match its declaration: missing {missing}, extra {extra}")


def sql_payload(name: str, exprs: Mapping[str, str]) -> str:
    """`'<name>', jsonb_build_object('<field>', <expr>, …)`: an outbox row's type and payload in SQL,
    its keys from the declaration in declared order, each value the SQL expression `exprs` gives.
    A field left out or one too many is refused (at import of the statement that uses it)."""
    check(name, exprs)
    for key in (name, *exprs):
        if not _IDENT.match(key):  # the table is fixed, but these become SQL text: keep them plain
            raise UndeclaredEvent(f"not a plain identifier: {key!r}")
    pairs = ", ".join(f"'{key}', {exprs[key]}" for key in TYPES[name].keys)
    return f"'{name}', jsonb_build_object({pairs})"
