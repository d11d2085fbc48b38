"""POST /auth/register — create an account; the first one ever is an active manager."""

from shared.http import Request, handler
from shared.models import RegisterIn, User
from shared.services import users


@handler("POST", auth="public", body=RegisterIn, response=User, status=201, raises=(403, 409))
def main(req: Request):
    """Register. The first user becomes an active manager; later ones wait inactive for a manager."""
    return users.register(req.data, req.client_address)
