"""GET /audit — the audit trail of security-relevant actions, newest first."""

from shared.http import Request, handler
from shared.models import AuditPage, AuditQuery
from shared.services import audit


@handler("GET", auth="manager", query=AuditQuery, response=AuditPage)
def main(req: Request):
    """Failed and throttled sign-ins, password changes and resets, role and activation changes,
    managers created; filter by action, user_id (actor or concerned) and since."""
    return audit.page(req.params)
