"""PUT /categories/{id} — replace a category's fields."""

from shared.http import Request, handler
from shared.models import CategoryIn, Category
from shared.services import catalog


@handler("PUT", auth="manager", body=CategoryIn, response=Category, path_id=True, raises=(409,))
def main(req: Request):
    """Replace a category."""
    return catalog.replace(catalog.CATEGORIES, req.id, req.data)
