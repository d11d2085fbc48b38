"""Request and response shapes (pydantic). Bodies are validated strictly: an integer sent as a
string, a fraction where an integer belongs or an unknown field is a 422. Query strings arrive as
text, so their models convert, but still reject unknown parameters."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, Optional, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")


def _email(value: str) -> str:
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith(".") or " " in value:
        raise ValueError("not a valid e-mail address")
    return value


def _stripped(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def _bcrypt_length(value: str) -> str:
    if len(value.encode()) > 72:  # bcrypt's limit (shared.auth.BCRYPT_MAX_BYTES); kept light to import here
        raise ValueError("must be at most 72 bytes in UTF-8")
    return value


Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Password = Annotated[str, Field(min_length=8, max_length=128), AfterValidator(_bcrypt_length)]
Name = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_stripped)]
ItemName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_stripped)]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]
Text = Annotated[str, Field(max_length=2000)]
Notes = Annotated[str, Field(max_length=500)]
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2,
                                 description="a decimal string such as \"12.50\" (a number is accepted)")]
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
Role = Literal["staff", "manager"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    per_page: Annotated[int, Field(ge=1, le=100)] = 25


class Out(BaseModel):
    """Response shapes: documentation and test oracles; handlers return plain dicts."""

    model_config = ConfigDict(defer_build=True)


# --- auth and users -----------------------------------------------------------------------------

class RegisterIn(Body):
    email: Email
    password: Password
    full_name: Name


class LoginIn(Body):
    email: Annotated[str, Field(max_length=254)]
    password: Annotated[str, Field(max_length=128)]


class RefreshIn(Body):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class UserCreate(RegisterIn):
    role: Role = "staff"


class PasswordChangeIn(Body):
    current_password: Annotated[str, Field(max_length=128)]
    new_password: Password


class PasswordResetIn(Body):
    temporary_password: Password


class UserPatch(Body):
    full_name: Optional[Name] = None
    role: Optional[Role] = None
    is_active: Optional[bool] = None


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
    unit: Annotated[str, Field(min_length=1, max_length=20)] = "pcs"
    price: Optional[Money] = None
    low_stock_threshold: Count = 10


class ItemCreate(ItemFields):
    quantity: Count = 0


class ItemReplace(ItemFields):
    """Every editable field is replaced (an omitted one takes its default); `quantity`, when given,
    is recorded as a count."""

    quantity: Optional[Count] = None


class ItemPatch(Body):
    """Only the fields sent change. Staff may send `quantity` alone (a count)."""

    name: Optional[ItemName] = None
    sku: Optional[Sku] = None
    description: Optional[Text] = None
    category_id: Optional[Id] = None
    location_id: Optional[Id] = None
    quantity: Optional[Count] = None
    unit: Optional[Annotated[str, Field(min_length=1, max_length=20)]] = None
    price: Optional[Money] = None
    low_stock_threshold: Optional[Count] = None


class MovementIn(Body):
    quantity: Annotated[int, Field(gt=0, le=1_000_000_000)]
    notes: Optional[Notes] = None


class ItemQuery(Query):
    search: Optional[Annotated[str, Field(min_length=1, max_length=100)]] = None
    category_id: Optional[Id] = None
    location_id: Optional[Id] = None
    min_quantity: Optional[Count] = None
    max_quantity: Optional[Count] = None
    below_threshold: Optional[bool] = None
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
    item_id: Optional[Id] = None
    user_id: Optional[Id] = None
    action: Optional[Action] = None
    since: Optional[dt.datetime] = None
    until: Optional[dt.datetime] = None


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


MailStatus = Literal["pending", "sending", "sent", "failed", "skipped"]


class AlertQuery(Query):
    acknowledged: Optional[bool] = None
    mail_status: Optional[MailStatus] = None


class Alert(Out):
    id: int
    item_id: int
    item_name: str
    item_sku: str
    quantity: int
    threshold: int
    created_at: dt.datetime
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
    user_id: Optional[Id] = None  # the actor or the user concerned
    since: Optional[dt.datetime] = None


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


ItemPage = Page[Item]
UserPage = Page[User]
CategoryPage = Page[Category]
LocationPage = Page[Location]
LogPage = Page[LogEntry]
AlertPage = Page[Alert]
AuditPage = Page[AuditEntry]
