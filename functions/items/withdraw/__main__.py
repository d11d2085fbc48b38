"""POST /items/{id}/withdraw — take stock out; never below zero."""

from shared.http import Request, handler
from shared.models import Item, MovementIn
from shared.services import items


@handler("POST", auth="staff", body=MovementIn, response=Item, path_id=True, etag=True,
         raises=(409,))
def main(req: Request):
    """Withdraw: 409 `insufficient_stock` (with `available`) when there is not enough."""
    return items.withdraw(req.id, req.data.quantity, req.principal, req.data.notes, req.request_id)
