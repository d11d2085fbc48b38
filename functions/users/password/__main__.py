"""POST /users/{id}/password — a manager sets a temporary password."""

from shared.http import Request, Response, handler
from shared.models import PasswordResetIn
from shared.services import users


@handler("POST", auth="manager", body=PasswordResetIn, status=204, path_id=True, idempotent=False)
def main(req: Request):
    """Reset a user's password to a temporary one: their sessions end, and until they choose a new
    one (POST /auth/password) every other route answers 403 `password_change_required`."""
    users.reset_password(req.principal, req.id, req.data.temporary_password, req.client_address)
    return Response(status=204)
