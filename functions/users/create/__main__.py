"""POST /users — a manager creates an active account."""

from shared.http import Request, handler
from shared.models import User, UserCreate
from shared.services import users


@handler("POST", auth="manager", body=UserCreate, response=User, status=201, raises=(409,), idempotent=False)
def main(req: Request):
    """Create an active user with a role."""
    return users.create(req.data, req.principal, req.client_address)
