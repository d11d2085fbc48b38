"""POST /items/{id}/restock — add stock."""

from shared.http import Request, handler
from shared.models import Item, MovementIn
from shared.services import items


@handler("POST", auth="staff", body=MovementIn, response=Item, path_id=True, etag=True,
         raises=(409,))
def main(req: Request):
    """Restock: quantity goes up by `quantity`; logged in the ledger."""
    return items.restock(req.id, req.data.quantity, req.principal, req.data.notes, req.request_id)
