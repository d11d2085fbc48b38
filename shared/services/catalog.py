"""Categories and locations: the same small shape, so one module serves both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import db, errors, events

if TYPE_CHECKING:  # models are annotations here: a function imports only the ones it uses
    from shared.models import CategoryIn


@dataclass(frozen=True)
class Kind:
    table: str
    noun: str
    fields: tuple[str, ...]
    event: str

    @property
    def cols(self) -> str:
        return ", ".join(("id", *self.fields, "created_at", "updated_at"))


CATEGORIES = Kind("categories", "category", ("name", "description"), "category_changed")
LOCATIONS = Kind("locations", "location", ("name", "description", "address"), "location_changed")


def page(kind: Kind, page: int, per_page: int) -> dict[str, Any]:
    return db.paged(f"SELECT {kind.cols} FROM {kind.table} ORDER BY lower(name), id",
                    f"SELECT count(*) AS n FROM {kind.table}", page, per_page)


def _taken(kind: Kind, name: str) -> errors.Conflict:
    return errors.Conflict(f"A {kind.noun} named {name!r} already exists.", code="name_taken")


def create(kind: Kind, data: CategoryIn) -> dict[str, Any]:
    values = data.model_dump(include=set(kind.fields))
    names = ", ".join(kind.fields)
    params = ", ".join(f":{f}" for f in kind.fields)
    with db.transaction() as conn:
        row = conn.one(f"INSERT INTO {kind.table} ({names}) VALUES ({params}) "
                       f"ON CONFLICT (lower(name)) DO NOTHING RETURNING {kind.cols}", **values)
        if row is None:
            raise _taken(kind, data.name)
        events.emit(conn, kind.event, {"action": "created", kind.noun: row})
        return row


def replace(kind: Kind, row_id: int, data: CategoryIn) -> dict[str, Any]:
    values = data.model_dump(include=set(kind.fields))
    sets = ", ".join(f"{f} = :{f}" for f in kind.fields)
    with db.transaction() as conn:
        if conn.one(f"SELECT 1 AS taken FROM {kind.table} WHERE lower(name) = lower(:name) AND id <> :id",
                    name=data.name, id=row_id):
            raise _taken(kind, data.name)
        try:
            row = conn.one(f"UPDATE {kind.table} SET {sets}, updated_at = now() WHERE id = :id "
                           f"RETURNING {kind.cols}", id=row_id, **values)
        except db.UniqueViolation:  # taken by an edit that committed after our check
            raise _taken(kind, data.name) from None
        if row is None:
            raise errors.NotFound(f"No such {kind.noun}.")
        events.emit(conn, kind.event, {"action": "updated", kind.noun: row})
        return row


def delete(kind: Kind, row_id: int) -> None:
    """Items in it are kept, with the reference cleared (ON DELETE SET NULL)."""
    with db.transaction() as conn:
        row = conn.one(f"DELETE FROM {kind.table} WHERE id = :id RETURNING {kind.cols}", id=row_id)
        if row is None:
            raise errors.NotFound(f"No such {kind.noun}.")
        events.emit(conn, kind.event, {"action": "deleted", kind.noun: row})
