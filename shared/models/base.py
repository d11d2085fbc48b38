"""The building blocks of the models (shared.models): field types, Body, Patch, Query, Out, Page."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError

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
# Text people write (names, descriptions, notes, units) holds no control character but tab and line
# breaks: none belongs there, and each would be written as a 6-byte escape, twice over in a function's
# result, where a full page must stay under the platform's 1 MB limit.
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
NO_CONTROL = rf"^[^{_CONTROL}]*$"
NOT_BLANK = rf"^[^{_CONTROL}]*[^{_CONTROL} \t\n\r][^{_CONTROL}]*$"


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
Text = Annotated[str, Field(max_length=2000, pattern=NO_CONTROL)]
Notes = Annotated[str, Field(max_length=500, pattern=NO_CONTROL)]
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
Unit = Annotated[str, Field(min_length=1, max_length=20, pattern=NO_CONTROL)]
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


class Params(BaseModel):
    """Query-string parameters (see shared.models); an unknown one is refused."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class Query(Params):
    """The parameters of a list: a page of it."""

    page: Annotated[int, Field(ge=1, le=1_000_000), QInt] = 1
    per_page: Annotated[int, Field(ge=1, le=100), QInt] = 25


class Out(BaseModel):
    """Response shapes: documentation and test oracles; handlers return plain dicts."""

    model_config = ConfigDict(defer_build=True)


class Page(Out):
    """A list's page: each list declares its own subclass with `data: list[<its model>]`. A plain
    subclass, not Page[Model]: a parametrized generic is built at once (defer_build does not hold for
    it), and the first build loads pydantic's plugin machinery (importlib.metadata, email…), ~30 ms
    of every cold start for a model no function validates."""

    page: int
    per_page: int
    total: int
