"""Request and response shapes (pydantic). The OpenAPI document is built from them, and the server
accepts exactly what it allows: in a body, an integer sent as a string, a fraction where an integer
belongs (1.0 is the integer 1, as JSON Schema has it), null where the field is not nullable or an
unknown field is a 422. Query strings arrive as text: an integer is digits, a boolean `true` or
`false`, a timestamp RFC 3339 (never a Unix time); unknown parameters are refused too."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, Optional, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError

T = TypeVar("T")


def _email(value: str) -> str:
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith(".") or " " in value:
        raise ValueError("not a valid e-mail address")
    return value


# Blank is ASCII whitespace only, so that the document's pattern (one character that is not) means
# the same to every JSON Schema validator as it does here.
_BLANK = " \t\n\r\x0b\x0c"
# PostgreSQL text cannot hold NUL: no string may contain it, and the document says so.
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\x00 \t\n\r\x0b\x0c][^\x00]*$"


def _stripped(value: str) -> str:
    return value.strip(_BLANK)


def _bcrypt_length(value: str) -> str:
    if len(value.encode()) > 72:  # bcrypt's limit (shared.auth.BCRYPT_MAX_BYTES); kept light to import here
        # JSON Schema counts characters, not bytes: the document states this rule in words only.
        raise PydanticCustomError("password_bytes", "must be at most 72 bytes in UTF-8")
    return value


def _integer(value: Any) -> Any:
    if isinstance(value, str):  # a query value: digits only ("1.0", "+1", " 1", "1_0" are not integers)
        if not re.fullmatch(r"-?[0-9]{1,20}", value):
            raise ValueError("must be an integer")
        return int(value)
    return value


def _boolean(value: Any) -> Any:
    if isinstance(value, str):  # a query value: what OpenAPI serializes a boolean as, nothing else
        if value not in ("true", "false"):
            raise ValueError("must be true or false")
        return value == "true"
    return value


_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
                      r"([Zz]|[+-][0-9]{2}:[0-9]{2}(:[0-9]{2})?)")


def _timestamp(value: Any) -> Any:
    if isinstance(value, str):  # a query value: RFC 3339 with its offset; a number is no timestamp
        if not _RFC3339.fullmatch(value):
            raise ValueError("must be an RFC 3339 date-time such as 2026-11-30T08:00:00Z")
        return dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return value


Email = Annotated[str, Field(max_length=254, json_schema_extra={"format": "email"}), AfterValidator(_email)]
Password = Annotated[str, Field(min_length=8, max_length=72, pattern=NO_NUL, description="at most 72 bytes in UTF-8"),
                     AfterValidator(_bcrypt_length)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NOT_BLANK), AfterValidator(_stripped)]
ItemName = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK), AfterValidator(_stripped)]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]
Text = Annotated[str, Field(max_length=2000, pattern=NO_NUL)]
Notes = Annotated[str, Field(max_length=500, pattern=NO_NUL)]
MONEY_MAX = Decimal("9999999999.99")
_MONEY_TEXT = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"


def _money(value: Any) -> Any:
    if isinstance(value, str):
        if not re.fullmatch(_MONEY_TEXT, value):
            raise ValueError("must be a decimal string such as 12.50, with at most two decimals")
        return Decimal(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # A JSON number is binary: 0.57 may arrive as 0.5700000000000001. Bounds are checked on
        # the number sent, then it is rounded to cents.
        if not 0 <= value <= MONEY_MAX:
            raise ValueError(f"must be between 0 and {MONEY_MAX}")
        return Decimal(repr(value)).quantize(Decimal("0.01"))
    return value


Money = Annotated[Decimal, BeforeValidator(_money), WithJsonSchema({
    "anyOf": [{"type": "string", "pattern": _MONEY_TEXT},
              {"type": "number", "minimum": 0, "maximum": float(MONEY_MAX)}],
    "description": "a decimal string such as \"12.50\"; a number is accepted and rounded to cents"})]
Unit = Annotated[str, Field(min_length=1, max_length=20, pattern=NO_NUL)]
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
Role = Literal["staff", "manager"]
# query-string forms (see the module's docstring)
QInt = BeforeValidator(_integer)
QBool = Annotated[bool, BeforeValidator(_boolean)]
QTime = Annotated[dt.datetime, BeforeValidator(_timestamp)]


def _drop_null_defaults(schema: dict[str, Any]) -> None:
    # An omitted() field's default is "absent", not a null the document would then seem to allow.
    for prop in schema.get("properties", {}).values():
        if prop.get("default", 0) is None and "anyOf" not in prop and prop.get("type") != "null":
            del prop["default"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True, json_schema_extra=_drop_null_defaults)


def _at_least_one(schema: dict[str, Any]) -> None:
    _drop_null_defaults(schema)
    schema["minProperties"] = 1


class Patch(Body):
    """A partial update: only the fields sent change, and at least one must be sent. A field that
    may be left out but not cleared is declared `X = omitted()`: its default (None, "not sent") is not
    validated, an explicit null is refused as not an X, and the document says X, not X-or-null."""

    model_config = ConfigDict(json_schema_extra=_at_least_one)

    @model_validator(mode="after")
    def _not_empty(self) -> Patch:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        return self


def omitted() -> Any:
    """The default of a field that may be left out but not sent as null (see Patch)."""
    return Field(None)


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    page: Annotated[int, Field(ge=1, le=1_000_000), QInt] = 1
    per_page: Annotated[int, Field(ge=1, le=100), QInt] = 25


class Out(BaseModel):
    """Response shapes: documentation and test oracles; handlers return plain dicts."""

    model_config = ConfigDict(defer_build=True)


# --- auth and users -----------------------------------------------------------------------------

class RegisterIn(Body):
    email: Email
    password: Password
    full_name: Name


class LoginIn(Body):
    email: Email
    password: Annotated[str, Field(max_length=128, pattern=NO_NUL)]


class RefreshIn(Body):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096, pattern=NO_NUL)]


class UserCreate(RegisterIn):
    role: Role = "staff"


class PasswordChangeIn(Body):
    current_password: Annotated[str, Field(max_length=128, pattern=NO_NUL)]
    new_password: Password


class PasswordResetIn(Body):
    temporary_password: Password


class UserPatch(Patch):
    full_name: Name = omitted()
    role: Role = omitted()
    is_active: bool = omitted()


class User(Out):
    id: int
    email: str
    full_name: str
    role: Role
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class TokenPair(Out):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int
    user: User
    # true after a manager's reset: until POST /auth/password, only it, me, logout and refresh work
    password_change_required: bool


# --- catalogue ----------------------------------------------------------------------------------

class CategoryIn(Body):
    name: Name
    description: Optional[Text] = None


class LocationIn(CategoryIn):
    address: Optional[Text] = None


class Category(Out):
    id: int
    name: str
    description: Optional[str]
    created_at: dt.datetime
    updated_at: dt.datetime


class Location(Category):
    address: Optional[str]


# --- items --------------------------------------------------------------------------------------

class ItemFields(Body):
    name: ItemName
    sku: Sku
    description: Optional[Text] = None
    category_id: Optional[Id] = None
    location_id: Optional[Id] = None
    unit: Unit = "pcs"
    price: Optional[Money] = None
    low_stock_threshold: Count = 10


class ItemCreate(ItemFields):
    quantity: Count = 0


class ItemReplace(ItemFields):
    """Every editable field is replaced (an omitted one takes its default); `quantity`, when given,
    is recorded as a count."""

    quantity: Optional[Count] = None


class ItemPatch(Patch):
    """Only the fields sent change (null clears description, category, location and price). Staff
    may send `quantity` alone (a count)."""

    name: ItemName = omitted()
    sku: Sku = omitted()
    description: Optional[Text] = None
    category_id: Optional[Id] = None
    location_id: Optional[Id] = None
    quantity: Count = omitted()
    unit: Unit = omitted()
    price: Optional[Money] = None
    low_stock_threshold: Count = omitted()


class MovementIn(Body):
    quantity: Annotated[int, Field(gt=0, le=1_000_000_000)]
    notes: Optional[Notes] = None


class ItemQuery(Query):
    search: Optional[Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]] = None
    sku: Optional[Annotated[Sku, Field(description="exactly this SKU, in any case")]] = None
    category_id: Optional[Annotated[Id, QInt]] = None
    location_id: Optional[Annotated[Id, QInt]] = None
    min_quantity: Optional[Annotated[Count, QInt]] = None
    max_quantity: Optional[Annotated[Count, QInt]] = None
    below_threshold: Optional[QBool] = None
    sort_by: Literal["name", "sku", "quantity", "price", "updated_at", "created_at"] = "name"
    order: Literal["asc", "desc"] = "asc"


class Item(Out):
    id: int
    name: str
    sku: str
    description: Optional[str]
    category_id: Optional[int]
    location_id: Optional[int]
    quantity: int
    unit: str
    price: Optional[str] = Field(description="decimal string, e.g. \"12.50\"")
    low_stock_threshold: int
    is_low_stock: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


# --- ledger, alerts, dashboard ------------------------------------------------------------------

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


class Health(Out):
    status: Literal["ok", "degraded"]
    checks: dict[str, str]


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


class Page(Out, Generic[T]):
    data: list[T]
    page: int
    per_page: int
    total: int


class ItemPage(Page[Item]):
    total_estimated: bool = Field(description=(
        "true when `total` is an estimate: past a configured number of matches (IMS_EXACT_TOTAL_LIMIT, "
        "default 10,000) the list does not count them all; the last page's total is always exact"))


UserPage = Page[User]
CategoryPage = Page[Category]
LocationPage = Page[Location]
LogPage = Page[LogEntry]
AlertPage = Page[Alert]
AuditPage = Page[AuditEntry]
