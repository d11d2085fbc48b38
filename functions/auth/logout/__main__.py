"""POST /auth/logout — revoke a refresh token (and its session)."""

from shared.http import Request, Response, handler
from shared.models import RefreshIn
from shared.services import users


@handler("POST", auth="staff", body=RefreshIn, status=204, password_change_exempt=True)
def main(req: Request):
    """Log out: the refresh token and its session can no longer be used."""
    users.logout(req.data.refresh_token, req.principal.id)
    return Response(status=204)
