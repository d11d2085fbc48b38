"""Request and response shapes (pydantic). The OpenAPI document is built from them, and the server
accepts exactly what it allows: in a body, an integer sent as a string, a fraction where an integer
belongs (1.0 is the integer 1, as JSON Schema has it), null where the field is not nullable or an
unknown field is a 422. Query strings arrive as text: an integer is digits, a boolean `true` or
`false`, a timestamp RFC 3339 (never a Unix time); unknown parameters are refused too.

This module holds the building blocks (field types, Body, Patch, Query, Out, Page); the models live
in one submodule per domain (accounts, catalog, items, ledger, audit, ops) and are imported from
here all the same (`from shared.models import Item`): a model's submodule is loaded on first use
(module __getattr__), so a function defines only its own domain's classes, not all ~40. Defining a
pydantic class costs about half a millisecond even with defer_build, and every cold start pays for
each one imported."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.models.base import (MONEY_MAX, NO_NUL, NOT_BLANK, Body, Count, Email, Id, ItemName, Money,  # noqa: F401
                                Name, Notes, Out, Page, Params, Password, Patch, QBool, QInt, QTime, Query, Role,
                                Sku, Text, Unit, omitted)

# Each model's submodule, by name; keep in step with the submodules (a test checks).
_DOMAINS = {
    "accounts": ("RegisterIn", "LoginIn", "RefreshIn", "UserCreate", "PasswordChangeIn", "PasswordResetIn",
                 "UserPatch", "User", "TokenPair", "UserPage"),
    "catalog": ("CategoryIn", "LocationIn", "Category", "Location", "CategoryPage", "LocationPage"),
    "items": ("ItemFields", "ItemCreate", "ItemReplace", "ItemPatch", "MovementIn", "ItemFilter", "ItemQuery", "Item",
              "ItemPage", "ItemExportQuery", "ItemImportQuery", "RowError", "ImportRow", "ImportReport"),
    "ledger": ("Action", "LogQuery", "LogEntry", "MailStatus", "AlertQuery", "Alert", "Activity", "Summary",
               "CategoryBreakdown", "LogPage", "AlertPage"),
    "audit": ("AuditAction", "AuditQuery", "AuditEntry", "AuditPage"),
    "ops": ("Health",),
}
_HOME = {name: domain for domain, names in _DOMAINS.items() for name in names}


def __getattr__(name: str) -> Any:
    domain = _HOME.get(name)
    if domain is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{domain}"), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


if TYPE_CHECKING:  # for type checkers: the same names, imported eagerly
    from shared.models.accounts import (LoginIn, PasswordChangeIn, PasswordResetIn, RefreshIn, RegisterIn,  # noqa: F401
                                        TokenPair, User, UserCreate, UserPage, UserPatch)
    from shared.models.audit import AuditAction, AuditEntry, AuditPage, AuditQuery  # noqa: F401
    from shared.models.catalog import Category, CategoryIn, CategoryPage, Location, LocationIn, LocationPage  # noqa: F401
    from shared.models.items import (ImportReport, ImportRow, Item, ItemCreate, ItemExportQuery,  # noqa: F401
                                     ItemFields, ItemFilter, ItemImportQuery, ItemPage, ItemPatch, ItemQuery,
                                     ItemReplace, MovementIn, RowError)
    from shared.models.ledger import (Action, Activity, Alert, AlertPage, AlertQuery, CategoryBreakdown,  # noqa: F401
                                      LogEntry, LogPage, LogQuery, MailStatus, Summary)
    from shared.models.ops import Health  # noqa: F401
