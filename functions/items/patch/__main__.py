"""PATCH /items/{id} — change some fields; staff may only count (set `quantity`)."""

from shared.http import Request, handler
from shared.models import Item, ItemPatch
from shared.services import items


@handler("PATCH", auth="staff", body=ItemPatch, response=Item, path_id=True, etag=True,
         if_match=True, raises=(409,))
def main(req: Request):
    """Partial update; a new `quantity` is logged as a count. Honours If-Match."""
    return items.patch(req.id, req.data, req.principal, req.header("if-match"), req.request_id)
