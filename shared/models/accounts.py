"""Sign-up, sign-in, sessions and users (see shared.models)."""

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field

from shared.models.base import NO_NUL, Body, Email, Name, Out, Page, Password, Patch, Role, omitted


class RegisterIn(Body):
    email: Email
    password: Password
    full_name: Name


class LoginIn(Body):
    email: Email
    password: Annotated[str, Field(max_length=128, pattern=NO_NUL)]


class RefreshIn(Body):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096, pattern=NO_NUL)]


class UserCreate(RegisterIn):
    role: Role = "staff"


class PasswordChangeIn(Body):
    current_password: Annotated[str, Field(max_length=128, pattern=NO_NUL)]
    new_password: Password


class PasswordResetIn(Body):
    temporary_password: Password


class UserPatch(Patch):
    full_name: Name = omitted()
    role: Role = omitted()
    is_active: bool = omitted()


class User(Out):
    id: int
    email: str
    full_name: str
    role: Role
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class TokenPair(Out):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int
    user: User
    # true after a manager's reset: until POST /auth/password, only it, me, logout and refresh work
    password_change_required: bool


class UserPage(Page):
    data: list[User]
