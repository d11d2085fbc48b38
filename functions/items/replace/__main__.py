"""PUT /items/{id} — replace every editable field."""

from shared.http import Request, handler
from shared.models import Item, ItemReplace
from shared.services import items


@handler("PUT", auth="manager", body=ItemReplace, response=Item, path_id=True, etag=True,
         if_match=True, raises=(409,))
def main(req: Request):
    """Replace an item's fields. Honours If-Match: "<version>" (412 when it changed meanwhile)."""
    return items.replace(req.id, req.data, req.principal, req.header("if-match"), req.request_id)
