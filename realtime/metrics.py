"""Counters of one realtime process and their Prometheus text exposition (format 0.0.4).

Hand-written rather than a client library: a dozen numbers, all owned by one event loop thread.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Metrics:
    events_received: int = 0  # stream entries read by the tail (each counted once per process)
    duplicates: int = 0  # entries skipped because their outbox id was already delivered
    messages_sent: int = 0  # event messages written to clients, live and replayed
    replayed: int = 0  # of those, sent while a client resumed from last_event_id
    redis_up: bool = False
    redis_reconnects: int = 0
    lag_seconds: float = 0.0  # age of the newest entry in the stream not yet delivered, when scraped
    connections: Counter[str] = field(default_factory=Counter)  # open and authenticated, by role
    dropped: Counter[str] = field(default_factory=Counter)  # closed by the server, by reason

    def render(self) -> str:
        lines: list[str] = []

        def family(name: str, kind: str, text: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

        family("ims_realtime_connections", "gauge", "Open, authenticated WebSocket connections.",
               [(f'{{role="{role}"}}', self.connections[role]) for role in ("manager", "staff")])
        family("ims_realtime_events_received_total", "counter", "Events read from the Redis stream.",
               [("", self.events_received)])
        family("ims_realtime_events_duplicate_total", "counter",
               "Stream entries skipped because their outbox event was already delivered.", [("", self.duplicates)])
        family("ims_realtime_events_sent_total", "counter", "Event messages written to clients.",
               [("", self.messages_sent)])
        family("ims_realtime_events_replayed_total", "counter", "Event messages sent to resuming clients.",
               [("", self.replayed)])
        family("ims_realtime_clients_dropped_total", "counter", "Connections closed by the server, by reason.",
               [(f'{{reason="{reason}"}}', self.dropped[reason])
                for reason in ("slow", "expired", "revoked", "shutdown")])
        family("ims_realtime_redis_up", "gauge", "1 when the last Redis call succeeded.",
               [("", 1 if self.redis_up else 0)])
        family("ims_realtime_redis_reconnects_total", "counter", "Times the stream reader reconnected to Redis.",
               [("", self.redis_reconnects)])
        family("ims_realtime_stream_lag_seconds", "gauge",
               "How far the newest stream entry is ahead of the last one delivered.", [("", self.lag_seconds)])
        return "\n".join(lines) + "\n"
