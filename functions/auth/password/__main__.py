"""POST /auth/password — change one's own password."""

from shared.http import Request, Response, handler
from shared.models import PasswordChangeIn
from shared.services import users


@handler("POST", auth="staff", body=PasswordChangeIn, status=204, raises=(429,), password_change_exempt=True,
          idempotent=False)
def main(req: Request):
    """Change your password. A wrong current password is a 403 `wrong_password` (throttled like a
    login); your other sessions end, this one goes on."""
    users.change_password(req.principal, req.data, req.client_address)
    return Response(status=204)
