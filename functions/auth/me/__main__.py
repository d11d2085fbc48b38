"""GET /auth/me — the caller's own account."""

from shared.http import Request, handler
from shared.models import User
from shared.services import users


@handler("GET", auth="staff", response=User, password_change_exempt=True)
def main(req: Request):
    """The current user."""
    return users.get(req.principal.id)
