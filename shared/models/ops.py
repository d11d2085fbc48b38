"""Operations: health and the system status (see shared.models)."""

import datetime as dt
from typing import Literal, Optional

from pydantic import Field

from shared.models.base import Out


class Health(Out):
    status: Literal["ok", "degraded"]
    checks: dict[str, str]


class Check(Out):
    ok: bool
    latency_ms: Optional[float] = Field(description="how long the check took; null when it failed")


class Checks(Out):
    database: Check
    redis: Check


class Outbox(Out):
    unpublished: int = Field(description="events written but not yet published to the stream")
    oldest_unpublished_at: Optional[dt.datetime]


class LiveServer(Out):
    id: str = Field(description="the realtime server: host:pid")
    connections: int
    updated_at: dt.datetime = Field(description="when it last reported (at least every 10 s)")


class Live(Out):
    connections: int = Field(description="open live-feed connections, over every server that reported in the "
                                         "last 60 s")
    servers: list[LiveServer]


class BackupState(Out):
    last_success_at: Optional[dt.datetime]
    last_size_bytes: Optional[int] = Field(description="the size of the last successful backup's dump")
    last_failure_at: Optional[dt.datetime]


class AlertCounts(Out):
    open: int = Field(description="low-stock alerts not resolved yet")
    mail_pending: int = Field(description="alerts whose mail is still to be sent (pending or being sent)")
    mail_failed: int = Field(description="alerts whose mail failed after every attempt")


class SystemStatus(Out):
    """A section is null when the dependency it is read from (`checks`) is down."""

    status: Literal["ok", "degraded"]
    time: dt.datetime
    checks: Checks
    outbox: Optional[Outbox]
    live: Optional[Live] = Field(description="from Redis")
    backup: Optional[BackupState]
    alerts: Optional[AlertCounts]
