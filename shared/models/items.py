"""Items and stock movements (see shared.models)."""

import datetime as dt
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field

from shared.models.base import (NO_NUL, Body, Count, Id, ItemName, Money, Notes, Out, Page, Params, Patch, QBool, QInt,
                                Query, Sku, Text, Unit, omitted)


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


class ItemFilter(Params):
    """Which items, in which order: GET /items and its CSV export take the same."""

    search: Optional[Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]] = None
    sku: Optional[Annotated[Sku, Field(description="exactly this SKU, in any case")]] = None
    category_id: Optional[Annotated[Id, QInt]] = None
    location_id: Optional[Annotated[Id, QInt]] = None
    min_quantity: Optional[Annotated[Count, QInt]] = None
    max_quantity: Optional[Annotated[Count, QInt]] = None
    below_threshold: Optional[QBool] = None
    sort_by: Literal["name", "sku", "quantity", "price", "updated_at", "created_at"] = "name"
    order: Literal["asc", "desc"] = "asc"


class ItemQuery(ItemFilter, Query):
    """GET /items: the filter, and a page of its matches."""


class ItemExportQuery(ItemFilter):
    cursor: Optional[Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^[A-Za-z0-9_-]+$", description=(
        "where the page starts: the value the previous page's Link header carries (absent: the first page)"))]] = None


class ItemImportQuery(Params):
    dry_run: Annotated[QBool, Field(description="true: validate and report what would happen, write nothing")] = False
    first_row: Annotated[int, Field(ge=1, le=1_000_000_000, description=(
        "the line number, in the whole file, of this body's first data row: the results name lines of the "
        "file when it is sent in chunks")), QInt] = 2


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


class ItemPage(Page):
    data: list[Item]
    total_estimated: bool = Field(description=(
        "true when `total` is an estimate: past a configured number of matches (IMS_EXACT_TOTAL_LIMIT, "
        "default 1,000) the list does not count them all; a page that is not full, or one past the end, "
        "carries the exact total"))


class RowError(Out):
    loc: list[Union[str, int]]
    msg: str
    type: str


class ImportRow(Out):
    row: int = Field(description="the line of the file where the row starts")
    sku: str = Field(description="as the row gives it")
    action: Literal["create", "update", "unchanged", "error"]
    changes: Optional[dict[str, tuple[Any, Any]]] = Field(None, description=(
        "an update's changed columns, each as [before, after] (text cut to 100 characters)"))
    errors: Optional[list[RowError]] = Field(None, description="why the row was skipped")


class ImportReport(Out):
    dry_run: bool
    rows: int = Field(description="data rows read (blank lines aside)")
    created: int
    updated: int
    unchanged: int
    failed: int
    categories_created: list[str] = Field(description="categories the rows named that did not exist (created "
                                                      "unless a dry run)")
    locations_created: list[str]
    results: list[ImportRow] = Field(description="one per data row, in order")
