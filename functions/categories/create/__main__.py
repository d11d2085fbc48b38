"""POST /categories — add a category; names are unique (case-insensitive)."""

from shared.http import Request, handler
from shared.models import CategoryIn, Category
from shared.services import catalog


@handler("POST", auth="manager", body=CategoryIn, response=Category, status=201, raises=(409,))
def main(req: Request):
    """Create a category; a taken name is 409."""
    return catalog.create(catalog.CATEGORIES, req.data)
