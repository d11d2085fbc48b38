"""Who is connecting: the access token checked exactly as the HTTP API checks it (shared.auth).

The users row is read on every check, so a deactivated user or a role change (which bumps
token_version) is refused at once. shared.db is synchronous (pg8000, a thread-safe pool), so the
check runs in the loop's thread pool and never blocks the fan-out.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from shared import auth, errors


class Refused(Exception):
    """The token does not admit anyone; the message is the close reason."""


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: int
    role: str
    session: str  # the refresh family the token belongs to: the connection closes when it ends
    expires_at: float  # the token's `exp`, seconds since the epoch


def _check(token: str) -> Identity:
    try:
        claims = auth.decode(token, "access")
        row = auth.check_user(claims)
    except errors.Unauthorized as exc:
        raise Refused(exc.detail) from None
    if row["password_change_required"]:  # after a manager's reset: only the account routes work
        raise Refused("Choose a new password first.")
    return Identity(int(claims["sub"]), row["role"], str(claims["sid"]), float(claims["exp"]))


async def identify(token: object) -> Identity:
    if not isinstance(token, str) or not token.strip():
        raise Refused("An access token is required.")
    return await asyncio.get_running_loop().run_in_executor(None, _check, token.strip())
