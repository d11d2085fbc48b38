"""The contract between the boundary and the services: a request, a response, who is calling, and what
a function declares. Imports nothing from shared, so any module may import it and none imports an
upper layer (the HTTP boundary) to name these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class Principal:
    id: int
    role: str
    session: str = ""  # the refresh family the access token belongs to

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    raw_query: str
    body: bytes
    request_id: str
    user: Principal | None = None
    id: int = 0  # the `{id}` of the route, taken from the path
    data: Any = None  # the validated body model
    params: Any = None  # the validated query model

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def client_address(self) -> str:
        """Who is calling, as the front says in X-Forwarded-For: its last entry, the one the nearest
        proxy (the platform's edge, or the local gateway, which sends only that) appended; entries
        before it are whatever the client chose to send. "" when nobody set the header."""
        return (self.headers.get("x-forwarded-for") or "").rsplit(",", 1)[-1].strip()[:64]

    @property
    def principal(self) -> Principal:
        assert self.user is not None, "handler declared auth='public'"
        return self.user


@dataclass(slots=True)
class Response:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Spec:
    """What a function declares about itself; the gateway's OpenAPI document is built from it."""

    method: str
    auth: str
    body: type[BaseModel] | type[str] | None  # a model of a JSON body, or str for a text body
    query: type[BaseModel] | None
    response: Any
    status: int
    summary: str
    path_id: bool
    raises: tuple[int, ...] = ()  # the function's own outcomes (409, 412, 429…) beyond what is derived
    bodies: dict[int, Any] = field(default_factory=dict)  # those of `raises` whose body is not a problem
    etag: bool = False  # a success carries the returned row's version as ETag
    if_match: bool = False  # honours If-Match (412 when it does not match)
    password_change_exempt: bool = False  # callable before a reset password was changed
    idempotent: bool = False  # honours Idempotency-Key (authenticated POSTs whose body may be kept)
    body_media_type: str = "application/json"  # of the request body (`body` str: text of this type)
    response_media_types: tuple[str, ...] = ("application/json",)  # of a success (`response` str: text)
    response_headers: tuple[str, ...] = ()  # headers a success may carry beyond ETag (documented ones)
