"""PATCH /alerts/{id}/acknowledge — mark an alert as seen."""

from shared.http import Request, handler
from shared.models import Alert
from shared.services import ledger


@handler("PATCH", auth="manager", response=Alert, path_id=True)
def main(req: Request):
    """Acknowledge an alert (idempotent)."""
    return ledger.acknowledge(req.id, req.principal)
