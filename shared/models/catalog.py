"""Categories and locations (see shared.models)."""

import datetime as dt
from typing import Optional

from shared.models.base import Body, Name, Out, Page, Text


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


class CategoryPage(Page):
    data: list[Category]


class LocationPage(Page):
    data: list[Location]
