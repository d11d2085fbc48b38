"""PATCH /users/{id} — rename, change role, activate or deactivate."""

from shared.http import Request, handler
from shared.models import User, UserPatch
from shared.services import users


@handler("PATCH", auth="manager", body=UserPatch, response=User, path_id=True, raises=(409,))
def main(req: Request):
    """Update a user. Deactivation or a role change invalidates their tokens; the last active
    manager cannot be demoted or deactivated."""
    return users.update(req.id, req.data, req.principal, req.client_address)
